import { describe, expect, it } from "vitest";
import { GfsError } from "@gfs/common";
import { PieceBufferPool, pieceBytesFor, WriteBack } from "../src/write-back";

const KiB = 1024;
const MiB = 1024 * KiB;

interface Sent { offset: number; data: Buffer; sync: boolean }

/** A sink that records pieces and lets the test decide when each completes. */
function controlledSink() {
  const sent: Sent[] = [];
  const pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  let auto = true;
  const sink = (offset: number, data: Buffer, sync: boolean) => {
    sent.push({ offset, data: Buffer.from(data), sync });
    if (auto) return Promise.resolve();
    return new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
  };
  return { sent, pending, sink, manual() { auto = false; } };
}

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

describe("write-back buffer", () => {
  it("piece size divides the chunk size, so no piece crosses a chunk", () => {
    expect(pieceBytesFor(64 * MiB, 16 * MiB)).toBe(16 * MiB);
    expect(pieceBytesFor(MiB, 16 * MiB)).toBe(MiB);
    expect((64 * MiB) % pieceBytesFor(64 * MiB, 10 * MiB)).toBe(0);
  });

  it("128 KiB kernel writes leave as whole pieces aligned to chunk boundaries, the tail on flush", async () => {
    const s = controlledSink();
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: 16 * MiB, inFlightMax: 4, bytesMax: 64 * MiB, syncChunk: async () => {} });
    const all = bytes(2.5 * MiB, 1);
    for (let off = 0; off < all.length; off += 128 * KiB) await wb.write(off, all.subarray(off, off + 128 * KiB));
    expect(s.sent.map((p) => [p.offset, p.data.length])).toEqual([[0, MiB], [MiB, MiB]]);
    await wb.flush();
    expect(s.sent.map((p) => [p.offset, p.data.length])).toEqual([[0, MiB], [MiB, MiB], [2 * MiB, 0.5 * MiB]]);
    expect(Buffer.concat(s.sent.map((p) => p.data)).equals(all)).toBe(true);
    expect(wb.dirty).toBe(false);
  });

  it("a run starting mid-chunk is cut at the next chunk boundary", async () => {
    const s = controlledSink();
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4, bytesMax: 64 * MiB, syncChunk: async () => {} });
    await wb.write(MiB - 100, bytes(300, 2));
    expect(s.sent.map((p) => [p.offset, p.data.length])).toEqual([[MiB - 100, 100]]);
    await wb.flush();
    expect(s.sent.map((p) => [p.offset, p.data.length])).toEqual([[MiB - 100, 100], [MiB, 200]]);
  });

  it("scattered writes stay buffered until flush, overlapping ones merged with the later bytes winning", async () => {
    const s = controlledSink();
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4, bytesMax: 64 * MiB, syncChunk: async () => {} });
    await wb.write(0, Buffer.alloc(10, 1));
    await wb.write(5, Buffer.alloc(10, 2)); // overlaps the first: its bytes win
    await wb.write(100, Buffer.alloc(4, 3));
    await wb.write(MiB + 7, Buffer.alloc(4, 4)); // another chunk
    expect(s.sent).toEqual([]);
    expect(wb.pendingEnd).toBe(MiB + 11);
    await wb.flush();
    const sent = s.sent.map((p) => [p.offset, p.data.toString("hex")]).sort((a, b) => (a[0] as number) - (b[0] as number));
    expect(sent).toEqual([
      [0, Buffer.concat([Buffer.alloc(5, 1), Buffer.alloc(10, 2)]).toString("hex")],
      [100, Buffer.alloc(4, 3).toString("hex")],
      [MiB + 7, Buffer.alloc(4, 4).toString("hex")],
    ]);
    expect(wb.dirty).toBe(false);
  });

  it("a write over a piece still in flight reaches the cluster after it, so the later bytes win there too", async () => {
    const s = controlledSink();
    s.manual();
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4, bytesMax: 64 * MiB, syncChunk: async () => {} });
    await wb.write(0, Buffer.alloc(10, 1));
    const first = wb.flush();
    await new Promise((r) => setTimeout(r, 5));
    await wb.write(5, Buffer.alloc(10, 2)); // overlaps the piece in flight: must wait for it
    const second = wb.flush();
    await new Promise((r) => setTimeout(r, 5));
    expect(s.sent).toHaveLength(1);
    s.pending.shift()!.resolve();
    await new Promise((r) => setTimeout(r, 5));
    expect(s.sent).toHaveLength(2);
    expect(s.sent[1].offset).toBe(5);
    s.pending.shift()!.resolve();
    await Promise.all([first, second]);
  });

  it("random 4 KiB writes are accepted without waiting for the cluster until the byte limit, then leave several at once", async () => {
    const s = controlledSink();
    s.manual();
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 3, bytesMax: 64 * KiB, syncChunk: async () => {} });
    const offsets = Array.from({ length: 16 }, (_, i) => ((i * 37) % 64) * 8 * KiB); // 16 distinct, non-adjacent
    for (const off of offsets) await wb.write(off, bytes(4 * KiB, off & 0xff)); // 64 KiB: at the limit, not past it
    expect(s.sent).toEqual([]);
    let waited = true;
    const over = wb.write(600 * KiB, bytes(4 * KiB, 9)).then(() => { waited = false; });
    await new Promise((r) => setTimeout(r, 5));
    expect(s.sent).toHaveLength(3); // the limit on client writes at once
    expect(waited).toBe(true);
    s.pending.shift()!.resolve();
    await over; // one piece acknowledged: back under the limit
    while (s.pending.length > 0 || s.sent.length < 17) {
      s.pending.shift()?.resolve();
      await new Promise((r) => setTimeout(r, 1));
    }
    await wb.flush();
    expect(s.sent.map((p) => p.offset).sort((a, b) => a - b)).toEqual([...offsets, 600 * KiB].sort((a, b) => a - b));
  });

  it("a failed background piece fails the next write, every flush and fsync: the error is never swallowed", async () => {
    const s = controlledSink();
    s.manual();
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4, bytesMax: 64 * MiB, syncChunk: async () => {} });
    await wb.write(0, bytes(MiB, 3)); // a whole piece: sent in the background
    await wb.write(3 * MiB, bytes(10, 5)); // buffered: dropped once the file failed
    s.pending.shift()!.reject(new GfsError("EIO", "replica down"));
    await new Promise((r) => setTimeout(r, 1));
    await expect(wb.write(MiB, bytes(10, 4))).rejects.toMatchObject({ errno: "EIO" });
    await expect(wb.flush()).rejects.toMatchObject({ errno: "EIO" });
    await expect(wb.flush(true)).rejects.toMatchObject({ errno: "EIO" });
    expect(s.sent.map((p) => p.offset)).toEqual([0]);
  });

  it("ENOSPC keeps its meaning for the application", async () => {
    const wb = new WriteBack(() => Promise.reject(new GfsError("ENOSPC", "full")), { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4, bytesMax: 64 * MiB, syncChunk: async () => {} });
    await wb.write(0, bytes(10, 5));
    await expect(wb.flush()).rejects.toMatchObject({ errno: "ENOSPC" });
  });

  it("a fast writer waits once the bytes it holds pass the limit", async () => {
    const s = controlledSink();
    s.manual();
    const wb = new WriteBack(s.sink, { chunkSizeBytes: 64 * KiB, pieceBytesMax: 64 * KiB, inFlightMax: 4, bytesMax: 128 * KiB, syncChunk: async () => {} });
    await wb.write(0, bytes(64 * KiB, 1));
    await wb.write(64 * KiB, bytes(64 * KiB, 2));
    let third = false;
    const w = wb.write(128 * KiB, bytes(64 * KiB, 3)).then(() => { third = true; });
    await new Promise((r) => setTimeout(r, 5));
    expect(third).toBe(false);
    expect(wb.pendingEnd).toBe(192 * KiB);
    s.pending.shift()!.resolve();
    await w;
    expect(third).toBe(true);
    for (const p of s.pending.splice(0)) p.resolve();
    await wb.flush();
    expect(wb.pendingEnd).toBe(0);
  });

  it("fsync writes the tail with sync and makes chunks written earlier without sync durable with one SYNC each, rewriting no byte", async () => {
    const s = controlledSink();
    const syncs: number[] = [];
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4, bytesMax: 64 * MiB, syncChunk: async (i) => { syncs.push(i); } });
    const data = bytes(2 * MiB + 10, 9);
    await wb.write(0, data);
    await wb.flush(true);
    // The tail in chunk 2 with sync; chunks 0 and 1, written before without sync, get a SYNC each; no byte is sent twice.
    expect(s.sent.filter((p) => p.sync).map((p) => [p.offset, p.data.length])).toEqual([[2 * MiB, 10]]);
    expect(s.sent.reduce((n, p) => n + p.data.length, 0)).toBe(data.length);
    expect(syncs.sort()).toEqual([0, 1]);
    // Nothing left to make durable: a second fsync sends nothing.
    const before = s.sent.length;
    await wb.flush(true);
    expect(s.sent.length).toBe(before);
    expect(syncs).toHaveLength(2);
  });

  it("a failed SYNC fails that fsync and every later one: the file is not known durable", async () => {
    const s = controlledSink();
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4, bytesMax: 64 * MiB,
      syncChunk: async () => { throw new GfsError("EIO", "replica down"); } });
    await wb.write(0, bytes(MiB, 3));
    await wb.flush();
    await expect(wb.flush(true)).rejects.toMatchObject({ errno: "EIO" });
    await expect(wb.flush(true)).rejects.toMatchObject({ errno: "EIO" });
  });

  it("after a truncate, fsync neither rewrites bytes nor syncs chunks past the new end", async () => {
    const s = controlledSink();
    const syncs: number[] = [];
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4, bytesMax: 64 * MiB, syncChunk: async (i) => { syncs.push(i); } });
    await wb.write(0, bytes(2 * MiB, 1));
    await wb.flush();
    wb.truncated(MiB / 2);
    const before = s.sent.length;
    await wb.flush(true);
    expect(s.sent.slice(before)).toEqual([]);
    expect(syncs).toEqual([0]);
  });

  it("a sequential writer's borrowed buffers are copied into piece buffers, which leave whole and are reused once acknowledged", async () => {
    const seen: Buffer[] = [];
    const sent: Sent[] = [];
    const sink = async (offset: number, data: Buffer, sync: boolean) => {
      seen.push(data);
      sent.push({ offset, data: Buffer.from(data), sync });
    };
    const pool = new PieceBufferPool(4 * MiB);
    const wb = new WriteBack(sink, { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4, bytesMax: 64 * MiB, pool, syncChunk: async () => {} });
    const all = bytes(3 * MiB + 1000, 3);
    const scratch = Buffer.alloc(128 * KiB); // like libfuse's buffer: reused for every write
    for (let off = 0; off < all.length; off += scratch.length) {
      const n = all.copy(scratch, 0, off, Math.min(all.length, off + scratch.length));
      const done = wb.write(off, scratch.subarray(0, n), true);
      scratch.fill(0xee); // the caller may reuse its buffer as soon as write() returned
      await done;
    }
    await wb.flush();
    expect(Buffer.concat(sent.map((p) => p.data)).equals(all)).toBe(true);
    expect(sent.map((p) => p.offset)).toEqual([0, MiB, 2 * MiB, 3 * MiB]);
    // Whole pieces were single buffers (no assembly), and later pieces reused the memory of earlier ones.
    expect(seen.slice(0, 3).every((d) => d.byteOffset === 0 && d.buffer.byteLength === MiB)).toBe(true);
    expect(seen[1]!.buffer === seen[0]!.buffer || seen[2]!.buffer === seen[0]!.buffer).toBe(true);
  });

  it("a writer that leaves its sequential run, overwrites it and comes back still sends exactly what was written last", async () => {
    const s = controlledSink();
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4, bytesMax: 64 * MiB, pool: new PieceBufferPool(4 * MiB), syncChunk: async () => {} });
    const model = Buffer.alloc(2 * MiB);
    const put = async (off: number, data: Buffer) => {
      data.copy(model, off);
      await wb.write(off, Buffer.from(data), true);
    };
    await put(0, bytes(300 * KiB, 1)); // into a piece buffer
    await put(100 * KiB, bytes(4 * KiB, 2)); // overwrite inside it
    await put(300 * KiB, bytes(100 * KiB, 3)); // continues it
    await put(1.5 * MiB, bytes(8 * KiB, 4)); // elsewhere: the piece buffer is given up
    await put(50 * KiB, bytes(10 * KiB, 5)); // overwrite of bytes copied out of it
    await put(400 * KiB, bytes(624 * KiB, 6)); // completes the first piece
    await wb.flush();
    const file = Buffer.alloc(2 * MiB);
    let end = 0;
    for (const p of s.sent) {
      p.data.copy(file, p.offset);
      end = Math.max(end, p.offset + p.data.length);
    }
    expect(end).toBe(1.5 * MiB + 8 * KiB);
    expect(file.equals(model)).toBe(true);
  });

  it("a partly filled piece buffer goes back once its last piece is acknowledged; small writes never take one; a failed send keeps it out", async () => {
    const pool = new PieceBufferPool(8 * MiB);
    const opts = { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4, bytesMax: 64 * MiB, pool, syncChunk: async () => {} };
    const s1 = controlledSink();
    const medium = new WriteBack(s1.sink, opts);
    const data = bytes(300 * KiB, 7);
    for (let off = 0; off < data.length; off += 128 * KiB) await medium.write(off, data.subarray(off, off + 128 * KiB), true);
    expect(pool.idleCount).toBe(0);
    await medium.flush(); // close: the last piece leaves, and its buffer comes back once acknowledged
    expect(Buffer.concat(s1.sent.map((p) => p.data)).equals(data)).toBe(true);
    expect(pool.idleCount).toBe(1);

    const s2 = controlledSink();
    const small = new WriteBack(s2.sink, opts);
    await small.write(0, bytes(4 * KiB, 8), true);
    await small.flush();
    expect(pool.idleCount).toBe(1); // not taken for a few KiB

    const failing = new WriteBack(async () => { throw new GfsError("EIO", "replica down"); }, opts);
    await failing.write(0, bytes(128 * KiB, 9), true);
    expect(pool.idleCount).toBe(0); // taken by the writer
    await expect(failing.flush()).rejects.toThrow(/EIO/);
    expect(pool.idleCount).toBe(0); // a failed send may still be reading it: never reused
  });
});
