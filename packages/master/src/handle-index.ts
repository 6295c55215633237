// The chunk table's handle -> slot index. A chunk handle is 64 bits written
// as 16 lower-case hex digits (common/handle.ts); a Map<string, number> keyed
// by those strings costs a 32-byte string and a ~30-byte entry per chunk,
// re-allocated whole (both copies alive) each time the map doubles. Here a
// handle is two uint32 halves stored at its slot, found through an
// open-addressing table of slots (linear probing, 2-4 bytes per chunk per
// entry) that can be sized once for a whole checkpoint: ~20 bytes a chunk.
// Iteration follows insertion order, as a Map's does (callers' orders, and
// with them the simulator's seeds, stay the same).
import { GfsError } from "@gfs/common";
import { grownTo } from "./typed-columns";

const NONE = -1;
/** The table keeps at least this share of its entries empty (a load of at most 1/2), so probes stay short. */
const LOAD_DIVISOR = 2;

/** One hex digit's value, or -1 (upper case is not a handle). */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** The uint32 written by h[start..start+8), or -1 if those are not 8 lower-case hex digits. */
function half(h: string, start: number): number {
  let v = 0;
  for (let i = start; i < start + 8; i++) {
    const d = hexDigit(h.charCodeAt(i));
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/** The handle written by its halves. */
export function handleOf(hi: number, lo: number): string {
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}

/** A handle's halves, or undefined if `h` is not a handle (16 lower-case hex digits). */
export function handleHalves(h: string): [number, number] | undefined {
  if (typeof h !== "string" || h.length !== 16) return undefined;
  const hi = half(h, 0);
  const lo = hi < 0 ? -1 : half(h, 8);
  return lo < 0 ? undefined : [hi, lo];
}

export class HandleIndex {
  private his: Uint32Array;
  private los: Uint32Array;
  /** Insertion order: slot links, NONE at the ends. */
  private nexts: Int32Array;
  private prevs: Int32Array;
  private head = NONE;
  private tail = NONE;
  /** Open addressing: slot + 1 per entry, 0 for empty. */
  private table: Int32Array;
  private mask: number;
  private count = 0;

  /** `slotsHint`: how many slots to make room for at once. */
  constructor(slotsHint = 1024) {
    const n = Math.max(16, slotsHint);
    this.his = new Uint32Array(n);
    this.los = new Uint32Array(n);
    this.nexts = new Int32Array(n);
    this.prevs = new Int32Array(n);
    this.table = new Int32Array(tableSizeFor(n));
    this.mask = this.table.length - 1;
  }

  get size(): number {
    return this.count;
  }

  private home(hi: number, lo: number): number {
    return (Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> 0) & this.mask;
  }

  /** The table entry holding (hi, lo), or the empty one where it would go. */
  private probe(hi: number, lo: number): number {
    let i = this.home(hi, lo);
    for (;;) {
      const e = this.table[i]!;
      if (e === 0) return i;
      if (this.los[e - 1] === lo && this.his[e - 1] === hi) return i;
      i = (i + 1) & this.mask;
    }
  }

  get(handle: string): number | undefined {
    const h = handleHalves(handle);
    if (!h) return undefined;
    const e = this.table[this.probe(h[0], h[1])]!;
    return e === 0 ? undefined : e - 1;
  }

  has(handle: string): boolean {
    return this.get(handle) !== undefined;
  }

  /** The handle stored at `slot` (which set() gave one). */
  handleAt(slot: number): string {
    return handleOf(this.his[slot]!, this.los[slot]!);
  }

  /** Adds `handle` at `slot` (a handle not in the index, a slot not in use); EIO if `handle` is not one. */
  set(handle: string, slot: number): void {
    const h = handleHalves(handle);
    if (!h) throw new GfsError("EIO", `bad chunk handle '${handle}' (want 16 lower-case hex digits)`);
    if (slot >= this.his.length) this.growSlots(slot + 1);
    if ((this.count + 1) * LOAD_DIVISOR > this.table.length) this.rehash(this.table.length * 2);
    const i = this.probe(h[0], h[1]);
    if (this.table[i] !== 0) throw new Error(`invariant: handle ${handle} is already in the index`);
    this.his[slot] = h[0];
    this.los[slot] = h[1];
    this.table[i] = slot + 1;
    this.nexts[slot] = NONE;
    this.prevs[slot] = this.tail;
    if (this.tail === NONE) this.head = slot;
    else this.nexts[this.tail] = slot;
    this.tail = slot;
    this.count++;
  }

  /** Removes `handle`; returns its slot, or undefined if it was not there. */
  delete(handle: string): number | undefined {
    const h = handleHalves(handle);
    if (!h) return undefined;
    let i = this.probe(h[0], h[1]);
    const e = this.table[i]!;
    if (e === 0) return undefined;
    const slot = e - 1;
    // Backward-shift deletion: pull later entries of the probe run into the hole, so lookups never need tombstones.
    for (let j = (i + 1) & this.mask; ; j = (j + 1) & this.mask) {
      const f = this.table[j]!;
      if (f === 0) break;
      const k = this.home(this.his[f - 1]!, this.los[f - 1]!);
      // f may move to i if its home is not cyclically within (i, j].
      if (i <= j ? k <= i || k > j : k <= i && k > j) {
        this.table[i] = f;
        i = j;
      }
    }
    this.table[i] = 0;
    const p = this.prevs[slot]!;
    const n = this.nexts[slot]!;
    if (p === NONE) this.head = n;
    else this.nexts[p] = n;
    if (n === NONE) this.tail = p;
    else this.prevs[n] = p;
    this.count--;
    return slot;
  }

  /** [handle, slot] in insertion order. */
  *entries(): IterableIterator<[string, number]> {
    for (let s = this.head; s !== NONE; s = this.nexts[s]!) yield [this.handleAt(s), s];
  }

  *keys(): IterableIterator<string> {
    for (let s = this.head; s !== NONE; s = this.nexts[s]!) yield this.handleAt(s);
  }

  private growSlots(atLeast: number): void {
    const n = Math.max(atLeast, this.his.length * 2);
    this.his = grownTo(this.his, n);
    this.los = grownTo(this.los, n);
    this.nexts = grownTo(this.nexts, n);
    this.prevs = grownTo(this.prevs, n);
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size);
    this.mask = size - 1;
    for (let s = this.head; s !== NONE; s = this.nexts[s]!) this.table[this.probe(this.his[s]!, this.los[s]!)] = s + 1;
  }
}

/** A power of two with room for `n` entries at the load limit. */
function tableSizeFor(n: number): number {
  let size = 16;
  while (size < n * LOAD_DIVISOR) size *= 2;
  return size;
}
