// Read-ahead for one open file. A reader whose reads follow each other gets
// windows fetched ahead of it, starting small and doubling up to a limit, the
// next window requested while it consumes the current one, so the cluster
// round trip overlaps the reader's own work. A read that does not continue
// the previous one is served exactly as asked and drops the windows: random
// readers neither wait for nor hold bytes they did not ask for.

/** Reads up to `length` bytes at `offset`; shorter only at the end of the file. */
export type ReadSource = (offset: number, length: number) => Promise<Buffer>;

export interface ReadAheadOptions {
  initialBytes: number;
  maxBytes: number;
}

interface Window { start: number; want: number; data: Promise<Buffer> }

export class ReadAhead {
  private windows: Window[] = [];
  private nextSequential = 0;
  private size = 0;

  constructor(private readonly source: ReadSource, private readonly o: ReadAheadOptions) {}

  async read(offset: number, length: number): Promise<Buffer> {
    const sequential = offset === this.nextSequential || this.windowAt(offset) !== undefined;
    this.nextSequential = offset + length;
    if (!sequential) {
      this.drop();
      return this.source(offset, length);
    }
    let w = this.windowAt(offset);
    if (!w) {
      this.windows = [];
      this.size = this.size === 0 ? this.o.initialBytes : Math.min(this.size * 2, this.o.maxBytes);
      w = this.fetch(offset, Math.max(this.size, length));
    }
    // Past the window's middle: ask for the next one now, so it arrives before the reader does.
    const last = this.windows[this.windows.length - 1];
    if (offset + length >= last.start + last.want / 2 && offset >= last.start) {
      this.size = Math.min(this.size * 2, this.o.maxBytes);
      const nextStart = last.start + last.want;
      this.fetchAfter(last, nextStart, this.size);
    }
    const out = await this.take(w, offset, length);
    this.windows = this.windows.filter((x) => x.start + x.want > offset);
    return out;
  }

  /** Forgets fetched bytes (this mount wrote to the file). */
  invalidate(): void {
    this.windows = [];
  }

  private drop(): void {
    this.windows = [];
    this.size = 0;
  }

  private windowAt(offset: number): Window | undefined {
    return this.windows.find((w) => offset >= w.start && offset < w.start + w.want);
  }

  private fetch(start: number, want: number): Window {
    const w: Window = { start, want, data: this.source(start, want) };
    // A window nobody reads must not become an unhandled rejection.
    w.data.catch(() => {});
    this.windows.push(w);
    return w;
  }

  /** Fetches the next window unless the previous one turns out to end the file. */
  private fetchAfter(prev: Window, start: number, want: number): void {
    const data = prev.data.then((d) => (d.length < prev.want ? Buffer.alloc(0) : this.source(start, want)));
    data.catch(() => {});
    this.windows.push({ start, want, data });
  }

  private async take(w: Window, offset: number, length: number): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await w.data;
    } catch (e) {
      this.windows = this.windows.filter((x) => x !== w);
      throw e;
    }
    const from = offset - w.start;
    const piece = data.subarray(from, from + length);
    // The request runs past this window into the next one (and the file goes on).
    if (piece.length < length && data.length === w.want) {
      const next = this.windowAt(w.start + w.want) ?? this.fetch(w.start + w.want, length - piece.length);
      const rest = await this.take(next, w.start + w.want, length - piece.length);
      return Buffer.concat([piece, rest]);
    }
    return piece;
  }
}
