// The simulated world: one clock, one event queue ordered by (time, sequence)
// and one seeded generator. Events run one at a time; after each, the loop
// waits a macrotask turn so every microtask the event started has settled
// (there is no real I/O or timer inside the simulated processes) before the
// next event runs. So the order of everything is a function of the seed.
import { createHash } from "node:crypto";
import type { Env } from "@gfs/common";
import { Rng } from "./rng";

/** A simulated process: crashing it bumps its incarnation, which cancels its timers and pending replies. */
export class Proc {
  incarnation = 0;
  up = true;
  constructor(readonly name: string) {}
}

export interface SimEvent {
  at: number;
  seq: number;
  what: string;
  fn: () => void;
  /** The process (and its incarnation) the event belongs to: skipped once that incarnation is gone. */
  owner?: Proc;
  incarnation: number;
  cancelled: boolean;
  /** Not written to the trace (a process's own periodic timers are, through what they do). */
  quiet: boolean;
}

/** A min-heap of events by (at, seq). */
class EventQueue {
  private readonly heap: SimEvent[] = [];
  get size(): number { return this.heap.length; }
  private less(a: SimEvent, b: SimEvent): boolean { return a.at < b.at || (a.at === b.at && a.seq < b.seq); }
  push(e: SimEvent): void {
    const h = this.heap;
    h.push(e);
    for (let i = h.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): SimEvent | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
  peek(): SimEvent | undefined { return this.heap[0]; }
}

export class World {
  now: number;
  private seq = 0;
  private readonly queue = new EventQueue();
  readonly rng: Rng;
  steps = 0;
  /** Every trace line goes into the digest; the last `tailMax` are kept; all when `keepAll`. */
  private readonly digest = createHash("sha256");
  readonly tail: string[] = [];
  readonly all: string[] = [];
  constructor(readonly seed: number, readonly keepAll = false, private readonly tailMax = 200, startMs = 1_700_000_000_000) {
    this.rng = new Rng(seed);
    this.now = startMs;
  }

  /** `incarnation`: of the owner that schedules it (default its current one); an older one's event never runs. */
  schedule(delayMs: number, what: string, fn: () => void, owner?: Proc, quiet = false, incarnation = owner?.incarnation ?? 0): SimEvent {
    const e: SimEvent = {
      at: this.now + Math.max(0, Math.floor(delayMs)), seq: this.seq++, what, fn, owner,
      incarnation, cancelled: false, quiet,
    };
    this.queue.push(e);
    return e;
  }

  trace(line: string): void {
    const l = `${this.now - 1_700_000_000_000} ${line}`;
    this.digest.update(l + "\n");
    this.tail.push(l);
    if (this.tail.length > this.tailMax) this.tail.shift();
    if (this.keepAll) this.all.push(l);
  }

  traceDigest(): string {
    return this.digest.copy().digest("hex");
  }

  private live(e: SimEvent): boolean {
    return !e.cancelled && (!e.owner || (e.owner.up && e.owner.incarnation === e.incarnation));
  }

  /**
   * The Env of `proc`'s current incarnation: its timers are events it owns (a
   * crash cancels them, and code of a crashed incarnation still settling sets
   * none that run); its randomness is the world's.
   */
  envOf(proc: Proc): Env {
    const incarnation = proc.incarnation;
    return {
      now: () => this.now,
      setTimer: (fn, ms) => this.schedule(ms, `${proc.name} timer`, fn, proc, true, incarnation),
      clearTimer: (t) => { if (t) (t as SimEvent).cancelled = true; },
      randomBytes: (n) => this.rng.bytes(n),
      randomInt: (max) => this.rng.int(max),
    };
  }

  crash(proc: Proc): void {
    proc.up = false;
    proc.incarnation++;
  }

  restart(proc: Proc): void {
    proc.up = true;
    proc.incarnation++;
  }

  /**
   * Runs events until `untilMs` or `stop()` says so; `afterStep` (the
   * invariant checks) runs after every event once its microtasks settled.
   */
  async run(untilMs: number, afterStep: () => void, stop: () => boolean = () => false): Promise<void> {
    while (this.queue.size > 0 && !stop()) {
      const next = this.queue.peek()!;
      if (next.at > untilMs) break;
      this.queue.pop();
      if (!this.live(next)) continue;
      this.now = next.at;
      this.steps++;
      if (!next.quiet) this.trace(next.what);
      try {
        next.fn();
      } catch (e) {
        this.trace(`EXCEPTION in ${next.what}: ${(e as Error).stack ?? e}`);
        throw e;
      }
      await settle();
      afterStep();
    }
    if (this.now < untilMs && (this.queue.size === 0 || this.queue.peek()!.at > untilMs)) this.now = untilMs;
  }
}

/** Resolves after every microtask queued so far (and those they queue) has run. */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
