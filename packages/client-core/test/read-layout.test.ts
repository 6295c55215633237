import { describe, expect, it } from "vitest";
import type { FindChunksResponse__Output } from "@gfs/common";
import { ReadLayout } from "../src/read-layout";

const loc = (index: number) => ({ index, handle: `h${index}`, version: 1, replicas: [] }) as unknown as FindChunksResponse__Output["chunks"][number];
const answer = (size: number, indexes: number[]): FindChunksResponse__Output =>
  ({ info: { size }, chunkSizeBytes: 100, chunks: indexes.map(loc) }) as unknown as FindChunksResponse__Output;

describe("read layout", () => {
  it("answers for ranges inside what the master covered and the size it gave, until it is too old", () => {
    let now = 0;
    const l = new ReadLayout(1000, 4, () => now);
    expect(l.covering(0, 10)).toBeUndefined(); // nothing learned yet
    expect(l.askLength(150, 10, 100)).toBe(350); // up to the end of 4 chunks from the read's chunk
    l.learn(answer(1000, [1, 2, 4]), 150, 350); // chunk 3 is a hole
    const k = l.covering(200, 250)!;
    expect(k.size).toBe(1000);
    expect([...k.chunks.keys()]).toEqual([1, 2, 4]);
    expect(l.covering(90, 20)).toBeUndefined(); // chunk 0 was not asked about
    expect(l.covering(450, 60)).toBeUndefined(); // chunk 5 neither
    now = 1001;
    expect(l.covering(200, 10)).toBeUndefined(); // too old
  });

  it("a read past the size it knows asks again (the file may have grown), and forget drops everything", () => {
    const l = new ReadLayout(1000, 4, () => 0);
    l.learn(answer(250, [0, 1, 2]), 0, 400);
    expect(l.covering(200, 50)).toBeDefined();
    expect(l.covering(200, 51)).toBeUndefined();
    l.forget();
    expect(l.covering(0, 10)).toBeUndefined();
  });
});
