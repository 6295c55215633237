// Pushed data waiting for the mutation that uses it, keyed by the client's
// data id. Bounded in bytes (the least recently used goes first) and by age,
// so data whose Write never comes does not pile up.
import { LRUCache } from "lru-cache";

export interface PushBufferOptions {
  maxBytes: number;
  ttlMs: number;
  /** Clock for the TTL (tests). */
  now?: () => number;
}

export class PushBuffer {
  private readonly cache: LRUCache<string, Buffer>;

  constructor(opts: PushBufferOptions) {
    this.cache = new LRUCache<string, Buffer>({
      maxSize: opts.maxBytes,
      // An empty push still takes a slot; lru-cache wants sizes > 0.
      sizeCalculation: (b) => Math.max(1, b.length),
      ttl: opts.ttlMs,
      ttlAutopurge: false,
      ttlResolution: opts.now ? 0 : 1,
      ...(opts.now ? { perf: { now: opts.now } } : {}),
    });
  }

  /** Stores a completed push; a later push under the same id replaces it. False if larger than the whole buffer. */
  put(dataId: string, data: Buffer): boolean {
    this.cache.set(dataId, data);
    return this.cache.has(dataId);
  }

  /**
   * The data, left in place: the primary and every secondary use their own
   * copy, and a Write retried after a failure must still find it. Drop it
   * with delete() once a mutation applied it.
   */
  get(dataId: string): Buffer | undefined {
    return this.cache.get(dataId);
  }

  delete(dataId: string): void {
    this.cache.delete(dataId);
  }

  get bytes(): number {
    this.cache.purgeStale();
    return this.cache.calculatedSize;
  }

  get entries(): number {
    return this.cache.size;
  }
}
