import { describe, expect, it } from "vitest";
import { BufferPool, GfsError } from "@gfs/common";
import { ReadAhead } from "../src/read-ahead";

const KiB = 1024;

function fileSource(size: number, delayMs = 1, seed = 13) {
  let file = Buffer.from(Array.from({ length: size }, (_, i) => (i * seed + 5) & 0xff));
  const calls: Array<[number, number]> = [];
  let failNext = false;
  let inFlight = 0;
  let maxInFlight = 0;
  const source = async (offset: number, into: Buffer) => {
    calls.push([offset, into.length]);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setTimeout(r, delayMs));
    inFlight--;
    if (failNext) { failNext = false; throw new GfsError("EIO", "replicas unreachable"); }
    return file.copy(into, 0, Math.min(offset, file.length), Math.min(file.length, offset + into.length));
  };
  return {
    get file() { return file; },
    grow(more: number) { file = Buffer.concat([file, Buffer.alloc(more, 0x5a)]); },
    calls, source, failOnce() { failNext = true; }, get maxInFlight() { return maxInFlight; },
  };
}

function readAhead(f: ReturnType<typeof fileSource>, o: { initial: number; max: number; window: number; reorder?: number }, pool = new BufferPool(o.window, 4)) {
  return new ReadAhead(f.source, { initialBytes: o.initial, maxBytes: o.max, reorderBytes: o.reorder ?? 0, pool });
}

async function readAt(ra: ReadAhead, offset: number, length: number): Promise<Buffer> {
  const dest = Buffer.alloc(length, 0xee);
  const n = await ra.read(offset, length, dest);
  return dest.subarray(0, n);
}

describe("read-ahead", () => {
  it("a sequential reader gets the whole file right with few, growing fetches, several at once", async () => {
    const f = fileSource(3000 * KiB);
    const ra = readAhead(f, { initial: 64 * KiB, max: 1024 * KiB, window: 256 * KiB });
    const parts: Buffer[] = [];
    for (let off = 0; ; off += 128 * KiB) {
      const b = await readAt(ra, off, 128 * KiB);
      parts.push(Buffer.from(b));
      if (b.length < 128 * KiB) break;
    }
    expect(Buffer.concat(parts).equals(f.file)).toBe(true);
    expect(f.calls.length).toBeLessThan(3000 / 128);
    const sizes = f.calls.map((c) => c[1]);
    expect(sizes[0]).toBe(128 * KiB); // at least the read itself
    expect(Math.max(...sizes)).toBe(256 * KiB);
    expect(f.maxInFlight).toBeGreaterThan(1);
    // Fetches stop at the end: none starts more than the read-ahead past it.
    expect(f.calls.every(([off]) => off <= f.file.length + 1024 * KiB)).toBe(true);
  });

  it("reads that arrive out of order (as the kernel sends them) keep the stream", async () => {
    const f = fileSource(4096 * KiB);
    const ra = readAhead(f, { initial: 128 * KiB, max: 1024 * KiB, window: 512 * KiB, reorder: 512 * KiB });
    const order = [0, 2, 1, 3, 5, 4, 6, 7, 9, 8, 10, 12, 11, 13, 14, 15];
    // Issued together, as several FUSE threads do.
    const got = await Promise.all(order.map((i) => readAt(ra, i * 128 * KiB, 128 * KiB).then((b) => [i, b] as const)));
    for (const [i, b] of got) expect(b.equals(f.file.subarray(i * 128 * KiB, (i + 1) * 128 * KiB))).toBe(true);
    // Dropping the stream at each reordered read would cost a fetch per read.
    expect(f.calls.length).toBeLessThanOrEqual(8);
    expect(f.calls.filter(([, len]) => len > 128 * KiB).length).toBeGreaterThan(2);
  });

  it("random reads fetch exactly what was asked and nothing ahead", async () => {
    const f = fileSource(1024 * KiB);
    const ra = readAhead(f, { initial: 64 * KiB, max: 1024 * KiB, window: 256 * KiB, reorder: 16 * KiB });
    for (const off of [500 * KiB, 100 * KiB, 900 * KiB, 300 * KiB]) {
      const b = await readAt(ra, off, 4 * KiB);
      expect(b.equals(f.file.subarray(off, off + 4 * KiB))).toBe(true);
    }
    expect(f.calls).toEqual([[500 * KiB, 4 * KiB], [100 * KiB, 4 * KiB], [900 * KiB, 4 * KiB], [300 * KiB, 4 * KiB]]);
  });

  it("a small file costs one fetch", async () => {
    const f = fileSource(10 * KiB);
    const ra = readAhead(f, { initial: 64 * KiB, max: 1024 * KiB, window: 256 * KiB });
    expect((await readAt(ra, 0, 128 * KiB)).equals(f.file)).toBe(true);
    expect(f.calls).toEqual([[0, 128 * KiB]]);
  });

  it("a read spanning two windows returns the bytes of both", async () => {
    const f = fileSource(1024 * KiB);
    const ra = readAhead(f, { initial: 100 * KiB, max: 100 * KiB, window: 100 * KiB });
    await readAt(ra, 0, 90 * KiB);
    const b = await readAt(ra, 90 * KiB, 30 * KiB);
    expect(b.equals(f.file.subarray(90 * KiB, 120 * KiB))).toBe(true);
  });

  it("keeps at most its limit ahead of the reader", async () => {
    const f = fileSource(8192 * KiB);
    const ra = readAhead(f, { initial: 64 * KiB, max: 512 * KiB, window: 128 * KiB });
    for (let off = 0; off < 4096 * KiB; off += 64 * KiB) await readAt(ra, off, 64 * KiB);
    const furthest = Math.max(...f.calls.map(([off, len]) => off + len));
    expect(furthest).toBeLessThanOrEqual(4096 * KiB + 512 * KiB + 128 * KiB);
  });

  it("a failed fetch fails the read that needed it, and reading again fetches again", async () => {
    const f = fileSource(512 * KiB);
    const ra = readAhead(f, { initial: 64 * KiB, max: 64 * KiB, window: 64 * KiB });
    f.failOnce();
    await expect(readAt(ra, 0, 4 * KiB)).rejects.toMatchObject({ errno: "EIO" });
    const b = await readAt(ra, 0, 4 * KiB);
    expect(b.equals(f.file.subarray(0, 4 * KiB))).toBe(true);
  });

  it("after invalidate, bytes come from the source again (this mount wrote the file)", async () => {
    const f = fileSource(256 * KiB);
    const ra = readAhead(f, { initial: 64 * KiB, max: 64 * KiB, window: 64 * KiB });
    await readAt(ra, 0, 4 * KiB);
    const n = f.calls.length;
    ra.invalidate();
    await readAt(ra, 4 * KiB, 4 * KiB);
    expect(f.calls.length).toBeGreaterThan(n);
  });

  it("invalidate tells its owner (to forget what the master said too); dropping a stream for random reads does not", async () => {
    const f = fileSource(1024 * KiB);
    let told = 0;
    const ra = new ReadAhead(f.source, { initialBytes: 64 * KiB, maxBytes: 256 * KiB, reorderBytes: 16 * KiB, pool: new BufferPool(64 * KiB, 4), onInvalidate: () => told++ });
    await readAt(ra, 0, 4 * KiB);
    await readAt(ra, 600 * KiB, 4 * KiB);
    await readAt(ra, 300 * KiB, 4 * KiB); // two strays: the stream is dropped
    expect(told).toBe(0);
    ra.invalidate();
    expect(told).toBe(1);
  });

  it("a read past where the file ended asks again, and sees the file grown since", async () => {
    const f = fileSource(100 * KiB);
    const ra = readAhead(f, { initial: 64 * KiB, max: 256 * KiB, window: 64 * KiB, reorder: 64 * KiB });
    expect((await readAt(ra, 64 * KiB, 64 * KiB)).length).toBe(36 * KiB);
    f.grow(50 * KiB);
    const b = await readAt(ra, 100 * KiB, 64 * KiB);
    expect(b.equals(f.file.subarray(100 * KiB, 150 * KiB))).toBe(true);
  });

  it("a window's buffer is not reused while its fetch may still write into it", async () => {
    const slow = fileSource(512 * KiB, 20, 13);
    const fast = fileSource(512 * KiB, 0, 7);
    const pool = new BufferPool(64 * KiB, 8);
    const ra = readAhead(slow, { initial: 64 * KiB, max: 64 * KiB, window: 64 * KiB }, pool);
    const pending = readAt(ra, 0, 32 * KiB); // its window is being fetched
    ra.invalidate(); // dropped while the fetch runs
    const other = readAhead(fast, { initial: 64 * KiB, max: 64 * KiB, window: 64 * KiB }, pool);
    expect((await readAt(other, 0, 16 * KiB)).equals(fast.file.subarray(0, 16 * KiB))).toBe(true);
    expect((await pending).equals(slow.file.subarray(0, 32 * KiB))).toBe(true);
    // The slow fetch has written its bytes by now: the other reader's window must not hold them.
    expect((await readAt(other, 16 * KiB, 16 * KiB)).equals(fast.file.subarray(16 * KiB, 32 * KiB))).toBe(true);
    ra.invalidate();
    other.invalidate();
    await new Promise((r) => setTimeout(r, 5));
    expect(pool.idleCount).toBe(2); // and both buffers come back once their fetches are done
  });
});
