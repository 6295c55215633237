// Issue 17, "commands behave", with real processes: `gfs fsck` and `gfs status`
// say by their exit status whether the cluster is well (0) or not (1), report
// and --json alike; daemons log to --log-file, and SIGHUP reopens that file
// (logrotate's way) instead of killing the process.
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { FsckResponse__Output, StatusResponse__Output } from "@gfs/common";
import { bin, eventually, runCli, TestCluster } from "./harness/cluster";
import { spawnNode, stopProcess, type Spawned } from "./harness/processes";
import { ReplicatedCluster } from "./harness/replicated-cluster";

describe("exit status of gfs fsck and gfs status", () => {
  let c: TestCluster;
  beforeAll(async () => { c = await TestCluster.start({ chunkservers: 3, replication: 3, heartbeatIntervalMs: 100, heartbeatMisses: 3 }); });
  afterAll(async () => { await c?.stop(); });

  it("on a healthy cluster both exit 0, text and --json", async () => {
    const put = await c.gfs(["put", "-", "/healthy.bin"], randomBytes(300_000));
    expect(put.code, put.stderr).toBe(0);
    for (const args of [["fsck"], ["fsck", "--json"], ["status"], ["status", "--json"]]) {
      const r = await c.gfs(args);
      expect(r.code, `gfs ${args.join(" ")}: ${r.stderr}`).toBe(0);
    }
    expect(JSON.parse((await c.gfs(["fsck", "--json"])).stdout).unhealthyChunks).toBe(0);
  });

  it("a listed master that does not answer makes gfs status exit 1, still printing every master", async () => {
    const list = `${c.masterAddress},127.0.0.1:1`;
    const text = await runCli(["--master", list, "--tls-dir", c.tlsDir("admin"), "--timeout-ms", "2000", "status"]);
    expect(text.code, text.stderr).toBe(1);
    expect(text.stdout).toMatch(/127\.0\.0\.1:1 +UNREACHABLE/);
    const json = await runCli(["--master", list, "--tls-dir", c.tlsDir("admin"), "--timeout-ms", "2000", "status", "--json"]);
    expect(json.code, json.stderr).toBe(1);
    const s = JSON.parse(json.stdout) as StatusResponse__Output;
    expect(s.masters.map((m) => [m.address, m.reachable])).toEqual([[c.masterAddress, true], ["127.0.0.1:1", false]]);
  });

  it("with a chunkserver dead, gfs status exits 1 and gfs fsck (its chunks under-replicated) exits 1, both still reporting", async () => {
    expect((await c.gfs(["put", "-", "/sick.bin"], randomBytes(300_000))).code).toBe(0);
    await c.kill(2);
    const dead = c.chunkservers[2].serverId;
    await eventually(async () => {
      const s = JSON.parse((await c.gfs(["status", "--json"])).stdout) as StatusResponse__Output;
      return s.chunkservers.some((x) => x.serverId === dead && !x.alive);
    }, 15_000, "the killed chunkserver declared dead");

    const text = await c.gfs(["status"]);
    expect(text.code, text.stderr).toBe(1);
    expect(text.stdout).toMatch(/DEAD/);
    expect(text.stdout).toMatch(/2\/3 chunkservers alive/);
    const json = await c.gfs(["status", "--json"]);
    expect(json.code, json.stderr).toBe(1);
    expect((JSON.parse(json.stdout) as StatusResponse__Output).chunkservers.filter((x) => !x.alive)).toHaveLength(1);

    // Three servers, replication 3: nowhere to copy to, so the chunks stay under-replicated.
    const fsckText = await c.gfs(["fsck"]);
    expect(fsckText.code, fsckText.stderr).toBe(1);
    expect(fsckText.stdout).toMatch(/under-replicated/);
    expect(fsckText.stdout).toMatch(/[1-9]\d* unhealthy/);
    const fsckJson = await c.gfs(["fsck", "/", "--json"]);
    expect(fsckJson.code, fsckJson.stderr).toBe(1);
    expect(Number((JSON.parse(fsckJson.stdout) as FsckResponse__Output).unhealthyChunks)).toBeGreaterThan(0);
  });

  it("the help of each command says what its exit status means", async () => {
    expect((await c.gfs(["fsck", "--help"])).stdout).toMatch(/exit status: 0 every chunk healthy; 1 /);
    expect((await c.gfs(["status", "--help"])).stdout).toMatch(/exit status: 0 every chunkserver alive .*; 1 a chunkserver dead/);
  });
});

describe("exit status of gfs status with a replicated master set", () => {
  let r: ReplicatedCluster | undefined;
  afterAll(async () => { await r?.stop(); });

  it("every master up: exit 0; a shadow killed: exit 1, the report naming it unreachable, text and --json", async () => {
    r = await ReplicatedCluster.start();
    const active = await r.activeIndex();
    await eventually(async () => (await r!.gfs(["status"])).code === 0, 20_000, "gfs status exit 0 with every master up");
    const shadow = r.masters.find((m) => m.index !== active)!;
    await r.killMaster(shadow.index);
    const json = await eventually(async () => {
      const st = await r!.gfs(["--timeout-ms", "2000", "status", "--json"]);
      return st.code === 1 && st;
    }, 20_000, "gfs status exit 1 with a shadow down");
    const s = JSON.parse(json.stdout) as StatusResponse__Output;
    expect(s.masters.find((m) => m.address === shadow.address)?.reachable).toBe(false);
    expect(s.masters.filter((m) => m.reachable)).toHaveLength(2);
    const text = await r.gfs(["--timeout-ms", "2000", "status"]);
    expect(text.code, text.stderr).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`${shadow.address.replaceAll(".", "\\.")} +UNREACHABLE`));
  }, 120_000);
});

/** The JSON lines of a log file so far (none if it does not exist). */
async function logLines(path: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(path, "utf8").catch(() => "");
  return text.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);
}

const logged = (path: string, msg: string) => eventually(async () => (await logLines(path)).find((l) => l.msg === msg), 15_000, `'${msg}' in ${path}`);

describe("daemon logs: --log-file and SIGHUP", () => {
  let dir = "";
  const procs: Spawned[] = [];
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), "gfs-logs-")); });
  afterEach(async () => { for (const p of procs.splice(0)) await stopProcess(p); });
  afterAll(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

  it("SIGHUP keeps the master and a chunkserver running, and each reopens its --log-file: new lines go to a new file at the path", async () => {
    const masterLog = join(dir, "logs", "master.log"); // the directory does not exist yet: made
    const master = spawnNode(bin.master, ["--insecure", "--listen", "127.0.0.1:0", "--data", join(dir, "master"), "--log-file", masterLog,
      "--heartbeat-interval-ms", "100"]);
    procs.push(master);
    const address = String((await logged(masterLog, "master listening")).address);
    const csLog = join(dir, "logs", "cs.log");
    const cs = spawnNode(bin.chunkserver, ["--insecure", "--listen", "127.0.0.1:0", "--master", address, "--data", join(dir, "cs"),
      "--log-file", csLog, "--heartbeat-interval-ms", "100"]);
    procs.push(cs);
    await logged(csLog, "registered with master");
    // Nothing on stderr once a log file is given (but the exact line shape in the file).
    expect(master.log()).toBe("");
    expect(cs.log()).toBe("");
    const first = (await logLines(masterLog))[0];
    expect(Object.keys(first).slice(0, 4)).toEqual(["ts", "level", "component", "msg"]);
    expect(first).toMatchObject({ level: "info", component: "master" });
    expect(new Date(String(first.ts)).toISOString()).toBe(first.ts);

    for (const [p, path] of [[master, masterLog], [cs, csLog]] as const) {
      await rename(path, `${path}.1`); // what logrotate does before it signals
      p.proc.kill("SIGHUP");
      const line = await logged(path, "log file reopened");
      expect(line.path).toBe(path);
      expect((await logLines(`${path}.1`)).some((l) => l.msg === "log file reopened")).toBe(false);
      expect(p.proc.exitCode).toBeNull();
      expect(p.proc.signalCode).toBeNull();
    }
    // Still serving after the signal: the master answers status and counts the chunkserver alive.
    const st = await runCli(["--master", address, "--insecure", "status", "--json"]);
    expect(st.code, st.stderr).toBe(0);
    expect((JSON.parse(st.stdout) as StatusResponse__Output).chunkservers.map((x) => x.alive)).toEqual([true]);
    // A clean stop's last lines land in the new file.
    await stopProcess(cs);
    expect(cs.proc.exitCode).toBe(0);
    expect((await logLines(csLog)).length).toBeGreaterThan(1);
  });

  it("SIGHUP to a daemon logging to stderr does not kill it either (nothing to reopen, one line says so)", async () => {
    const master = spawnNode(bin.master, ["--insecure", "--listen", "127.0.0.1:0", "--data", join(dir, "master-stderr")]);
    procs.push(master);
    const address = String((await master.waitForLog("master listening")).address);
    master.proc.kill("SIGHUP");
    const line = await master.waitForLog("log file reopened");
    expect(line.path).toBe("stderr");
    const st = await runCli(["--master", address, "--insecure", "status"]);
    expect(st.code, st.stderr).toBe(0);
    expect(master.proc.exitCode).toBeNull();
  });

  it("a log file that cannot be opened is a one-line error naming it, exit 1", async () => {
    await writeFile(join(dir, "a-file"), "");
    const bad = join(dir, "a-file", "master.log"); // under a file
    const r = await runCliLike(bin.master, ["--insecure", "--data", join(dir, "m-bad"), "--log-file", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr.startsWith(`gfs-master: cannot open log file ${bad}: E`), r.stderr).toBe(true);
  });
});

async function runCliLike(script: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const p = spawnNode(script, args);
  const { code } = await p.exited;
  return { code, stderr: p.log() };
}
