// The order of mutations of one chunk (GFS §3.1). The primary gives every
// mutation of a chunk the next serial number, per version, from 1; every
// replica, the primary included, applies them strictly in serial order, one
// at a time, so all replicas apply the same mutations in the same order.
import { ReplicaOrder, type OrderStep } from "./replica-order";

export type PlannedKind = "WRITE" | "PAD" | "TRUNCATE" | "SYNC";

export type AppendPlan =
  | { kind: "WRITE"; serial: number; offset: number }
  | { kind: "PAD"; serial: number; offset: number }
  /** The chunk is already full: nothing to do but send the client to the next chunk. */
  | { kind: "FULL" };

interface PrimaryChunk {
  version: number;
  lastSerial: number;
  /** The chunk's length once every serial assigned so far is applied. */
  projectedLength: number;
}

/** The primary's side: serial numbers, and record append offsets decided in serial order. */
export class PrimarySerials {
  private readonly chunks = new Map<string, PrimaryChunk>();

  private chunk(handle: string, version: number, currentLength: number): PrimaryChunk {
    let c = this.chunks.get(handle);
    if (!c || c.version !== version) {
      if (c && version < c.version) throw new Error(`invariant: primary serials of chunk ${handle} asked for version ${version} after ${c.version}`);
      // A new version (new lease) starts a new serial sequence.
      c = { version, lastSerial: 0, projectedLength: currentLength };
      this.chunks.set(handle, c);
    }
    return c;
  }

  /** The serial of a client's WRITE, TRUNCATE or SYNC (which leaves the length as it is). */
  assign(handle: string, version: number, currentLength: number, kind: "WRITE" | "TRUNCATE" | "SYNC", offset: number, length: number): number {
    const c = this.chunk(handle, version, currentLength);
    if (kind === "WRITE") c.projectedLength = Math.max(c.projectedLength, offset + length);
    else if (kind === "TRUNCATE") c.projectedLength = offset;
    return ++c.lastSerial;
  }

  /**
   * Where a record of `recordBytes` goes: at the end the chunk will have once
   * the mutations already ordered are applied (so concurrent appends never
   * overlap); if it does not fit, pad the chunk to its end instead.
   */
  planAppend(handle: string, version: number, currentLength: number, recordBytes: number, chunkSizeBytes: number): AppendPlan {
    const c = this.chunk(handle, version, currentLength);
    const offset = c.projectedLength;
    if (offset + recordBytes <= chunkSizeBytes) {
      c.projectedLength = offset + recordBytes;
      return { kind: "WRITE", serial: ++c.lastSerial, offset };
    }
    if (offset >= chunkSizeBytes) return { kind: "FULL" };
    c.projectedLength = chunkSizeBytes;
    return { kind: "PAD", serial: ++c.lastSerial, offset };
  }

  /** After a failed mutation the projection may be wrong; the lease is given up too. */
  forget(handle: string): void {
    this.chunks.delete(handle);
  }
}

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(timer: unknown): void;
}

export const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (t) => clearTimeout(t as NodeJS.Timeout),
};

/**
 * Any replica's side, for callers that apply with a promise (the service
 * itself goes through ChunkCore, which uses ReplicaOrder directly): runs each
 * chunk's mutations strictly in serial order, one at a time (the decisions
 * are ReplicaOrder's; this only keeps the promises and the timers).
 */
export class SerialSequencer {
  private readonly order: ReplicaOrder;
  private nextKey = 1;
  private readonly jobs = new Map<number, { run(): void; fail(e: Error): void; timer?: unknown }>();

  constructor(gapWaitMs: number, private readonly timers: Timers = realTimers, private readonly now: () => number = () => 0) {
    this.order = new ReplicaOrder(gapWaitMs);
  }

  /**
   * Runs `apply` as mutation `serial` of the chunk at `version` once every
   * earlier serial has finished. A serial that arrives early waits up to the
   * gap wait for its predecessors; a serial seen before is refused. A failed
   * apply still uses up its serial: the region is undefined, the order goes on.
   */
  run<T>(handle: string, version: number, serial: number, apply: () => Promise<T>): Promise<T> {
    const key = this.nextKey++;
    return new Promise<T>((resolve, reject) => {
      this.jobs.set(key, {
        fail: reject,
        run: () => {
          Promise.resolve().then(apply).then(resolve, reject)
            .finally(() => this.take(this.order.finished(key, handle, version, serial)));
        },
      });
      this.take(this.order.arrive(this.now(), key, handle, version, serial));
    });
  }

  private take(steps: OrderStep[]): void {
    for (const s of steps) {
      const job = this.jobs.get(s.key);
      if (!job) continue;
      switch (s.t) {
        case "run": this.jobs.delete(s.key); job.run(); break;
        case "fail": this.jobs.delete(s.key); job.fail(s.error); break;
        case "unwait": this.timers.clear(job.timer); break;
        case "wait":
          job.timer = this.timers.set(() => this.take(this.order.expire(s.untilMs, s.handle, s.version, s.serial)), s.untilMs - this.now());
          break;
      }
    }
  }

  /** The chunk was deleted. */
  forget(handle: string): void {
    this.take(this.order.forget(handle));
  }
}
