// The bytes one open file has written but not yet sent: a sorted set of
// non-overlapping segments. A later write over buffered bytes overwrites them
// in place (later bytes win, as they would on a disk), so the buffer never
// holds two versions of a byte and sending its runs in any order is the same
// as replaying the writes in order. Adjacent small segments are merged, so
// many 4 KiB writes become few buffers and each lookup stays a binary search.

/** A contiguous range of buffered bytes. */
export interface Run { start: number; end: number }

interface Segment { start: number; data: Buffer }

/** Adjacent segments are merged while the result stays this small (larger ones are kept as they came). */
const MERGE_BYTES_MAX = 64 * 1024;

const endOf = (s: Segment): number => s.start + s.data.length;

/** True when `b` directly follows `a` in the same memory: together they are one view, no copy needed. */
const adjacent = (a: Buffer, b: Buffer): boolean => a.buffer === b.buffer && a.byteOffset + a.length === b.byteOffset;

/** `parts` (in order) as one Buffer: a view when they lie back to back in one memory (the write-back's piece buffers), else a copy. */
function joined(parts: Buffer[], total: number): Buffer {
  if (parts.length === 1) return parts[0]!;
  for (let i = 1; i < parts.length; i++) if (!adjacent(parts[i - 1]!, parts[i]!)) return Buffer.concat(parts, total);
  return Buffer.from(parts[0]!.buffer, parts[0]!.byteOffset, total);
}

export class DirtyExtents {
  private segs: Segment[] = [];
  private total = 0;

  /** Bytes buffered. */
  get bytes(): number {
    return this.total;
  }

  /** End of the furthest buffered byte; 0 when nothing is buffered. */
  get end(): number {
    return this.segs.length > 0 ? endOf(this.segs[this.segs.length - 1]) : 0;
  }

  /** Buffers `data` (which becomes ours: it may be written into later) at `offset`. */
  add(offset: number, data: Buffer): void {
    if (data.length === 0) return;
    const s = offset;
    const e = offset + data.length;
    const first = this.firstEndingAfter(s);
    const out: Segment[] = [];
    let cursor = s;
    const fillTo = (limit: number): void => {
      if (cursor >= limit) return;
      out.push({ start: cursor, data: data.subarray(cursor - s, limit - s) });
      this.total += limit - cursor;
      cursor = limit;
    };
    let k = first;
    for (; k < this.segs.length && this.segs[k].start < e; k++) {
      const seg = this.segs[k];
      fillTo(seg.start);
      const from = Math.max(seg.start, s);
      const to = Math.min(endOf(seg), e);
      data.copy(seg.data, from - seg.start, from - s, to - s);
      cursor = Math.max(cursor, to);
      out.push(seg);
    }
    fillTo(e);
    this.segs.splice(first, k - first, ...out);
    this.mergeAround(first - 1, first + out.length);
  }

  /** The run of contiguous buffered bytes holding byte `offset`, if any. */
  runAt(offset: number): Run | undefined {
    let i = this.firstEndingAfter(offset);
    if (i >= this.segs.length || this.segs[i].start > offset) return undefined;
    let j = i;
    while (i > 0 && endOf(this.segs[i - 1]) === this.segs[i].start) i--;
    while (j + 1 < this.segs.length && endOf(this.segs[j]) === this.segs[j + 1].start) j++;
    return { start: this.segs[i].start, end: endOf(this.segs[j]) };
  }

  /** Every run, in file order. */
  runs(): Run[] {
    const out: Run[] = [];
    for (const seg of this.segs) {
      const last = out[out.length - 1];
      if (last && last.end === seg.start) last.end = endOf(seg);
      else out.push({ start: seg.start, end: endOf(seg) });
    }
    return out;
  }

  /** True when some buffered byte lies in [start, end). */
  overlaps(start: number, end: number): boolean {
    const i = this.firstEndingAfter(start);
    return i < this.segs.length && this.segs[i].start < end;
  }

  /** Removes [start, end), which must be buffered whole, and returns its bytes. */
  take(start: number, end: number): Buffer {
    const first = this.firstEndingAfter(start);
    const parts: Buffer[] = [];
    const keep: Segment[] = [];
    let pos = start;
    let k = first;
    for (; k < this.segs.length && this.segs[k].start < end; k++) {
      const seg = this.segs[k];
      if (seg.start !== pos && !(seg.start < pos && k === first)) throw new Error(`take [${start}, ${end}): not buffered whole at ${pos}`);
      if (seg.start < start) keep.push({ start: seg.start, data: seg.data.subarray(0, start - seg.start) });
      const segEnd = endOf(seg);
      parts.push(seg.data.subarray(Math.max(start, seg.start) - seg.start, Math.min(end, segEnd) - seg.start));
      if (segEnd > end) keep.push({ start: end, data: seg.data.subarray(end - seg.start) });
      pos = Math.min(end, segEnd);
    }
    if (pos !== end) throw new Error(`take [${start}, ${end}): not buffered whole at ${pos}`);
    this.segs.splice(first, k - first, ...keep);
    this.total -= end - start;
    return joined(parts, end - start);
  }

  /** True when some buffered byte is held in `memory`. */
  holds(memory: ArrayBufferLike): boolean {
    return this.segs.some((seg) => seg.data.buffer === memory);
  }

  /** Copies out every buffered byte held in `memory`, so that it is no longer referenced from here. */
  detach(memory: ArrayBufferLike): void {
    for (const seg of this.segs) if (seg.data.buffer === memory) seg.data = Buffer.from(seg.data);
  }

  /** Drops every buffered byte at or past `size` (the file was cut there). */
  cut(size: number): void {
    const i = this.firstEndingAfter(size);
    if (i >= this.segs.length) return;
    const seg = this.segs[i];
    let dropped = 0;
    for (let k = i; k < this.segs.length; k++) dropped += this.segs[k].data.length;
    const kept = seg.start < size ? [{ start: seg.start, data: seg.data.subarray(0, size - seg.start) }] : [];
    for (const s of kept) dropped -= s.data.length;
    this.segs.splice(i, this.segs.length - i, ...kept);
    this.total -= dropped;
  }

  /** Index of the first segment ending after `offset`. */
  private firstEndingAfter(offset: number): number {
    let lo = 0;
    let hi = this.segs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (endOf(this.segs[mid]) <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Merges small adjacent segments among indexes [from, to]. */
  private mergeAround(from: number, to: number): void {
    let i = Math.max(0, from);
    let last = Math.min(to, this.segs.length - 1);
    while (i < last) {
      const a = this.segs[i];
      const b = this.segs[i + 1];
      // Views back to back in one memory merge for free, whatever their size.
      if (endOf(a) === b.start && (adjacent(a.data, b.data) || a.data.length + b.data.length <= MERGE_BYTES_MAX)) {
        this.segs.splice(i, 2, { start: a.start, data: joined([a.data, b.data], a.data.length + b.data.length) });
        last--;
      } else {
        i++;
      }
    }
  }
}
