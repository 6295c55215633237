// A file's chunk handles by index. Most files are dense (chunk 0, 1, 2, ...)
// and keep a plain array, "" marking a hole: no extra object per file, which
// matters at a million files. A write far past the end (dd seek=...) would
// make that array as long as the index, so a list whose next chunk leaves
// more than `gapMax` holes becomes a SparseChunks map: a sparse file costs
// memory per written chunk, never per hole.
import { GfsError } from "@gfs/common";

export class SparseChunks {
  /** index -> handle, written chunks only. */
  readonly byIndex = new Map<number, string>();
  /** Highest index + 1 (0 when empty): the file's chunk slots, holes included. */
  slots = 0;
}

export type Chunks = string[] | SparseChunks;
export type ReadonlyChunks = readonly string[] | SparseChunks;

/** A sparse file in a checkpoint row: slot count and [index, handle] pairs in index order. */
export interface SparseChunksRow {
  slots: number;
  chunks: Array<[number, string]>;
}

export const isSparse = (c: ReadonlyChunks): c is SparseChunks => c instanceof SparseChunks;

/** The handle at `index`, "" for a hole or past the end. */
export function chunkAt(c: ReadonlyChunks, index: number): string {
  return (isSparse(c) ? c.byIndex.get(index) : c[index]) ?? "";
}

/** Chunk slots, holes included (the highest written index + 1). */
export function slotCount(c: ReadonlyChunks): number {
  return isSparse(c) ? c.slots : c.length;
}

/** Written chunks (holes skipped), in index order. */
export function* chunkEntries(c: ReadonlyChunks): Generator<[number, string]> {
  if (!isSparse(c)) {
    for (let i = 0; i < c.length; i++) if (c[i]) yield [i, c[i]!];
    return;
  }
  const indexes = [...c.byIndex.keys()].sort((a, b) => a - b);
  for (const i of indexes) yield [i, c.byIndex.get(i)!];
}

/**
 * Sets chunk `index` to `handle`; returns the list to keep (the same one, or
 * a SparseChunks when an array would have to grow by more than `gapMax` holes).
 */
export function withChunk(c: Chunks, index: number, handle: string, gapMax: number): Chunks {
  if (!isSparse(c)) {
    if (index <= c.length + gapMax) {
      while (c.length < index) c.push("");
      c[index] = handle;
      return c;
    }
    const s = new SparseChunks();
    c.forEach((h, i) => { if (h) s.byIndex.set(i, h); });
    s.slots = c.length;
    c = s;
  }
  c.byIndex.set(index, handle);
  c.slots = Math.max(c.slots, index + 1);
  return c;
}

/** Drops every chunk at index >= keep; returns the list to keep and the dropped handles. */
export function cutChunks(c: Chunks, keep: number): { chunks: Chunks; garbage: string[] } {
  if (!isSparse(c)) return { chunks: c, garbage: c.length > keep ? c.splice(keep).filter((h) => h !== "") : [] };
  const garbage: string[] = [];
  for (const [i, h] of c.byIndex) {
    if (i >= keep) {
      garbage.push(h);
      c.byIndex.delete(i);
    }
  }
  c.slots = Math.min(c.slots, keep); // as an array's splice(keep) leaves it
  // Back to an array when that is no longer wasteful (few slots).
  if (c.slots <= c.byIndex.size * 2 + 16) {
    const dense: string[] = new Array<string>(c.slots).fill("");
    for (const [i, h] of c.byIndex) dense[i] = h;
    return { chunks: dense, garbage };
  }
  return { chunks: c, garbage };
}

/** How a checkpoint stores the list: the array as is, or a SparseChunksRow. */
export function chunksToRow(c: ReadonlyChunks): readonly string[] | SparseChunksRow {
  return isSparse(c) ? { slots: c.slots, chunks: [...chunkEntries(c)] } : c;
}

/** The list a checkpoint row describes (the array itself is kept, not copied); EIO if malformed. */
export function chunksFromRow(x: unknown, what: string): Chunks {
  if (Array.isArray(x)) {
    if (!x.every((h) => typeof h === "string")) throw new GfsError("EIO", `checkpoint is corrupt: ${what} has a non-string chunk handle`);
    return x as string[];
  }
  const row = x as SparseChunksRow | null;
  if (!row || typeof row !== "object" || !Number.isSafeInteger(row.slots) || row.slots < 0 || !Array.isArray(row.chunks)) {
    throw new GfsError("EIO", `checkpoint is corrupt: ${what} has no chunk list`);
  }
  const s = new SparseChunks();
  s.slots = row.slots;
  for (const e of row.chunks) {
    if (!Array.isArray(e) || !Number.isSafeInteger(e[0]) || e[0] < 0 || e[0] >= row.slots || typeof e[1] !== "string" || !e[1]) {
      throw new GfsError("EIO", `checkpoint is corrupt: ${what} has a bad sparse chunk entry ${JSON.stringify(e)}`);
    }
    s.byIndex.set(e[0], e[1]);
  }
  return s;
}
