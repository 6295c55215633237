#!/usr/bin/env node
// Time from SIGKILL of a chunkserver to full re-replication of what it held.
// Starts its own cluster (1 master + 4 chunkservers on 127.0.0.1), writes
// about 200 MiB of chunks onto the victim (via a ~270 MiB file over 4
// servers, replication 3), kills it and polls fsck until every chunk has 3
// good replicas again. Prints `name value unit` lines.
//
//   node scripts/bench-rereplication.mjs [--settings default|test] [--file-mib N] [--victim most|primary]
//     default: 5 s heartbeats, 3 misses, 64 MiB chunks, 2 copies per server, 60 s leases
//     test:    200 ms heartbeats, 3 misses, 1 MiB chunks, 4 copies per server, 3 s leases
//     --file-mib: the file written (default 272: ~204 MiB on the victim)
//     --victim primary: kill the primary of the file's last chunk while its
//       writer's lease is live (e.g. --file-mib 12: one chunk of 12 MiB), the
//       case a dead primary's lease used to hold up for a lease length; the
//       master now fences it (a version bump on the survivors) and copies at once.
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
const arg = (name, dflt) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : dflt);
const fileMib = Number(arg("--file-mib", "272"));
const victimRule = arg("--victim", "most");
if (!(fileMib > 0) || !["most", "primary"].includes(victimRule)) throw new Error("usage: --file-mib N (N > 0) --victim most|primary");
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
  const fileBytes = Math.round(fileMib * (1 << 20)); // default 272 MiB: 3/4 of its chunks land on any one of 4 servers, ~204 MiB
  await client.create("/big");
  const piece = Buffer.alloc(8 << 20, 7);
  for (let off = 0; off < fileBytes; off += piece.length) await client.write("/big", off, piece.subarray(0, Math.min(piece.length, fileBytes - off)));
  const fsck = await client.fsck("/");
  const count = new Map();
  for (const ch of fsck.files[0].chunks) for (const r of ch.replicas) count.set(r.serverId, (count.get(r.serverId) ?? 0) + 1);
  let [victimId, held] = [...count].sort((a, b) => b[1] - a[1])[0];
  if (victimRule === "primary") {
    // The writer's lease is still live (just written): its holder is the victim.
    const last = fsck.files[0].chunks.at(-1);
    const lease = await client.master.GetLease({ handle: last.handle });
    victimId = lease.primary.serverId;
    held = count.get(victimId);
  }
  const victim = servers.find((x) => x.rec.serverId === victimId);
  const heldBytes = Math.min(held * s.chunk, fileBytes);
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
  const tag = victimRule === "primary" ? `rereplication_primary_${mode}` : `rereplication_${mode}`;
  console.log(`${tag}_bytes ${(heldBytes / (1 << 20)).toFixed(0)} MiB`);
  console.log(`${tag}_seconds ${secs.toFixed(1)} s`);
  console.log(`${tag}_detect_seconds ${(s.hb * 3 / 1000).toFixed(1)} s`);
  client.close();
} finally {
  cleanup();
}
process.exit(0);
