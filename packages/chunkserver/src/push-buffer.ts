// Pushed data waiting for the mutation that uses it, keyed by the client's
// data id. Bounded in bytes (the least recently used goes first) and by age,
// so data whose Write never comes does not pile up.
import { LRUCache } from "lru-cache";
import { pushMemory, type PushMemory } from "./push-memory";

export interface PushBufferOptions {
  maxBytes: number;
  ttlMs: number;
  /** Clock for the TTL (tests). */
  now?: () => number;
  /** Where the memory of pushed data goes back to once used (default: the process's push memory). */
  memory?: PushMemory;
}

interface Entry {
  data: Buffer;
  /** Times get() handed the data out. */
  gets: number;
}

export class PushBuffer {
  private readonly cache: LRUCache<string, Entry>;
  private readonly memory: PushMemory;

  constructor(opts: PushBufferOptions) {
    this.memory = opts.memory ?? pushMemory;
    const memory = this.memory;
    this.cache = new LRUCache<string, Entry>({
      maxSize: opts.maxBytes,
      // The memory held, pool capacity included; an empty push still takes a slot (lru-cache wants sizes > 0).
      sizeCalculation: (e) => Math.max(1, memory.capacityOf(e.data)),
      ttl: opts.ttlMs,
      ttlAutopurge: false,
      ttlResolution: opts.now ? 0 : 1,
      ...(opts.now ? { perf: { now: opts.now } } : {}),
    });
  }

  /** Stores a completed push; a later push under the same id replaces it. False if larger than the whole buffer. */
  put(dataId: string, data: Buffer): boolean {
    this.cache.set(dataId, { data, gets: 0 });
    return this.cache.has(dataId);
  }

  /**
   * The data, left in place: the primary and every secondary use their own
   * copy, and a Write retried after a failure must still find it. Drop it
   * with delete() once a mutation applied it.
   */
  get(dataId: string): Buffer | undefined {
    const e = this.cache.get(dataId);
    if (!e) return undefined;
    e.gets++;
    return e.data;
  }

  /** The size of the data under `dataId` if it is here, without handing it out. */
  sizeOf(dataId: string): number | undefined {
    return this.cache.peek(dataId)?.data.length;
  }

  /**
   * Drops the data once a mutation applied it. Its memory is reused for a
   * later push when at most one get() handed it out: the caller must be that
   * get()'s user, done with it (the chunkserver deletes only after the
   * mutation that got the data finished). Data handed out more than once is
   * left to the garbage collector, since another user may still hold it.
   */
  delete(dataId: string): void {
    const e = this.cache.peek(dataId);
    this.cache.delete(dataId);
    if (e && e.gets <= 1) this.memory.release(e.data);
  }

  get bytes(): number {
    this.cache.purgeStale();
    return this.cache.calculatedSize;
  }

  get entries(): number {
    return this.cache.size;
  }
}
