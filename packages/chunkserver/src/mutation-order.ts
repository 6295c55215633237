// The order of mutations of one chunk (GFS §3.1). The primary gives every
// mutation of a chunk the next serial number, per version, from 1; every
// replica, the primary included, applies them strictly in serial order, one
// at a time, so all replicas apply the same mutations in the same order.
import { GfsError } from "@gfs/common";

export type PlannedKind = "WRITE" | "PAD" | "TRUNCATE";

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

  /** The serial of a client's WRITE or TRUNCATE. */
  assign(handle: string, version: number, currentLength: number, kind: "WRITE" | "TRUNCATE", offset: number, length: number): number {
    const c = this.chunk(handle, version, currentLength);
    c.projectedLength = kind === "WRITE" ? Math.max(c.projectedLength, offset + length) : offset;
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

interface Waiting {
  serial: number;
  run(): void;
  fail(e: Error): void;
  timer: unknown;
}

interface ReplicaChunk {
  version: number;
  /** Every serial up to this one has been applied or given up. */
  done: number;
  running: number | null;
  waiting: Map<number, Waiting>;
  /** Serials that timed out waiting; skipped when their turn comes. */
  givenUp: Set<number>;
}

/** Any replica's side: runs each chunk's mutations strictly in serial order, one at a time. */
export class SerialSequencer {
  private readonly chunks = new Map<string, ReplicaChunk>();

  constructor(private readonly gapWaitMs: number, private readonly timers: Timers = realTimers) {}

  /**
   * Runs `apply` as mutation `serial` of the chunk at `version` once every
   * earlier serial has finished. A serial that arrives early waits up to the
   * gap wait for its predecessors; a serial seen before is refused. A failed
   * apply still uses up its serial: the region is undefined, the order goes on.
   */
  run<T>(handle: string, version: number, serial: number, apply: () => Promise<T>): Promise<T> {
    if (!Number.isSafeInteger(serial) || serial < 1) return Promise.reject(new GfsError("EINVAL", `bad mutation serial ${serial} for chunk ${handle}`));
    let c = this.chunks.get(handle);
    if (c && version < c.version) {
      return Promise.reject(new GfsError("ESTALE", `mutation ${serial} of chunk ${handle} carries version ${version}, older than ${c.version}`));
    }
    if (!c || version > c.version) {
      if (c) this.failAll(c, new GfsError("ESTALE", `chunk ${handle} moved on to version ${version}`));
      c = { version, done: 0, running: null, waiting: new Map(), givenUp: new Set() };
      this.chunks.set(handle, c);
    }
    const chunk = c;
    if (serial <= chunk.done || chunk.running === serial || chunk.waiting.has(serial) || chunk.givenUp.has(serial)) {
      return Promise.reject(new GfsError("EINVAL", `mutation ${serial} of chunk ${handle} at version ${version} was already seen`));
    }
    return new Promise<T>((resolve, reject) => {
      const entry: Waiting = {
        serial,
        timer: undefined,
        fail: reject,
        run: () => {
          chunk.running = serial;
          Promise.resolve().then(apply).then(resolve, reject).finally(() => {
            if (chunk.running !== serial || chunk.done !== serial - 1) throw new Error(`invariant: chunk ${handle} finished serial ${serial} out of order`);
            chunk.running = null;
            chunk.done = serial;
            this.startNext(chunk);
          });
        },
      };
      if (chunk.running === null && serial === chunk.done + 1) {
        entry.run();
        return;
      }
      entry.timer = this.timers.set(() => {
        if (chunk.waiting.get(serial) !== entry) return;
        chunk.waiting.delete(serial);
        chunk.givenUp.add(serial);
        reject(new GfsError("EAGAIN", `mutation ${serial} of chunk ${handle} waited ${this.gapWaitMs} ms for mutation ${chunk.done + 1}`));
        this.startNext(chunk);
      }, this.gapWaitMs);
      chunk.waiting.set(serial, entry);
    });
  }

  private startNext(c: ReplicaChunk): void {
    if (c.running !== null) return;
    while (c.givenUp.delete(c.done + 1)) c.done++;
    const next = c.waiting.get(c.done + 1);
    if (!next) return;
    c.waiting.delete(next.serial);
    this.timers.clear(next.timer);
    next.run();
  }

  private failAll(c: ReplicaChunk, e: Error): void {
    for (const w of c.waiting.values()) {
      this.timers.clear(w.timer);
      w.fail(e);
    }
    c.waiting.clear();
  }

  /** The chunk was deleted. */
  forget(handle: string): void {
    const c = this.chunks.get(handle);
    if (c) this.failAll(c, new GfsError("ENOENT", `chunk ${handle} was deleted`));
    this.chunks.delete(handle);
  }
}
