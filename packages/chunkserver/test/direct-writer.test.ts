import { randomBytes } from "node:crypto";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DirectWriter } from "../src/direct-writer";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gfs-direct-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const opts = { alignBytes: 4096, minBytes: 8192, bufferBytes: 16384, buffers: 2 };

/** Writes `data` at `position` of a file holding `old`, through the writer, and returns the file. */
async function writeThrough(w: DirectWriter, old: Buffer, data: Buffer, position: number): Promise<Buffer> {
  const path = join(dir, "f");
  await writeFile(path, old);
  const fh = await open(path, "r+");
  try {
    await w.write(path, fh, data, position);
  } finally {
    await fh.close();
  }
  return readFile(path);
}

describe("direct writer", () => {
  it("writes only the aligned middle of a write direct, and only when it is large enough", () => {
    const w = new DirectWriter(opts);
    expect(w.directRange(100, 20_000)).toEqual({ lo: 4096, hi: 16384 });
    expect(w.directRange(100, 12_000)).toBeUndefined(); // only [4096, 8192) is aligned: below minBytes
    expect(w.directRange(0, 8192)).toEqual({ lo: 0, hi: 8192 });
  });

  it("leaves the file exactly as a plain write would: unaligned head and tail, several staging buffers, past the end", async () => {
    const w = new DirectWriter(opts);
    const old = randomBytes(30_000);
    for (const [position, length] of [[0, 65_536], [1_000, 50_001], [4096, 8192], [29_000, 70_000], [100, 300]]) {
      const data = randomBytes(length);
      const expected = Buffer.alloc(Math.max(old.length, position + length));
      old.copy(expected);
      data.copy(expected, position);
      expect((await writeThrough(w, old, data, position)).equals(expected)).toBe(true);
    }
    // The test directory's file system took O_DIRECT (else the writes above fell back to plain ones).
    expect(w.enabled).toBe(true);
  });

  it("many writes at once share the staging buffers and all land", async () => {
    const w = new DirectWriter(opts);
    const path = join(dir, "g");
    await writeFile(path, Buffer.alloc(0));
    const fh = await open(path, "r+");
    const parts = Array.from({ length: 6 }, () => randomBytes(40_960));
    try {
      await Promise.all(parts.map((p, i) => w.write(path, fh, p, i * p.length)));
    } finally {
      await fh.close();
    }
    expect((await readFile(path)).equals(Buffer.concat(parts))).toBe(true);
  });
});
