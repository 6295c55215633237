import { describe, expect, it } from "vitest";
import { DirtyExtents } from "../src/dirty-extents";

/** A seeded generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed;
  return () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

describe("dirty extents of an open file", () => {
  it("holds exactly the bytes of the writes replayed in order (later bytes win), whatever their overlaps", () => {
    const size = 256 * 1024;
    const next = rng(42);
    const model = Buffer.alloc(size);
    const written = new Uint8Array(size);
    const d = new DirtyExtents();
    for (let i = 0; i < 3000; i++) {
      const len = 1 + Math.floor(next() * (next() < 0.9 ? 4096 : 40_000));
      const off = Math.floor(next() * (size - len));
      const data = Buffer.alloc(len, i & 0xff);
      data[0] = (i >> 8) & 0xff;
      data.copy(model, off);
      written.fill(1, off, off + len);
      d.add(off, Buffer.from(data));
    }
    const expectedBytes = written.reduce((a, b) => a + b, 0);
    expect(d.bytes).toBe(expectedBytes);
    let seen = 0;
    for (const run of d.runs()) {
      expect(written.subarray(run.start, run.end).every((b) => b === 1)).toBe(true);
      expect(run.start === 0 || written[run.start - 1] === 0).toBe(true);
      const bytes = d.take(run.start, run.end);
      expect(bytes.equals(model.subarray(run.start, run.end))).toBe(true);
      seen += run.end - run.start;
    }
    expect(seen).toBe(expectedBytes);
    expect(d.bytes).toBe(0);
  });

  it("a run is found from any byte in it, and taking its head leaves the tail buffered", () => {
    const d = new DirtyExtents();
    d.add(100, Buffer.alloc(50, 1));
    d.add(150, Buffer.alloc(50, 2));
    d.add(300, Buffer.alloc(10, 3));
    expect(d.runAt(170)).toEqual({ start: 100, end: 200 });
    expect(d.runAt(250)).toBeUndefined();
    expect(d.take(100, 160).equals(Buffer.concat([Buffer.alloc(50, 1), Buffer.alloc(10, 2)]))).toBe(true);
    expect(d.runs()).toEqual([{ start: 160, end: 200 }, { start: 300, end: 310 }]);
    expect(d.bytes).toBe(50);
    expect(() => d.take(190, 305)).toThrow();
  });

  it("a truncate drops buffered bytes past the new end", () => {
    const d = new DirtyExtents();
    d.add(0, Buffer.alloc(100, 1));
    d.add(200, Buffer.alloc(100, 2));
    d.cut(50);
    expect(d.runs()).toEqual([{ start: 0, end: 50 }]);
    expect(d.bytes).toBe(50);
    expect(d.end).toBe(50);
  });
});
