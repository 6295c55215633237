#!/usr/bin/env node
// Time from SIGKILL of a chunkserver to full re-replication of what it held.
// Starts its own cluster (1 master + 4 chunkservers on 127.0.0.1), writes
// about 200 MiB of chunks onto the victim (via a ~270 MiB file over 4
// servers, replication 3), kills it and polls fsck until every chunk has 3
// good replicas again. Prints `name value unit` lines.
//
//   node scripts/bench-rereplication.mjs [--settings default|test]
//     default: 5 s heartbeats, 3 misses, 64 MiB chunks, 2 copies per server, 60 s leases
//     test:    200 ms heartbeats, 3 misses, 1 MiB chunks, 4 copies per server, 3 s leases
//   A lease held by the killed server must expire before its chunk is copied
//   (it may only be cut off, still acting as primary): up to one lease length.
import { spawn } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));
const { GfsClient } = require("@gfs/client-core");

const mode = process.argv.includes("--settings") ? process.argv[process.argv.indexOf("--settings") + 1] : "default";
const s = mode === "test"
  ? { hb: 200, chunk: 1 << 20, copies: 4, leaseMs: 3000 }
  : { hb: 5000, chunk: 64 << 20, copies: 2, leaseMs: 60000 };
const dir = mkdtempSync(join(tmpdir(), "gfs-bench-rerep-"));
const procs = [];
const start = (script, args) => new Promise((resolve, reject) => {
  const p = spawn(process.execPath, [join(root, script), ...args], { stdio: ["ignore", "ignore", "pipe"] });
  procs.push(p);
  let buf = "";
  let rec = {};
  const logFile = process.env.GFS_BENCH_LOGS ? join(process.env.GFS_BENCH_LOGS, `${procs.length}.log`) : undefined;
  p.stderr.on("data", (d) => {
    if (logFile) appendFileSync(logFile, d);
    buf += d;
    for (const line of buf.split("\n")) {
      if (line.includes('"chunkserver listening"')) rec = JSON.parse(line);
      if (line.includes('"master listening"') || line.includes('"registered with master"')) {
        p.stderr.removeAllListeners("data");
        if (logFile) p.stderr.on("data", (d) => appendFileSync(logFile, d)); else p.stderr.resume();
        resolve({ p, rec: { ...rec, ...JSON.parse(line) } });
        return;
      }
    }
  });
  p.on("exit", (code) => reject(new Error(`${script} exited ${code}: ${buf.slice(-500)}`)));
});
const cleanup = () => { for (const p of procs) p.kill("SIGKILL"); rmSync(dir, { recursive: true, force: true }); };
process.on("exit", cleanup);

try {
  const { rec } = await start("packages/master/dist/main.js", ["--insecure", "--listen", "127.0.0.1:0", "--data", join(dir, "m"),
    "--chunk-size", String(s.chunk), "--heartbeat-interval-ms", String(s.hb), "--copies-per-server", String(s.copies), "--lease-ms", String(s.leaseMs)]);
  const master = rec.address;
  const servers = [];
  for (let i = 0; i < 4; i++) {
    servers.push(await start("packages/chunkserver/dist/main.js", ["--insecure", "--master", master, "--data", join(dir, `c${i}`),
      "--heartbeat-interval-ms", String(s.hb)]));
  }
  // Plaintext: re-replication speed is what is measured here (TLS costs are bench.sh's).
  const client = new GfsClient({ master, insecure: true });
  const fileBytes = 272 << 20; // 3/4 of its chunks land on any one of 4 servers: ~204 MiB
  await client.create("/big");
  const piece = Buffer.alloc(8 << 20, 7);
  for (let off = 0; off < fileBytes; off += piece.length) await client.write("/big", off, piece);
  const fsck = await client.fsck("/");
  const count = new Map();
  for (const ch of fsck.files[0].chunks) for (const r of ch.replicas) count.set(r.serverId, (count.get(r.serverId) ?? 0) + 1);
  const [victimId, held] = [...count].sort((a, b) => b[1] - a[1])[0];
  const victim = servers.find((x) => x.rec.serverId === victimId);
  const heldBytes = held * s.chunk;
  const t0 = Date.now();
  victim.p.kill("SIGKILL");
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const r = await client.fsck("/");
    const ok = r.files[0].chunks.every((ch) => ch.replicas.filter((x) => x.alive && !x.stale && !x.corrupt && x.serverId !== victimId).length >= 3);
    if (ok) break;
    if (Date.now() - t0 > 600_000) throw new Error("not re-replicated within 10 minutes");
  }
  const secs = (Date.now() - t0) / 1000;
  console.log(`rereplication_${mode}_bytes ${(heldBytes / (1 << 20)).toFixed(0)} MiB`);
  console.log(`rereplication_${mode}_seconds ${secs.toFixed(1)} s`);
  console.log(`rereplication_${mode}_detect_seconds ${(s.hb * 3 / 1000).toFixed(1)} s`);
  client.close();
} finally {
  cleanup();
}
process.exit(0);
