#!/usr/bin/env node
// Client-core throughput against a running cluster (no FUSE). Not a test.
// Needs the built dist code (`npx tsc -b packages/client-core`).
//   node scripts/bench-client.mjs --master HOST:PORT [--size-mib 1024] [--append-seconds 4]
// Prints one line per figure, `name value unit`:
//   client_put / client_get      whole-file copy of --size-mib of random data (put from a
//                                page-cached local file through putStream; get through
//                                getStream into a sink that keeps nothing), MB/s
//   append_<size>_<n>w_*         record appends by n concurrent clients (one GfsClient each,
//                                one process) of 1 MiB or 4 KiB records, MB/s and records/s
//                                (none with --append-seconds 0)
// Every figure is checked: put/get compare sampled ranges and the byte count, appends check
// that each acknowledged record reads back whole at its offset. MB = 10^6 bytes.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));
const { GfsClient } = require("@gfs/client-core");
const { putStream, getStream, openLocalInput } = require(join(root, "packages/client-core/dist/file-transfer.js"));

const { values } = parseArgs({
  options: {
    master: { type: "string" },
    "size-mib": { type: "string", default: "1024" },
    "append-seconds": { type: "string", default: "4" },
    source: { type: "string", default: "" },
    "tls-dir": { type: "string" },
    insecure: { type: "boolean", default: false },
  },
});
/** The cluster's identity dir (default: the CLI's lookup), or plaintext for an --insecure cluster. */
const transport = { tlsDir: values["tls-dir"], insecure: values.insecure };
if (!values.master) {
  console.error("usage: bench-client.mjs --master HOST:PORT [--tls-dir DIR | --insecure] [--size-mib N] [--append-seconds S] [--source FILE]");
  process.exit(2);
}
const MiB = 1024 * 1024;
const size = Number(values["size-mib"]) * MiB;
const appendSeconds = Number(values["append-seconds"]);
const say = (m) => process.stderr.write(`bench-client: ${m}\n`);
const emit = (name, value, unit) => console.log(`${name} ${value} ${unit}`);
const mbps = (bytes, ms) => (bytes / 1e6 / (ms / 1000)).toFixed(1);

async function main() {
  const client = new GfsClient({ master: values.master, ...transport });
  const dir = `/bench-client-${process.pid}`;
  await client.mkdir(dir, { parents: true });

  // ---- put / get of one large file
  let source = values.source;
  if (!source) {
    source = `/tmp/gfs-bench-src-${size}.bin`;
    if (!existsSync(source) || statSync(source).size !== size) {
      say(`writing ${size / MiB} MiB of random data to ${source}`);
      const fd = openSync(source, "w");
      for (let off = 0; off < size; off += 16 * MiB) writeFileSync(fd, randomBytes(Math.min(16 * MiB, size - off)));
      closeSync(fd);
    }
  }
  const srcFd = openSync(source, "r");
  const sample = (off, n) => { const b = Buffer.alloc(n); readSync(srcFd, b, 0, n, off); return b; };
  // Page-cache the source so the local disk is not what we measure.
  await new Promise((resolve, reject) => openLocalInput(source).on("data", () => {}).on("end", resolve).on("error", reject));

  say("put");
  let t = performance.now();
  const written = await putStream(client, openLocalInput(source), `${dir}/big`);
  const putMs = performance.now() - t;
  if (written !== size) throw new Error(`put wrote ${written} of ${size} bytes`);
  emit("client_put", mbps(size, putMs), "MB/s");

  say("get");
  const checkAt = [0, Math.floor(size / 3), size - MiB].map((o) => Math.max(0, o - (o % 4096)));
  const hashesWanted = checkAt.map((o) => createHash("sha256").update(sample(o, Math.min(MiB, size - o))).digest("hex"));
  const got = new Map(checkAt.map((o) => [o, []]));
  let pos = 0;
  const sink = new Writable({
    highWaterMark: 64 * MiB,
    write(chunk, _enc, cb) {
      // Keep only the sampled ranges, so checking costs nothing measurable.
      for (const o of checkAt) {
        const lo = Math.max(o, pos), hi = Math.min(o + MiB, pos + chunk.length);
        if (hi > lo) got.get(o).push(Buffer.from(chunk.subarray(lo - pos, hi - pos)));
      }
      pos += chunk.length;
      cb();
    },
  });
  t = performance.now();
  const read = await getStream(client, `${dir}/big`, sink, { reuseBuffers: true }); // the sink copies what it keeps
  const getMs = performance.now() - t;
  if (read !== size || pos !== size) throw new Error(`get read ${read} of ${size} bytes`);
  checkAt.forEach((o, i) => {
    const h = createHash("sha256").update(Buffer.concat(got.get(o))).digest("hex");
    if (h !== hashesWanted[i]) throw new Error(`get returned wrong bytes near offset ${o}`);
  });
  emit("client_get", mbps(size, getMs), "MB/s");
  closeSync(srcFd);
  await client.remove(`${dir}/big`);

  // ---- record append (--append-seconds 0: none, e.g. bench-tls.sh wants put/get alone)
  for (const [label, recordBytes] of appendSeconds > 0 ? [["1m", MiB], ["4k", 4096]] : []) {
    for (const writers of [1, 4, 8]) {
      const path = `${dir}/append-${label}-${writers}`;
      await client.create(path);
      const clients = Array.from({ length: writers }, () => new GfsClient({ master: values.master, ...transport }));
      const acked = [];
      const deadline = performance.now() + appendSeconds * 1000;
      // 1 MiB records: at most 256 MiB in all, so a run stays bounded on a slow disk.
      const maxRecords = recordBytes >= MiB ? Math.max(writers, 256) : Infinity;
      let issued = 0;
      t = performance.now();
      await Promise.all(clients.map(async (c, w) => {
        for (let i = 0; performance.now() < deadline && issued < maxRecords; i++) {
          issued++;
          const rec = Buffer.alloc(recordBytes, (w * 31 + i) & 0xff);
          rec.writeUInt32BE(w, 0);
          rec.writeUInt32BE(i, 4);
          acked.push({ off: await c.append(path, rec), w, i });
        }
      }));
      const ms = performance.now() - t;
      for (const c of clients) c.close();
      // Every acknowledged record is whole at its offset (checks a sample of up to 64).
      const step = Math.max(1, Math.floor(acked.length / 64));
      for (let k = 0; k < acked.length; k += step) {
        const { off, w, i } = acked[k];
        const back = await client.read(path, off, recordBytes);
        if (back.length !== recordBytes || back.readUInt32BE(0) !== w || back.readUInt32BE(4) !== i || back[recordBytes - 1] !== ((w * 31 + i) & 0xff)) {
          throw new Error(`append ${label} x${writers}: record ${w}/${i} not whole at offset ${off}`);
        }
      }
      emit(`append_${label}_${writers}w`, mbps(acked.length * recordBytes, ms), "MB/s");
      emit(`append_${label}_${writers}w_rate`, (acked.length / (ms / 1000)).toFixed(0), "records/s");
      await client.remove(path);
    }
  }
  await client.remove(dir, { recursive: true });
  client.close();
}

main().then(() => process.exit(0), (e) => {
  say(`FAILED: ${e.stack ?? e}`);
  process.exit(1);
});
