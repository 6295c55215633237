import { describe, expect, it } from "vitest";
import { GfsError } from "@gfs/common";
import { ReadAhead } from "../src/read-ahead";

const KiB = 1024;

function fileSource(size: number) {
  const file = Buffer.from(Array.from({ length: size }, (_, i) => (i * 13 + 5) & 0xff));
  const calls: Array<[number, number]> = [];
  let failNext = false;
  const source = async (offset: number, length: number) => {
    calls.push([offset, length]);
    await new Promise((r) => setTimeout(r, 1));
    if (failNext) { failNext = false; throw new GfsError("EIO", "replicas unreachable"); }
    return file.subarray(offset, Math.min(size, offset + length));
  };
  return { file, calls, source, failOnce() { failNext = true; } };
}

describe("read-ahead", () => {
  it("a sequential reader gets the whole file right with few, growing fetches", async () => {
    const f = fileSource(3000 * KiB);
    const ra = new ReadAhead(f.source, { initialBytes: 64 * KiB, maxBytes: 1024 * KiB });
    const parts: Buffer[] = [];
    for (let off = 0; ; off += 128 * KiB) {
      const b = await ra.read(off, 128 * KiB);
      parts.push(Buffer.from(b));
      if (b.length < 128 * KiB) break;
    }
    expect(Buffer.concat(parts).equals(f.file)).toBe(true);
    expect(f.calls.length).toBeLessThan(3000 / 128);
    const sizes = f.calls.map((c) => c[1]);
    expect(Math.max(...sizes)).toBe(1024 * KiB);
    // Fetches never go far past the end: the one after a short window is not made.
    expect(f.calls.every(([off]) => off <= f.file.length)).toBe(true);
  });

  it("random reads fetch exactly what was asked and nothing ahead", async () => {
    const f = fileSource(1024 * KiB);
    const ra = new ReadAhead(f.source, { initialBytes: 64 * KiB, maxBytes: 1024 * KiB });
    for (const off of [500 * KiB, 100 * KiB, 900 * KiB, 300 * KiB]) {
      const b = await ra.read(off, 4 * KiB);
      expect(b.equals(f.file.subarray(off, off + 4 * KiB))).toBe(true);
    }
    expect(f.calls).toEqual([[500 * KiB, 4 * KiB], [100 * KiB, 4 * KiB], [900 * KiB, 4 * KiB], [300 * KiB, 4 * KiB]]);
  });

  it("a read spanning two windows returns the bytes of both", async () => {
    const f = fileSource(1024 * KiB);
    const ra = new ReadAhead(f.source, { initialBytes: 100 * KiB, maxBytes: 100 * KiB });
    await ra.read(0, 90 * KiB);
    const b = await ra.read(90 * KiB, 30 * KiB);
    expect(b.equals(f.file.subarray(90 * KiB, 120 * KiB))).toBe(true);
  });

  it("a failed fetch fails the read that needed it, and reading again fetches again", async () => {
    const f = fileSource(512 * KiB);
    const ra = new ReadAhead(f.source, { initialBytes: 64 * KiB, maxBytes: 64 * KiB });
    f.failOnce();
    await expect(ra.read(0, 4 * KiB)).rejects.toMatchObject({ errno: "EIO" });
    const b = await ra.read(0, 4 * KiB);
    expect(b.equals(f.file.subarray(0, 4 * KiB))).toBe(true);
  });

  it("after invalidate, bytes come from the source again (this mount wrote the file)", async () => {
    const f = fileSource(256 * KiB);
    const ra = new ReadAhead(f.source, { initialBytes: 64 * KiB, maxBytes: 64 * KiB });
    await ra.read(0, 4 * KiB);
    const n = f.calls.length;
    ra.invalidate();
    await ra.read(4 * KiB, 4 * KiB);
    expect(f.calls.length).toBeGreaterThan(n);
  });
});
