// Issue 16: the active master cut off from etcd only (network namespaces: etcd,
// three masters, three chunkservers and a client, each a host of its own; the
// active's route to etcd alone is blackholed). It must stop acknowledging
// before another master can be elected, and rejoin as a shadow that catches
// up once the route is back.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatusResponse__Output } from "@gfs/common";
import { bin, eventually, reported, runCli } from "./harness/cluster";
import { TestNetwork, type TestHost } from "./harness/netns";
import { issueIdentity } from "./harness/pki";
import { spawnNode, stopProcess, type Spawned } from "./harness/processes";

const ip = (...args: string[]) => promisify(execFile)("ip", args);
const canMakeNamespaces = await TestNetwork.available();
const ttlMs = 4_000;
const stepDownAfterMs = 2_500;

describe.runIf(canMakeNamespaces)("replicated master cut off from etcd (network namespaces)", () => {
  let net: TestNetwork;
  let dir: string;
  let shmDir = "";
  let etcdProc: ChildProcess | undefined;
  const procs: Spawned[] = [];
  let etcdHost: TestHost;
  let client: TestHost;
  const masters: Array<{ host: TestHost; address: string; proc: Spawned }> = [];
  let masterList = "";

  const cli = (args: string[], master = masterList) =>
    runCli(["--master", master, "--tls-dir", join(dir, "tls-admin"), "--timeout-ms", "2000", ...args], undefined, client.exec);
  const statusOf = async (i: number): Promise<StatusResponse__Output | undefined> => {
    const r = await cli(["status", "--json"], masters[i].address);
    return reported(r) ? JSON.parse(r.stdout) as StatusResponse__Output : undefined;
  };
  const activeIndex = (except?: number) => eventually(async () => {
    for (let i = 0; i < masters.length; i++) {
      if (i !== except && (await statusOf(i))?.masters[0]?.role === "MASTER_ROLE_ACTIVE") return i + 1;
    }
    return undefined;
  }, 30_000, "an active master").then((i) => i - 1);
  /** The time of master i's first log line `msg` after `afterMs` (its own clock: one machine). */
  const logTime = (i: number, msg: string, afterMs = 0): number | undefined => {
    for (const line of masters[i].proc.log().split("\n")) {
      if (!line.startsWith("{")) continue;
      const rec = JSON.parse(line) as { ts: string; msg: string };
      const t = Date.parse(rec.ts);
      if (rec.msg === msg && t >= afterMs) return t;
    }
    return undefined;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gfs-netns-repl-"));
    shmDir = await mkdtemp(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "gfs-netns-etcd-"));
    net = await TestNetwork.create();
    try {
      etcdHost = await net.addHost("e");
      client = await net.addHost("cl");
      await issueIdentity(join(dir, "tls-admin"), "admin", "admin");
      const etcdUrl = `http://${etcdHost.address}:2379`;
      // etcd on its own host (data on tmpfs: its fsyncs on a loaded disk take seconds), killed by pid in teardown.
      etcdProc = spawn("ip", ["netns", "exec", etcdHost.netns, "etcd",
        "--data-dir", join(shmDir, "etcd"), "--listen-client-urls", etcdUrl, "--advertise-client-urls", etcdUrl,
        "--listen-peer-urls", `http://${etcdHost.address}:2380`, "--initial-advertise-peer-urls", `http://${etcdHost.address}:2380`,
        "--initial-cluster", `default=http://${etcdHost.address}:2380`, "--log-level", "warn", "--logger", "zap",
      ], { stdio: "ignore" });
      const hosts: TestHost[] = [];
      for (let i = 0; i < 3; i++) hosts.push(await net.addHost(`m${i}`));
      masterList = hosts.map((h) => `${h.address}:9000`).join(",");
      for (const [i, host] of hosts.entries()) {
        await issueIdentity(join(dir, `tls-m${i}`), "master", `m${i}`);
        const proc = spawnNode(bin.master, ["--tls-dir", join(dir, `tls-m${i}`), "--listen", `${host.address}:9000`, "--data", join(dir, `m${i}`),
          "--etcd", etcdUrl, "--election-ttl-ms", String(ttlMs), "--step-down-after-ms", String(stepDownAfterMs),
          "--chunk-size", "1M", "--heartbeat-interval-ms", "200", "--lease-ms", "3000"], {}, host.exec);
        procs.push(proc);
        await proc.waitForLog("master listening", 30_000);
        masters.push({ host, address: `${host.address}:9000`, proc });
      }
      for (let i = 0; i < 3; i++) {
        const h = await net.addHost(`c${i}`);
        await issueIdentity(join(dir, `tls-cs${i}`), "chunkserver", `cs${i}`);
        const cs = spawnNode(bin.chunkserver, ["--tls-dir", join(dir, `tls-cs${i}`), "--listen", `${h.address}:7000`, "--master", masterList,
          "--data", join(dir, `c${i}`), "--heartbeat-interval-ms", "200"], {}, h.exec);
        procs.push(cs);
        await cs.waitForLog("registered with master", 30_000);
      }
    } catch (e) {
      await teardown();
      throw e;
    }
  }, 120_000);

  async function teardown(): Promise<void> {
    if (process.env.GFS_TEST_KEEP) {
      for (const [i, m] of masters.entries()) await writeFile(join(dir, `m${i}.log`), m.proc.log());
    }
    for (const p of procs.reverse()) await stopProcess(p);
    if (etcdProc && etcdProc.exitCode === null) {
      etcdProc.kill("SIGKILL");
      await once(etcdProc, "exit");
    }
    await rm(shmDir, { recursive: true, force: true });
    await net?.destroy();
    if (!process.env.GFS_TEST_KEEP) await rm(dir, { recursive: true, force: true });
  }
  afterAll(teardown, 60_000);

  it("an active master cut off from etcd stops acknowledging before another is elected, and rejoins as a caught-up shadow", async () => {
    const old = await activeIndex();
    expect((await cli(["mkdir", "/before"])).code).toBe(0);
    // Every master is caught up: nothing acknowledged so far can be missing wherever the next active is.
    await eventually(async () => {
      const rows = (await statusOf(old))?.masters ?? [];
      return rows.length === 3 && rows.every((m) => m.lagRecords === 0 && m.inSync);
    }, 15_000, "every shadow in sync");
    const cutAt = Date.now();
    await ip("-n", masters[old].host.netns, "route", "add", "blackhole", `${etcdHost.address}/32`);
    try {
      const next = await activeIndex(old);
      const stoppedAt = logTime(old, "stopped acknowledging", cutAt);
      const electedAt = logTime(next, "master is active", cutAt);
      expect(stoppedAt, "the old active logged that it stopped acknowledging").toBeDefined();
      expect(electedAt, "the new active logged its election").toBeDefined();
      expect(stoppedAt!, "the old active stopped acknowledging before the new one was elected").toBeLessThan(electedAt!);
      // The old active, still reachable by clients, acknowledges nothing now.
      const refused = await cli(["mkdir", "/to-the-old-one"], masters[old].address);
      expect(refused.code).not.toBe(0);
      expect((await cli(["mkdir", "/after"])).code).toBe(0);
      expect((await cli(["ls", "/"])).stdout).toContain("before");
    } finally {
      await ip("-n", masters[old].host.netns, "route", "del", "blackhole", `${etcdHost.address}/32`);
    }
    const next = await activeIndex(old);
    const activeSeq = (await statusOf(next))!.masters[0].lastSeq;
    await eventually(async () => {
      const me = (await statusOf(old))?.masters[0];
      return me?.role === "MASTER_ROLE_SHADOW" && me.appliedSeq >= activeSeq;
    }, 30_000, "the old active back as a shadow that applied everything the new one holds");
    const onOld = await cli(["ls", "/"], masters[old].address);
    expect(onOld.stdout).toContain("after");
    expect(onOld.stdout).not.toContain("to-the-old-one");
  }, 120_000);
});
