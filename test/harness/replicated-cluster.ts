// A replicated-master cluster for integration tests (issue 16): a real etcd,
// N gfs-master processes started with --etcd (one becomes active, the others
// shadows) and chunkservers that follow all of them, on 127.0.0.1 with
// ephemeral ports and temp dirs, mutual TLS with the test CA. Identities:
// m<i> (master i: its certificate's name is its master id), cs<i>, admin, mount.
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientOptions } from "@gfs/client-core";
import type { Role, StatusResponse__Output } from "@gfs/common";
import { bin, eventually, reported, runCli, type ChunkserverProcess } from "./cluster";
import { TestEtcd } from "./etcd";
import { issueIdentity, useAsProcessIdentity } from "./pki";
import { spawnNode, stopProcess, type Spawned } from "./processes";

export interface ReplicatedClusterOptions {
  masters?: number;
  chunkservers?: number;
  chunkSizeBytes?: number;
  heartbeatIntervalMs?: number;
  leaseMs?: number;
  /** etcd lease TTL of the election (short in tests). */
  electionTtlMs?: number;
  /** A master whose etcd lease was not renewed for this long stops acknowledging. */
  stepDownAfterMs?: number;
  masterArgs?: string[];
}

export interface MasterProcess {
  index: number;
  id: string;
  address: string;
  dataDir: string;
  process: Spawned;
}

export class ReplicatedCluster {
  etcd!: TestEtcd;
  readonly masters: MasterProcess[] = [];
  readonly chunkservers: ChunkserverProcess[] = [];
  private idDir = "";

  private constructor(readonly dir: string, readonly options: Required<ReplicatedClusterOptions>) {}

  static async start(options: ReplicatedClusterOptions = {}): Promise<ReplicatedCluster> {
    const dir = await mkdtemp(join(tmpdir(), "gfs-repl-"));
    const c = new ReplicatedCluster(dir, {
      masters: 3, chunkservers: 3, chunkSizeBytes: 1024 * 1024, heartbeatIntervalMs: 200, leaseMs: 5_000,
      electionTtlMs: 4_000, stepDownAfterMs: 2_500, masterArgs: [], ...options,
    });
    try {
      c.idDir = await mkdtemp(join(tmpdir(), "gfs-id-"));
      await chmod(c.idDir, 0o711);
      await Promise.all(["admin", "mount"].map((r) => issueIdentity(c.tlsDir(r), r as Role, r)));
      useAsProcessIdentity(c.tlsDir("admin"));
      c.etcd = await TestEtcd.start();
      for (let i = 0; i < c.options.masters; i++) await c.startMaster(i);
      await c.activeIndex(15_000); // one of them won the first election
      await Promise.all(Array.from({ length: c.options.chunkservers }, (_, i) => c.startChunkserver(i)));
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  tlsDir(name: string): string {
    return join(this.idDir, name);
  }

  /** "A,B,C": every master's address, for --master. */
  get masterList(): string {
    return this.masters.map((m) => m.address).join(",");
  }

  /** As TestCluster's, for TestMount: every master's address. */
  get masterAddress(): string {
    return this.masterList;
  }

  transportArgs(name: string): string[] {
    return ["--tls-dir", this.tlsDir(name)];
  }

  clientOptions(tlsDir?: string): ClientOptions {
    return { master: this.masterList, tlsDir: tlsDir ?? this.tlsDir("admin") };
  }

  /** Starts master `index` (again, on the same address and data dir, if it ran before). */
  async startMaster(index: number, extraArgs: string[] = []): Promise<MasterProcess> {
    const o = this.options;
    const prev = this.masters[index];
    const id = `m${index}`;
    if (!prev) await issueIdentity(this.tlsDir(id), "master", id);
    const dataDir = prev?.dataDir ?? join(this.dir, id);
    const p = spawnNode(bin.master, [
      "--tls-dir", this.tlsDir(id), "--listen", prev?.address ?? "127.0.0.1:0", "--data", dataDir, "--etcd", this.etcd.endpoint,
      "--election-ttl-ms", String(o.electionTtlMs), "--step-down-after-ms", String(o.stepDownAfterMs),
      "--chunk-size", String(o.chunkSizeBytes), "--heartbeat-interval-ms", String(o.heartbeatIntervalMs), "--lease-ms", String(o.leaseMs),
      // Each chunkserver heartbeats every master: a loaded 2-core machine misses a few, and a flapping server costs a re-copy.
      "--heartbeat-misses", "5",
      ...o.masterArgs, ...extraArgs,
    ]);
    const rec = await p.waitForLog("master listening");
    const m = { index, id, address: String(rec.address), dataDir, process: p };
    this.masters[index] = m;
    return m;
  }

  async startChunkserver(index: number): Promise<ChunkserverProcess> {
    const o = this.options;
    const prev = this.chunkservers[index];
    const dataDir = prev?.dataDir ?? join(this.dir, `cs${index}`);
    if (!prev) await issueIdentity(this.tlsDir(`cs${index}`), "chunkserver", `cs${index}`);
    const p = spawnNode(bin.chunkserver, [
      "--tls-dir", this.tlsDir(`cs${index}`), "--listen", prev?.address ?? "127.0.0.1:0", "--master", this.masterList, "--data", dataDir,
      "--heartbeat-interval-ms", String(o.heartbeatIntervalMs),
    ]);
    const rec = await p.waitForLog("chunkserver listening");
    await p.waitForLog("registered with master");
    const cs = { index, dataDir, address: String(rec.address), serverId: String(rec.serverId), process: p };
    this.chunkservers[index] = cs;
    return cs;
  }

  /** Is master `index`'s process running? */
  running(index: number): boolean {
    const p = this.masters[index]?.process.proc;
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  async killMaster(index: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const p = this.masters[index].process;
    p.proc.kill(signal);
    if (signal === "SIGKILL") await p.exited;
  }

  /** `gfs status --json` as one master answers it (undefined if it does not). */
  async statusOf(index: number): Promise<StatusResponse__Output | undefined> {
    if (!this.running(index)) return undefined;
    const r = await runCli(["--master", this.masters[index].address, "--tls-dir", this.tlsDir("admin"), "--timeout-ms", "2000", "status", "--json"]);
    return reported(r) ? JSON.parse(r.stdout) as StatusResponse__Output : undefined;
  }

  /** The index of the master that says it is active (waits up to `timeoutMs` for one). */
  async activeIndex(timeoutMs = 20_000, except?: number): Promise<number> {
    return eventually(async () => {
      for (const m of this.masters) {
        if (m.index === except) continue;
        const s = await this.statusOf(m.index);
        if (s?.masters[0]?.role === "MASTER_ROLE_ACTIVE") return m.index + 1;
      }
      return undefined;
    }, timeoutMs, "an active master").then((i) => i - 1);
  }

  /** The gfs CLI with every master's address, as the admin. */
  gfs(args: string[], input?: Buffer): Promise<{ code: number; stdout: string; stderr: string }> {
    return runCli(["--master", this.masterList, "--tls-dir", this.tlsDir("admin"), ...args], input);
  }

  async stop(): Promise<void> {
    if (process.env.GFS_TEST_KEEP) {
      // Kept for a look after a failure: every process's log next to its data.
      await mkdir(join(this.dir, "logs"), { recursive: true });
      for (const m of this.masters) await writeFile(join(this.dir, "logs", `${m.id}.log`), m.process.log());
      for (const cs of this.chunkservers) await writeFile(join(this.dir, "logs", `cs${cs.index}.log`), cs.process.log());
    }
    await Promise.all(this.chunkservers.map((c) => stopProcess(c.process)));
    await Promise.all(this.masters.map((m) => {
      m.process.proc.kill("SIGCONT"); // a test may have stopped it
      return stopProcess(m.process);
    }));
    await this.etcd?.stop();
    if (!process.env.GFS_TEST_KEEP) {
      await rm(this.dir, { recursive: true, force: true });
      if (this.idDir) await rm(this.idDir, { recursive: true, force: true });
    }
  }
}
