// A real cluster for integration tests: one gfs-master and N gfs-chunkserver
// processes on 127.0.0.1 with ephemeral ports and temp dirs, on mutual TLS
// with certificates of the test process's CA (pki.ts) unless `insecure`.
// Identities: master, admin, mount, cs<i> for chunkserver i (its name is its
// certificate's CN), and any a test issues. This process's own clients
// (GfsClient, ChunkServerPool) speak as the admin unless told otherwise.
import { execFile } from "node:child_process";
import { chmod, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import type { ClientOptions } from "@gfs/client-core";
import type { FsckResponse__Output, Role } from "@gfs/common";
import { issueIdentity, useAsProcessIdentity, type IdentityOptions } from "./pki";
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
  /** Plaintext daemons (--insecure), as before security: clients must say `insecure` too. */
  insecure?: boolean;
  /**
   * Issue 20: the master's --trash-retention-ms. 0 here (the product default is 24 h): the suites
   * written before the trash check that a delete frees chunks; the trash's own suites turn it on.
   */
  trashRetentionMs?: number;
}

/** A user to run a command as (setpriv): uid, primary gid, supplementary groups (none if not given). */
export interface AsUser { uid: number; gid: number; groups?: number[] }

export interface GfsRunOptions {
  /** Identity dir for --tls-dir; default the cluster's admin (none when asUser: the user's own defaults apply). */
  tlsDir?: string;
  asUser?: AsUser;
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
  /** Identity dirs (world-traversable, unlike `dir`, so a user's identity can be read by that user). */
  private idDir = "";
  private issued = 0;

  private constructor(readonly dir: string, readonly options: Required<Omit<ClusterOptions, "racks">> & { racks: string[] }) {}

  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    const dir = await mkdtemp(join(tmpdir(), "gfs-test-"));
    const c = new TestCluster(dir, {
      chunkservers: 3, chunkSizeBytes: 1024 * 1024, replication: 3, heartbeatIntervalMs: 200, heartbeatMisses: 3,
      leaseMs: 5_000, racks: [], masterArgs: [], chunkserverArgs: [], dataDirs: [], insecure: false, trashRetentionMs: 0, ...options,
    });
    try {
      if (!c.options.insecure) {
        c.idDir = await mkdtemp(join(tmpdir(), "gfs-id-"));
        await chmod(c.idDir, 0o711);
        await Promise.all(["master", "admin", "mount"].map((r) => issueIdentity(c.tlsDir(r), r as Role, r)));
        useAsProcessIdentity(c.tlsDir("admin"));
      }
      await c.startMaster();
      await Promise.all(Array.from({ length: c.options.chunkservers }, (_, i) => c.startChunkserver(i)));
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  /**
   * The dir of an identity the harness made: "master", "admin", "mount", or
   * "cs<i>" (chunkserver i's, made when it first starts).
   */
  tlsDir(name: string): string {
    if (this.options.insecure) throw new Error("an insecure cluster has no identities");
    return join(this.idDir, name);
  }

  /** A new identity of the cluster's CA (a user one owned by its uid, so a CLI run as that user can read it). */
  async issue(role: Role, name: string, o: IdentityOptions = {}): Promise<string> {
    if (this.options.insecure) throw new Error("an insecure cluster has no CA");
    return issueIdentity(join(this.idDir, `issued-${++this.issued}-${name}`), role, name, o);
  }

  /** The flags a daemon or the CLI needs to join this cluster as identity `name`. */
  transportArgs(name: string): string[] {
    return this.options.insecure ? ["--insecure"] : ["--tls-dir", this.tlsDir(name)];
  }

  /** GfsClient options for this cluster, speaking as identity dir `tlsDir` (default the admin). */
  clientOptions(tlsDir?: string): ClientOptions {
    return this.options.insecure ? { master: this.masterAddress, insecure: true } : { master: this.masterAddress, tlsDir: tlsDir ?? this.tlsDir("admin") };
  }

  /**
   * Kills the master (SIGKILL) and starts it again at its address, with `extra` flags from now on, so
   * it recovers from its op log and checkpoints. Returns its "master recovered" log record.
   */
  async restartMaster(extra: string[] = []): Promise<Record<string, unknown>> {
    const address = this.masterAddress;
    this.master.proc.kill("SIGKILL");
    await this.master.exited;
    this.options.masterArgs.push(...extra);
    await this.startMaster(address);
    return this.master.waitForLog("master recovered");
  }

  async startMaster(listen = "127.0.0.1:0"): Promise<void> {
    const o = this.options;
    this.master = spawnNode(bin.master, [
      ...this.transportArgs("master"), "--listen", listen, "--data", join(this.dir, "master"), "--chunk-size", String(o.chunkSizeBytes),
      "--replication", String(o.replication), "--heartbeat-interval-ms", String(o.heartbeatIntervalMs),
      "--heartbeat-misses", String(o.heartbeatMisses), "--lease-ms", String(o.leaseMs),
      "--trash-retention-ms", String(o.trashRetentionMs), ...o.masterArgs,
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
    if (!o.insecure && !prev) await issueIdentity(this.tlsDir(`cs${index}`), "chunkserver", `cs${index}`);
    const p = spawnNode(bin.chunkserver, [
      ...this.transportArgs(`cs${index}`), "--listen", prev?.address ?? "127.0.0.1:0", "--master", this.masterAddress, "--data", dataDir,
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

  /** Runs the gfs CLI against this cluster (as the admin identity unless told otherwise). */
  gfs(args: string[], input?: Buffer, o: GfsRunOptions = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const transport = this.options.insecure ? ["--insecure"]
      : o.tlsDir ? ["--tls-dir", o.tlsDir] : o.asUser ? [] : ["--tls-dir", this.tlsDir("admin")];
    const prefix = o.asUser
      ? ["setpriv", `--reuid=${o.asUser.uid}`, `--regid=${o.asUser.gid}`, ...(o.asUser.groups?.length ? [`--groups=${o.asUser.groups.join(",")}`] : ["--clear-groups"])]
      : [];
    return runCli(["--master", this.masterAddress, ...transport, ...args], input, prefix);
  }

  async stop(): Promise<void> {
    await Promise.all(this.chunkservers.map((c) => stopProcess(c.process)));
    if (this.master) await stopProcess(this.master);
    if (!process.env.GFS_TEST_KEEP) {
      await rm(this.dir, { recursive: true, force: true });
      if (this.idDir) await rm(this.idDir, { recursive: true, force: true });
    }
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

/** `gfs fsck PATH --json` run as the admin, parsed (exit 1 with a report: some chunk is not healthy); throws with the CLI's stderr when it fails. */
export async function fsck(c: TestCluster, path = "/"): Promise<FsckResponse__Output> {
  const r = await c.gfs(["fsck", path, "--json"]);
  if (!reported(r)) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as FsckResponse__Output;
}

/**
 * True when `gfs status`/`gfs fsck` answered with a report: exit 0 (all well) or exit 1
 * with the report on stdout (a server down, a chunk not healthy); false when the call failed.
 */
export const reported = (r: { code: number; stdout: string }): boolean => r.code === 0 || (r.code === 1 && r.stdout.trim().length > 0);
