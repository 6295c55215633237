import { mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { crc32c, GfsError } from "@gfs/common";
import { ChunkStore } from "../src/chunk-store";

const B = 1024;
const CHUNK = 8 * B;
const H = "00000000000000aa";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gfs-store-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const openStore = (onCorrupt?: (h: string) => void) => ChunkStore.open(dir, { blockBytes: B, chunkSizeBytes: CHUNK, onCorrupt });
const pattern = (n: number, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

async function flipByte(handle: string, position: number): Promise<void> {
  const fh = await open(join(dir, `${handle}.chunk`), "r+");
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, position);
  b[0] ^= 0xff;
  await fh.write(b, 0, 1, position);
  await fh.close();
}

async function errnoOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof GfsError ? e.errno : `not a GfsError: ${(e as Error).message}`;
  }
  return "no error";
}

describe("chunk store", () => {
  it("a write read back across block boundaries returns the same bytes", async () => {
    const s = await openStore();
    await s.create(H, 1);
    const data = pattern(3 * B + 100);
    await s.write(H, 500, data);
    expect(s.get(H)).toMatchObject({ version: 1, length: 500 + data.length });
    const { data: back, chunkLength } = await s.read(H, 500, data.length);
    expect(chunkLength).toBe(500 + data.length);
    expect(back.equals(data)).toBe(true);
    // the gap before the write reads as zeros
    expect((await s.read(H, 0, 500)).data.equals(Buffer.alloc(500))).toBe(true);
  });

  it("a partial-block overwrite keeps the other bytes of the block and valid checksums", async () => {
    const s = await openStore();
    await s.create(H, 1);
    const base = pattern(3 * B);
    await s.write(H, 0, base);
    const patch = pattern(10, 99);
    await s.write(H, B + 5, patch);
    const expected = Buffer.from(base);
    patch.copy(expected, B + 5);
    expect((await s.read(H, 0, 3 * B)).data.equals(expected)).toBe(true);
    // survives a reopen that trusts the sidecar
    await s.close();
    const again = await openStore();
    expect((await again.read(H, 0, 3 * B)).data.equals(expected)).toBe(true);
    expect(again.checksumFailures).toBe(0);
  });

  it("a read stops at the chunk's end and reports its length", async () => {
    const s = await openStore();
    await s.create(H, 1);
    await s.write(H, 0, pattern(100));
    const r = await s.read(H, 50, 1000);
    expect(r.data.length).toBe(50);
    expect(r.chunkLength).toBe(100);
    expect((await s.read(H, 200, 10)).data.length).toBe(0);
  });

  it("a flipped byte on disk makes a read fail with EIO, never return bad bytes", async () => {
    const corrupt: string[] = [];
    const s = await openStore((h) => corrupt.push(h));
    await s.create(H, 1);
    await s.write(H, 0, pattern(3 * B));
    await flipByte(H, B + 7);
    await expect(s.read(H, B, 10)).rejects.toThrow(`EIO: checksum mismatch in chunk ${H} block 1`);
    // other blocks are still served
    expect((await s.read(H, 0, B)).data.equals(pattern(3 * B).subarray(0, B))).toBe(true);
    expect(s.checksumFailures).toBe(1);
    expect(corrupt).toEqual([H]);
    expect(s.corruptHandles()).toEqual([H]);
    // an overwrite of part of the bad block verifies the block first and refuses
    expect(await errnoOf(s.write(H, B + 100, Buffer.from("x")))).toBe("EIO");
  });

  it("a flipped byte is still caught after a clean restart", async () => {
    const s = await openStore();
    await s.create(H, 1);
    await s.write(H, 0, pattern(2 * B));
    await s.close();
    await flipByte(H, 3);
    const again = await openStore();
    expect(await errnoOf(again.read(H, 0, 10))).toBe("EIO");
  });

  it("a chunk not closed cleanly gets its checksums recomputed from its data at start", async () => {
    const s = await openStore();
    await s.create(H, 1);
    await s.write(H, 0, pattern(2 * B));
    // no close(): as after a crash, the sidecar says dirty
    const side = JSON.parse(await readFile(join(dir, `${H}.meta`), "utf8"));
    expect(side.clean).toBe(false);
    const again = await openStore();
    expect((await again.read(H, 0, 2 * B)).data.equals(pattern(2 * B))).toBe(true);
    expect(again.get(H)).toMatchObject({ version: 1, length: 2 * B });
  });

  it("an out-of-bounds write is refused and nothing is written", async () => {
    const s = await openStore();
    await s.create(H, 1);
    await s.write(H, 0, pattern(10));
    expect(await errnoOf(s.write(H, CHUNK - 5, pattern(10)))).toBe("EINVAL");
    expect(await errnoOf(s.write(H, -1, pattern(1)))).toBe("EINVAL");
    expect(await errnoOf(s.read(H, CHUNK, 1))).toBe("EINVAL");
    expect(s.get(H)!.length).toBe(10);
    expect((await readFile(join(dir, `${H}.chunk`))).length).toBe(10);
  });

  it("unknown and malformed handles are refused", async () => {
    const s = await openStore();
    expect(await errnoOf(s.read("00000000000000ff", 0, 1))).toBe("ENOENT");
    expect(await errnoOf(s.create("../etc/passwd", 1))).toBe("EINVAL");
    expect(await errnoOf(s.write("ABC", 0, pattern(1)))).toBe("EINVAL");
    expect(await readdir(dir)).toEqual([]);
  });

  it("the version survives a reopen and never goes down", async () => {
    const s = await openStore();
    await s.create(H, 3);
    await s.setVersion(H, 7);
    expect(await errnoOf(s.setVersion(H, 5))).toBe("ESTALE");
    const again = await openStore();
    expect(again.get(H)!.version).toBe(7);
    expect(again.list()).toEqual([{ handle: H, version: 7, length: 0 }]);
  });

  it("truncate cuts inside a block and keeps the rest verifiable; pad zero-fills to the end", async () => {
    const s = await openStore();
    await s.create(H, 1);
    await s.write(H, 0, pattern(3 * B));
    await s.truncate(H, B + 10);
    expect(s.get(H)!.length).toBe(B + 10);
    expect((await s.read(H, 0, 3 * B)).data.equals(pattern(3 * B).subarray(0, B + 10))).toBe(true);
    await s.pad(H, CHUNK);
    const all = (await s.read(H, 0, CHUNK)).data;
    expect(all.length).toBe(CHUNK);
    expect(all.subarray(0, B + 10).equals(pattern(3 * B).subarray(0, B + 10))).toBe(true);
    expect(all.subarray(B + 10).equals(Buffer.alloc(CHUNK - B - 10))).toBe(true);
    await s.close();
    const again = await openStore();
    expect((await again.read(H, 0, CHUNK)).data.equals(all)).toBe(true);
  });

  it("a fetched whole chunk carries CRCs that install verifies", async () => {
    const s = await openStore();
    await s.create(H, 2);
    await s.write(H, 0, pattern(2 * B + 3));
    const whole = await s.fetchWhole(H);
    expect(whole.blockCrc32c).toEqual([crc32c(pattern(2 * B + 3).subarray(0, B)), expect.any(Number), expect.any(Number)]);
    const other = await ChunkStore.open(join(dir, "other"), { blockBytes: B, chunkSizeBytes: CHUNK });
    const bad = Buffer.from(whole.data);
    bad[5] ^= 1;
    expect(await errnoOf(other.install(H, 2, bad, whole.blockCrc32c))).toBe("EIO");
    expect(other.has(H)).toBe(false);
    await other.install(H, 2, whole.data, whole.blockCrc32c);
    expect((await other.read(H, 0, CHUNK)).data.equals(pattern(2 * B + 3))).toBe(true);
  });

  it("delete removes the chunk's files", async () => {
    const s = await openStore();
    await s.create(H, 1);
    await s.write(H, 0, pattern(5));
    await s.delete(H);
    expect(s.has(H)).toBe(false);
    expect(await readdir(dir)).toEqual([]);
    expect(s.usedBytes()).toBe(0);
  });

  it("an orphan data file without a sidecar is removed at start", async () => {
    await writeFile(join(dir, `${H}.chunk`), "junk");
    const s = await openStore();
    expect(s.list()).toEqual([]);
    expect(await readdir(dir)).toEqual([]);
  });
});
