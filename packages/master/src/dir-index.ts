// Every directory entry of the namespace in one index: (parent slot, name) ->
// child slot. Memory (issue 15): a Map per directory and a JS string per name
// cost ~80 bytes of live heap an entry at a million files, plus the garbage
// collector's slack on top. Here a name is UTF-8 bytes in one growable byte
// arena (offset and length columns indexed by the child's slot), found
// through one open-addressing table keyed by (parent slot, name bytes), and a
// directory's entries are a doubly linked list through sibling columns, in
// insertion order with Map.set's semantics (setting an existing name keeps
// its place), so listings, checkpoint rows and the simulator's seeds stay the
// same as with a Map. Space freed by deletes and renames is counted and the
// arena compacted once the waste exceeds the live bytes, so waste stays
// bounded (at most about half the arena) at amortized O(1) per delete.
import { GfsError } from "@gfs/common";
import { grownTo } from "./typed-columns";

const NONE = -1;
/** The table keeps at least half its entries empty, so probes stay short. */
const LOAD_DIVISOR = 2;
/** Names are at most this many bytes (NAME_BYTES_MAX in namespace.ts; the length column is a Uint8Array). */
const NAME_BYTES_LIMIT = 255;
/** The arena is not compacted below this much waste (bytes): compacting a small arena buys nothing. */
const COMPACT_WASTE_MIN_BYTES = 64 * 1024;

/** Encodes lookups' names without allocating (names are at most 255 bytes; 4 bytes per UTF-16 unit is the worst case). */
const scratch = Buffer.allocUnsafeSlow(4 * 1024);

/** Whether `s` has no lone surrogate, i.e. a UTF-8 form that decodes back to it (String.prototype.isWellFormed, Node 20+). */
export function isWellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

function hashBytes(parent: number, b: Uint8Array, off: number, len: number): number {
  let h = Math.imul(parent ^ 0x9e3779b9, 0x85ebca6b) ^ len;
  for (let i = off; i < off + len; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

export class DirIndex {
  // ---- per child slot -------------------------------------------------------
  private parents: Int32Array;
  private nameOffs: Uint32Array;
  private nameLens: Uint8Array;
  private hashes: Uint32Array;
  private nexts: Int32Array;
  private prevs: Int32Array;
  // ---- per directory slot ---------------------------------------------------
  private firsts: Int32Array;
  private lasts: Int32Array;
  private counts: Uint32Array;
  // ---- names ----------------------------------------------------------------
  private arena: Buffer;
  private arenaTop = 0;
  private wasted = 0;
  // ---- (parent, name) -> slot + 1, 0 for empty --------------------------------
  private table: Int32Array;
  private mask: number;
  private entries = 0;

  /** `slots`: the namespace's slot capacity; `nameBytesHint`: room for names at once (recovery sizes it from the checkpoint). */
  constructor(slots: number, entriesHint = 0, nameBytesHint = 0) {
    this.parents = new Int32Array(slots);
    this.nameOffs = new Uint32Array(slots);
    this.nameLens = new Uint8Array(slots);
    this.hashes = new Uint32Array(slots);
    this.nexts = new Int32Array(slots);
    this.prevs = new Int32Array(slots);
    this.firsts = new Int32Array(slots);
    this.lasts = new Int32Array(slots);
    this.counts = new Uint32Array(slots);
    this.arena = Buffer.allocUnsafeSlow(Math.max(4096, nameBytesHint));
    let size = 16;
    while (size < Math.max(entriesHint, 8) * LOAD_DIVISOR) size *= 2;
    this.table = new Int32Array(size);
    this.mask = size - 1;
  }

  /** Grows the per-slot columns to `slots` (the namespace grew its own). */
  growSlots(slots: number): void {
    this.parents = grownTo(this.parents, slots);
    this.nameOffs = grownTo(this.nameOffs, slots);
    this.nameLens = grownTo(this.nameLens, slots);
    this.hashes = grownTo(this.hashes, slots);
    this.nexts = grownTo(this.nexts, slots);
    this.prevs = grownTo(this.prevs, slots);
    this.firsts = grownTo(this.firsts, slots);
    this.lasts = grownTo(this.lasts, slots);
    this.counts = grownTo(this.counts, slots);
  }

  /** Makes `dir` an empty directory (a new or reused slot). */
  initDir(dir: number): void {
    this.firsts[dir] = NONE;
    this.lasts[dir] = NONE;
    this.counts[dir] = 0;
  }

  /** How many entries `dir` has. */
  size(dir: number): number {
    return this.counts[dir]!;
  }

  /** Bytes of names in the arena, and how many of those belong to removed entries (for tests and the bench). */
  arenaBytes(): { used: number; wasted: number; capacity: number } {
    return { used: this.arenaTop, wasted: this.wasted, capacity: this.arena.length };
  }

  /** Encodes `name` into the scratch buffer; its length, or -1 if it cannot be a name. */
  private encode(name: string): number {
    if (name.length > NAME_BYTES_LIMIT) return -1; // more UTF-16 units than 255 bytes can hold
    return scratch.write(name, 0, "utf8");
  }

  private probe(dir: number, hash: number, b: Uint8Array, off: number, len: number): number {
    const arena = this.arena;
    for (let i = hash & this.mask; ; i = (i + 1) & this.mask) {
      const e = this.table[i]!;
      if (e === 0) return i;
      const s = e - 1;
      if (this.hashes[s] === hash && this.parents[s] === dir && this.nameLens[s] === len) {
        const o = this.nameOffs[s]!;
        let k = 0;
        while (k < len && arena[o + k] === b[off + k]) k++;
        if (k === len) return i;
      }
    }
  }

  /** The child slot named `name` in `dir`, or undefined. */
  get(dir: number, name: string): number | undefined {
    const len = this.encode(name);
    if (len < 0) return undefined;
    const e = this.table[this.probe(dir, hashBytes(dir, scratch, 0, len), scratch, 0, len)]!;
    return e === 0 ? undefined : e - 1;
  }

  has(dir: number, name: string): boolean {
    return this.get(dir, name) !== undefined;
  }

  /** Issue 20 (quota lane): the directory `slot`'s entry is in (a slot that is some directory's child). */
  parentOf(slot: number): number {
    return this.parents[slot]!;
  }

  /** The name of `slot`'s entry (a slot that is some directory's child). */
  nameOf(slot: number): string {
    const o = this.nameOffs[slot]!;
    return this.arena.toString("utf8", o, o + this.nameLens[slot]!);
  }

  /**
   * Map.set: enters `slot` as `name` in `dir`, at the end of its list; if the
   * name is already there, `slot` takes that entry's place (the old slot
   * leaves the index). ENAMETOOLONG / EINVAL for names that cannot be stored.
   */
  set(dir: number, name: string, slot: number): void {
    const len = this.encode(name);
    if (len < 0 || len > NAME_BYTES_LIMIT) throw new GfsError("ENAMETOOLONG", `name longer than ${NAME_BYTES_LIMIT} bytes`);
    if (len === 0) throw new GfsError("EINVAL", "empty name");
    this.put(dir, len, slot, true);
  }

  /**
   * Enters `slot` as `name` in `dir` unless the name is there already (one
   * encoding and probe where has() then set() take two: recovery's per-row
   * cost): "added", "exists" (nothing changed), or "bad" for a name that cannot be stored.
   */
  add(dir: number, name: string, slot: number): "added" | "exists" | "bad" {
    const len = this.encode(name);
    if (len <= 0 || len > NAME_BYTES_LIMIT) return "bad";
    return this.put(dir, len, slot, false) ? "added" : "exists";
  }

  /** set()/add() for the name in the scratch buffer; false if it was there and `replace` is false. */
  private put(dir: number, len: number, slot: number, replace: boolean): boolean {
    const hash = hashBytes(dir, scratch, 0, len);
    let i = this.probe(dir, hash, scratch, 0, len);
    const e = this.table[i]!;
    if (e !== 0) {
      if (!replace) return false;
      const old = e - 1;
      if (old === slot) return true;
      // Take over the old entry: its name bytes, its place in the list and in the table.
      this.parents[slot] = dir;
      this.nameOffs[slot] = this.nameOffs[old]!;
      this.nameLens[slot] = len;
      this.hashes[slot] = hash;
      const p = this.prevs[old]!;
      const n = this.nexts[old]!;
      this.prevs[slot] = p;
      this.nexts[slot] = n;
      if (p === NONE) this.firsts[dir] = slot;
      else this.nexts[p] = slot;
      if (n === NONE) this.lasts[dir] = slot;
      else this.prevs[n] = slot;
      this.table[i] = slot + 1;
      return true;
    }
    if ((this.entries + 1) * LOAD_DIVISOR > this.table.length) {
      this.rehash(this.table.length * 2);
      i = this.probe(dir, hash, scratch, 0, len);
    }
    if (this.arenaTop + len > this.arena.length) this.makeRoom(len);
    scratch.copy(this.arena, this.arenaTop, 0, len);
    this.parents[slot] = dir;
    this.nameOffs[slot] = this.arenaTop;
    this.nameLens[slot] = len;
    this.hashes[slot] = hash;
    this.arenaTop += len;
    this.table[i] = slot + 1;
    this.entries++;
    const last = this.lasts[dir]!;
    this.prevs[slot] = last;
    this.nexts[slot] = NONE;
    if (last === NONE) this.firsts[dir] = slot;
    else this.nexts[last] = slot;
    this.lasts[dir] = slot;
    this.counts[dir]!++;
    return true;
  }

  /** Map.delete: removes `name` from `dir`; its slot, or undefined if it was not there. */
  delete(dir: number, name: string): number | undefined {
    const len = this.encode(name);
    if (len < 0) return undefined;
    const i = this.probe(dir, hashBytes(dir, scratch, 0, len), scratch, 0, len);
    const e = this.table[i]!;
    if (e === 0) return undefined;
    this.removeAt(i, e - 1);
    return e - 1;
  }

  /** Removes `slot`'s entry (a slot that is `dir`'s child). */
  deleteSlot(slot: number): void {
    const len = this.nameLens[slot]!;
    const off = this.nameOffs[slot]!;
    const i = this.probe(this.parents[slot]!, this.hashes[slot]!, this.arena, off, len);
    if (this.table[i] !== slot + 1) throw new Error(`invariant: slot ${slot} is not in the directory index`);
    this.removeAt(i, slot);
  }

  private removeAt(i: number, slot: number): void {
    // Backward-shift deletion: pull later entries of the probe run into the hole, so lookups never need tombstones.
    for (let j = (i + 1) & this.mask; ; j = (j + 1) & this.mask) {
      const f = this.table[j]!;
      if (f === 0) break;
      const k = this.hashes[f - 1]! & this.mask;
      if (i <= j ? k <= i || k > j : k <= i && k > j) {
        this.table[i] = f;
        i = j;
      }
    }
    this.table[i] = 0;
    this.entries--;
    const dir = this.parents[slot]!;
    const p = this.prevs[slot]!;
    const n = this.nexts[slot]!;
    if (p === NONE) this.firsts[dir] = n;
    else this.nexts[p] = n;
    if (n === NONE) this.lasts[dir] = p;
    else this.prevs[n] = p;
    this.counts[dir]!--;
    this.wasted += this.nameLens[slot]!;
    if (this.wasted > COMPACT_WASTE_MIN_BYTES && this.wasted > this.arenaTop - this.wasted) this.compact(0);
  }

  /** `dir`'s child slots in insertion order; a copy, so the caller may change the directory while using it. */
  childSlots(dir: number): number[] {
    const out: number[] = [];
    for (let s = this.firsts[dir]!; s !== NONE; s = this.nexts[s]!) out.push(s);
    return out;
  }

  /** Calls f for each of `dir`'s child slots in insertion order (the directory must not change meanwhile). */
  forEachChild(dir: number, f: (slot: number) => void): void {
    for (let s = this.firsts[dir]!; s !== NONE; s = this.nexts[s]!) f(s);
  }

  /** [name, slot] of `dir`'s entries in insertion order. */
  *entriesOf(dir: number): IterableIterator<[string, number]> {
    for (const s of this.childSlots(dir)) yield [this.nameOf(s), s];
  }

  private rehash(size: number): void {
    const old = this.table;
    this.table = new Int32Array(size);
    this.mask = size - 1;
    for (let j = 0; j < old.length; j++) {
      const e = old[j]!;
      if (e === 0) continue;
      let i = this.hashes[e - 1]! & this.mask;
      while (this.table[i] !== 0) i = (i + 1) & this.mask;
      this.table[i] = e;
    }
  }

  /** Room for `len` more bytes: compacts if that frees enough, else doubles the arena. */
  private makeRoom(len: number): void {
    const live = this.arenaTop - this.wasted;
    let cap = this.arena.length;
    while (cap < (live + len) * 2) cap *= 2;
    this.compact(cap);
  }

  /** Copies the live names into a fresh arena of `capacity` bytes (0: the current size), dropping the waste. */
  private compact(capacity: number): void {
    const old = this.arena;
    const next = Buffer.allocUnsafeSlow(capacity || old.length);
    let top = 0;
    for (let j = 0; j < this.table.length; j++) {
      const e = this.table[j]!;
      if (e === 0) continue;
      const s = e - 1;
      const o = this.nameOffs[s]!;
      const l = this.nameLens[s]!;
      old.copy(next, top, o, o + l);
      this.nameOffs[s] = top;
      top += l;
    }
    this.arena = next;
    this.arenaTop = top;
    this.wasted = 0;
  }
}
