// The write-back buffer of one open file. The kernel hands us writes of at
// most 128 KiB; sending each as its own client write would cost a lease
// lookup, a chained push and a primary round trip per write, and for 4 KiB
// random writes that round trip (milliseconds) would be all write(2) ever
// waits for. Instead writes are buffered as dirty extents (later bytes win,
// adjacent ones merge) up to a byte limit:
//   - a sequential writer's run leaves in pieces aligned to piece boundaries
//     that divide the chunk size (so every piece lands in exactly one chunk)
//     as soon as it reaches a boundary, so large files stream;
//   - scattered extents stay until flush, fsync, release, or the limit, and
//     then leave together, several client writes at once.
// A writer waits once the bytes it holds (buffered and being sent) exceed the
// limit. A failed piece makes every later write, flush and fsync of this file
// fail, so the application learns about it at the latest on fsync or close;
// pieces not yet sent are then dropped (they would only retry into the same
// failure while the application waits).
//
// A sequential writer's bytes are copied straight into a piece-sized buffer
// (its "arena"), which then leaves as one piece without being assembled, and
// goes back to a small shared pool once the cluster acknowledged everything
// sent from it: a fresh buffer per kernel write (128 KiB) and per piece costs
// page faults and makes V8 run full collections (it counts buffer memory as
// external pressure). Small writes (below ARENA_WRITE_BYTES_MIN, e.g. a small
// file's) never take an arena: a piece-sized buffer for a few KiB would cost
// more than it saves.
import { defaults, GfsError } from "@gfs/common";
import { DirtyExtents } from "./dirty-extents";
import { writeFailure } from "./errno";

/** Sends `data` at `offset` to the cluster; `sync` asks every replica to make it durable first. */
export type WriteSink = (offset: number, data: Buffer, sync: boolean) => Promise<void>;

export interface WriteBackOptions {
  chunkSizeBytes: number;
  pieceBytesMax: number;
  /** Client writes of this file at once; further pieces queue. */
  inFlightMax: number;
  /** Bytes buffered plus being sent (and the unfilled rest of the piece buffer being filled) before further writes wait. */
  bytesMax: number;
  /** Where piece buffers come from and go back to (default: one pool per process). */
  pool?: PieceBufferPool;
  /** Makes chunk `index` durable on every replica (a SYNC mutation: whatever was applied to it before). */
  syncChunk: (index: number) => Promise<void>;
}

/** Idle piece buffers kept for reuse, up to a byte bound; buffers of another size are left to the collector. */
export class PieceBufferPool {
  private readonly idle: Buffer[] = [];
  /** Memory this pool handed out: only that may come back. */
  private readonly ours = new WeakSet<ArrayBufferLike>();
  constructor(private readonly bytesMax: number) {}

  take(bytes: number): Buffer {
    const i = this.idle.findIndex((b) => b.length === bytes);
    if (i >= 0) return this.idle.splice(i, 1)[0]!;
    const b = Buffer.allocUnsafeSlow(bytes);
    this.ours.add(b.buffer);
    return b;
  }

  /** Takes back a buffer from take(), whole; nothing may refer to it any more. Anything else is ignored. */
  give(buf: Buffer): void {
    if (!this.ours.has(buf.buffer) || buf.byteOffset !== 0 || buf.length !== buf.buffer.byteLength) return;
    if ((this.idle.length + 1) * buf.length <= this.bytesMax) this.idle.push(buf);
  }

  get idleCount(): number {
    return this.idle.length;
  }
}

const sharedPool = new PieceBufferPool(defaults.fuse_write_buffer_pool_bytes);

/**
 * A piece buffer: piece `index` of the file, bytes [0, filled) written (or
 * overwritten since). It goes back to the pool once it is no longer being
 * filled (retired), no piece sent from it is unacknowledged (users), and the
 * dirty extents hold none of its bytes; never after a failed send (poisoned).
 */
interface Arena { index: number; buf: Buffer; filled: number; users: number; retired: boolean; poisoned: boolean }

/** Kernel writes at least this large may start a piece buffer (streaming writers send 128 KiB). */
const ARENA_WRITE_BYTES_MIN = 64 * 1024;

interface InFlight { start: number; end: number; done: Promise<void> }

/** The largest piece size that divides the chunk size and is at most `max` (so pieces never cross chunks). */
export function pieceBytesFor(chunkSizeBytes: number, max: number): number {
  let piece = chunkSizeBytes;
  while (piece > max && piece % 2 === 0) piece /= 2;
  return piece;
}

/** Pieces in flight, found by the 64 KiB cells they cover (a scan of thousands of 4 KiB pieces per emit would be quadratic). */
const CELL_BYTES = 64 * 1024;

export class WriteBack {
  private readonly extents = new DirtyExtents();
  private readonly inFlight = new Set<InFlight>();
  private readonly byCell = new Map<number, Set<InFlight>>();
  private inFlightBytes = 0;
  private sending = 0;
  private readonly slotWaiters: Array<() => void> = [];
  private progressWaiters: Array<() => void> = [];
  private failure: GfsError | undefined;
  /** Chunks written without sync since the last fsync: fsync syncs each (a SYNC mutation, no bytes rewritten). */
  private readonly syncDebt = new Set<number>();
  readonly pieceBytes: number;
  private readonly pool: PieceBufferPool;
  /** The arena being filled, if any. */
  private arena: Arena | undefined;
  /** Arenas not yet handed back, by their memory. */
  private readonly arenas = new Map<ArrayBufferLike, Arena>();
  /** Where the last write ended: a write starting there continues a sequential run. */
  private lastEnd = 0;

  constructor(private readonly sink: WriteSink, private readonly o: WriteBackOptions) {
    this.pieceBytes = pieceBytesFor(o.chunkSizeBytes, o.pieceBytesMax);
    this.pool = o.pool ?? sharedPool;
  }

  /** End of the furthest byte accepted but not yet acknowledged by the cluster; 0 when all is written. */
  get pendingEnd(): number {
    let end = this.extents.end;
    for (const f of this.inFlight) end = Math.max(end, f.end);
    return end;
  }

  get dirty(): boolean {
    return this.extents.bytes > 0 || this.inFlight.size > 0;
  }

  /** Bytes accepted and not yet acknowledged (buffered or being sent). */
  get heldBytes(): number {
    return this.extents.bytes + this.inFlightBytes;
  }

  /**
   * Accepts `data` at `offset`. Unless `borrowed`, `data` becomes the
   * buffer's (the caller must not touch it afterwards); a borrowed buffer is
   * copied before this returns to its caller's first await, so the caller
   * may reuse it as soon as the returned promise exists.
   */
  async write(offset: number, data: Buffer, borrowed = false): Promise<void> {
    this.throwIfFailed();
    if (data.length === 0) return;
    this.accept(offset, data, borrowed);
    const end = offset + data.length;
    // This write reached a piece boundary: the run it belongs to streams out up to the last boundary it covers.
    if (Math.floor(end / this.pieceBytes) > Math.floor(offset / this.pieceBytes)) {
      const run = this.extents.runAt(end - 1)!;
      const boundary = Math.floor(run.end / this.pieceBytes) * this.pieceBytes;
      if (boundary > run.start) this.emitRange(run.start, boundary, false);
    }
    if (this.heldBytes > this.o.bytesMax) this.emitAll(() => false);
    while (this.heldBytes + this.arenaSlack > this.o.bytesMax && !this.failure && this.inFlight.size > 0) await this.progress();
    this.throwIfFailed();
  }

  /** Piece-buffer memory held but not (yet) filled with bytes. */
  private get arenaSlack(): number {
    return this.arena ? this.pieceBytes - this.arena.filled : 0;
  }

  /** Buffers `data` at `offset`: into the arena where it continues a sequential run, else as it is (a copy if borrowed). */
  private accept(offset: number, data: Buffer, borrowed: boolean): void {
    const P = this.pieceBytes;
    const sequential = offset === this.lastEnd;
    this.lastEnd = offset + data.length;
    for (let pos = 0; pos < data.length;) {
      const at = offset + pos;
      const index = Math.floor(at / P);
      const n = Math.min(data.length - pos, (index + 1) * P - at);
      const part = data.subarray(pos, pos + n);
      pos += n;
      let a = this.arena;
      const frontier = a && a.index === index ? index * P + a.filled : -1;
      if (a && at === frontier) {
        const view = a.buf.subarray(a.filled, a.filled + n);
        part.copy(view);
        a.filled += n;
        this.extents.add(at, view);
        if (a.filled === P) this.retireArena(); // full: what remains is to send it
        continue;
      }
      if (a && !(at + n <= frontier)) {
        // The writer went elsewhere: the bytes buffered from this arena are copied out, so the arena can go back.
        this.extents.detach(a.buf.buffer);
        this.retireArena();
        a = undefined;
      }
      if (!a && at === index * P && (sequential || at === 0) && data.length >= ARENA_WRITE_BYTES_MIN) {
        a = { index, buf: this.pool.take(P), filled: n, users: 0, retired: false, poisoned: false };
        this.arena = a;
        this.arenas.set(a.buf.buffer, a);
        const view = a.buf.subarray(0, n);
        part.copy(view);
        this.extents.add(at, view);
        if (n === P) this.retireArena();
        continue;
      }
      // Scattered, or an overwrite of bytes the arena already holds (extents.add copies those in place).
      this.extents.add(at, borrowed ? Buffer.from(part) : part);
    }
  }

  /** Sends everything buffered and waits for all of it; with `sync`, until every replica has it on disk. */
  async flush(sync = false): Promise<void> {
    // The file's last piece leaves now: its buffer can go back once acknowledged (a writer that goes on starts a new one at the next piece).
    this.retireArena();
    if (!sync) {
      this.emitAll(() => false);
      await this.settle();
      this.throwIfFailed();
      return;
    }
    // Only once earlier pieces are acknowledged can one synced piece make its whole chunk durable.
    await this.settle();
    const perChunk = new Map<number, number>();
    for (const p of this.pieces()) {
      const chunk = Math.floor(p.start / this.o.chunkSizeBytes);
      perChunk.set(chunk, (perChunk.get(chunk) ?? 0) + 1);
    }
    // A chunk that gets a single piece gets it with sync (one round trip); chunks with several, or
    // written earlier, get a SYNC after, which makes everything applied to them durable.
    this.emitAll((start) => perChunk.get(Math.floor(start / this.o.chunkSizeBytes)) === 1);
    await this.settle();
    this.throwIfFailed();
    const debts = [...this.syncDebt];
    this.syncDebt.clear();
    try {
      await Promise.all(debts.map((index) => this.o.syncChunk(index)));
    } catch (e) {
      this.fail(e);
      this.throwIfFailed();
    }
  }

  /** The file was cut to `size`: buffered bytes past it are gone, and so are chunks wholly past it (nothing to sync there). */
  truncated(size: number): void {
    this.extents.cut(size);
    this.retireArena();
    for (const index of this.syncDebt) if (index * this.o.chunkSizeBytes >= size) this.syncDebt.delete(index);
  }

  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight].map((f) => f.done));
  }

  /** The pieces everything buffered leaves in: runs cut at piece boundaries. */
  private pieces(): Array<{ start: number; end: number }> {
    const out: Array<{ start: number; end: number }> = [];
    for (const run of this.extents.runs()) {
      for (let pos = run.start; pos < run.end;) {
        const cellEnd = Math.min(run.end, (Math.floor(pos / this.pieceBytes) + 1) * this.pieceBytes);
        out.push({ start: pos, end: cellEnd });
        pos = cellEnd;
      }
    }
    return out;
  }

  private emitAll(syncFor: (start: number) => boolean): void {
    for (const p of this.pieces()) this.emit(p.start, this.extents.take(p.start, p.end), syncFor(p.start));
    this.handBackIdle();
  }

  /** Retired arenas whose bytes left as copies (joined with others) have no sender to hand them back. */
  private handBackIdle(): void {
    for (const a of [...this.arenas.values()]) this.maybeHandBack(a);
  }

  /** Sends the buffered bytes of [start, until) (contiguous) as piece-aligned background writes. */
  private emitRange(start: number, until: number, sync: boolean): void {
    for (let pos = start; pos < until;) {
      const cellEnd = Math.min(until, (Math.floor(pos / this.pieceBytes) + 1) * this.pieceBytes);
      this.emit(pos, this.extents.take(pos, cellEnd), sync);
      pos = cellEnd;
    }
    this.handBackIdle();
  }

  private emit(start: number, data: Buffer, sync: boolean): void {
    const end = start + data.length;
    // Overlapping pieces must reach the cluster in the order they were written.
    const earlier = this.overlapping(start, end).map((f) => f.done);
    const f: InFlight = { start, end, done: Promise.resolve() };
    this.inFlight.add(f);
    this.inFlightBytes += data.length;
    for (const cell of this.cellsOf(start, end)) {
      let set = this.byCell.get(cell);
      if (!set) this.byCell.set(cell, (set = new Set()));
      set.add(f);
    }
    // Counted from the moment its bytes left the extents, so the arena is not handed back while this waits for its turn.
    const arena = this.arenas.get(data.buffer);
    if (arena) arena.users++;
    // Starts sending at once when nothing is in its way (no await before the sink then).
    f.done = (async () => {
      try {
        if (earlier.length > 0) await Promise.all(earlier);
        const slot = this.acquireSlot();
        if (slot) await slot;
        try {
          if (this.failure) return;
          try {
            await this.sink(start, data, sync);
          } catch (e) {
            if (arena) arena.poisoned = true; // a send that failed may still be reading it
            throw e;
          }
          this.noteWritten(start, data, sync);
        } finally {
          this.releaseSlot();
        }
      } catch (e) {
        this.fail(e);
      } finally {
        if (arena) {
          arena.users--;
          this.maybeHandBack(arena);
        }
        this.retire(f);
      }
    })();
  }


  /** The current arena is no longer filled; it goes back to the pool once nothing refers to it. */
  private retireArena(): void {
    const a = this.arena;
    this.arena = undefined;
    if (!a) return;
    a.retired = true;
    this.maybeHandBack(a);
  }

  private maybeHandBack(a: Arena): void {
    if (!a.retired || a.users > 0 || a.poisoned || this.extents.holds(a.buf.buffer)) return;
    this.arenas.delete(a.buf.buffer);
    this.pool.give(a.buf);
  }

  private retire(f: InFlight): void {
    this.inFlight.delete(f);
    this.inFlightBytes -= f.end - f.start;
    for (const cell of this.cellsOf(f.start, f.end)) {
      const set = this.byCell.get(cell)!;
      set.delete(f);
      if (set.size === 0) this.byCell.delete(cell);
    }
    const waiters = this.progressWaiters;
    this.progressWaiters = [];
    for (const w of waiters) w();
  }

  private overlapping(start: number, end: number): InFlight[] {
    const found = new Set<InFlight>();
    for (const cell of this.cellsOf(start, end)) {
      for (const f of this.byCell.get(cell) ?? []) if (f.start < end && start < f.end) found.add(f);
    }
    return [...found];
  }

  private *cellsOf(start: number, end: number): Generator<number> {
    for (let c = Math.floor(start / CELL_BYTES); c * CELL_BYTES < end; c++) yield c;
  }

  /** Resolves when some piece finishes. */
  private progress(): Promise<void> {
    return new Promise((resolve) => this.progressWaiters.push(resolve));
  }

  private acquireSlot(): Promise<void> | void {
    if (this.sending < this.o.inFlightMax) {
      this.sending++;
      return;
    }
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  /** Hands the slot to the longest waiting piece, if any. */
  private releaseSlot(): void {
    const next = this.slotWaiters.shift();
    if (next) next();
    else this.sending--;
  }

  private noteWritten(start: number, data: Buffer, sync: boolean): void {
    const chunk = this.o.chunkSizeBytes;
    for (let pos = start; pos < start + data.length;) {
      const index = Math.floor(pos / chunk);
      const end = Math.min(start + data.length, (index + 1) * chunk);
      if (sync) this.syncDebt.delete(index);
      else this.syncDebt.add(index);
      pos = end;
    }
  }

  private fail(e: unknown): void {
    if (this.failure) return;
    this.failure = writeFailure(e, "write-back");
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}
