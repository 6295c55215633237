// Foundation: a real master and three real chunkservers register, heartbeat,
// die and come back, as `gfs status --json` shows; bad input is a clear error.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bin, eventually, reported, runCli, TestCluster } from "./harness/cluster";
import { spawnNode } from "./harness/processes";

interface StatusJson {
  chunkservers: Array<{ serverId: string; address: string; alive: boolean; lastHeartbeatAgeMs: number; capacityBytes: number }>;
}

describe("cluster liveness (real processes)", () => {
  let cluster: TestCluster;
  beforeAll(async () => { cluster = await TestCluster.start({ heartbeatIntervalMs: 100, heartbeatMisses: 3 }); });
  afterAll(async () => { await cluster?.stop(); });

  const status = async (): Promise<StatusJson> => {
    const r = await cluster.gfs(["status", "--json"]);
    expect(reported(r), r.stderr).toBe(true); // exit 1 while a server is dead (commands-behave.test.ts)
    return JSON.parse(r.stdout) as StatusJson;
  };

  it("all three chunkservers register and are alive", async () => {
    const s = await status();
    expect(s.chunkservers).toHaveLength(3);
    expect(s.chunkservers.every((c) => c.alive)).toBe(true);
    expect(new Set(s.chunkservers.map((c) => c.address))).toEqual(new Set(cluster.chunkservers.map((c) => c.address)));
    expect(s.chunkservers.every((c) => c.capacityBytes > 0)).toBe(true);
  });

  it("a SIGKILLed chunkserver is declared dead after missed heartbeats, and alive again after restart", async () => {
    const victim = cluster.chunkservers[1];
    await cluster.kill(1);
    const dead = await eventually(async () => {
      const s = await status();
      const c = s.chunkservers.find((x) => x.serverId === victim.serverId);
      return c && !c.alive ? c : undefined;
    }, 10_000, "victim marked dead");
    expect(dead.lastHeartbeatAgeMs).toBeGreaterThan(300);
    const others = (await status()).chunkservers.filter((c) => c.serverId !== victim.serverId);
    expect(others.every((c) => c.alive)).toBe(true);

    const back = await cluster.startChunkserver(1);
    expect(back.serverId).toBe(victim.serverId); // identity survives restarts
    await eventually(async () => (await status()).chunkservers.every((c) => c.alive), 10_000, "all alive again");
    expect((await status()).chunkservers).toHaveLength(3);
  });

  it("gfs status prints a table of the servers", async () => {
    const r = await cluster.gfs(["status"]);
    expect(r.code).toBe(0);
    for (const c of cluster.chunkservers) expect(r.stdout).toContain(c.address);
    expect(r.stdout).toMatch(/3\/3 chunkservers alive/);
  });
});

describe("bad input is a one-line error with a non-zero exit", () => {
  it("an unreachable master", async () => {
    const r = await runCli(["--master", "127.0.0.1:1", "--insecure", "--timeout-ms", "500", "status"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^gfs: cannot reach master at 127\.0\.0\.1:1/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it("an unknown command and a bad flag", async () => {
    const unknown = await runCli(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    const bad = await runCli(["--master", "nonsense", "status"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/HOST:PORT/);
  });

  it("gfs-master rejects bad flags before doing anything", async () => {
    for (const args of [["--bogus"], ["--data", "/tmp/x", "--chunk-size", "12Q"], ["--data", "/tmp/x", "--replication", "0"], []]) {
      const p = spawnNode(bin.master, args);
      const { code } = await p.exited;
      expect(code, args.join(" ")).toBe(2);
      expect(p.log().trim().split("\n")[0]).toMatch(/^gfs-master: /);
      expect(p.log()).not.toMatch(/\n\s+at /);
    }
  });

  it("gfs-chunkserver gives up on an unreachable master with a clear error", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gfs-unreachable-"));
    try {
      const p = spawnNode(bin.chunkserver, ["--insecure", "--master", "127.0.0.1:1", "--data", dir, "--master-wait-ms", "300"]);
      const { code } = await p.exited;
      expect(code).toBe(1);
      expect(p.log()).toMatch(/gfs-chunkserver: cannot register with master at 127\.0\.0\.1:1/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("every command answers --help", async () => {
    for (const script of [bin.master, bin.chunkserver, bin.mount]) {
      const p = spawnNode(script, ["--help"]);
      expect((await p.exited).code).toBe(0);
    }
    expect((await runCli(["--help"])).stdout).toMatch(/usage: gfs/);
  });
});
