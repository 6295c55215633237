import { mkdtemp, open, readdir, readFile, readlink, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { crc32c, GfsError } from "@gfs/common";
import { ChunkStore, realDataSyncer, type DataSyncer } from "../src/chunk-store";
import { errnoOf } from "./errno-of";

const B = 1024;
const CHUNK = 8 * B;
const H = "00000000000000aa";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gfs-store-"));
});
afterEach(async () => {
  // A checksum mismatch is persisted in the sidecar after the read has answered EIO (chunk-store.ts
  // checksumFailure): that write may still be renaming its file into the directory being removed.
  await rm(dir, { recursive: true, force: true, maxRetries: 5 });
});

const openStore = (onCorrupt?: (h: string) => void, openFilesMax?: number) =>
  ChunkStore.open(dir, { blockBytes: B, chunkSizeBytes: CHUNK, onCorrupt, openFilesMax });
const pattern = (n: number, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

async function flipByte(handle: string, position: number): Promise<void> {
  const fh = await open(join(dir, `${handle}.chunk`), "r+");
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, position);
  b[0] ^= 0xff;
  await fh.write(b, 0, 1, position);
  await fh.close();
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

  it("a released read buffer serves the next read, which sees its own bytes; an unreleased one is never handed out again", async () => {
    const s = await openStore();
    await s.create(H, 1);
    const data = pattern(4 * B);
    await s.write(H, 0, data);
    const first = await s.read(H, 0, 2 * B);
    expect(first.release).toBeTypeOf("function");
    const kept = await s.read(H, 2 * B, 2 * B);
    const keptCopy = Buffer.from(kept.data);
    first.release!();
    const second = await s.read(H, B, 3 * B);
    expect(second.data.buffer).toBe(first.data.buffer);
    expect(second.data.equals(data.subarray(B))).toBe(true);
    expect(kept.data.buffer).not.toBe(second.data.buffer);
    expect(kept.data.equals(keptCopy)).toBe(true);
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
    // Reported again at the next registration (a restarted master must hear of it too).
    expect(again.list()).toEqual([{ handle: H, version: 1, length: 2 * B, corrupt: true }]);
  });

  it("a chunk not closed cleanly gets its checksums recomputed from its data at start", async () => {
    const s = await openStore();
    await s.create(H, 1);
    await s.write(H, 0, pattern(2 * B));
    // no close(): as after a crash, the sidecar says dirty
    const side = JSON.parse(await readFile(join(dir, `${H}.meta`), "utf8"));
    expect(side.clean).toBe(false);
    const again = await openStore();
    // Unverified (written in the dirty window): not served until the master accepts it with its version.
    if (again.get(H)!.unverified) {
      await expect(again.read(H, 0, 2 * B)).rejects.toThrow(/not verified yet/);
      await again.setVersion(H, 1, true);
      expect(again.get(H)!.unverified).toBe(false);
    }
    expect((await again.read(H, 0, 2 * B)).data.equals(pattern(2 * B))).toBe(true);
    expect(again.get(H)).toMatchObject({ version: 1, length: 2 * B });
  });

  it("a chunk created without syncs works like any other and is found again at start", async () => {
    const s = await openStore();
    await s.create(H, 1, false);
    await s.write(H, 0, pattern(3 * B), true); // a sync write makes file and sidecar durable
    const again = await openStore();
    expect(again.get(H)).toMatchObject({ version: 1, length: 3 * B });
    if (again.get(H)!.unverified) await again.setVersion(H, 1, true); // the master's acceptance (see the test above)
    expect((await again.read(H, 0, 3 * B)).data.equals(pattern(3 * B))).toBe(true);
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
    expect(again.list()).toMatchObject([{ handle: H, version: 7, length: 0 }]); // not closed: unverified too (see the dirty window)
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

  it("a chunk file stays open across writes and reads and is closed on delete", async () => {
    const descriptorsOf = async (file: string) => {
      let n = 0;
      for (const fd of await readdir("/proc/self/fd")) if (await readlink(`/proc/self/fd/${fd}`).catch(() => "") === file) n++;
      return n;
    };
    const file = join(dir, `${H}.chunk`);
    const s = await openStore();
    await s.create(H, 1);
    for (let i = 0; i < 5; i++) await s.write(H, i * 100, pattern(100, i));
    await s.read(H, 0, 500);
    await s.truncate(H, 300);
    expect(s.openFileCount).toBe(1);
    expect(await descriptorsOf(file)).toBe(1);
    await s.delete(H);
    expect(s.openFileCount).toBe(0);
    expect(await descriptorsOf(file)).toBe(0);
  });

  it("a new chunk is durable when create resolves, and its first write does not rewrite the sidecar", async () => {
    const s = await openStore();
    await s.create(H, 4);
    const side = join(dir, `${H}.meta`);
    const created = await stat(side);
    expect(JSON.parse(await readFile(side, "utf8")).clean).toBe(false);
    await s.write(H, 0, pattern(2 * B + 5));
    await s.write(H, 2 * B + 5, pattern(7, 3));
    // same sidecar file (a rewrite renames a new one over it)
    expect((await stat(side)).ino).toBe(created.ino);
    // a crash now: the next start recomputes the CRCs from the data
    const again = await openStore();
    expect(again.get(H)).toMatchObject({ version: 4, length: 2 * B + 12 });
    if (again.get(H)!.unverified) await again.setVersion(H, 4, true); // the master's acceptance
    const expected = Buffer.concat([pattern(2 * B + 5), pattern(7, 3)]);
    expect((await again.read(H, 0, CHUNK)).data.equals(expected)).toBe(true);
    expect(again.checksumFailures).toBe(0);
    expect(JSON.parse(await readFile(side, "utf8")).clean).toBe(true);
  });

  it("a chunk created and never written survives a crash as an empty chunk, unverified: a first write lost with the crash would look the same", async () => {
    const s = await openStore();
    await s.create(H, 2);
    const again = await openStore();
    expect(again.list()).toMatchObject([{ handle: H, version: 2, length: 0, unverified: true }]);
    expect(await errnoOf(again.read(H, 0, 1))).toBe("EIO");
  });

  it("checksums stay exact through random writes, gaps, pads, truncates and overwrites", async () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const s = await openStore();
    await s.create(H, 1);
    let model = Buffer.alloc(0);
    for (let i = 0; i < 150; i++) {
      const op = rand(10);
      if (op < 6) {
        const offset = rand(3) === 0 ? model.length : rand(CHUNK - 1);
        const n = 1 + rand(Math.min(CHUNK - offset, 3 * B));
        const data = pattern(n, i);
        await s.write(H, offset, data);
        if (offset + n > model.length) model = Buffer.concat([model, Buffer.alloc(offset + n - model.length)]);
        data.copy(model, offset);
      } else if (op < 8) {
        const length = rand(CHUNK + 1);
        await s.truncate(H, length);
        model = length <= model.length ? model.subarray(0, length) : Buffer.concat([model, Buffer.alloc(length - model.length)]);
      } else if (op < 9 && model.length < CHUNK) {
        await s.pad(H, CHUNK);
        model = Buffer.concat([model, Buffer.alloc(CHUNK - model.length)]);
      } else {
        await s.truncate(H, rand(2 * B));
        model = model.subarray(0, s.get(H)!.length);
      }
      expect(s.get(H)!.length).toBe(model.length);
    }
    const whole = await s.fetchWhole(H);
    expect(whole.data.equals(model)).toBe(true);
    const blocks = Array.from({ length: Math.ceil(model.length / B) }, (_, b) => crc32c(model.subarray(b * B, (b + 1) * B)));
    expect(whole.blockCrc32c).toEqual(blocks);
    expect(await readFile(join(dir, `${H}.chunk`))).toEqual(model);
  });

  it("an append continues a partial block's CRC without reading it; bad old bytes are still caught on read", async () => {
    const s = await openStore();
    await s.create(H, 1);
    await s.write(H, 0, pattern(100));
    await flipByte(H, 3);
    await s.write(H, 100, pattern(50, 2)); // the paper's append: no verification of the old partial block
    await s.write(H, 400, pattern(10, 3)); // a gap of zeros, then data, in the same block
    expect(await errnoOf(s.read(H, 0, 410))).toBe("EIO");
    expect(s.corruptHandles()).toEqual([H]);
  });

  it("the open-file cache never closes a file in use, and stays within its limit once they are done", async () => {
    const s = await openStore(undefined, 2);
    const handles = Array.from({ length: 6 }, (_, i) => `00000000000001${i.toString(16).padStart(2, "0")}`);
    for (const h of handles) await s.create(h, 1);
    // many concurrent reads and writes across more chunks than the limit
    const ops: Promise<unknown>[] = [];
    for (let round = 0; round < 5; round++) {
      for (const [i, h] of handles.entries()) {
        ops.push(s.write(h, round * 100, pattern(100, i + round)));
        ops.push(s.read(h, 0, CHUNK));
      }
    }
    await Promise.all(ops);
    for (const [i, h] of handles.entries()) {
      const expected = Buffer.concat(Array.from({ length: 5 }, (_, round) => pattern(100, i + round)));
      expect((await s.read(h, 0, CHUNK)).data.equals(expected)).toBe(true);
    }
    // evicted files are closed in the background, without delaying the operation that evicted them
    await vi.waitFor(() => expect(s.openFileCount).toBeLessThanOrEqual(2));
    await s.close();
    expect(s.openFileCount).toBe(0);
  });

  it("a chunk deleted and installed again is read from its new file, not a stale descriptor", async () => {
    const s = await openStore();
    await s.create(H, 1);
    await s.write(H, 0, pattern(3 * B, 1));
    const other = await ChunkStore.open(join(dir, "other"), { blockBytes: B, chunkSizeBytes: CHUNK });
    await other.create(H, 2);
    await other.write(H, 0, pattern(2 * B, 9));
    const whole = await other.fetchWhole(H);
    await s.install(H, 2, whole.data, whole.blockCrc32c); // replaces the stale version-1 replica
    expect(s.get(H)).toMatchObject({ version: 2, length: 2 * B });
    expect((await s.read(H, 0, CHUNK)).data.equals(pattern(2 * B, 9))).toBe(true);
    expect(s.checksumFailures).toBe(0);
  });
});

/** A datasync that fails while `failing` is set (a disk error), real otherwise. */
class FlakySyncer implements DataSyncer {
  failing = false;
  calls = 0;
  async datasync(fh: Parameters<DataSyncer["datasync"]>[0]): Promise<void> {
    this.calls++;
    if (this.failing) throw Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
    await realDataSyncer.datasync(fh);
  }
}

const sidecarOf = async (handle: string) => JSON.parse(await readFile(join(dir, `${handle}.meta`), "utf8")) as
  { length: number; clean: boolean; bad?: string; unverified?: boolean; mismatch?: string };

describe("chunk store: length, clean flag, dirty window, failed datasync (issue 12)", () => {
  it("the sidecar records the replica's length and clean flag; a file shorter than a clean sidecar's length is corrupt at start, never recomputed", async () => {
    const s = await openStore();
    await s.create(H, 3);
    await s.write(H, 0, pattern(5 * B + 17));
    await s.close(); // orderly stop: synced and marked clean
    expect(await sidecarOf(H)).toMatchObject({ length: 5 * B + 17, clean: true });
    await truncate(join(dir, `${H}.chunk`), 2 * B + 1); // the tail is lost while the server is down
    const reported: string[] = [];
    const again = await openStore((h) => reported.push(h));
    // Reported corrupt (to the master at registration and through onCorrupt), still at its recorded length.
    expect(again.list()).toEqual([{ handle: H, version: 3, length: 5 * B + 17, corrupt: true }]);
    expect(reported).toEqual([H]);
    expect(again.corruptHandles()).toEqual([H]);
    // Never served, not even the bytes that are still there, and never mutated.
    expect(await errnoOf(again.read(H, 0, 10))).toBe("EIO");
    expect(await errnoOf(again.read(H, 3 * B, 10))).toBe("EIO");
    expect(await errnoOf(again.fetchWhole(H))).toBe("EIO");
    expect(await errnoOf(again.write(H, 0, pattern(10)))).toBe("EIO");
    // The mark is persisted: a clean restart keeps it.
    await again.close();
    expect((await sidecarOf(H)).bad).toMatch(/shorter than its recorded length/);
    const third = await openStore();
    expect(third.get(H)).toMatchObject({ corrupt: true });
    expect(await errnoOf(third.read(H, 0, 10))).toBe("EIO");
  });

  it("a checksum mismatch a read found is persisted: after a crash in the dirty window the replica is corrupt, not merely unverified", async () => {
    const s = await openStore();
    await s.create(H, 1);
    await s.write(H, 0, pattern(4 * B));
    await s.close(); // clean, CRCs recorded
    const dirty = await openStore();
    await dirty.write(H, 4 * B, pattern(B, 7)); // the sidecar is dirty now
    await flipByte(H, B + 3);
    expect(await errnoOf(dirty.read(H, B, 10))).toBe("EIO");
    expect((await dirty.read(H, 0, B)).data.equals(pattern(B))).toBe(true); // other blocks are still served
    await vi.waitFor(async () => expect((await sidecarOf(H)).mismatch).toBe("block 1"));
    // A crash (no close): the restart would recompute the CRCs over the flipped byte and call the replica
    // unverified, which the master may release as the best left (simulator seed 24). It is corrupt.
    const again = await openStore();
    expect(again.get(H)).toMatchObject({ corrupt: true });
    expect(again.list()[0]).toMatchObject({ corrupt: true });
    expect(await errnoOf(again.read(H, 0, 10))).toBe("EIO");
  });

  it("the dirty window: after an unclean stop a block that changed since its recorded CRC makes the replica unverified, never blessed by recomputation", async () => {
    const s = await openStore();
    await s.create(H, 1);
    await s.write(H, 0, pattern(4 * B));
    await s.close(); // clean, CRCs recorded
    const dirty = await openStore();
    await dirty.write(H, 4 * B, pattern(2 * B, 7)); // marks the sidecar dirty, then writes in the window
    expect((await sidecarOf(H)).clean).toBe(false);
    // a crash now (no close), and a bit flips in a block written in the window
    await flipByte(H, 5 * B + 3);
    const again = await openStore();
    expect(again.list()).toEqual([{ handle: H, version: 1, length: 6 * B, unverified: true, crcDigest: expect.any(Number) }]);
    // Its digest (compared by the master with other unverified replicas) differs from that of copies without
    // the flip, which agree with each other.
    const twinDigest = async (name: string) => {
      const twinDir = join(dir, name);
      const twin = await ChunkStore.open(twinDir, { blockBytes: B, chunkSizeBytes: CHUNK });
      await twin.create(H, 1);
      await twin.write(H, 0, Buffer.concat([pattern(4 * B), pattern(2 * B, 7)])); // and a crash: unverified too
      const info = (await ChunkStore.open(twinDir, { blockBytes: B, chunkSizeBytes: CHUNK })).get(H)!;
      expect(info.unverified).toBe(true);
      return info.crcDigest;
    };
    const [t1, t2] = [await twinDigest("twin1"), await twinDigest("twin2")];
    expect(t1).not.toBe(0);
    expect(t1).toBe(t2);
    expect(again.get(H)!.crcDigest).not.toBe(t1);
    // Persisted until it is replaced: a clean restart does not make it verified.
    await again.close();
    expect(await sidecarOf(H)).toMatchObject({ clean: true, unverified: true });
    const third = await openStore();
    expect(third.get(H)).toMatchObject({ unverified: true, corrupt: false });
    // A verified copy of the same version replaces it.
    const peer = await ChunkStore.open(join(dir, "peer"), { blockBytes: B, chunkSizeBytes: CHUNK });
    await peer.create(H, 1);
    await peer.write(H, 0, Buffer.concat([pattern(4 * B), pattern(2 * B, 7)]));
    const whole = await peer.fetchWhole(H);
    await third.install(H, 1, whole.data, whole.blockCrc32c);
    expect(third.list()).toEqual([{ handle: H, version: 1, length: 6 * B }]);
    expect((await third.read(H, 0, 6 * B)).data.equals(whole.data)).toBe(true);
    // A good replica is never replaced by a copy of the same version.
    expect(await errnoOf(third.install(H, 1, whole.data, whole.blockCrc32c))).toBe("EEXIST");
  });

  it("the dirty window: a dirty chunk is unverified even when its bytes all match its recorded CRCs (an unsynced acknowledged write may be what was lost), and so is one grown past its recorded length", async () => {
    const s = await openStore();
    await s.create(H, 1);
    await s.write(H, 0, pattern(3 * B));
    await s.close();
    // Marked dirty just before a crash, but the write never reached the file.
    const side = JSON.parse(await readFile(join(dir, `${H}.meta`), "utf8"));
    await writeFile(join(dir, `${H}.meta`), JSON.stringify({ ...side, clean: false }));
    const again = await openStore();
    expect(again.list()).toMatchObject([{ handle: H, version: 1, length: 3 * B, unverified: true }]);
    expect(await errnoOf(again.read(H, 0, 3 * B))).toBe("EIO");
    // A new chunk (created dirty, length 0) written and then a crash: nothing vouches for its bytes.
    const G = "00000000000000bb";
    await again.create(G, 1);
    await again.write(G, 0, pattern(2 * B));
    const third = await openStore();
    expect(third.get(G)).toMatchObject({ length: 2 * B, unverified: true });
    expect(third.get(H)).toMatchObject({ unverified: true });
  });

  it("sync makes writes made without sync durable (fdatasync, sidecar), changes no byte, and is refused at another version or on a poisoned replica", async () => {
    const syncer = new FlakySyncer();
    const s = await ChunkStore.open(dir, { blockBytes: B, chunkSizeBytes: CHUNK, dataSyncer: syncer });
    await s.create(H, 2, false); // as a chunkserver creates one: not durable until the first sync
    await s.write(H, 0, pattern(3 * B + 5), false);
    expect(syncer.calls).toBe(0);
    await s.sync(H, 2);
    expect(syncer.calls).toBe(1);
    // The sidecar (with the replica's length) is on disk too: a crash now finds the chunk whole.
    expect(await sidecarOf(H)).toMatchObject({ length: 3 * B + 5 });
    expect(s.get(H)).toMatchObject({ version: 2, length: 3 * B + 5 });
    expect((await s.read(H, 0, CHUNK)).data.equals(pattern(3 * B + 5))).toBe(true);
    expect(await errnoOf(s.sync(H, 1))).toBe("ESTALE");
    expect(await errnoOf(s.sync("00000000deadbeef", 2))).toBe("ENOENT");
    syncer.failing = true;
    expect(await errnoOf(s.sync(H, 2))).toBe("EIO");
    syncer.failing = false;
    // The failed sync poisoned it: a later sync cannot vouch for bytes that may never have reached the disk.
    expect(await errnoOf(s.sync(H, 2))).toBe("EIO");
    await s.close();
  });

  it("a failed datasync poisons the replica: refused for reads and mutations, reported, never marked clean by a later sync, kept across a restart until re-copied", async () => {
    const syncer = new FlakySyncer();
    const reported: string[] = [];
    const s = await ChunkStore.open(dir, { blockBytes: B, chunkSizeBytes: CHUNK, dataSyncer: syncer, onCorrupt: (h) => reported.push(h) });
    await s.create(H, 2);
    await s.write(H, 0, pattern(2 * B), true);
    syncer.failing = true;
    expect(await errnoOf(s.write(H, 2 * B, pattern(3 * B, 5), true))).toBe("EIO");
    expect(syncer.calls).toBe(2);
    expect(reported).toEqual([H]);
    syncer.failing = false;
    // Blocks that never reached the disk are never marked clean by a sync that now succeeds.
    await s.markIdleClean(0);
    expect(await sidecarOf(H)).toMatchObject({ clean: false, bad: expect.stringMatching(/datasync failed/) });
    expect(await errnoOf(s.read(H, 0, 10))).toBe("EIO");
    expect(await errnoOf(s.write(H, 0, pattern(10)))).toBe("EIO");
    expect(await errnoOf(s.truncate(H, 10))).toBe("EIO");
    expect(await errnoOf(s.setVersion(H, 3))).toBe("EIO");
    expect(await errnoOf(s.fetchWhole(H))).toBe("EIO");
    expect(s.list()).toEqual([{ handle: H, version: 2, length: 2 * B, corrupt: true }]);
    await s.close();
    const again = await openStore();
    expect(again.list()).toEqual([{ handle: H, version: 2, length: 2 * B, corrupt: true }]);
    expect(await errnoOf(again.read(H, 0, 10))).toBe("EIO");
    // Replaced by a fresh copy (FetchChunk from a good replica): usable again.
    const peer = await ChunkStore.open(join(dir, "peer"), { blockBytes: B, chunkSizeBytes: CHUNK });
    await peer.create(H, 2);
    await peer.write(H, 0, pattern(4 * B, 9));
    const whole = await peer.fetchWhole(H);
    await again.install(H, 2, whole.data, whole.blockCrc32c);
    expect(again.list()).toEqual([{ handle: H, version: 2, length: 4 * B }]);
    expect((await again.read(H, 0, 4 * B)).data.equals(pattern(4 * B, 9))).toBe(true);
    expect((await sidecarOf(H)).bad).toBeUndefined();
  });

  it("a failed datasync while marking an idle chunk clean poisons it too", async () => {
    const syncer = new FlakySyncer();
    const reported: string[] = [];
    const s = await ChunkStore.open(dir, { blockBytes: B, chunkSizeBytes: CHUNK, dataSyncer: syncer, onCorrupt: (h) => reported.push(h) });
    await s.create(H, 1);
    await s.write(H, 0, pattern(3 * B));
    syncer.failing = true;
    expect(await s.markIdleClean(0)).toBe(0);
    syncer.failing = false;
    expect(await s.markIdleClean(0)).toBe(0);
    expect(reported).toEqual([H]);
    expect(s.get(H)).toMatchObject({ corrupt: true });
    expect(await errnoOf(s.read(H, 0, 10))).toBe("EIO");
    expect((await sidecarOf(H)).clean).toBe(false);
  });
});
