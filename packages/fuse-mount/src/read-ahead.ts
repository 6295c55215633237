// Read-ahead for one open file. A reader whose reads follow each other gets
// windows fetched ahead of it, several at once, so the cluster round trips
// overlap each other and the reader's own work. The bytes kept ahead start
// small and double up to a limit. A read that does not continue the previous
// ones is served exactly as asked and drops the windows: random readers
// neither wait for nor hold bytes they did not ask for.
//
// The kernel's reads of one file do not reach us in order: its own
// read-ahead runs beside the reader's request, and several FUSE threads hand
// requests over at once (measured: a fifth of the 128 KiB reads of a `cat`
// came after a later one). So "continues" means "lands in a window, or within
// `reorderBytes` of where the reads got to", never "starts exactly where the
// last one ended", which used to drop the windows over and over.

import type { BufferPool } from "@gfs/common";

/**
 * Fills `into` with the file's bytes from `offset` on; returns how many it
 * filled, fewer than `into.length` only at the end of the file. Bytes past
 * that count are left as they were.
 */
export type ReadSource = (offset: number, into: Buffer) => Promise<number>;

export interface ReadAheadOptions {
  /** Bytes kept ahead of a reader that has just started. */
  initialBytes: number;
  /** Bytes kept ahead of a reader at most (fetched or being fetched). */
  maxBytes: number;
  /** A read this close to where the reads got to still counts as sequential. */
  reorderBytes: number;
  /** Windows' buffers; its buffer size is the largest window (one fetch). */
  pool: BufferPool;
  /** Told when invalidate() drops what was fetched. */
  onInvalidate?: () => void;
}

interface Window {
  start: number;
  want: number;
  /** The pool buffer behind `view`. */
  buf: Buffer;
  view: Buffer;
  /** Bytes fetched, once the fetch succeeded. */
  got: number | undefined;
  data: Promise<number>;
  settled: boolean;
  /** Reads copying out of this window right now: its buffer goes back to the pool only after them. */
  readers: number;
  dropped: boolean;
}

export class ReadAhead {
  /** Sorted by start, not overlapping. */
  private windows: Window[] = [];
  /** Where the sequential reads got to (largest end). */
  private reached = 0;
  /** Bytes to keep ahead of the reader now; 0 until a sequential stream starts. */
  private ahead = 0;
  /** Some window came back full: the file goes on at least that far, so fetches need not wait for each other. */
  private proven = false;
  /** The file ends here (a fetch came back short), as far as this stream knows. */
  private eof = Infinity;
  /** Reads in a row that did not belong to the stream, and where the last of them ended. */
  private strays = 0;
  private strayEnd = -Infinity;

  constructor(private readonly source: ReadSource, private readonly o: ReadAheadOptions) {}

  /** Copies up to `length` bytes at `offset` into `dest`; returns how many (fewer only at the end of the file). */
  async read(offset: number, length: number, dest: Buffer): Promise<number> {
    length = Math.min(length, dest.length);
    if (length === 0) return 0;
    const end = offset + length;
    // The kernel asks past where the file ended for us: it learned of a longer file, so look again.
    if (offset >= this.eof) this.forgetEnd();
    if (!this.windowAt(offset)) {
      if (Math.abs(offset - this.reached) > this.o.reorderBytes) {
        if (Math.abs(offset - this.strayEnd) <= this.o.reorderBytes) {
          // It continues the read before, which left the stream: the reader moved, a new stream starts here.
          this.drop();
          this.reached = offset;
        } else {
          // One stray read may be a straggler; two in a row that do not follow each other are a random reader.
          if (++this.strays >= 2) this.drop();
          this.strayEnd = end;
          return this.direct(offset, length, dest);
        }
      }
      const first = this.windows[0];
      // A late request from behind the windows (the kernel's reads overtake each other): serve it, keep the stream.
      if (first && offset < first.start) return this.direct(offset, length, dest);
      if (this.ahead === 0) this.ahead = this.o.initialBytes;
    }
    this.strays = 0;
    this.strayEnd = -Infinity;
    this.reached = Math.max(this.reached, end);
    this.fillAhead(offset, end);
    const n = await this.copyOut(offset, length, dest);
    this.trimBehind();
    return n;
  }

  /** Forgets fetched bytes (this mount wrote to the file). */
  invalidate(): void {
    this.o.onInvalidate?.();
    this.clear();
  }

  private clear(): void {
    for (const w of this.windows) this.retire(w);
    this.windows = [];
    this.proven = false;
    this.eof = Infinity;
  }

  /** Drops the windows and the stream (a random read). */
  private drop(): void {
    this.clear();
    this.ahead = 0;
  }

  private windowAt(offset: number): Window | undefined {
    return this.windows.find((w) => offset >= w.start && offset < w.start + w.want);
  }

  /** Makes sure windows cover [offset, end) and reach `ahead` bytes past it, within the file. */
  private fillAhead(offset: number, end: number): void {
    const B = this.o.pool.bufferBytes;
    let at = this.coveredFrom(offset);
    for (;;) {
      const needed = at < end;
      // Until one window came back full, one fetch at a time: a small file costs one fetch, not several.
      const ahead = at < end + this.ahead && at < this.eof && this.bytesAheadOf(offset) < this.o.maxBytes
        && (this.proven || this.windows.every((w) => w.settled));
      if (!needed && !ahead) return;
      const next = this.windows.find((w) => w.start > at);
      // Windows never cross a multiple of the largest window: they match the slices the client reads, one request each.
      const want = Math.min(B - (at % B), Math.max(this.ahead, end - at), (next?.start ?? Infinity) - at);
      this.fetch(at, want);
      this.ahead = Math.min(this.ahead * 2, this.o.maxBytes);
      at = this.coveredFrom(at);
    }
  }

  /** The end of the run of windows covering `offset` (`offset` itself if none does). */
  private coveredFrom(offset: number): number {
    let at = offset;
    for (const w of this.windows) if (w.start <= at && at < w.start + w.want) at = w.start + w.want;
    return at;
  }

  private bytesAheadOf(offset: number): number {
    let n = 0;
    for (const w of this.windows) if (w.start + w.want > offset) n += w.start + w.want - Math.max(w.start, offset);
    return n;
  }

  /** Forgets where the file ended, and the windows that ended it. */
  private forgetEnd(): void {
    for (const w of [...this.windows]) if (w.start + w.want > this.eof) this.retire(w);
    this.eof = Infinity;
  }

  private fetch(start: number, want: number): void {
    const buf = this.o.pool.take();
    const view = buf.subarray(0, want);
    const w: Window = { start, want, buf, view, got: undefined, data: this.source(start, view), settled: false, readers: 0, dropped: false };
    w.data = w.data.then((n) => {
      w.got = n;
      if (n === want) this.proven = true;
      else if (!w.dropped) this.eof = Math.min(this.eof, start + n);
      return n;
    });
    // Settled either way; a window nobody reads must not become an unhandled rejection.
    w.data.then(() => this.settle(w), () => this.settle(w));
    this.windows.push(w);
    this.windows.sort((a, b) => a.start - b.start);
  }

  private settle(w: Window): void {
    w.settled = true;
    if (w.got === undefined) this.retire(w); // failed: the next read fetches again
    this.release(w);
  }

  private async copyOut(offset: number, length: number, dest: Buffer): Promise<number> {
    let done = 0;
    while (done < length) {
      const w = this.windowAt(offset + done);
      if (!w) break; // past the end of the file
      w.readers++;
      try {
        const got = await w.data;
        const from = offset + done - w.start;
        if (from >= got) break;
        done += w.view.copy(dest, done, from, Math.min(got, from + length - done));
        if (got < w.want) break;
      } finally {
        w.readers--;
        this.release(w);
      }
    }
    return done;
  }

  /** Windows the reader has left behind (further back than reordered requests come). */
  private trimBehind(): void {
    const keepFrom = this.reached - this.o.reorderBytes;
    const gone = this.windows.filter((w) => w.start + w.want <= keepFrom);
    for (const w of gone) this.retire(w);
  }

  private retire(w: Window): void {
    if (w.dropped) return;
    w.dropped = true;
    this.windows = this.windows.filter((x) => x !== w);
    this.release(w);
  }

  private release(w: Window): void {
    if (w.dropped && w.settled && w.readers === 0 && w.buf.length > 0) {
      this.o.pool.give(w.buf);
      w.buf = w.view = Buffer.alloc(0);
    }
  }

  private async direct(offset: number, length: number, dest: Buffer): Promise<number> {
    const into = Buffer.allocUnsafe(length);
    const n = await this.source(offset, into);
    return into.copy(dest, 0, 0, n);
  }
}
