#!/usr/bin/env node
// Master durability benchmark (not a test). Needs the built dist code (`npx tsc -b packages/master packages/client-core`).
//   node scripts/bench-master.mjs [--files 1000000] [--seconds 5] [--generator raw|lean|grpc-js] [--load-procs N]
// --generator: how the load process calls Create (see scripts/bench-master-load.cjs): raw (default)
// writes HTTP/2 frames itself, lean uses node:http2 sessions, grpc-js uses GfsClients. On a small
// machine the generator competes with the master for CPU, and grpc-js clients spend more per call
// than the master does. Either way each create is a gRPC Create, answered only once durable.
//   BENCH_SKIP_CREATES=1 / BENCH_SKIP_RECOVERY=1 skip a part; BENCH_MASTER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the master (node flags, space-separated).
// Prints durable creates/s through gRPC with 1 and with 32 concurrent clients,
// and the time and peak RSS of a gfs-master recovering a namespace of --files
// files (one chunk each) from a generated checkpoint, as bytes a file (issue 15:
// the whole peak over the files, and what they add to an empty master's peak).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));
const { GfsClient } = require("@gfs/client-core");
const masterBin = join(root, "packages/master/dist/main.js");
const { Metadata, MasterState, OpLog } = (() => {
  const m = require(join(root, "packages/master/dist/index.js"));
  return { ...m, OpLog: require(join(root, "packages/master/dist/op-log.js")).OpLog };
})();

const { values } = parseArgs({ options: {
  files: { type: "string", default: "1000000" }, seconds: { type: "string", default: "5" },
  generator: { type: "string", default: "raw" }, "load-procs": { type: "string" },
} });
if (!["raw", "lean", "grpc-js"].includes(values.generator)) throw new Error(`--generator must be raw, lean or grpc-js, not ${values.generator}`);
const GENERATOR = values.generator;
// grpc-js clients cost about a core at this load, so they are spread over a few processes.
const LOAD_PROCS = Number(values["load-procs"] ?? (GENERATOR === "grpc-js" ? 4 : 1));
const loadScript = join(root, "scripts/bench-master-load.cjs");
const FILES = Number(values.files);
const SECONDS = Number(values.seconds);

function startMaster(dataDir, extra = []) {
  const nodeArgs = (process.env.BENCH_MASTER_NODE_ARGS ?? "").split(" ").filter(Boolean);
  // Plaintext: the raw and lean generators speak h2c themselves; these figures are the master's own work (TLS costs are bench.sh's).
  const proc = spawn(process.execPath, [...nodeArgs, masterBin, "--insecure", "--listen", "127.0.0.1:0", "--data", dataDir, ...extra], { stdio: ["ignore", "ignore", "pipe"] });
  // A bench that dies (e.g. its output piped to `head`) must not leave a master running.
  const reap = () => proc.kill("SIGKILL");
  process.once("exit", reap);
  proc.once("exit", () => process.off("exit", reap));
  const started = performance.now();
  let buf = "";
  const seen = new Map();
  const waiters = [];
  proc.stderr.setEncoding("utf8").on("data", (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const rec = JSON.parse(line);
        rec.atMs = performance.now() - started;
        if (!seen.has(rec.msg)) seen.set(rec.msg, rec);
        for (const w of waiters.splice(0)) if (!w(rec)) waiters.push(w);
      } catch { process.stderr.write(line + "\n"); }
    }
  });
  const waitFor = (msg) => new Promise((resolve, reject) => {
    if (seen.has(msg)) return resolve(seen.get(msg));
    waiters.push((rec) => { if (rec.msg === msg) { resolve(rec); return true; } return false; });
    proc.once("exit", (code) => reject(new Error(`gfs-master exited (${code}) before '${msg}'`)));
  });
  const peakRssMiB = () => {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  };
  /** CPU seconds (user + system) the master has used so far. */
  const cpuSeconds = () => {
    const f = readFileSync(`/proc/${proc.pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  };
  const stop = () => new Promise((resolve) => { proc.once("exit", resolve); proc.kill("SIGTERM"); });
  return { proc, waitFor, peakRssMiB, cpuSeconds, stop };
}

async function createsPerSecond(address, clients) {
  const c = new GfsClient({ master: address, insecure: true });
  await c.mkdir(`/c${clients}`);
  c.close();
  const procs = Math.min(clients, LOAD_PROCS);
  const startAt = Date.now() + 2000; // every load process starts together, after its start-up
  const counts = await Promise.all(Array.from({ length: procs }, (_, p) => new Promise((resolve, reject) => {
    const first = Math.floor((p * clients) / procs);
    const count = Math.floor(((p + 1) * clients) / procs) - first;
    const child = spawn(process.execPath, [loadScript, address, `/c${clients}`, String(first), String(count), String(SECONDS), String(startAt), GENERATOR],
      { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d) => { out += d; });
    child.on("exit", (code) => code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load process exited ${code}`)));
  })));
  const n = counts.reduce((a, r) => a + r.n, 0);
  // CPU of the load generators during the timed run (they share the machine with the master).
  const loadCpuSeconds = counts.reduce((a, r) => a + r.cpuSeconds, 0);
  return { creates: n, rate: n / SECONDS, loadCpuSeconds };
}

async function benchCreates() {
  const dir = mkdtempSync(join(tmpdir(), "bench-master-creates-"));
  const m = startMaster(dir);
  try {
    const rec = await m.waitFor("master listening");
    const status = () => { const c = new GfsClient({ master: rec.address, insecure: true }); return c.status().finally(() => c.close()); };
    for (const clients of [1, 32]) {
      const before = await status();
      const cpu0 = m.cpuSeconds();
      const { creates, rate, loadCpuSeconds } = await createsPerSecond(rec.address, clients);
      const cpuUs = ((m.cpuSeconds() - cpu0) * 1e6) / creates;
      const after = await status();
      const commits = after.opLogCommits - before.opLogCommits;
      console.log(`durable creates, ${String(clients).padStart(2)} ${GENERATOR} client(s): ${Math.round(rate)} creates/s (${creates} creates in ${SECONDS} s, ${commits} commits, `
        + `${(creates / Math.max(1, commits)).toFixed(1)} records/commit; master CPU ${cpuUs.toFixed(0)} us/create, i.e. at most ~${Math.round(1e6 / cpuUs)} creates/s per master core; load generator CPU ${((loadCpuSeconds * 1e6) / creates).toFixed(0)} us/create)`);
    }
  } finally {
    await m.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function generateCheckpoint(dir, files) {
  const t0 = performance.now();
  const state = new MasterState({ chunk_size_bytes: 64 << 20, replication: 3, heartbeat_interval_ms: 5000, heartbeat_misses_dead: 3, lease_ms: 60000 },
    Date.now, { debug() {}, info() {}, warn() {}, error() {} });
  const md = state.metadata;
  const perDir = 1000;
  let t = Date.now();
  for (let d = 0; d * perDir < files; d++) {
    const dirPath = `/dir${d}`;
    md.apply({ op: "mkdir", path: dirPath, mode: 0o755, uid: 1000, gid: 1000, parents: false, ids: state.allocIds(1), timeMs: t });
    for (let f = 0; f < perDir && d * perDir + f < files; f++) {
      const path = `${dirPath}/file-${f}.dat`;
      md.apply({ op: "create", path, mode: 0o644, uid: 1000, gid: 1000, exclusive: true, id: state.allocIds(1)[0], timeMs: t });
      md.apply({ op: "addChunk", path, index: 0, handle: (d * perDir + f + 1).toString(16).padStart(16, "0"), version: 1 });
      md.apply({ op: "extendFile", path, endOffset: 12345, mtimeMs: t, timeMs: t });
    }
  }
  const lastOp = { op: "mkdir", path: "/bench", mode: 0o755, uid: 0, gid: 0, parents: false, ids: state.allocIds(1), timeMs: t };
  md.apply(lastOp);
  const built = performance.now();
  const parts = md.checkpointParts();
  const serialized = performance.now();
  // A checkpoint covers at least one record: log the last op and checkpoint right after it.
  const { log } = OpLog.open(dir);
  return log.append(lastOp).then(() => log.checkpoint(parts, 1, Date.now())).then(async () => {
    await log.close();
    const bytes = parts.reduce((n, p) => n + p.length, 0);
    console.log(`generated ${files} files: build ${((built - t0) / 1000).toFixed(1)} s, serialize ${((serialized - built) / 1000).toFixed(2)} s, write ${((performance.now() - serialized) / 1000).toFixed(1)} s, ${(bytes / 2 ** 20).toFixed(0)} MiB in ${parts.length} parts`);
  });
}

/** Peak RSS (MiB) of a gfs-master that recovers an empty namespace: what any master costs, files or not. */
async function emptyMasterRssMiB() {
  const dir = mkdtempSync(join(tmpdir(), "bench-master-empty-"));
  const m = startMaster(dir);
  try {
    await m.waitFor("master listening");
    return m.peakRssMiB();
  } finally {
    await m.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchRecovery() {
  const emptyMiB = await emptyMasterRssMiB();
  const dir = mkdtempSync(join(tmpdir(), "bench-master-recovery-"));
  try {
    await generateCheckpoint(dir, FILES);
    const m = startMaster(dir, ["--checkpoint-every-records", "1"]);
    try {
      const rec = await m.waitFor("master recovered");
      const ready = await m.waitFor("master listening");
      const peak = m.peakRssMiB();
      console.log(`recovery of ${rec.files} files (${rec.chunks} chunks): ${(rec.ms / 1000).toFixed(2)} s in recovery, ${(ready.atMs / 1000).toFixed(2)} s from spawn to listening, peak RSS ${peak.toFixed(0)} MiB`);
      // Memory per file: the whole peak RSS over the files, and what the files add to an empty master's.
      console.log(`master memory: ${((peak * 2 ** 20) / rec.files).toFixed(0)} bytes a file of peak RSS; ${(((peak - emptyMiB) * 2 ** 20) / rec.files).toFixed(0)} bytes a file above an empty master (${emptyMiB.toFixed(0)} MiB)`);
      // One more record makes a checkpoint due: it runs on a worker while we keep asking the master for stats.
      const c = new GfsClient({ master: ready.address, insecure: true });
      await c.create("/one-more");
      let worst = 0;
      let probes = 0;
      let done = false;
      const cp = m.waitFor("checkpoint written").finally(() => { done = true; });
      while (!done) {
        const t = performance.now();
        await c.stat("/one-more");
        worst = Math.max(worst, performance.now() - t);
        probes++;
        await new Promise((r) => setTimeout(r, 20));
      }
      const w = await cp;
      c.close();
      console.log(`live checkpoint of ${rec.files} files on a worker: ${(w.totalMs / 1000).toFixed(1)} s (rebuild ${(w.rebuildMs / 1000).toFixed(1)} s, serialize ${(w.serializeMs / 1000).toFixed(1)} s, write ${(w.writeMs / 1000).toFixed(1)} s), `
        + `${(w.bytes / 2 ** 20).toFixed(0)} MiB; slowest of ${probes} stat calls meanwhile ${worst.toFixed(0)} ms; master peak RSS ${m.peakRssMiB().toFixed(0)} MiB`);
    } finally {
      await m.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (!process.env.BENCH_SKIP_CREATES) await benchCreates();
if (!process.env.BENCH_SKIP_RECOVERY) await benchRecovery();
