// Record append (GFS §3.3) with real processes: concurrent appenders, records
// that are atomic, at least once, never straddling a chunk, at the offset the
// primary chose, on every replica.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crc32c, type FsckResponse__Output } from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { fsck, TestCluster } from "./harness/cluster";

const MiB = 1024 * 1024;
const chunkSize = MiB;
const MAGIC = 0x47465352; // "GFSR"
const headerBytes = 16; // magic, writer, seq, payload length
const trailerBytes = 4; // crc32c of header + payload

function makeRecord(writer: number, seq: number, payloadBytes: number): Buffer {
  const rec = Buffer.alloc(headerBytes + payloadBytes + trailerBytes);
  rec.writeUInt32BE(MAGIC, 0);
  rec.writeUInt32BE(writer, 4);
  rec.writeUInt32BE(seq, 8);
  rec.writeUInt32BE(payloadBytes, 12);
  randomBytes(payloadBytes).copy(rec, headerBytes);
  rec.writeUInt32BE(crc32c(rec.subarray(0, headerBytes + payloadBytes)), headerBytes + payloadBytes);
  return rec;
}

/** Parses a record at `pos` of `buf`; undefined if there is none, whole and valid. */
function parseRecord(buf: Buffer, pos: number): { writer: number; seq: number; length: number } | undefined {
  if (pos + headerBytes + trailerBytes > buf.length || buf.readUInt32BE(pos) !== MAGIC) return undefined;
  const payload = buf.readUInt32BE(pos + 12);
  const length = headerBytes + payload + trailerBytes;
  if (pos + length > buf.length) return undefined;
  const crc = buf.readUInt32BE(pos + headerBytes + payload);
  if (crc32c(buf.subarray(pos, pos + headerBytes + payload)) !== crc) return undefined;
  return { writer: buf.readUInt32BE(pos + 4), seq: buf.readUInt32BE(pos + 8), length };
}

/** Walks a chunk: every region is a whole valid record or zero padding. Returns the records found. */
function walkChunk(chunk: Buffer): Array<{ writer: number; seq: number; at: number }> {
  const found: Array<{ writer: number; seq: number; at: number }> = [];
  let pos = 0;
  while (pos < chunk.length) {
    const rec = parseRecord(chunk, pos);
    if (rec) {
      found.push({ writer: rec.writer, seq: rec.seq, at: pos });
      pos += rec.length;
    } else if (chunk[pos] === 0) {
      pos++;
    } else {
      throw new Error(`byte ${pos} of a chunk is neither padding nor the start of a whole record`);
    }
  }
  return found;
}

/** What a buffer holds at `at`: a whole record (whose), zeros, or other bytes. */
function describeAt(buf: Buffer, at: number, length: number): string {
  if (at >= buf.length) return `nothing (${buf.length} bytes long)`;
  const rec = parseRecord(buf, at);
  if (rec) return `record ${rec.writer}/${rec.seq} (${rec.length} bytes)`;
  const piece = buf.subarray(at, Math.min(buf.length, at + length));
  const zeros = piece.filter((b) => b === 0).length;
  return zeros === piece.length ? `${piece.length} zero bytes` : `other bytes (${zeros}/${piece.length} zero, first ${piece.subarray(0, 16).toString("hex")})`;
}

/**
 * Diagnostics for acknowledged records the read did not return whole: per
 * record, what the read returned, what a second read returns, what each
 * chunkserver's chunk file (dead ones too) holds there, the chunk's replicas
 * and versions (fsck) and the servers' log lines about the chunk.
 */
async function explainMissingRecords(c: TestCluster, path: string, chunkBytes: number, acked: Map<string, { offset: number; record: Buffer }>,
  bad: Array<[string, { offset: number; record: Buffer }]>, whole: Buffer, again: Buffer | Error): Promise<string> {
  const lines: string[] = [];
  const report = await fsck(c, path).catch((e: unknown) => e as Error);
  const chunks = report instanceof Error ? [] : report.files[0]?.chunks ?? [];
  if (report instanceof Error) lines.push(`fsck failed: ${report.message}`);
  const handles = new Set<string>();
  // Per chunk with a bad record: how many acknowledged records each server's file lacks, and from where.
  for (const index of new Set(bad.map(([, { offset }]) => Math.floor(offset / chunkBytes)))) {
    const inChunk = [...acked.values()].filter((a) => Math.floor(a.offset / chunkBytes) === index);
    const badHere = bad.filter(([, a]) => Math.floor(a.offset / chunkBytes) === index).map(([, a]) => a.offset - index * chunkBytes);
    lines.push(`chunk ${index}: ${badHere.length} of ${inChunk.length} acknowledged records wrong in the read, at chunk offsets ${Math.min(...badHere)}..${Math.max(...badHere)}`);
    const chunk = chunks.find((k) => Number(k.index) === index);
    if (!chunk) continue;
    for (const cs of c.chunkservers) {
      const bytes = await readFile(join(cs.dataDir, "chunks", `${chunk.handle}.chunk`)).catch(() => undefined);
      if (!bytes) { lines.push(`  cs${cs.index}: no chunk file`); continue; }
      const lacking = inChunk.map((a) => a.offset - index * chunkBytes)
        .filter((at, i) => !bytes.subarray(at, at + inChunk[i].record.length).equals(inChunk[i].record));
      lines.push(`  cs${cs.index}: file ${bytes.length} bytes, lacks ${lacking.length} of ${inChunk.length}${lacking.length ? ` (chunk offsets ${Math.min(...lacking)}..${Math.max(...lacking)})` : ""}`);
    }
  }
  for (const [id, { offset, record }] of bad.slice(0, 8)) {
    const index = Math.floor(offset / chunkBytes);
    const at = offset - index * chunkBytes;
    const chunk = chunks.find((k) => Number(k.index) === index);
    lines.push(`record ${id} at ${offset} (chunk ${index} offset ${at}, ${record.length} bytes):`);
    lines.push(`  read returned: ${describeAt(whole, offset, record.length)}`);
    lines.push(`  second read: ${again instanceof Error ? `failed: ${again.message}` : again.subarray(offset, offset + record.length).equals(record) ? "whole" : describeAt(again, offset, record.length)}`);
    if (!chunk) { lines.push(`  fsck has no chunk ${index}`); continue; }
    handles.add(chunk.handle);
    lines.push(`  chunk ${chunk.handle} version ${chunk.version} state ${chunk.state}; replicas: ${chunk.replicas.map((r) =>
      `${r.address} v${r.version}${r.alive ? "" : " dead"}${r.stale ? " stale" : ""}${r.corrupt ? " corrupt" : ""}${r.suspect ? " suspect" : ""}`).join(", ")}`);
    for (const cs of c.chunkservers) {
      const bytes = await readFile(join(cs.dataDir, "chunks", `${chunk.handle}.chunk`)).catch(() => undefined);
      const alive = cs.process.proc.exitCode === null && cs.process.proc.signalCode === null;
      const held = !bytes ? "no chunk file"
        : bytes.subarray(at, at + record.length).equals(record) ? `has it (file ${bytes.length} bytes)` : `${describeAt(bytes, at, record.length)} (file ${bytes.length} bytes)`;
      lines.push(`  cs${cs.index} ${cs.address}${alive ? "" : " (dead)"}: ${held}`);
    }
  }
  for (const h of handles) {
    for (const [name, log] of [["master", c.master.log()], ...c.chunkservers.map((cs) => [`cs${cs.index}`, cs.process.log()])]) {
      const all = log.split("\n").filter((l) => l.includes(h));
      const about = all.length <= 60 ? all : [...all.slice(0, 20), `... ${all.length - 60} lines left out ...`, ...all.slice(-40)];
      if (about.length) lines.push(`${name} log lines about ${h}:`, ...about.map((l) => `  ${l}`));
    }
  }
  return lines.join("\n");
}

describe("record append (real processes, 1 MiB chunks)", () => {
  let cluster: TestCluster;

  beforeAll(async () => { cluster = await TestCluster.start({ chunkSizeBytes: chunkSize, leaseMs: 10_000 }); });
  afterAll(async () => { await cluster?.stop(); });

  it("4 concurrent appenders: every acknowledged record is whole at its offset on every replica, none straddles a chunk", async () => {
    const setup = new GfsClient({ master: cluster.masterAddress });
    await setup.create("/log");
    const writers = 4;
    const perWriter = 500;
    const acked = new Map<string, { offset: number; record: Buffer }>();
    await Promise.all(Array.from({ length: writers }, async (_, w) => {
      const client = new GfsClient({ master: cluster.masterAddress });
      try {
        for (let seq = 0; seq < perWriter; seq++) {
          // Mostly small records, some close to the 1/4-chunk limit to force padding.
          const payload = seq % 50 === 7 ? chunkSize / 4 - headerBytes - trailerBytes - (seq % 3) : 50 + ((seq * 7919 + w * 104729) % 6000);
          const record = makeRecord(w, seq, payload);
          const offset = await client.append("/log", record);
          acked.set(`${w}/${seq}`, { offset, record });
        }
      } finally {
        client.close();
      }
    }));
    expect(acked.size).toBe(writers * perWriter);

    const size = (await setup.stat("/log")).size;
    const whole = await setup.read("/log", 0, size);
    for (const [id, { offset, record }] of acked) {
      expect(Math.floor(offset / chunkSize), `${id} straddles a chunk`).toBe(Math.floor((offset + record.length - 1) / chunkSize));
      if (!whole.subarray(offset, offset + record.length).equals(record)) throw new Error(`record ${id} is not whole at ${offset}`);
    }
    // Offsets of acknowledged records never overlap: appenders did not overwrite each other.
    const spans = [...acked.values()].map((a) => [a.offset, a.offset + a.record.length]).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);

    // Every replica of every chunk holds the acknowledged records at the same place; the rest is padding or duplicates.
    const r = await cluster.gfs(["fsck", "/log", "--json"]);
    const report = JSON.parse(r.stdout) as FsckResponse__Output;
    const chunks = report.files[0].chunks;
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) {
      expect(chunk.replicas).toHaveLength(3);
      for (const cs of cluster.chunkservers) {
        const bytes = await readFile(join(cs.dataDir, "chunks", `${chunk.handle}.chunk`));
        const found = walkChunk(bytes);
        for (const [id, { offset, record }] of acked) {
          if (Math.floor(offset / chunkSize) !== chunk.index) continue;
          const at = offset - chunk.index * chunkSize;
          if (!bytes.subarray(at, at + record.length).equals(record)) throw new Error(`replica ${cs.address} lacks record ${id} at ${at}`);
          expect(found.some((f) => f.at === at)).toBe(true);
        }
      }
    }
    setup.close();
  });

  it("a secondary killed mid-run: appends keep succeeding after retries, and every acknowledged record is found", async () => {
    const c = await TestCluster.start({ chunkservers: 4, chunkSizeBytes: chunkSize, leaseMs: 3_000, heartbeatIntervalMs: 200,
      masterArgs: ["--copies-per-server", "4"] });
    try {
      const setup = new GfsClient({ master: c.masterAddress });
      await setup.create("/klog");
      const acked = new Map<string, { offset: number; record: Buffer }>();
      let failures = 0;
      let killed = false;
      let killedAt = "";
      await Promise.all(Array.from({ length: 3 }, async (_, w) => {
        const client = new GfsClient({ master: c.masterAddress, client_attempts_max: 8, rpc_deadline_ms: 2_000 });
        try {
          for (let seq = 0; seq < 150; seq++) {
            if (w === 0 && seq === 40 && !killed) {
              // Kill a secondary of the chunk being appended to.
              killed = true;
              const size = (await setup.stat("/klog")).size;
              const last = (await setup.master.FindChunks({ path: "/klog", offset: Math.max(0, size - 1), length: 1 })).chunks[0];
              const lease = await setup.master.GetLease({ handle: last.handle });
              const victim = c.chunkservers.find((s) => s.serverId === lease.secondaries[0].serverId)!;
              killedAt = `cs${victim.index} killed at file size ${size}, a secondary of chunk ${last.index} (${last.handle}) at version ${lease.version}`
                + ` (primary ${lease.primary?.address}), ${acked.size} records acknowledged by then`;
              await c.kill(victim.index);
            }
            const record = makeRecord(w, seq, 2000 + ((seq * 131) % 20000));
            try {
              acked.set(`${w}/${seq}`, { offset: await client.append("/klog", record), record });
            } catch {
              failures++;
            }
          }
        } finally {
          client.close();
        }
      }));
      expect(killed).toBe(true);
      expect(acked.size).toBeGreaterThanOrEqual(450 - 10); // a handful may fail while the master notices the death
      const size = (await setup.stat("/klog")).size;
      const whole = await setup.read("/klog", 0, size);
      const bad = [...acked].filter(([, { offset, record }]) => !whole.subarray(offset, offset + record.length).equals(record));
      if (bad.length > 0) {
        // Say where the bytes went wrong: on which replicas, or only in what the read returned (a read-path fault).
        const again = await setup.read("/klog", 0, size).catch((e: unknown) => e as Error);
        const why = await explainMissingRecords(c, "/klog", chunkSize, acked, bad, whole, again);
        throw new Error(`record ${bad[0][0]} is not whole at ${bad[0][1].offset} (${bad.length} of ${acked.size} acknowledged records wrong in the read)\n${killedAt}\n${why}`);
      }
      setup.close();
      expect(failures).toBeLessThanOrEqual(10);
    } finally {
      await c.stop();
    }
  });

  it("concurrent appends from one client share master size updates, and the size covers every record", async () => {
    const client = new GfsClient({ master: cluster.masterAddress });
    try {
      await client.create("/shared-log");
      await client.append("/shared-log", makeRecord(9, 0, 100)); // the chunk exists and is leased
      const before = (await client.status()).opLogRecords;
      const offsets = await Promise.all(Array.from({ length: 50 }, (_, i) => client.append("/shared-log", makeRecord(9, i + 1, 100))));
      const records = (await client.status()).opLogRecords - before;
      expect(records).toBeLessThan(50); // one ExtendFile per round, not one per record
      const size = (await client.stat("/shared-log")).size;
      expect(size).toBe(Math.max(...offsets) + headerBytes + 100 + trailerBytes);
    } finally {
      client.close();
    }
  });

  it("a record over 1/4 chunk is refused clearly; appending to a missing file is ENOENT", async () => {
    const client = new GfsClient({ master: cluster.masterAddress });
    try {
      await client.create("/small-log");
      await expect(client.append("/small-log", Buffer.alloc(chunkSize / 4 + 1))).rejects.toThrow(/^EINVAL: record of 262145 bytes exceeds/);
      expect((await client.stat("/small-log")).size).toBe(0);
      await expect(client.append("/no-such-log", Buffer.from("x"))).rejects.toThrow(/^ENOENT/);
    } finally {
      client.close();
    }
  });

  it("gfs append appends stdin as one record and prints its offset", async () => {
    await cluster.gfs(["put", "-", "/cli-log"], Buffer.from("head\n"));
    const r = await cluster.gfs(["append", "/cli-log"], Buffer.from("a record\n"));
    expect(r.code, r.stderr).toBe(0);
    const offset = Number(r.stdout.trim());
    expect(offset).toBeGreaterThanOrEqual(5);
    const got = await cluster.gfs(["get", "/cli-log", "-"]);
    expect(got.stdout.slice(offset, offset + 9)).toBe("a record\n");
  });
});
