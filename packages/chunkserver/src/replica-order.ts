// The order in which one replica applies a chunk's mutations (GFS §3.1:
// "all mutations are applied in serial number order"), as a pure state
// machine. Every replica, the primary included, applies a chunk's mutations
// one at a time, strictly by serial. A serial that arrives before its
// predecessors waits up to the gap wait; one whose predecessor never comes
// is given up (refused, EAGAIN) and skipped, so the order goes on. A failed
// apply still uses up its serial: the region is undefined, the order goes on.
//
// Inputs carry the caller's key for the mutation and the time; the answer is
// a list of steps for the caller to take. Nothing here reads a clock or sets
// a timer: "wait" says until when, and the caller calls expire() then.
import { GfsError } from "@gfs/common";

export type OrderStep =
  /** Apply mutation `key` now; call finished() when it is done (whether it worked or not). */
  | { t: "run"; key: number }
  /** Mutation `key` waits for its predecessors; call expire() at `untilMs`. */
  | { t: "wait"; key: number; handle: string; version: number; serial: number; untilMs: number }
  /** Mutation `key` no longer waits (it runs or failed): its timer may go. */
  | { t: "unwait"; key: number }
  /** Mutation `key` is refused without being applied. */
  | { t: "fail"; key: number; error: GfsError };

interface Waiting {
  key: number;
  untilMs: number;
}

interface ChunkOrder {
  version: number;
  /** Every serial up to this one has been applied or given up. */
  done: number;
  /** The serial being applied now, and its key. */
  running: { serial: number; key: number } | null;
  waiting: Map<number, Waiting>;
  /** Serials that timed out waiting; skipped when their turn comes. */
  givenUp: Set<number>;
}

export class ReplicaOrder {
  private readonly chunks = new Map<string, ChunkOrder>();

  constructor(private readonly gapWaitMs: number) {}

  /** Mutation `serial` of the chunk at `version` arrives (under the caller's `key`). */
  arrive(nowMs: number, key: number, handle: string, version: number, serial: number): OrderStep[] {
    if (!Number.isSafeInteger(serial) || serial < 1) return [{ t: "fail", key, error: new GfsError("EINVAL", `bad mutation serial ${serial} for chunk ${handle}`) }];
    const steps: OrderStep[] = [];
    let c = this.chunks.get(handle);
    if (c && version < c.version) {
      return [{ t: "fail", key, error: new GfsError("ESTALE", `mutation ${serial} of chunk ${handle} carries version ${version}, older than ${c.version}`) }];
    }
    if (!c || version > c.version) {
      // A new version (new grant) starts a new serial sequence; what waited for the old one never runs.
      if (c) steps.push(...this.failWaiting(c, new GfsError("ESTALE", `chunk ${handle} moved on to version ${version}`)));
      c = { version, done: 0, running: null, waiting: new Map(), givenUp: new Set() };
      this.chunks.set(handle, c);
    }
    if (serial <= c.done || c.running?.serial === serial || c.waiting.has(serial) || c.givenUp.has(serial)) {
      steps.push({ t: "fail", key, error: new GfsError("EINVAL", `mutation ${serial} of chunk ${handle} at version ${version} was already seen`) });
      return steps;
    }
    if (c.running === null && serial === c.done + 1) {
      c.running = { serial, key };
      steps.push({ t: "run", key });
      return steps;
    }
    const untilMs = nowMs + this.gapWaitMs;
    c.waiting.set(serial, { key, untilMs });
    steps.push({ t: "wait", key, handle, version, serial, untilMs });
    return steps;
  }

  /** Mutation `key` (running as `serial`) finished: the next in order may run. */
  finished(key: number, handle: string, version: number, serial: number): OrderStep[] {
    const c = this.chunks.get(handle);
    // The chunk was forgotten or moved on while this applied: nothing waits on this sequence any more.
    if (!c || c.version !== version || c.running?.key !== key) return [];
    if (c.running.serial !== serial || c.done !== serial - 1) throw new Error(`invariant: chunk ${handle} finished serial ${serial} out of order`);
    c.running = null;
    c.done = serial;
    return this.startNext(c);
  }

  /** The gap wait of mutation `serial` may be over: give it up if it still waits. */
  expire(nowMs: number, handle: string, version: number, serial: number): OrderStep[] {
    const c = this.chunks.get(handle);
    const w = c?.version === version ? c.waiting.get(serial) : undefined;
    if (!c || !w || nowMs < w.untilMs) return [];
    c.waiting.delete(serial);
    c.givenUp.add(serial);
    const error = new GfsError("EAGAIN", `mutation ${serial} of chunk ${handle} waited ${this.gapWaitMs} ms for mutation ${c.done + 1}`);
    return [{ t: "unwait", key: w.key }, { t: "fail", key: w.key, error }, ...this.startNext(c)];
  }

  /** The chunk was deleted: what waits is refused. */
  forget(handle: string): OrderStep[] {
    const c = this.chunks.get(handle);
    this.chunks.delete(handle);
    return c ? this.failWaiting(c, new GfsError("ENOENT", `chunk ${handle} was deleted`)) : [];
  }

  private startNext(c: ChunkOrder): OrderStep[] {
    if (c.running !== null) return [];
    while (c.givenUp.delete(c.done + 1)) c.done++;
    const serial = c.done + 1;
    const next = c.waiting.get(serial);
    if (!next) return [];
    c.waiting.delete(serial);
    c.running = { serial, key: next.key };
    return [{ t: "unwait", key: next.key }, { t: "run", key: next.key }];
  }

  private failWaiting(c: ChunkOrder, error: GfsError): OrderStep[] {
    const steps: OrderStep[] = [];
    for (const w of c.waiting.values()) steps.push({ t: "unwait", key: w.key }, { t: "fail", key: w.key, error });
    c.waiting.clear();
    return steps;
  }
}
