import { describe, expect, it } from "vitest";
import { GfsError } from "@gfs/common";
import { pieceBytesFor, WriteBack } from "../src/write-back";

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
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: 16 * MiB, inFlightMax: 4 });
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
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4 });
    await wb.write(MiB - 100, bytes(300, 2));
    expect(s.sent.map((p) => [p.offset, p.data.length])).toEqual([[MiB - 100, 100]]);
    await wb.flush();
    expect(s.sent.map((p) => [p.offset, p.data.length])).toEqual([[MiB - 100, 100], [MiB, 200]]);
  });

  it("a write that does not continue the run sends the run first, and overlapping pieces reach the cluster in write order", async () => {
    const s = controlledSink();
    s.manual();
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4 });
    await wb.write(0, Buffer.alloc(10, 1));
    await wb.write(5, Buffer.alloc(10, 2)); // overlaps the first run: must wait for it
    const flushed = wb.flush();
    await new Promise((r) => setTimeout(r, 5));
    expect(s.sent).toHaveLength(1);
    s.pending.shift()!.resolve();
    await new Promise((r) => setTimeout(r, 5));
    expect(s.sent).toHaveLength(2);
    expect(s.sent[1].offset).toBe(5);
    s.pending.shift()!.resolve();
    await flushed;
  });

  it("a failed background piece fails the next write, every flush and fsync: the error is never swallowed", async () => {
    const s = controlledSink();
    s.manual();
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4 });
    await wb.write(0, bytes(MiB, 3)); // a whole piece: sent in the background
    s.pending.shift()!.reject(new GfsError("EIO", "replica down"));
    await new Promise((r) => setTimeout(r, 1));
    await expect(wb.write(MiB, bytes(10, 4))).rejects.toMatchObject({ errno: "EIO" });
    await expect(wb.flush()).rejects.toMatchObject({ errno: "EIO" });
    await expect(wb.flush(true)).rejects.toMatchObject({ errno: "EIO" });
  });

  it("ENOSPC keeps its meaning for the application", async () => {
    const wb = new WriteBack(() => Promise.reject(new GfsError("ENOSPC", "full")), { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4 });
    await wb.write(0, bytes(10, 5));
    await expect(wb.flush()).rejects.toMatchObject({ errno: "ENOSPC" });
  });

  it("a fast writer waits once the in-flight limit is reached", async () => {
    const s = controlledSink();
    s.manual();
    const wb = new WriteBack(s.sink, { chunkSizeBytes: 64 * KiB, pieceBytesMax: 64 * KiB, inFlightMax: 2 });
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

  it("fsync writes the tail with sync and makes chunks written earlier without sync durable by re-syncing one byte of each", async () => {
    const s = controlledSink();
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4 });
    const data = bytes(2 * MiB + 10, 9);
    await wb.write(0, data);
    await wb.flush(true);
    const synced = s.sent.filter((p) => p.sync);
    // The tail in chunk 2 with sync; chunks 0 and 1 get their last byte rewritten with sync.
    expect(synced.map((p) => [p.offset, p.data.length]).sort((a, b) => a[0] - b[0])).toEqual([[MiB - 1, 1], [2 * MiB - 1, 1], [2 * MiB, 10]]);
    for (const p of synced) expect(p.data.equals(data.subarray(p.offset, p.offset + p.data.length))).toBe(true);
    // Nothing left to make durable: a second fsync sends nothing.
    const before = s.sent.length;
    await wb.flush(true);
    expect(s.sent.length).toBe(before);
  });

  it("after a truncate, fsync does not rewrite bytes past the new end", async () => {
    const s = controlledSink();
    const wb = new WriteBack(s.sink, { chunkSizeBytes: MiB, pieceBytesMax: MiB, inFlightMax: 4 });
    await wb.write(0, bytes(2 * MiB, 1));
    await wb.flush();
    wb.truncated(MiB / 2);
    const before = s.sent.length;
    await wb.flush(true);
    expect(s.sent.slice(before)).toEqual([]);
  });
});
