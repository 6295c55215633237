#!/usr/bin/env node
// Time of `gfs snapshot` (issue 20, GFS 3.4) of a tree of 10,000 files and of a 10 GiB file.
// Starts its own cluster (1 master + 3 chunkservers on 127.0.0.1, plaintext, 64 MiB chunks,
// replication 3). Prints `name value unit` lines: the master's duration_us (request to durable op)
// and the CLI's wall time (process start to exit, Node's start-up included).
//
// How the files are made cheaply: 100 files of 100 bytes are written (100 chunks), then their
// directory is snapshotted 99 times: 10,000 files in 100 directories whose 10,000 chunk
// references share those 100 chunks (each 100 times). The 10 GiB file is sparse in bytes, not in
// chunks: one byte at the start of each of its 160 chunks (the last byte at 10 GiB - 1), so it has
// every chunk slot a written 10 GiB file has (160 chunks, each with 3 replicas) and 10 GiB of size,
// but almost no data: a snapshot copies metadata only, so that is what it costs either way. The
// chunks were just written, so their leases are outstanding and the snapshot revokes them (counted).
//
//   node scripts/bench-snapshot.mjs [--files 10000] [--gib 10]
import { spawn, execFile } from "node:child_process";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));
const { GfsClient } = require("@gfs/client-core");

const arg = (name, dflt) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : dflt);
const files = Number(arg("--files", "10000"));
const gib = Number(arg("--gib", "10"));
const CHUNK = 64 << 20;
const PER_DIR = 100;
if (!(files >= PER_DIR && files % PER_DIR === 0) || !(gib > 0)) throw new Error("usage: --files N (a multiple of 100) --gib G");
const dir = mkdtempSync(join(tmpdir(), "gfs-bench-snapshot-"));
const procs = [];
const say = (m) => process.stderr.write(`bench-snapshot: ${m}\n`);
const start = (script, args) => new Promise((resolve, reject) => {
  const p = spawn(process.execPath, [join(root, script), ...args], { stdio: ["ignore", "ignore", "pipe"] });
  procs.push(p);
  let buf = "";
  const logFile = process.env.GFS_BENCH_LOGS ? join(process.env.GFS_BENCH_LOGS, `snapshot-${procs.length}.log`) : undefined;
  p.stderr.on("data", (d) => {
    if (logFile) appendFileSync(logFile, d);
    buf += d;
    for (const line of buf.split("\n")) {
      if (line.includes('"master listening"') || line.includes('"registered with master"')) {
        p.stderr.removeAllListeners("data");
        if (logFile) p.stderr.on("data", (x) => appendFileSync(logFile, x)); else p.stderr.resume();
        resolve(JSON.parse(line));
        return;
      }
    }
  });
  p.on("exit", (code) => reject(new Error(`${script} exited ${code}: ${buf.slice(-500)}`)));
});
const cleanup = () => { for (const p of procs) p.kill("SIGKILL"); rmSync(dir, { recursive: true, force: true }); };
process.on("exit", cleanup);

/** `gfs snapshot FROM TO --json` as a user runs it: the wall time of the whole process and the master's answer. */
function cliSnapshot(master, from, to) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    execFile(process.execPath, [join(root, "packages/client-core/dist/cli.js"), "--master", master, "--insecure", "snapshot", from, to, "--json"], (err, stdout, stderr) => {
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      if (err) reject(new Error(`gfs snapshot ${from} ${to}: ${stderr}`));
      else resolve({ wallMs, ...JSON.parse(stdout) });
    });
  });
}

async function inBatches(n, batch, fn) {
  for (let i = 0; i < n; i += batch) await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, k) => fn(i + k)));
}

try {
  const m = await start("packages/master/dist/main.js", ["--insecure", "--listen", "127.0.0.1:0", "--data", join(dir, "m"), "--chunk-size", String(CHUNK)]);
  const master = m.address;
  for (let i = 0; i < 3; i++) await start("packages/chunkserver/dist/main.js", ["--insecure", "--master", master, "--data", join(dir, `c${i}`)]);
  const client = new GfsClient({ master, insecure: true });
  try {
    // ---- a tree of `files` files
    say(`making ${files} files (${PER_DIR} written, the rest snapshots of their directory)`);
    await client.mkdir("/src/d0", { parents: true });
    await inBatches(PER_DIR, 20, async (i) => {
      await client.create(`/src/d0/f${i}`, { forWriting: true });
      await client.write(`/src/d0/f${i}`, 0, Buffer.alloc(100, i));
    });
    for (let d = 1; d < files / PER_DIR; d++) await client.master.Snapshot({ from: "/src/d0", to: `/src/d${d}` });
    const tree = await cliSnapshot(master, "/src", "/snap-tree");
    if (tree.nodes !== files + files / PER_DIR + 1) throw new Error(`snapshot copied ${tree.nodes} nodes, expected ${files + files / PER_DIR + 1}`);
    console.log(`snapshot_${files}_files_master ${(tree.durationUs / 1000).toFixed(1)} ms`);
    console.log(`snapshot_${files}_files_cli_wall ${tree.wallMs.toFixed(0)} ms`);
    console.log(`snapshot_${files}_files_leases_revoked ${tree.leasesRevoked} count`);

    // ---- a file of `gib` GiB: every chunk slot, one byte each
    const size = gib * 1024 ** 3;
    const chunks = Math.ceil(size / CHUNK);
    say(`making a ${gib} GiB file of ${chunks} chunks (one byte written in each)`);
    await client.create("/big", { forWriting: true });
    await inBatches(chunks, 16, (i) => client.write("/big", i === chunks - 1 ? size - 1 : i * CHUNK, Buffer.from([i & 0xff])));
    const big = await cliSnapshot(master, "/big", "/snap-big");
    if (big.chunks !== chunks) throw new Error(`snapshot shared ${big.chunks} chunks, expected ${chunks}`);
    console.log(`snapshot_${gib}gib_file_master ${(big.durationUs / 1000).toFixed(1)} ms`);
    console.log(`snapshot_${gib}gib_file_cli_wall ${big.wallMs.toFixed(0)} ms`);
    console.log(`snapshot_${gib}gib_file_leases_revoked ${big.leasesRevoked} count`);

    // ---- the first write after it: copy-on-write of one 64 MiB-slot chunk on its three servers
    const t0 = process.hrtime.bigint();
    await client.write("/big", 0, Buffer.from([0xff]));
    console.log(`snapshot_first_write_after ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms`);
  } finally {
    client.close();
  }
} catch (e) {
  say(e.message);
  process.exitCode = 1;
}
process.exit();
