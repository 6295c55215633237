// Reusable buffers of one size for bulk reads (a mount's read-ahead windows,
// a chunkserver's read replies). A fresh multi-MiB buffer per read costs page
// faults on first touch (measured here: copying into fresh buffers runs at a
// quarter of the speed of copying into reused ones) and, as external memory,
// drives V8 into full collections: reading 1 GiB through the mount spent more
// CPU in the garbage collector than in anything else before its windows came
// from a pool. Only `keepMax` idle buffers are kept, so idle memory is bounded.

export class BufferPool {
  private readonly idle: Buffer[] = [];

  constructor(readonly bufferBytes: number, private readonly keepMax: number) {}

  /**
   * A buffer of `bufferBytes`, with whatever bytes it held before: users
   * expose only what they wrote into it since taking it.
   */
  take(): Buffer {
    return this.idle.pop() ?? Buffer.allocUnsafe(this.bufferBytes);
  }

  /** Hands a buffer back; the caller must not touch it afterwards. */
  give(b: Buffer): void {
    if (b.length === this.bufferBytes && this.idle.length < this.keepMax && !this.idle.includes(b)) this.idle.push(b);
  }

  get idleCount(): number {
    return this.idle.length;
  }
}
