// Record append (GFS §3.3) with real processes: concurrent appenders, records
// that are atomic, at least once, never straddling a chunk, at the offset the
// primary chose, on every replica.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crc32c, type FsckResponse__Output } from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { TestCluster } from "./harness/cluster";

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
      for (const [id, { offset, record }] of acked) {
        if (!whole.subarray(offset, offset + record.length).equals(record)) throw new Error(`record ${id} is not whole at ${offset}`);
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
