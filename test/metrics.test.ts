// Prometheus metrics (issue 17) on real processes: a master, three
// chunkservers and a mount, each with --http-listen. Every /metrics is scraped
// and parsed as Prometheus text; the named metrics exist, and their values
// move when work is done (a file written and read through the CLI and the
// mount) and when a chunkserver dies.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bin, eventually, repoRoot, TestCluster } from "./harness/cluster";
import { run, TestMount } from "./harness/mount";
import { ReplicatedCluster } from "./harness/replicated-cluster";
import type { Spawned } from "./harness/processes";

const MiB = 1024 * 1024;
const http = ["--http-listen", "127.0.0.1:0"];

// ---- a small Prometheus text-format parser ----

interface Sample { name: string; labels: Record<string, string>; value: number }
interface Scrape { samples: Sample[]; types: Map<string, string> }

function parseMetrics(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const [name, type] = line.slice(7).split(" ");
      types.set(name, type);
      continue;
    }
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    // Prometheus reads NaN in any case (prom-client writes "Nan").
    const value = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : /^nan$/i.test(m[3]) ? NaN : Number(m[3]);
    if (Number.isNaN(value) && !/^nan$/i.test(m[3])) throw new Error(`bad value in ${line}`);
    samples.push({ name: m[1], labels, value });
  }
  return { samples, types };
}

/** Sum of the samples named `name` whose labels include `labels` (undefined when there is none). */
function value(s: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = s.samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return hits.length ? hits.reduce((a, x) => a + x.value, 0) : undefined;
}

/** As value, but the metric must be there. */
function must(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const v = value(s, name, labels);
  if (v === undefined) throw new Error(`no sample ${name}${JSON.stringify(labels)} in the scrape`);
  return v;
}

async function get(address: string, path: string): Promise<{ status: number; body: string; type: string }> {
  const res = await fetch(`http://${address}${path}`);
  return { status: res.status, body: await res.text(), type: res.headers.get("content-type") ?? "" };
}

async function scrape(address: string): Promise<Scrape> {
  const r = await get(address, "/metrics");
  expect(r.status).toBe(200);
  expect(r.type).toMatch(/^text\/plain/);
  return parseMetrics(r.body);
}

const httpAddress = async (p: Spawned): Promise<string> => String((await p.waitForLog("http listening")).address);

/** Sum of one metric over every chunkserver. */
async function sumOver(addresses: string[], name: string, labels: Record<string, string> = {}): Promise<number> {
  let total = 0;
  for (const a of addresses) total += value(await scrape(a), name, labels) ?? 0;
  return total;
}

describe("Prometheus metrics on every daemon (master, 3 chunkservers, a mount)", { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let mount: TestMount | undefined;
  let master = "";
  let chunkservers: string[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start({ chunkSizeBytes: MiB, heartbeatIntervalMs: 200, heartbeatMisses: 3, masterArgs: http, chunkserverArgs: http });
    master = await httpAddress(cluster.master);
    chunkservers = await Promise.all(cluster.chunkservers.map((c) => httpAddress(c.process)));
  });
  afterAll(async () => {
    await mount?.stop();
    await cluster?.stop();
  });

  it("every daemon answers /healthz and /readyz with 200 once registered, and serves process metrics and gfs_build_info", async () => {
    for (const [daemon, address] of [["master", master], ...chunkservers.map((a) => ["chunkserver", a])]) {
      expect((await get(address, "/healthz")).status).toBe(200);
      expect((await get(address, "/readyz")).status).toBe(200);
      const s = await scrape(address);
      expect(must(s, "gfs_build_info", { daemon })).toBe(1);
      expect(must(s, "process_resident_memory_bytes")).toBeGreaterThan(0);
      expect(value(s, "nodejs_eventloop_lag_seconds")).toBeDefined();
      expect(s.types.get("gfs_rpc_duration_seconds")).toBe("histogram");
    }
  });

  it("master: a file written through the CLI raises RPC counts, op-log commits, files and healthy chunks", async () => {
    const before = await scrape(master);
    const data = randomBytes(3 * MiB);
    const put = await cluster.gfs(["put", "-", "/metrics-cli.bin"], data);
    expect(put.code, put.stderr).toBe(0);
    const after = await scrape(master);
    // Created for writing, then a chunk added per MiB: the master saw and timed those calls.
    expect(must(after, "gfs_rpc_requests_total")).toBeGreaterThan(value(before, "gfs_rpc_requests_total") ?? 0);
    expect(must(after, "gfs_rpc_requests_total", { method: "CreateForWriting" })).toBeGreaterThan(value(before, "gfs_rpc_requests_total", { method: "CreateForWriting" }) ?? 0);
    expect(must(after, "gfs_rpc_duration_seconds_count", { method: "CreateForWriting" })).toBeGreaterThan(0);
    expect(must(after, "gfs_oplog_commit_duration_seconds_count")).toBeGreaterThan(value(before, "gfs_oplog_commit_duration_seconds_count") ?? 0);
    expect(must(after, "gfs_oplog_commit_records_sum")).toBeGreaterThan(value(before, "gfs_oplog_commit_records_sum") ?? 0);
    expect(must(after, "gfs_oplog_last_seq")).toBeGreaterThan(must(before, "gfs_oplog_last_seq"));
    // A just-written chunk's lease is still held (5 s leases in the harness).
    expect(must(after, "gfs_leases_held")).toBeGreaterThan(0);
    expect(must(after, "gfs_chunkservers", { state: "alive" })).toBe(3);
    expect(must(after, "gfs_chunkservers", { state: "dead" })).toBe(0);
    for (const cs of cluster.chunkservers) {
      const server = cs.serverId;
      expect(must(after, "gfs_chunkserver_heartbeat_age_seconds", { server })).toBeLessThan(60);
      expect(must(after, "gfs_chunkserver_capacity_bytes", { server })).toBeGreaterThan(0);
      expect(must(after, "gfs_chunkserver_free_bytes", { server })).toBeLessThanOrEqual(must(after, "gfs_chunkserver_capacity_bytes", { server }));
      expect(must(after, "gfs_chunkserver_alive", { server })).toBe(1);
    }
    expect(must(after, "gfs_master_role", { role: "single" })).toBe(1);
    expect(must(after, "gfs_master_safe_mode")).toBe(0);
    // Chunk states and namespace counts come from a pass reused for a moment: they catch up within it.
    const s = await eventually(async () => {
      const x = await scrape(master);
      return must(x, "gfs_chunks", { state: "healthy" }) >= 3 && must(x, "gfs_namespace_files") >= 1 ? x : undefined;
    }, 15_000, "3 healthy chunks and a file in the master's metrics");
    for (const state of ["under_replicated", "stale", "corrupt", "suspect", "missing"]) expect(must(s, "gfs_chunks", { state })).toBe(0);
    expect(must(s, "gfs_namespace_directories")).toBeGreaterThanOrEqual(1);
    expect(must(s, "gfs_rereplication_backlog_chunks")).toBe(0);
    expect(value(s, "gfs_rereplication_copies_in_flight")).toBe(0);
  });

  it("chunkservers: bytes written, pushed and read rise with a write and a read; chunks held and disk space are reported", async () => {
    const size = 2 * MiB + 12345;
    const data = randomBytes(size);
    const written0 = await sumOver(chunkservers, "gfs_bytes_written_total");
    const pushed0 = await sumOver(chunkservers, "gfs_bytes_pushed_total");
    const read0 = await sumOver(chunkservers, "gfs_bytes_read_total");
    const put = await cluster.gfs(["put", "-", "/metrics-bytes.bin"], data);
    expect(put.code, put.stderr).toBe(0);
    const got = await cluster.gfs(["get", "/metrics-bytes.bin", "-"]);
    expect(got.code, got.stderr).toBe(0);
    expect(Buffer.from(got.stdout, "latin1").equals(data)).toBe(true);
    // Every replica (3) applies every byte; pushes carry them at least once to each.
    expect(await sumOver(chunkservers, "gfs_bytes_written_total") - written0).toBeGreaterThanOrEqual(3 * size);
    expect(await sumOver(chunkservers, "gfs_bytes_pushed_total") - pushed0).toBeGreaterThanOrEqual(size);
    expect(await sumOver(chunkservers, "gfs_bytes_read_total") - read0).toBeGreaterThanOrEqual(size);
    expect(await sumOver(chunkservers, "gfs_chunks_held")).toBeGreaterThanOrEqual(3 * 3);
    expect(await sumOver(chunkservers, "gfs_rpc_requests_total")).toBeGreaterThan(0);
    for (const a of chunkservers) {
      const s = await scrape(a);
      const capacity = must(s, "gfs_disk_capacity_bytes");
      expect(capacity).toBeGreaterThan(0);
      expect(must(s, "gfs_disk_free_bytes")).toBeLessThanOrEqual(capacity);
      expect(must(s, "gfs_disk_used_bytes")).toBe(capacity - must(s, "gfs_disk_free_bytes"));
      expect(must(s, "gfs_chunks_stored_bytes")).toBeGreaterThan(0);
      expect(value(s, "gfs_push_buffer_bytes")).toBeGreaterThanOrEqual(0);
      expect(must(s, "gfs_master_heartbeat_age_seconds", { master: cluster.masterAddress })).toBeLessThan(60);
      expect(must(s, "gfs_mutations_applied_total")).toBeGreaterThan(0);
      // Reads and writes reach chunkservers on the data transport: timed there under the gRPC method names.
      expect((value(s, "gfs_rpc_duration_seconds_count", { method: "Write" }) ?? 0)
        + (value(s, "gfs_rpc_duration_seconds_count", { method: "ApplyMutation" }) ?? 0)).toBeGreaterThan(0);
    }
  });

  it("mount: FUSE operations are counted and timed by op, errors by op, and bytes read and written", async () => {
    mount = await TestMount.start(cluster, { args: http });
    const address = await httpAddress(mount.process);
    expect((await get(address, "/healthz")).status).toBe(200);
    expect((await get(address, "/readyz")).status).toBe(200);
    const size = MiB + 4321;
    const data = randomBytes(size);
    const before = await scrape(address);
    expect(must(before, "gfs_build_info", { daemon: "mount" })).toBe(1);
    await writeFile(mount.path("via-mount.bin"), data);
    expect((await readFile(mount.path("via-mount.bin"))).equals(data)).toBe(true);
    await expect(stat(mount.path("no-such-file"))).rejects.toThrow(/ENOENT/);
    const after = await scrape(address);
    expect(after.types.get("gfs_fuse_operation_duration_seconds")).toBe("histogram");
    for (const op of ["create", "write", "read", "getattr"]) {
      expect(must(after, "gfs_fuse_operations_total", { op }), op).toBeGreaterThan(value(before, "gfs_fuse_operations_total", { op }) ?? 0);
      expect(must(after, "gfs_fuse_operation_duration_seconds_count", { op }), op).toBeGreaterThan(0);
    }
    expect(must(after, "gfs_fuse_errors_total", { op: "getattr" })).toBeGreaterThan(value(before, "gfs_fuse_errors_total", { op: "getattr" }) ?? 0);
    expect(must(after, "gfs_fuse_bytes_written_total") - (value(before, "gfs_fuse_bytes_written_total") ?? 0)).toBeGreaterThanOrEqual(size);
    expect(must(after, "gfs_fuse_bytes_read_total") - (value(before, "gfs_fuse_bytes_read_total") ?? 0)).toBeGreaterThanOrEqual(size);
  });

  it("a killed chunkserver turns dead at the master, its chunks under-replicated, its heartbeat age growing", async () => {
    // Its own file: one chunk on each of the 3 servers, whatever the tests before wrote.
    const put = await cluster.gfs(["put", "-", "/before-the-kill.bin"], randomBytes(MiB));
    expect(put.code, put.stderr).toBe(0);
    const victim = cluster.chunkservers[2];
    await cluster.kill(2);
    const s = await eventually(async () => {
      const x = await scrape(master);
      return must(x, "gfs_chunkservers", { state: "dead" }) === 1 && must(x, "gfs_chunks", { state: "under_replicated" }) > 0 ? x : undefined;
    }, 20_000, "a dead chunkserver and under-replicated chunks in the master's metrics");
    expect(must(s, "gfs_chunkservers", { state: "alive" })).toBe(2);
    expect(must(s, "gfs_chunks", { state: "healthy" })).toBe(0); // every chunk had a replica on each of the 3 servers
    // No third server to copy to: the backlog stays.
    expect(must(s, "gfs_rereplication_backlog_chunks")).toBe(must(s, "gfs_chunks", { state: "under_replicated" }));
    expect(must(s, "gfs_chunkserver_alive", { server: victim.serverId })).toBe(0);
    // Dead after 3 missed 200 ms heartbeats.
    expect(must(s, "gfs_chunkserver_heartbeat_age_seconds", { server: victim.serverId })).toBeGreaterThan(0.6);
  });
});

describe("re-replication metrics (4 chunkservers, 3 replicas)", { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let master = "";
  let chunkservers: string[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start({ chunkservers: 4, chunkSizeBytes: MiB, heartbeatIntervalMs: 200, heartbeatMisses: 3, masterArgs: http, chunkserverArgs: http });
    master = await httpAddress(cluster.master);
    chunkservers = await Promise.all(cluster.chunkservers.map((c) => httpAddress(c.process)));
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("copies ordered and done rise after a chunkserver dies, and the backlog drains to zero", async () => {
    const put = await cluster.gfs(["put", "-", "/copied.bin"], randomBytes(3 * MiB));
    expect(put.code, put.stderr).toBe(0);
    const before = await scrape(master);
    // A server holding chunks (its own gfs_chunks_held says so) dies: they are short of a replica.
    const held = await Promise.all(chunkservers.map(async (a) => must(await scrape(a), "gfs_chunks_held")));
    const victim = held.findIndex((n) => n > 0);
    expect(victim).toBeGreaterThanOrEqual(0);
    await cluster.kill(victim);
    const s = await eventually(async () => {
      const x = await scrape(master);
      return must(x, "gfs_chunkservers", { state: "dead" }) === 1
        && must(x, "gfs_rereplication_copies_done_total") > must(before, "gfs_rereplication_copies_done_total")
        && must(x, "gfs_rereplication_backlog_chunks") === 0 && must(x, "gfs_rereplication_copies_in_flight") === 0
        && must(x, "gfs_chunks", { state: "under_replicated" }) === 0 ? x : undefined;
    }, 60_000, "copies done and no backlog after a chunkserver died");
    expect(must(s, "gfs_rereplication_copies_ordered_total")).toBeGreaterThanOrEqual(must(s, "gfs_rereplication_copies_done_total"));
    expect(must(s, "gfs_chunks", { state: "healthy" })).toBeGreaterThanOrEqual(3);
  });
});

describe("scripts/mount.sh turns every HTTP port on and prints where (real processes, FUSE)", { timeout: 180_000 }, () => {
  let dir: string;
  let env: Record<string, string>;
  // Below Linux's ephemeral ports (32768 up), which any connection may hold, and away from the other
  // mount.sh test's (transport-security: 20000 + pid % 20000); + 130 at most above it.
  const port = 10_000 + (process.pid % 9_000);
  const mnt = () => join(dir, "mnt");
  const mountSh = (...args: string[]) => run("env", [...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    "bash", join(repoRoot, "scripts/mount.sh"), ...args], { timeoutMs: 90_000 });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gfs-mountsh-http-"));
    // Launchers of this checkout first on PATH (mount.sh's setup would point /usr/local/bin elsewhere).
    await mkdir(join(dir, "bin"));
    for (const [name, script] of [["gfs", bin.cli], ["gfs-master", bin.master], ["gfs-chunkserver", bin.chunkserver], ["gfs-mount", bin.mount]]) {
      await writeFile(join(dir, "bin", name), `#!/bin/sh\nexec "${process.execPath}" "${script}" "$@"\n`, { mode: 0o755 });
    }
    env = {
      PATH: `${join(dir, "bin")}:${process.env.PATH}`, GFS_SKIP_SETUP: "1", GFS_HOME: join(dir, "home"), GFS_INSECURE: "1",
      GFS_MASTER_PORT: String(port), GFS_CHUNK_SIZE: String(MiB),
    };
  });
  afterAll(async () => {
    if (env) await mountSh("--stop", mnt());
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("the master, each chunkserver and the mount answer on GFS_MASTER_PORT + 80, + i and + 50, as printed", async () => {
    const r = await mountSh(mnt());
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const http = port + 80;
    expect(r.stdout).toContain(`web status page: http://127.0.0.1:${http}/`);
    const urls = [...r.stdout.matchAll(/http:\/\/127\.0\.0\.1:(\d+)\/metrics/g)].map((m) => Number(m[1]));
    expect(urls).toEqual([http, http + 1, http + 3, http + 50]);
    const daemons: Array<[number, string]> = [[http, "master"], [http + 1, "chunkserver"], [http + 2, "chunkserver"], [http + 3, "chunkserver"], [http + 50, "mount"]];
    for (const [p, daemon] of daemons) {
      const address = `127.0.0.1:${p}`;
      expect((await get(address, "/readyz")).status, address).toBe(200);
      expect(must(await scrape(address), "gfs_build_info", { daemon }), address).toBe(1);
    }
  });
});

describe("metrics of a replicated master set (etcd, 2 masters)", { timeout: 180_000 }, () => {
  let cluster: ReplicatedCluster;
  let addresses: string[] = [];

  beforeAll(async () => {
    cluster = await ReplicatedCluster.start({ masters: 2, masterArgs: http });
    addresses = await Promise.all(cluster.masters.map((m) => httpAddress(m.process)));
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("each master reports its role; the shadow's op log and namespace follow the active's", async () => {
    const active = await cluster.activeIndex();
    const shadow = 1 - active;
    const put = await cluster.gfs(["put", "-", "/replicated.bin"], randomBytes(MiB));
    expect(put.code, put.stderr).toBe(0);
    const a = await scrape(addresses[active]);
    expect(must(a, "gfs_master_role", { role: "active" })).toBe(1);
    expect(must(a, "gfs_rpc_requests_total", { method: "CreateForWriting" })).toBeGreaterThan(0);
    const seq = must(a, "gfs_oplog_last_seq");
    const s = await eventually(async () => {
      const x = await scrape(addresses[shadow]);
      return must(x, "gfs_oplog_last_seq") >= seq && must(x, "gfs_namespace_files") >= 1 ? x : undefined;
    }, 20_000, "the shadow's metrics caught up with the active's op log");
    expect(must(s, "gfs_master_role", { role: "shadow" })).toBe(1);
    expect(value(s, "gfs_master_role", { role: "active" })).toBeUndefined();
    // A shadow keeps liveness too: it hears every chunkserver.
    expect(must(s, "gfs_chunkservers", { state: "alive" })).toBe(3);
  });
});
