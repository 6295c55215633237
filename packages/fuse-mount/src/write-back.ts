// The write-back buffer of one open file. The kernel hands us writes of at
// most 128 KiB; sending each as its own client write would cost a lease
// lookup, a chained push and a primary round trip per 128 KiB. Instead a
// contiguous run of writes is collected and sent in pieces aligned to piece
// boundaries that divide the chunk size, so every piece lands in exactly one
// chunk. Pieces go out in the background (a bounded number at once, so a fast
// writer waits instead of buffering without limit); a failed piece makes every
// later write, flush and fsync of this file fail, so the application learns
// about it at the latest on fsync or close.
import { GfsError } from "@gfs/common";

/** Sends `data` at `offset` to the cluster; `sync` asks every replica to make it durable first. */
export type WriteSink = (offset: number, data: Buffer, sync: boolean) => Promise<void>;

export interface WriteBackOptions {
  chunkSizeBytes: number;
  pieceBytesMax: number;
  inFlightMax: number;
}

interface InFlight { start: number; end: number; done: Promise<void> }

/** The largest piece size that divides the chunk size and is at most `max` (so pieces never cross chunks). */
export function pieceBytesFor(chunkSizeBytes: number, max: number): number {
  let piece = chunkSizeBytes;
  while (piece > max && piece % 2 === 0) piece /= 2;
  return piece;
}

export class WriteBack {
  private runStart = 0;
  private runParts: Buffer[] = [];
  private runLength = 0;
  private readonly inFlight = new Set<InFlight>();
  private failure: GfsError | undefined;
  /**
   * Chunks written without sync since the last fsync, each with one byte we
   * wrote there: fsync rewrites that byte with sync, because the chunkserver's
   * fdatasync makes the whole chunk file durable, not only that byte.
   */
  private readonly syncDebt = new Map<number, { offset: number; byte: number }>();
  readonly pieceBytes: number;

  constructor(private readonly sink: WriteSink, private readonly o: WriteBackOptions) {
    this.pieceBytes = pieceBytesFor(o.chunkSizeBytes, o.pieceBytesMax);
  }

  /** End of the furthest byte accepted but not yet acknowledged by the cluster; 0 when all is written. */
  get pendingEnd(): number {
    let end = this.runLength > 0 ? this.runStart + this.runLength : 0;
    for (const f of this.inFlight) end = Math.max(end, f.end);
    return end;
  }

  get dirty(): boolean {
    return this.runLength > 0 || this.inFlight.size > 0;
  }

  /** Accepts `data` (which the caller must not modify afterwards) at `offset`. */
  async write(offset: number, data: Buffer): Promise<void> {
    this.throwIfFailed();
    if (data.length === 0) return;
    if (this.runLength > 0 && offset !== this.runStart + this.runLength) this.emitRun(this.runStart + this.runLength, false);
    if (this.runLength === 0) this.runStart = offset;
    this.runParts.push(data);
    this.runLength += data.length;
    const runEnd = this.runStart + this.runLength;
    const boundary = Math.floor(runEnd / this.pieceBytes) * this.pieceBytes;
    if (boundary > this.runStart) this.emitRun(boundary, false);
    while (this.inFlight.size > this.o.inFlightMax) await Promise.race([...this.inFlight].map((f) => f.done));
    this.throwIfFailed();
  }

  /** Sends everything buffered and waits for all of it; with `sync`, until every replica has it on disk. */
  async flush(sync = false): Promise<void> {
    if (sync) await this.settle();
    if (this.runLength > 0) this.emitRun(this.runStart + this.runLength, sync);
    await this.settle();
    this.throwIfFailed();
    if (!sync) return;
    const debts = [...this.syncDebt.values()];
    this.syncDebt.clear();
    try {
      for (const d of debts) await this.sink(d.offset, Buffer.from([d.byte]), true);
    } catch (e) {
      this.fail(e);
      this.throwIfFailed();
    }
  }

  /** The file was cut to `size`: a sync rewrite past it would grow the file again. */
  truncated(size: number): void {
    for (const [index, d] of this.syncDebt) if (d.offset >= size) this.syncDebt.delete(index);
  }

  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight].map((f) => f.done));
  }

  /** Sends the run's bytes up to `until` (an absolute offset) as piece-aligned background writes. */
  private emitRun(until: number, sync: boolean): void {
    const all = this.runParts.length === 1 ? this.runParts[0] : Buffer.concat(this.runParts, this.runLength);
    const take = until - this.runStart;
    for (let pos = this.runStart; pos < until;) {
      const cellEnd = Math.min(until, (Math.floor(pos / this.pieceBytes) + 1) * this.pieceBytes);
      this.emit(pos, all.subarray(pos - this.runStart, cellEnd - this.runStart), sync);
      pos = cellEnd;
    }
    const rest = all.subarray(take);
    this.runStart = until;
    this.runParts = rest.length > 0 ? [rest] : [];
    this.runLength = rest.length;
  }

  private emit(start: number, data: Buffer, sync: boolean): void {
    const end = start + data.length;
    // Overlapping pieces must reach the cluster in the order they were written.
    const earlier = [...this.inFlight].filter((f) => f.start < end && start < f.end).map((f) => f.done);
    const f: InFlight = { start, end, done: Promise.resolve() };
    f.done = Promise.all(earlier)
      .then(() => this.sink(start, data, sync))
      .then(() => this.noteWritten(start, data, sync), (e) => this.fail(e))
      .finally(() => { this.inFlight.delete(f); });
    this.inFlight.add(f);
  }

  private noteWritten(start: number, data: Buffer, sync: boolean): void {
    const chunk = this.o.chunkSizeBytes;
    for (let pos = start; pos < start + data.length;) {
      const index = Math.floor(pos / chunk);
      const end = Math.min(start + data.length, (index + 1) * chunk);
      if (sync) this.syncDebt.delete(index);
      else this.syncDebt.set(index, { offset: end - 1, byte: data[end - 1 - start] });
      pos = end;
    }
  }

  private fail(e: unknown): void {
    if (this.failure) return;
    const err = e instanceof GfsError ? e : new GfsError("EIO", e instanceof Error ? e.message : String(e));
    // ENOSPC and friends mean something to the application; anything else is an I/O error.
    this.failure = err.errno === "ENOSPC" || err.errno === "EFBIG" ? err : new GfsError("EIO", `write-back failed: ${err.message}`);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}
