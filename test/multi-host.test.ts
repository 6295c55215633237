// Multi-host: master, 4 chunkservers and a client, each in its own network
// namespace with its own address, joined by a bridge. One chunkserver's link
// is cut mid-write and later restored.
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FsckResponse__Output, StatusResponse__Output } from "@gfs/common";
import { bin, eventually, runCli } from "./harness/cluster";
import { TestNetwork, type TestHost } from "./harness/netns";
import { issueIdentity } from "./harness/pki";
import { spawnNode, stopProcess, type Spawned } from "./harness/processes";

const MiB = 1024 * 1024;
const canMakeNamespaces = await TestNetwork.available();

describe.runIf(canMakeNamespaces)("multi-host cluster in network namespaces", () => {
  let net: TestNetwork;
  let dir: string;
  const procs: Spawned[] = [];
  let master: TestHost;
  let client: TestHost;
  let masterAddress: string;
  const servers: TestHost[] = [];

  /** The CLI on the client host, as the cluster's admin. */
  const cli = (args: string[]) => runCli(["--master", masterAddress, "--tls-dir", join(dir, "tls-admin"), ...args], undefined, client.exec);
  const gfs = (args: string[]) => cli(["--timeout-ms", "3000", ...args]);
  const status = async () => JSON.parse((await gfs(["status", "--json"])).stdout) as StatusResponse__Output;
  const fsck = async () => JSON.parse((await gfs(["fsck", "/", "--json"])).stdout) as FsckResponse__Output;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gfs-netns-"));
    net = await TestNetwork.create();
    try {
      master = await net.addHost("m");
      for (let i = 1; i <= 4; i++) servers.push(await net.addHost(`c${i}`));
      client = await net.addHost("cl");
      masterAddress = `${master.address}:9000`;
      // Every host has its own identity of one CA; certificates name roles, not addresses.
      await issueIdentity(join(dir, "tls-admin"), "admin", "admin");
      await issueIdentity(join(dir, "tls-master"), "master", "master");
      for (let i = 0; i < servers.length; i++) await issueIdentity(join(dir, `tls-cs${i}`), "chunkserver", `cs${i}`);
      const m = spawnNode(bin.master, ["--tls-dir", join(dir, "tls-master"), "--listen", masterAddress, "--data", join(dir, "m"), "--chunk-size", "1M",
        "--heartbeat-interval-ms", "200", "--lease-ms", "3000", "--copies-per-server", "4"], {}, master.exec);
      procs.push(m);
      await m.waitForLog("master listening");
      for (const [i, h] of servers.entries()) {
        const cs = spawnNode(bin.chunkserver, ["--tls-dir", join(dir, `tls-cs${i}`), "--listen", `${h.address}:7000`, "--master", masterAddress, "--data", join(dir, `c${i}`),
          "--heartbeat-interval-ms", "200"], {}, h.exec);
        procs.push(cs);
        await cs.waitForLog("registered with master");
      }
    } catch (e) {
      await teardown();
      throw e;
    }
  });

  async function teardown() {
    await Promise.all(procs.map((p) => stopProcess(p)));
    await net?.destroy();
    await rm(dir, { recursive: true, force: true });
  }
  afterAll(teardown);

  it("every host reaches the master over its own address", async () => {
    const s = await status();
    expect(s.chunkservers.map((c) => c.address).sort()).toEqual(servers.map((h) => `${h.address}:7000`).sort());
    expect(s.chunkservers.every((c) => c.alive)).toBe(true);
  });

  it("a chunkserver cut off mid-write: the put succeeds or a retry does, chunks are re-replicated, and the host rejoins when its link returns", async () => {
    const data = randomBytes(16 * MiB);
    const local = join(dir, "in.bin");
    await writeFile(local, data);
    const put = cli(["put", local, "/data.bin"]);
    await new Promise((r) => setTimeout(r, 300));
    await net.setLink("c2", false);
    let result = await put;
    if (result.code !== 0) {
      expect(result.stderr).toMatch(/^gfs: put: E[A-Z]+: /);
      result = await eventually(async () => {
        const r = await cli(["put", local, "/data.bin"]);
        return r.code === 0 ? r : undefined;
      }, 60_000, "put retry");
    }
    const cut = `${servers[1].address}:7000`;
    await eventually(async () => (await status()).chunkservers.some((c) => c.address === cut && !c.alive), 10_000, "cut host declared dead");
    const healthy = await eventually(async () => {
      const r = await fsck();
      return r.unhealthyChunks === 0 && r.files[0]?.chunks.length === 16 ? r : undefined;
    }, 60_000, "every chunk back at 3 replicas on reachable hosts");
    for (const ch of healthy.files[0].chunks) {
      expect(ch.replicas.filter((r) => r.alive && !r.stale && r.address !== cut)).toHaveLength(3);
    }
    const out = join(dir, "out.bin");
    const get = await cli(["get", "/data.bin", out]);
    expect(get.code, get.stderr).toBe(0);
    expect((await readFile(out)).equals(data)).toBe(true);

    await net.setLink("c2", true);
    await eventually(async () => (await status()).chunkservers.every((c) => c.alive), 15_000, "cut host alive again");
    await eventually(async () => ((await fsck()).unhealthyChunks === 0 ? true : undefined), 30_000, "healthy after rejoin");
  });
});
