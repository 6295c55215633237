// The write buffer of an O_APPEND file. Every buffered run of appended bytes
// becomes one GFS record append, so concurrent appenders (other processes,
// other mounts) never overwrite each other: the primary picks each record's
// offset. Records keep the order in which this handle wrote them. A record is
// at most the record-append limit (a quarter chunk); a larger write is split
// into several records, each atomic on its own.
import { GfsError } from "@gfs/common";

/** Appends `data` as one record; resolves to the file offset the primary chose for it. */
export type AppendSink = (data: Buffer) => Promise<number>;

/** Rewrites one byte in place with sync, which makes its whole chunk durable on every replica. */
export type SyncByte = (offset: number, byte: number) => Promise<void>;

export class AppendBuffer {
  private parts: Buffer[] = [];
  private length = 0;
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private queuedBytes = 0;
  private failure: GfsError | undefined;
  /** Chunks holding records appended since the last fsync, each with the last byte of its last record there. */
  private readonly syncDebt = new Map<number, { offset: number; byte: number }>();

  /** `queueMax`: records waiting or in flight before further writes wait. */
  constructor(private readonly sink: AppendSink, private readonly recordBytesMax: number,
    private readonly o: { chunkSizeBytes: number; syncByte: SyncByte; queueMax?: number }) {
    if (recordBytesMax < 1) throw new GfsError("EINVAL", `record limit ${recordBytesMax} too small`);
  }

  /** Bytes accepted but not yet acknowledged as appended. */
  get pendingBytes(): number {
    return this.length + this.queuedBytes;
  }

  get dirty(): boolean {
    return this.length > 0 || this.queued > 0;
  }

  async write(data: Buffer): Promise<void> {
    this.throwIfFailed();
    // One write stays within one record whenever it fits in one.
    if (this.length + data.length > this.recordBytesMax && this.length > 0) this.emit();
    for (let pos = 0; pos < data.length;) {
      const n = Math.min(data.length - pos, this.recordBytesMax - this.length);
      this.parts.push(data.subarray(pos, pos + n));
      this.length += n;
      pos += n;
      if (this.length === this.recordBytesMax) this.emit();
    }
    while (this.queued > (this.o.queueMax ?? 2)) await this.queue;
    this.throwIfFailed();
  }

  /**
   * Appends everything buffered and waits until the cluster acknowledged it;
   * with `sync`, until every replica has this handle's records on disk (a
   * record is whole where it landed, so rewriting its last byte is harmless).
   */
  async flush(sync = false): Promise<void> {
    if (this.length > 0) this.emit();
    await this.queue;
    this.throwIfFailed();
    if (!sync) return;
    const debts = [...this.syncDebt.values()];
    this.syncDebt.clear();
    try {
      for (const d of debts) await this.o.syncByte(d.offset, d.byte);
    } catch (e) {
      this.failure ??= new GfsError("EIO", `fsync of appended records failed: ${(e as Error).message}`);
      this.throwIfFailed();
    }
  }

  private emit(): void {
    const record = Buffer.concat(this.parts, this.length);
    this.parts = [];
    this.length = 0;
    this.queued++;
    this.queuedBytes += record.length;
    this.queue = this.queue.then(async () => {
      try {
        if (!this.failure) {
          const at = await this.sink(record);
          const end = at + record.length - 1;
          this.syncDebt.set(Math.floor(end / this.o.chunkSizeBytes), { offset: end, byte: record[record.length - 1] });
        }
      } catch (e) {
        const err = e instanceof GfsError ? e : new GfsError("EIO", String(e));
        this.failure ??= err.errno === "ENOSPC" ? err : new GfsError("EIO", `append failed: ${err.message}`);
      } finally {
        this.queued--;
        this.queuedBytes -= record.length;
      }
    });
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}
