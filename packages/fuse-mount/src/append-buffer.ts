// The writes of an O_APPEND file. Every write becomes (part of) one GFS record
// append, so concurrent appenders (other processes, other mounts) never
// overwrite each other: the primary picks each record's offset.
//
// A write returns only once its record was applied on every replica and the
// master recorded the file's new size, or fails with the error (ENOSPC, EFBIG,
// EIO...). Acknowledging earlier and reporting failures at close lost data:
// shells ignore close's result, so `echo line >> log` exited 0 while the line
// never landed.
//
// Writes that arrive while this handle's previous record is still in flight
// wait together and leave as one record (a batch, as a group commit does);
// each is answered when its batch is applied. Records keep the order in which
// this handle wrote them: one record of a handle is in flight at a time. A
// record is at most the record-append limit (a quarter chunk); a larger write
// is split into several records, each atomic on its own, and succeeds only if
// all of them do. A failed record fails the writes it carried, not later ones:
// the application saw the error and decides (as with a local disk).
import { GfsError } from "@gfs/common";
import { writeFailure } from "./errno";

/** Appends `data` as one record; resolves to the file offset the primary chose for it. */
export type AppendSink = (data: Buffer) => Promise<number>;

/** Makes chunk `index` durable on every replica (a SYNC mutation: whatever was applied to it before). */
export type SyncChunk = (index: number) => Promise<void>;

/** One write(2) waiting for the records that carry its bytes. */
interface Waiter {
  recordsLeft: number;
  failed: boolean;
  resolve: () => void;
  reject: (e: GfsError) => void;
}

/** Bytes that leave together as one record, and the writes they belong to. */
interface Batch {
  parts: Buffer[];
  length: number;
  waiters: Waiter[];
}


export class AppendBuffer {
  /** Batches waiting for their turn, oldest first; the last one still takes new writes. */
  private readonly waiting: Batch[] = [];
  private waitingBytes = 0;
  private sending: Batch | undefined;
  private idleWaiters: Array<() => void> = [];
  /** Chunks holding records appended since the last fsync. */
  private readonly syncDebt = new Set<number>();

  constructor(private readonly sink: AppendSink, private readonly recordBytesMax: number,
    private readonly o: { chunkSizeBytes: number; syncChunk: SyncChunk }) {
    if (recordBytesMax < 1) throw new GfsError("EINVAL", `record limit ${recordBytesMax} too small`);
  }

  /** Bytes accepted but not yet acknowledged as appended (all of them have a writer waiting). */
  get pendingBytes(): number {
    return this.waitingBytes + (this.sending?.length ?? 0);
  }

  get dirty(): boolean {
    return this.sending !== undefined || this.waiting.length > 0;
  }

  /** Appends `data`; resolves once every byte of it is applied on every replica, rejects with the error otherwise. */
  write(data: Buffer): Promise<void> {
    if (data.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { recordsLeft: 0, failed: false, resolve, reject };
      let batch: Batch | undefined = this.waiting[this.waiting.length - 1];
      // One write stays within one record whenever it fits in one.
      if (batch && batch.length + data.length > this.recordBytesMax) batch = undefined;
      for (let pos = 0; pos < data.length;) {
        if (!batch || batch.length === this.recordBytesMax) {
          batch = { parts: [], length: 0, waiters: [] };
          this.waiting.push(batch);
        }
        const n = Math.min(data.length - pos, this.recordBytesMax - batch.length);
        batch.parts.push(data.subarray(pos, pos + n));
        batch.length += n;
        this.waitingBytes += n;
        batch.waiters.push(w);
        w.recordsLeft++;
        pos += n;
      }
      this.pump();
    });
  }

  /**
   * Waits until every write handed to this buffer is settled (each already
   * answered its own caller: failures are not reported twice); with `sync`,
   * until every replica has this handle's records on disk (a SYNC of each
   * chunk they landed in).
   */
  async flush(sync = false): Promise<void> {
    while (this.dirty) await new Promise<void>((r) => this.idleWaiters.push(r));
    if (!sync) return;
    const debts = [...this.syncDebt];
    this.syncDebt.clear();
    try {
      await Promise.all(debts.map((index) => this.o.syncChunk(index)));
    } catch (e) {
      for (const index of debts) this.syncDebt.add(index); // not durable: the next fsync tries again

      throw new GfsError("EIO", `fsync of appended records failed: ${(e as Error).message}`);
    }
  }

  /** Sends the oldest waiting batch unless a record of this handle is in flight. */
  private pump(): void {
    if (this.sending) return;
    const batch = this.waiting.shift();
    if (!batch) {
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of idle) r();
      return;
    }
    this.sending = batch;
    this.waitingBytes -= batch.length;
    const record = batch.parts.length === 1 ? batch.parts[0]! : Buffer.concat(batch.parts, batch.length);
    const next = (): void => {
      this.sending = undefined;
      this.pump();
    };
    this.sink(record).then((at) => {
      // A record never crosses a chunk (the primary pads instead): its last byte's chunk is its chunk.
      this.syncDebt.add(Math.floor((at + record.length - 1) / this.o.chunkSizeBytes));
      next(); // the next batch leaves before this one's writers hear back
      for (const w of batch.waiters) if (--w.recordsLeft === 0 && !w.failed) w.resolve();
    }, (e: unknown) => {
      next();
      const err = writeFailure(e, "append");
      for (const w of batch.waiters) {
        w.recordsLeft--;
        if (!w.failed) {
          w.failed = true;
          w.reject(err);
        }
      }
    });
  }
}
