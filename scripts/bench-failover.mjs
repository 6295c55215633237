#!/usr/bin/env node
// Issue 16's targets as figures: failover time, acknowledged operations lost
// across failovers, and what log shipping costs durable creates. Starts its own
// processes (etcd, gfs-master, gfs-chunkserver) on 127.0.0.1 with ephemeral
// ports in a temp dir, kills every one of them on exit, prints `name value unit`
// lines on stdout (per-round detail on stderr).
//
//   node scripts/bench-failover.mjs [--rounds 10] [--loss-rounds 20] [--seconds 5] [--load-procs 1]
//                                   [--parts failover,loss,creates] [--keep]
//   1. failover (default settings: election TTL 10 s, step-down 6 s, heartbeat 5 s, lease 60 s, 64 MiB chunks):
//      etcd + 3 masters + 3 chunkservers; each round SIGKILLs the active master and times until a client
//      that retries (its own loop, each attempt bounded to ~2 s) has created a file and written to it on
//      the new active; then restarts the killed master (same address and data) and waits until it is a
//      caught-up, in-sync shadow that hears from every chunkserver. Median and worst over --rounds.
//   2. loss (short TTLs, printed): --loss-rounds rounds of SIGKILL of the active master under 4 writers
//      (creates, writes, fsyncs (settle + sync), renames, deletes, record appends); after every round what the writers
//      were acknowledged is checked (contents of that round's files and records, names of every earlier
//      round's; everything, contents included, after the last round). An operation whose answer was
//      lost is in doubt: done once or not at all, never half.
//   3. creates: durable creates/s of 32 GfsClients (in --load-procs processes, scripts/bench-master-load.cjs)
//      on a single master (no etcd) and on a replicated set with 2 in-sync shadows, alternating, 2 rounds
//      each, in the same run. One load process is enough here: it used under 0.5 cores at ~9,000 creates/s
//      (each round prints the generator's and the masters' CPU, and records per commit of the active's log).
// Plaintext (--insecure, masters named with --id mN): these are speed and loss figures; TLS costs are bench-tls.sh's.
// etcd's data dir is on /dev/shm: its fsyncs on a loaded disk take seconds (leases not renewed in time).
// --creates-on-tmpfs: the creates part's masters keep their data on /dev/shm (a diagnostic: here all three
//   masters share one disk, so a replicated commit waits for three fsyncs on it; on tmpfs what remains is
//   the shipping itself).
// --keep: keep the temp dir (every process's log under logs/) and print where it is.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, loadavg } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));
const { GfsClient } = require("@gfs/client-core");

const { values: opt } = parseArgs({ options: {
  rounds: { type: "string", default: "10" }, "loss-rounds": { type: "string", default: "20" },
  seconds: { type: "string", default: "5" }, "load-procs": { type: "string", default: "1" },
  parts: { type: "string", default: "failover,loss,creates" }, keep: { type: "boolean", default: false },
  "creates-on-tmpfs": { type: "boolean", default: false },
} });
const ROUNDS = Number(opt.rounds);
const LOSS_ROUNDS = Number(opt["loss-rounds"]);
const SECONDS = Number(opt.seconds);
const LOAD_PROCS = Number(opt["load-procs"]);
const parts = new Set(opt.parts.split(",").filter(Boolean));
for (const p of parts) if (!["failover", "loss", "creates"].includes(p)) throw new Error(`--parts: unknown part ${p} (failover, loss, creates)`);

const dir = mkdtempSync(join(tmpdir(), "gfs-bench-failover-"));
const etcdDir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "gfs-bench-etcd-"));
mkdirSync(join(dir, "logs"));
const procs = new Set();
const cleanup = () => {
  for (const p of procs) { p.kill("SIGCONT"); p.kill("SIGKILL"); }
  rmSync(etcdDir, { recursive: true, force: true });
  if (opt.keep) console.error(`bench-failover: kept ${dir}`); else rmSync(dir, { recursive: true, force: true });
};
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (s) => console.error(`bench-failover: ${s}`);
const fig = (name, value, unit) => console.log(`${name} ${value} ${unit}`);
const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");
let logSeq = 0;

/** Spawns a process with its stderr in logs/NAME-N.log, parsed for JSON log lines. */
function run(name, cmd, args) {
  const p = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  procs.add(p);
  const file = join(dir, "logs", `${name}-${++logSeq}.log`);
  const out = createWriteStream(file);
  const lines = [];
  const waiters = [];
  let buf = "";
  p.stderr.setEncoding("utf8").on("data", (d) => {
    out.write(d);
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let rec;
      try { rec = JSON.parse(line); } catch { continue; }
      lines.push(rec);
      for (const w of waiters.splice(0)) if (!w(rec)) waiters.push(w);
    }
  });
  const exited = new Promise((r) => p.once("exit", (code, signal) => { procs.delete(p); r({ code, signal }); }));
  const waitForLog = (msg, timeoutMs = 60_000) => new Promise((resolve, reject) => {
    const seen = lines.find((l) => l.msg === msg);
    if (seen) return resolve(seen);
    const t = setTimeout(() => reject(new Error(`${name}: no '${msg}' within ${timeoutMs} ms (log ${file})`)), timeoutMs);
    waiters.push((rec) => { if (rec.msg === msg) { clearTimeout(t); resolve(rec); return true; } return false; });
    exited.then(({ code, signal }) => { clearTimeout(t); reject(new Error(`${name} exited (${code ?? signal}) before '${msg}' (log ${file})`)); });
  });
  return { p, file, lines, exited, waitForLog, alive: () => p.exitCode === null && p.signalCode === null };
}

async function freePorts(n) {
  const servers = Array.from({ length: n }, () => createServer().listen(0, "127.0.0.1"));
  await Promise.all(servers.map((s) => once(s, "listening")));
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r()))));
  return ports;
}

async function startEtcd(name) {
  const [cp, pp] = await freePorts(2);
  const client = `http://127.0.0.1:${cp}`;
  const peer = `http://127.0.0.1:${pp}`;
  const e = run(name, "etcd", ["--name", name, "--data-dir", join(etcdDir, name), "--listen-client-urls", client, "--advertise-client-urls", client,
    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", `${name}=${peer}`, "--logger", "zap", "--log-level", "warn"]);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (!e.alive()) throw new Error(`etcd exited at start (log ${e.file})`);
    try {
      const res = await fetch(`${client}/health`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok && (await res.json()).health === "true") return { ...e, endpoint: client };
    } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`etcd not healthy within 30 s (log ${e.file})`);
}

const masterBin = join(root, "packages/master/dist/main.js");
const csBin = join(root, "packages/chunkserver/dist/main.js");

/** One short-lived client for one master's own answer (status), so a dead or restarted master costs no reconnect backoff. */
async function statusOf(address) {
  const c = new GfsClient({ master: address, insecure: true, rpc_deadline_ms: 2_000, client_failover_wait_ms: 500 });
  try { return await c.status(); } catch { return undefined; } finally { c.close(); }
}

/** A replicated set: etcd, `masters` gfs-masters with --etcd, `chunkservers` chunkservers following all of them. */
class Replicated {
  constructor(tag, masterArgs, csArgs, dataBase) { Object.assign(this, { tag, masterArgs, csArgs, dataBase, masters: [], chunkservers: [] }); }

  static async start(tag, { masters = 3, chunkservers = 3, masterArgs = [], csArgs = [], dataBase = dir }) {
    const c = new Replicated(tag, masterArgs, csArgs, dataBase);
    c.etcd = await startEtcd(`${tag}-etcd`);
    for (let i = 0; i < masters; i++) await c.startMaster(i);
    await c.active(60_000);
    for (let i = 0; i < chunkservers; i++) await c.startChunkserver(i);
    return c;
  }

  get list() { return this.masters.map((m) => m.address).join(","); }

  async startMaster(i) {
    const prev = this.masters[i];
    const data = prev?.data ?? join(this.dataBase, `${this.tag}-m${i}`);
    const m = run(`${this.tag}-m${i}`, process.execPath, [masterBin, "--insecure", "--id", `m${i}`, "--listen", prev?.address ?? "127.0.0.1:0",
      "--data", data, "--etcd", this.etcd.endpoint, ...this.masterArgs]);
    const rec = await m.waitForLog("master listening");
    this.masters[i] = { ...m, index: i, id: `m${i}`, address: rec.address, data };
    return this.masters[i];
  }

  async startChunkserver(i) {
    const cs = run(`${this.tag}-cs${i}`, process.execPath, [csBin, "--insecure", "--listen", "127.0.0.1:0", "--master", this.list,
      "--data", join(dir, `${this.tag}-cs${i}`), ...this.csArgs]);
    await cs.waitForLog("registered with master");
    this.chunkservers[i] = cs;
  }

  /** The master that says it is active, with its status (waits up to timeoutMs). */
  async active(timeoutMs, except) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const m of this.masters) {
        if (m.index === except || !m.alive()) continue;
        const s = await statusOf(m.address);
        if (s?.masters[0]?.role === "MASTER_ROLE_ACTIVE") return { m, s };
      }
      await sleep(100);
    }
    throw new Error(`${this.tag}: no active master within ${timeoutMs} ms`);
  }

  /** Waits until master i is a shadow, in sync and caught up as the active sees it, and hears from every chunkserver. */
  async caughtUp(i, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    const want = this.chunkservers.length;
    while (Date.now() < deadline) {
      const { s } = await this.active(timeoutMs);
      const row = s.masters.find((r) => r.id === `m${i}`);
      const own = await statusOf(this.masters[i].address);
      if (row?.inSync && row.reachable && Number(row.lagRecords) === 0 && own?.masters[0]?.role === "MASTER_ROLE_SHADOW"
        && Number(own.masters[0].appliedSeq) >= Number(s.masters[0].lastSeq)
        && own.chunkservers.filter((x) => x.alive).length >= want) return;
      await sleep(200);
    }
    throw new Error(`${this.tag}: m${i} not a caught-up in-sync shadow within ${timeoutMs} ms`);
  }

  /** Every master in the active's in-sync set, caught up. */
  async allInSync(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const { s } = await this.active(timeoutMs);
      if (s.masters.length === this.masters.length && s.masters.every((r) => r.inSync && Number(r.lagRecords) === 0)) return s;
      await sleep(200);
    }
    throw new Error(`${this.tag}: not every master in sync within ${timeoutMs} ms`);
  }

  /** Kills every process of this set (SIGKILL, by pid). */
  async stop() {
    const all = [...this.chunkservers, ...this.masters, this.etcd].filter(Boolean);
    for (const x of all) x.p.kill("SIGKILL");
    await Promise.all(all.map((x) => x.exited));
  }

  /** The log lines of master i since `sinceMs` (wall clock) with these messages. */
  linesOf(i, msgs, sinceMs) {
    return this.masters[i].lines.filter((l) => msgs.includes(l.msg) && Date.parse(l.ts) >= sinceMs);
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

// ---------------------------------------------------------------- 1. failover time at default settings
async function benchFailover() {
  say(`failover: etcd + 3 masters + 3 chunkservers at default settings, ${ROUNDS} rounds (load ${load()})`);
  const c = await Replicated.start("fo", {});
  await c.allInSync(60_000);
  // The client that retries: each attempt is one create + one small write, bounded to ~2 s (deadline and failover wait).
  const g = new GfsClient({ master: c.list, insecure: true, rpc_deadline_ms: 2_000, client_failover_wait_ms: 1_000 });
  await g.mkdir("/fo");
  await g.create("/fo/warm");
  await g.write("/fo/warm", 0, Buffer.from("warm"));
  const times = [];
  const createTimes = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const { m: old, s } = await c.active(30_000);
    const epoch = Number(s.masters[0].epoch);
    const t0 = Date.now();
    old.p.kill("SIGKILL");
    await old.exited;
    let attempts = 0;
    let lastErr = "";
    let created; // when the first create (metadata only) succeeded: the write also needs chunkservers the new active counts live
    for (;;) {
      attempts++;
      const path = `/fo/r${r}-a${attempts}`; // a new name each attempt: a create whose answer was lost may have happened
      try {
        await g.create(path, { exclusive: true });
        created ??= Date.now() - t0;
        await g.write(path, 0, Buffer.from(`round ${r}`));
        break;
      } catch (e) {
        lastErr = e.message;
        if (Date.now() - t0 > 120_000) throw new Error(`round ${r}: no create+write within 120 s (last: ${lastErr})`);
        await sleep(100);
      }
    }
    const ms = Date.now() - t0;
    times.push(ms);
    createTimes.push(created);
    const next = await c.active(30_000, old.index);
    const becameActive = c.linesOf(next.m.index, ["master is active"], t0)[0];
    const electedAfter = becameActive ? `${Date.parse(becameActive.ts) - t0} ms` : "?";
    // A new active starts with no chunkserver known live: each counts from its next heartbeat (up to heartbeat_interval_ms).
    const third = c.linesOf(next.m.index, ["chunkserver registered"], t0)[2];
    const csAfter = third ? `${Date.parse(third.ts) - t0} ms` : "?";
    say(`round ${r}: killed m${old.index} (epoch ${epoch}); m${next.m.index} active (epoch ${next.s.masters[0].epoch}) ${electedAfter} after the kill by its log, its 3rd chunkserver registered ${csAfter} after the kill; `
      + `first create ${created} ms, first create+write ${ms} ms after the kill (${attempts} attempts; last failure: ${lastErr.slice(0, 160)}) load ${load()}`);
    await c.startMaster(old.index);
    const tr = Date.now();
    await c.caughtUp(old.index, 120_000);
    say(`round ${r}: m${old.index} restarted, caught-up in-sync shadow hearing every chunkserver after ${Date.now() - tr} ms`);
  }
  g.close();
  fig("failover_sigkill_to_first_create_median_ms", median(times), "ms");
  fig("failover_sigkill_to_first_create_worst_ms", Math.max(...times), "ms");
  fig("failover_sigkill_to_first_metadata_create_median_ms", median(createTimes), "ms");
  fig("failover_sigkill_to_first_metadata_create_worst_ms", Math.max(...createTimes), "ms");
  fig("failover_rounds", times.length, "count");
  return c;
}

// ---------------------------------------------------------------- 2. acknowledged operations lost
const LOSS = { ttlMs: 4_000, stepDownMs: 2_500, heartbeatMs: 500, leaseMs: 5_000, chunk: 1 << 20 };

/** One writer (as test/replicated-master.test.ts's): only what it was answered with success is recorded. */
async function writer(g, w, round, acked, stop) {
  let ok = 0;
  let failed = 0;
  for (let i = 0; !stop(); i++) {
    const path = `/load/r${round}/w${w}-${i}`;
    const data = randomBytes(512 + (i % 7) * 100);
    try {
      await g.create(path);
      acked.ops++;
      await g.write(path, 0, data);
      acked.ops++;
      if (i % 3 === 0) { await g.settle(path); await g.sync(path, 0); acked.ops += 2; } // fsync: size recorded, chunk fdatasync'd on every replica
      acked.files.set(path, data);
      if (i % 4 === 1) {
        acked.files.delete(path);
        acked.inDoubt.set(path, { to: `${path}.moved`, data });
        await g.rename(path, `${path}.moved`);
        acked.ops++;
        acked.inDoubt.delete(path);
        acked.gone.add(path);
        acked.files.set(`${path}.moved`, data);
      } else if (i % 5 === 2) {
        acked.files.delete(path);
        acked.inDoubt.set(path, { data });
        await g.unlink(path);
        acked.ops++;
        acked.inDoubt.delete(path);
        acked.gone.add(path);
      }
      if (i % 2 === 0) {
        const rec = Buffer.from(`rec r${round} w${w} i${i} ${data.toString("hex").slice(0, 16)}\n`);
        await g.append(`/load/r${round}/log`, rec);
        acked.ops++;
        acked.records.push(rec);
      }
      ok++;
    } catch {
      failed++;
      await sleep(50);
    }
  }
  return { ok, failed };
}

const newAcked = () => ({ files: new Map(), gone: new Set(), records: [], inDoubt: new Map(), ops: 0 });

/** Violations of what round `r` acknowledged: with contents (`full`) or names and sizes only (one ReadDir). */
async function check(g, round, acked, full) {
  const bad = [];
  const d = `/load/r${round}`;
  const entries = new Map((await g.readdir(d)).map((e) => [`${d}/${e.name}`, e.info]));
  const holds = async (path, data) => {
    const info = entries.get(path);
    if (!info) return false;
    if (Number(info.size) !== data.length) { bad.push(`${path}: size ${info.size}, acknowledged ${data.length}`); return true; }
    if (full && !(await g.read(path, 0, data.length + 10)).equals(data)) bad.push(`${path}: bytes differ from those acknowledged`);
    return true;
  };
  for (const [path, data] of acked.files) if (!(await holds(path, data))) bad.push(`${path}: acknowledged, missing`);
  for (const path of acked.gone) if (!acked.files.has(path) && entries.has(path)) bad.push(`${path}: removal acknowledged, still there`);
  for (const [path, x] of acked.inDoubt) {
    const here = await holds(path, x.data);
    if (x.to && here === (await holds(x.to, x.data))) bad.push(`${path}: rename in doubt done ${here ? "twice" : "never, and the file is gone"}`);
  }
  const logInfo = entries.get(`${d}/log`);
  const log = full ? await g.read(`${d}/log`, 0, Number(logInfo?.size ?? 0)) : undefined;
  if (full) for (const rec of acked.records) if (!log.includes(rec)) bad.push(`record ${rec.toString().trim()}: acknowledged, not in the log`);
  if (!full && acked.records.length && !logInfo) bad.push(`${d}/log missing`);
  return bad;
}

async function benchLoss() {
  say(`loss: ${LOSS_ROUNDS} rounds of SIGKILL of the active master under 4 writers; short TTLs: election TTL ${LOSS.ttlMs} ms, `
    + `step-down ${LOSS.stepDownMs} ms, heartbeat ${LOSS.heartbeatMs} ms, lease ${LOSS.leaseMs} ms, ${LOSS.chunk >> 20} MiB chunks (load ${load()})`);
  const c = await Replicated.start("loss", {
    masterArgs: ["--election-ttl-ms", String(LOSS.ttlMs), "--step-down-after-ms", String(LOSS.stepDownMs), "--heartbeat-interval-ms", String(LOSS.heartbeatMs),
      "--lease-ms", String(LOSS.leaseMs), "--chunk-size", String(LOSS.chunk), "--heartbeat-misses", "5"],
    csArgs: ["--heartbeat-interval-ms", String(LOSS.heartbeatMs)],
  });
  await c.allInSync(60_000);
  const admin = new GfsClient({ master: c.list, insecure: true, rpc_deadline_ms: 10_000 });
  await admin.mkdir("/load");
  const writers = [0, 1, 2, 3].map(() => new GfsClient({ master: c.list, insecure: true, rpc_deadline_ms: 10_000 }));
  const rounds = [];
  let violations = 0;
  let inDoubt = 0;
  const waitFor = async (cond, ms, what) => {
    const deadline = Date.now() + ms;
    while (!cond()) { if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms`); await sleep(50); }
  };
  for (let r = 1; r <= LOSS_ROUNDS; r++) {
    await admin.mkdir(`/load/r${r}`);
    await admin.create(`/load/r${r}/log`);
    const acked = newAcked();
    rounds.push(acked);
    let stopped = false;
    const running = writers.map((g, w) => writer(g, w, r, acked, () => stopped));
    await waitFor(() => acked.files.size >= 20, 60_000, "20 acknowledged files before the kill");
    const { m: old } = await c.active(30_000);
    const t0 = Date.now();
    old.p.kill("SIGKILL");
    await old.exited;
    const before = acked.ops;
    const next = await c.active(60_000, old.index);
    await waitFor(() => acked.ops >= before + 40, 60_000, "40 acknowledged operations on the new active");
    stopped = true;
    const res = await Promise.all(running);
    // Read from the active itself: a shadow may apply the last acknowledged batch a moment later.
    const reader = new GfsClient({ master: next.m.address, insecure: true, rpc_deadline_ms: 10_000 });
    const bad = [];
    for (let k = 1; k <= r; k++) bad.push(...await check(reader, k, rounds[k - 1], k === r || r === LOSS_ROUNDS));
    reader.close();
    violations += bad.length;
    inDoubt += acked.inDoubt.size;
    for (const b of bad.slice(0, 20)) say(`round ${r}: LOST: ${b}`);
    say(`round ${r}: killed m${old.index}, m${next.m.index} active; ${acked.ops} operations acknowledged (${res.reduce((n, x) => n + x.failed, 0)} failed, `
      + `${acked.inDoubt.size} in doubt), ${bad.length} violations (after ${Date.now() - t0} ms) load ${load()}`);
    await c.startMaster(old.index);
    await c.caughtUp(old.index, 120_000);
  }
  for (const g of [admin, ...writers]) g.close();
  fig("failover_lost_acknowledged_ops", violations, "count");
  fig("failover_acknowledged_ops", rounds.reduce((n, a) => n + a.ops, 0), "count");
  fig("failover_in_doubt_ops", inDoubt, "count");
  fig("failover_loss_rounds", rounds.length, "count");
  return c;
}

// ---------------------------------------------------------------- 3. durable creates/s, single vs replicated
const loadScript = join(root, "scripts/bench-master-load.cjs");

/** 32 GfsClients in LOAD_PROCS processes creating for SECONDS; {rate, loadCpuPerSec}. */
async function createsPerSecond(address, path) {
  const clients = 32;
  const startAt = Date.now() + 3_000; // every load process starts together, after its start-up
  const counts = await Promise.all(Array.from({ length: LOAD_PROCS }, (_, p) => new Promise((resolve, reject) => {
    const first = Math.floor((p * clients) / LOAD_PROCS);
    const count = Math.floor(((p + 1) * clients) / LOAD_PROCS) - first;
    const child = spawn(process.execPath, [loadScript, address, path, String(first), String(count), String(SECONDS), String(startAt), "grpc-js"],
      { stdio: ["ignore", "pipe", "inherit"] });
    procs.add(child);
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d) => { out += d; });
    child.on("exit", (code) => { procs.delete(child); code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load process exited ${code}`)); });
  })));
  const n = counts.reduce((a, x) => a + x.n, 0);
  return { rate: n / SECONDS, loadCores: counts.reduce((a, x) => a + x.cpuSeconds, 0) / SECONDS, perProc: counts.map((x) => x.cpuSeconds / SECONDS) };
}

function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch { return NaN; }
}

async function benchCreates() {
  say(`creates: 32 GfsClients in ${LOAD_PROCS} process(es), ${SECONDS} s a round, single master vs 3 replicated masters (2 in-sync shadows), alternating (load ${load()})`);
  const dataBase = opt["creates-on-tmpfs"] ? etcdDir : dir;
  say(`creates: master data on ${opt["creates-on-tmpfs"] ? "tmpfs (/dev/shm, diagnostic)" : `the disk (${dir})`}`);
  const single = run("single", process.execPath, [masterBin, "--insecure", "--listen", "127.0.0.1:0", "--data", join(dataBase, "single")]);
  const singleAddr = (await single.waitForLog("master listening")).address;
  const repl = await Replicated.start("cr", { chunkservers: 0, dataBase });
  const admin = new GfsClient({ master: repl.list, insecure: true });
  const sAdmin = new GfsClient({ master: singleAddr, insecure: true });
  const rates = { single: [], replicated: [] };
  for (let r = 1; r <= 2; r++) {
    for (const kind of ["single", "replicated"]) {
      const path = `/c${r}`;
      let note = "";
      let pid;
      if (kind === "single") { await sAdmin.mkdir(path); pid = single.p.pid; } else {
        await admin.mkdir(path);
        await repl.allInSync(60_000);
        pid = (await repl.active(30_000)).m.p.pid;
      }
      const statusAt = () => (kind === "single" ? sAdmin.status() : repl.active(30_000).then((x) => x.s));
      const commits0 = Number((await statusAt()).opLogCommits);
      const cpu0 = cpuSeconds(pid);
      const pids = kind === "single" ? [pid] : repl.masters.map((m) => m.p.pid);
      const allCpu0 = pids.map(cpuSeconds);
      const { rate, loadCores, perProc } = await createsPerSecond(kind === "single" ? singleAddr : repl.list, path);
      const masterCores = (cpuSeconds(pid) - cpu0) / (SECONDS + 3);
      const allCores = pids.reduce((a, p, k) => a + cpuSeconds(p) - allCpu0[k], 0) / (SECONDS + 3);
      const commits = Number((await statusAt()).opLogCommits) - commits0;
      if (kind === "replicated") {
        const { s } = await repl.active(30_000);
        const inSync = s.masters.filter((x) => x.inSync).length;
        note = `, ${inSync - 1} shadows in sync after the round`;
        if (inSync !== 3) note += " (A SHADOW LEFT THE IN-SYNC SET DURING THE ROUND)";
      }
      rates[kind].push(rate);
      say(`round ${r} ${kind}: ${Math.round(rate)} creates/s, ${(rate * SECONDS / Math.max(1, commits)).toFixed(1)} records/commit of the active's log; load generator ${loadCores.toFixed(2)} cores (per process ${perProc.map((x) => x.toFixed(2)).join(", ")}), `
        + `active master ~${masterCores.toFixed(2)} cores, all masters ~${allCores.toFixed(2)} cores (over the round and its 3 s start)${note}; load ${load()}`);
    }
  }
  admin.close();
  sAdmin.close();
  single.p.kill("SIGKILL");
  await Promise.all([single.exited, repl.stop()]);
  const avg = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  fig("durable_creates_per_s_single", Math.round(avg(rates.single)), "creates/s");
  fig("durable_creates_per_s_replicated_2_shadows", Math.round(avg(rates.replicated)), "creates/s");
  fig("durable_creates_replicated_vs_single", (avg(rates.replicated) / avg(rates.single)).toFixed(2), "x");
}

const t0 = Date.now();
try {
  say(`${dir} (load average ${load()}, ${process.env.npm_package_name ?? ""} plaintext --insecure)`);
  if (parts.has("failover")) await (await benchFailover()).stop();
  if (parts.has("loss")) await (await benchLoss()).stop();
  if (parts.has("creates")) await benchCreates();
  fig("failover_bench_elapsed", Math.round((Date.now() - t0) / 1000), "s");
  fig("failover_bench_load_average_1m", loadavg()[0].toFixed(2), "load");
} catch (e) {
  say(`FAILED: ${e.stack ?? e.message}`);
  process.exitCode = 1;
}
process.exit();
