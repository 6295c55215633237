import { describe, expect, it } from "vitest";
import { defaults } from "@gfs/common";
import { chunkAt, chunkEntries, chunksFromRow, chunksToRow, cutChunks, isSparse, slotCount, withChunk, type Chunks } from "../src/chunk-list";
import { createLogger } from "@gfs/common";
import { MasterState } from "../src/master-state";
import { CHECKPOINT_FORMAT, checkOpLimits, Metadata, type MetadataOp } from "../src/metadata";
import { defaultMasterSettings } from "../src/settings";

const h = (n: number) => n.toString(16).padStart(16, "0");
const MiB = 1024 * 1024;

describe("a file's chunk list costs memory per written chunk, not per hole", () => {
  it("stays an array while dense, becomes a map past the gap bound, reads holes as empty", () => {
    let c: Chunks = [];
    c = withChunk(c, 0, h(1), 4);
    c = withChunk(c, 3, h(2), 4);
    expect(isSparse(c)).toBe(false);
    expect(c).toEqual([h(1), "", "", h(2)]);
    c = withChunk(c, 1e9, h(3), 4);
    expect(isSparse(c)).toBe(true);
    expect(slotCount(c)).toBe(1e9 + 1);
    expect(chunkAt(c, 3)).toBe(h(2));
    expect(chunkAt(c, 5)).toBe("");
    expect(chunkAt(c, 1e9)).toBe(h(3));
    expect([...chunkEntries(c)]).toEqual([[0, h(1)], [3, h(2)], [1e9, h(3)]]);
  });

  it("cutting drops chunks at and past the cut, and turns a short map back into an array", () => {
    let c: Chunks = withChunk(withChunk([], 0, h(1), 4), 1e9, h(2), 4);
    const cut = cutChunks(c, 5);
    expect(cut.garbage).toEqual([h(2)]);
    c = cut.chunks;
    expect(isSparse(c)).toBe(false);
    expect(slotCount(c)).toBe(5); // as an array's splice(5) leaves it
    expect(c).toEqual([h(1), "", "", "", ""]);
  });

  it("a sparse list round-trips through its checkpoint row, and a malformed row is refused", () => {
    const c = withChunk(withChunk([], 2, h(1), 4), 5e8, h(2), 4);
    const row = JSON.parse(JSON.stringify(chunksToRow(c)));
    expect(JSON.stringify(row).length).toBeLessThan(200);
    const back = chunksFromRow(row, "file 7");
    expect([...chunkEntries(back)]).toEqual([[2, h(1)], [5e8, h(2)]]);
    expect(slotCount(back)).toBe(5e8 + 1);
    expect(() => chunksFromRow({ slots: 3, chunks: [[5, h(1)]] }, "file 7")).toThrow(/corrupt/);
    expect(() => chunksFromRow("x", "file 7")).toThrow(/corrupt/);
  });
});

describe("files beyond the largest file size fail with EFBIG", () => {
  const base: MetadataOp[] = [
    { op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: 2, timeMs: 1 },
  ];
  const fresh = () => {
    const m = new Metadata();
    for (const op of base) m.apply(op);
    return m;
  };

  it("new extend, truncate and chunk ops past the largest file are EFBIG; the master refuses them before applying", async () => {
    const max = defaults.file_size_bytes_max;
    expect(() => checkOpLimits({ op: "extendFile", path: "/f", endOffset: max + 1, mtimeMs: 2, timeMs: 2 }, MiB)).toThrow(/EFBIG/);
    expect(() => checkOpLimits({ op: "truncate", path: "/f", size: 2 ** 52, chunkSizeBytes: MiB, timeMs: 2 }, MiB)).toThrow(/EFBIG/);
    expect(() => checkOpLimits({ op: "addChunk", path: "/f", index: max / MiB, handle: h(1), version: 1 }, MiB)).toThrow(/EFBIG/);
    expect(() => checkOpLimits({ op: "addChunk", path: "/f", index: max / MiB - 1, handle: h(1), version: 1 }, MiB)).not.toThrow();
    expect(() => checkOpLimits({ op: "extendFile", path: "/f", endOffset: max, mtimeMs: 2, timeMs: 2 }, MiB)).not.toThrow();

    const state = new MasterState({ ...defaultMasterSettings(), chunk_size_bytes: MiB }, () => 1, createLogger("test", "error"));
    await state.commit(base[0]!);
    await expect(state.commit({ op: "extendFile", path: "/f", endOffset: 2 ** 52, mtimeMs: 2, timeMs: 2 })).rejects.toThrow(/EFBIG/);
    await expect(state.addChunk("/f", 2 ** 32)).rejects.toThrow(/EFBIG/);
    expect(state.namespace.stat("/f")).toMatchObject({ size: 0, chunkCount: 0 });
  });

  it("a log written before the limit still replays: applying (not committing) an op past it works", () => {
    const m = fresh();
    m.apply({ op: "extendFile", path: "/f", endOffset: 2 ** 52, mtimeMs: 2, timeMs: 2 });
    expect(m.namespace.stat("/f").size).toBe(2 ** 52);
  });

  it("a chunk at index 2^29 is cheap, and its file checkpoints and restores", () => {
    const m = fresh();
    const before = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    m.apply({ op: "addChunk", path: "/f", index: 0, handle: h(1), version: 1 });
    m.apply({ op: "addChunk", path: "/f", index: 2 ** 29, handle: h(2), version: 3 });
    m.apply({ op: "extendFile", path: "/f", endOffset: (2 ** 29 + 1) * MiB, mtimeMs: 2, timeMs: 2 });
    expect(performance.now() - t0).toBeLessThan(100);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 * MiB);
    expect(m.namespace.stat("/f").chunkCount).toBe(2 ** 29 + 1);

    const parts = m.checkpointParts();
    expect(parts.join("").length).toBeLessThan(4096);
    const back = Metadata.fromCheckpoint(parts);
    expect(back.snapshot()).toEqual(m.snapshot());
    expect(back.chunks.get(h(2))).toMatchObject({ index: 2 ** 29, version: 3 });
    // Truncating away the far chunk frees it.
    back.apply({ op: "truncate", path: "/f", size: MiB, chunkSizeBytes: MiB, timeMs: 3 });
    expect(back.chunks.get(h(2))).toBeUndefined();
    expect(back.namespace.stat("/f").chunkCount).toBe(1);
  });

  it("a format 1 checkpoint (before sparse rows) still loads", () => {
    const m = fresh();
    m.apply({ op: "addChunk", path: "/f", index: 0, handle: h(1), version: 2 });
    m.apply({ op: "addChunk", path: "/f", index: 2, handle: h(2), version: 1 });
    const parts = m.checkpointParts();
    const header = JSON.parse(parts[0]!);
    expect(header.format).toBe(CHECKPOINT_FORMAT);
    const old = [JSON.stringify({ ...header, format: 1 }), ...parts.slice(1)];
    const back = Metadata.fromCheckpoint(old);
    expect(back.snapshot()).toEqual(m.snapshot());
    expect(back.namespace.file("/f").chunks).toEqual([h(1), "", h(2)]);
  });
});
