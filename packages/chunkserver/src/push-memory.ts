// Memory for pushed data, reused from one push to the next. A push's buffer
// (8-16 MiB for large writes) lives from the push until its mutation was
// applied, long enough to be promoted to V8's old generation, whose size
// counts buffer memory: measured on a chunkserver during a 512 MiB put, that
// started a full collection every ~13 MB of data (40 per 512 MiB, about a
// third of the server's CPU). Buffers handed back after their mutation are
// reused instead, up to a bound on idle memory.
//
// Only memory that nothing refers to any more may come back: PushBuffer
// returns a push's buffer when the one mutation that used it deletes it (see
// PushBuffer.delete); failed pushes, evicted and expired data are left to
// the garbage collector.
import { defaults } from "@gfs/common";

export class PushMemory {
  /** Idle buffers by capacity (powers of two). */
  private readonly idle = new Map<number, Buffer[]>();
  private idleBytes = 0;
  /** Memory handed out by allocate() -> its whole buffer. */
  private readonly bases = new WeakMap<ArrayBufferLike, Buffer>();
  /** Whole buffers idle now (so handing one back twice cannot put it in the pool twice). */
  private readonly idleSet = new WeakSet<Buffer>();

  constructor(private readonly minBytes: number, private readonly idleBytesMax: number) {}

  /** `bytes` of uninitialised memory; from the pool when large enough to be worth it. */
  allocate(bytes: number): Buffer {
    if (bytes < this.minBytes) return Buffer.allocUnsafe(bytes);
    const capacity = 2 ** Math.ceil(Math.log2(bytes));
    let base = this.idle.get(capacity)?.pop();
    if (base) {
      this.idleSet.delete(base);
      this.idleBytes -= capacity;
    } else {
      base = Buffer.allocUnsafeSlow(capacity);
      this.bases.set(base.buffer, base);
    }
    return base.subarray(0, bytes);
  }

  /** Bytes of memory behind `data` (its pool buffer's capacity, or its own length). */
  capacityOf(data: Buffer): number {
    return this.bases.get(data.buffer)?.length ?? data.length;
  }

  /** Takes back memory from allocate(): nothing may refer to any of it any more. Anything else is ignored. */
  release(data: Buffer): void {
    const base = this.bases.get(data.buffer);
    if (!base || this.idleSet.has(base) || this.idleBytes + base.length > this.idleBytesMax) return;
    let list = this.idle.get(base.length);
    if (!list) this.idle.set(base.length, (list = []));
    list.push(base);
    this.idleSet.add(base);
    this.idleBytes += base.length;
  }

  /** Idle bytes in the pool (tests, status). */
  get idleByteCount(): number {
    return this.idleBytes;
  }
}

/** The process's push memory: push-receiver allocates from it, PushBuffer gives back to it. */
export const pushMemory = new PushMemory(defaults.push_memory_pooled_bytes_min, defaults.push_memory_idle_bytes_max);
