// Inode id -> namespace slot (issue 19: inode paths, hard links, orphans). One
// open-addressing table of slot + 1 (0: empty), the id itself read from the
// namespace's id column, so it costs 8 bytes per node at most (a table at
// most half full of Int32s) and no JS object per node, as the rest of the
// namespace's columns (issue 15). Deletion shifts later entries back, so no
// tombstones.

/** The table keeps at least half its entries empty, so probes stay short. */
const LOAD_DIVISOR = 2;

function hashId(id: number): number {
  // Ids are safe integers: mix both 32-bit halves.
  let h = Math.imul((id >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(Math.floor(id / 0x100000000), 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

export class IdIndex {
  private table: Int32Array;
  private mask: number;
  private entries = 0;

  /** `idOf(slot)`: the namespace's id of a slot (its column may be replaced as it grows, so a function). */
  constructor(private readonly idOf: (slot: number) => number, entriesHint = 0) {
    let size = 16;
    while (size < Math.max(entriesHint, 8) * LOAD_DIVISOR) size *= 2;
    this.table = new Int32Array(size);
    this.mask = size - 1;
  }

  get size(): number {
    return this.entries;
  }

  private probe(id: number): number {
    for (let i = hashId(id) & this.mask; ; i = (i + 1) & this.mask) {
      const e = this.table[i]!;
      if (e === 0 || this.idOf(e - 1) === id) return i;
    }
  }

  /** The slot of inode `id`, or undefined. */
  get(id: number): number | undefined {
    const e = this.table[this.probe(id)]!;
    return e === 0 ? undefined : e - 1;
  }

  /** Indexes `slot` under its id; false (nothing changed) if that id is indexed already. */
  add(slot: number): boolean {
    const id = this.idOf(slot);
    let i = this.probe(id);
    if (this.table[i] !== 0) return false;
    if ((this.entries + 1) * LOAD_DIVISOR > this.table.length) {
      this.rehash(this.table.length * 2);
      i = this.probe(id);
    }
    this.table[i] = slot + 1;
    this.entries++;
    return true;
  }

  /** Forgets inode `id` (call before its slot's id changes). */
  delete(id: number): void {
    let i = this.probe(id);
    if (this.table[i] === 0) return;
    for (let j = (i + 1) & this.mask; ; j = (j + 1) & this.mask) {
      const f = this.table[j]!;
      if (f === 0) break;
      const k = hashId(this.idOf(f - 1)) & this.mask;
      if (i <= j ? k <= i || k > j : k <= i && k > j) {
        this.table[i] = f;
        i = j;
      }
    }
    this.table[i] = 0;
    this.entries--;
  }

  private rehash(size: number): void {
    const old = this.table;
    this.table = new Int32Array(size);
    this.mask = size - 1;
    for (let j = 0; j < old.length; j++) {
      const e = old[j]!;
      if (e === 0) continue;
      let i = hashId(this.idOf(e - 1)) & this.mask;
      while (this.table[i] !== 0) i = (i + 1) & this.mask;
      this.table[i] = e;
    }
  }
}
