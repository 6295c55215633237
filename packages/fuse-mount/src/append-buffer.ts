// The write buffer of an O_APPEND file. Every buffered run of appended bytes
// becomes one GFS record append, so concurrent appenders (other processes,
// other mounts) never overwrite each other: the primary picks each record's
// offset. Records keep the order in which this handle wrote them. A record is
// at most the record-append limit (a quarter chunk); a larger write is split
// into several records, each atomic on its own.
import { GfsError } from "@gfs/common";

/** Appends `data` as one record. */
export type AppendSink = (data: Buffer) => Promise<void>;

export class AppendBuffer {
  private parts: Buffer[] = [];
  private length = 0;
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private queuedBytes = 0;
  private failure: GfsError | undefined;

  /** `queueMax`: records waiting or in flight before further writes wait. */
  constructor(private readonly sink: AppendSink, private readonly recordBytesMax: number, private readonly queueMax = 2) {
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
    while (this.queued > this.queueMax) await this.queue;
    this.throwIfFailed();
  }

  /** Appends everything buffered and waits until the cluster acknowledged it. */
  async flush(): Promise<void> {
    if (this.length > 0) this.emit();
    await this.queue;
    this.throwIfFailed();
  }

  private emit(): void {
    const record = Buffer.concat(this.parts, this.length);
    this.parts = [];
    this.length = 0;
    this.queued++;
    this.queuedBytes += record.length;
    this.queue = this.queue.then(async () => {
      try {
        if (!this.failure) await this.sink(record);
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
