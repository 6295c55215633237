// A real cluster for integration tests: one gfs-master and N gfs-chunkserver
// processes on 127.0.0.1 with ephemeral ports and temp dirs.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { spawnNode, stopProcess, type Spawned } from "./processes";

export const repoRoot = resolve(__dirname, "..", "..");
export const bin = {
  master: join(repoRoot, "packages/master/dist/main.js"),
  chunkserver: join(repoRoot, "packages/chunkserver/dist/main.js"),
  cli: join(repoRoot, "packages/client-core/dist/cli.js"),
  mount: join(repoRoot, "packages/fuse-mount/dist/main.js"),
};

export interface ClusterOptions {
  chunkservers?: number;
  chunkSizeBytes?: number;
  replication?: number;
  heartbeatIntervalMs?: number;
  heartbeatMisses?: number;
  leaseMs?: number;
  racks?: string[];
  masterArgs?: string[];
  chunkserverArgs?: string[];
  /** Data dir of chunkserver i (e.g. on a small file system of the test's own); default: under the cluster's temp dir. */
  dataDirs?: string[];
}

export interface ChunkserverProcess {
  index: number;
  dataDir: string;
  address: string;
  serverId: string;
  process: Spawned;
}

export class TestCluster {
  master!: Spawned;
  masterAddress = "";
  readonly chunkservers: ChunkserverProcess[] = [];

  private constructor(readonly dir: string, readonly options: Required<Omit<ClusterOptions, "racks">> & { racks: string[] }) {}

  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    const dir = await mkdtemp(join(tmpdir(), "gfs-test-"));
    const c = new TestCluster(dir, {
      chunkservers: 3, chunkSizeBytes: 1024 * 1024, replication: 3, heartbeatIntervalMs: 200, heartbeatMisses: 3,
      leaseMs: 5_000, racks: [], masterArgs: [], chunkserverArgs: [], dataDirs: [], ...options,
    });
    try {
      await c.startMaster();
      await Promise.all(Array.from({ length: c.options.chunkservers }, (_, i) => c.startChunkserver(i)));
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  async startMaster(listen = "127.0.0.1:0"): Promise<void> {
    const o = this.options;
    this.master = spawnNode(bin.master, [
      "--listen", listen, "--data", join(this.dir, "master"), "--chunk-size", String(o.chunkSizeBytes),
      "--replication", String(o.replication), "--heartbeat-interval-ms", String(o.heartbeatIntervalMs),
      "--heartbeat-misses", String(o.heartbeatMisses), "--lease-ms", String(o.leaseMs), ...o.masterArgs,
    ]);
    const rec = await this.master.waitForLog("master listening");
    this.masterAddress = String(rec.address);
  }

  /** Starts chunkserver `index` (again, with the same data dir and address, if it ran before). */
  async startChunkserver(index: number): Promise<ChunkserverProcess> {
    const o = this.options;
    const prev = this.chunkservers[index];
    const dataDir = prev?.dataDir ?? o.dataDirs[index] ?? join(this.dir, `cs${index}`);
    const rack = o.racks.length ? o.racks[index % o.racks.length] : "";
    const p = spawnNode(bin.chunkserver, [
      "--listen", prev?.address ?? "127.0.0.1:0", "--master", this.masterAddress, "--data", dataDir,
      "--heartbeat-interval-ms", String(o.heartbeatIntervalMs), ...(rack ? ["--rack", rack] : []), ...o.chunkserverArgs,
    ]);
    const rec = await p.waitForLog("chunkserver listening");
    await p.waitForLog("registered with master");
    const cs = { index, dataDir, address: String(rec.address), serverId: String(rec.serverId), process: p };
    this.chunkservers[index] = cs;
    return cs;
  }

  kill(index: number, signal: NodeJS.Signals = "SIGKILL"): Promise<unknown> {
    const p = this.chunkservers[index].process;
    p.proc.kill(signal);
    return signal === "SIGKILL" ? p.exited : Promise.resolve();
  }

  /** Runs the gfs CLI against this cluster. */
  gfs(args: string[], input?: Buffer): Promise<{ code: number; stdout: string; stderr: string }> {
    return runCli(["--master", this.masterAddress, ...args], input);
  }

  async stop(): Promise<void> {
    await Promise.all(this.chunkservers.map((c) => stopProcess(c.process)));
    if (this.master) await stopProcess(this.master);
    if (!process.env.GFS_TEST_KEEP) await rm(this.dir, { recursive: true, force: true });
  }
}

/** Runs the gfs CLI (under `prefix`, e.g. `ip netns exec NS`, to run it on a test host). */
export async function runCli(args: string[], input?: Buffer, prefix: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = [...prefix, process.execPath, bin.cli, ...args];
  return new Promise((resolveRun) => {
    const child = execFile(argv[0], argv.slice(1), { maxBuffer: 1 << 30, encoding: "buffer" }, (err, stdout, stderr) => {
      resolveRun({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout: stdout.toString("latin1"), stderr: stderr.toString() });
    });
    if (input) child.stdin!.end(input); else child.stdin!.end();
  });
}

export const execFileAsync = promisify(execFile);

/** Polls `probe` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually<T>(probe: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Indexes of the chunkservers whose disk holds the chunk file (live chunks, not quarantined ones). */
export async function holders(c: TestCluster, handle: string): Promise<number[]> {
  const out: number[] = [];
  for (const cs of c.chunkservers) {
    const names = await readdir(join(cs.dataDir, "chunks")).catch(() => [] as string[]);
    if (names.includes(`${handle}.chunk`)) out.push(cs.index);
  }
  return out;
}
