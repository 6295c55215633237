// Chunks created ahead of demand. Creating a chunk is a round of
// SetChunkVersion calls to its replicas, each making a file and a sidecar:
// a writer that needs a new chunk (every small file does) used to wait for
// all of it. The master keeps a few spares, created in the background with
// their first lease already granted, and hands one out on AddChunk, so the
// writer waits only for the durable commit.
//
// A spare is handed out only while what it relied on still holds: every
// replica's server alive and heard from recently (a server that died since
// would fail the writer's first write, where a fresh creation would have
// placed around it), and its lease young enough to be worth having. Spares
// that fail either test are discarded (the caller has their replicas
// deleted). A spare belongs to no file: if the master restarts, chunkservers
// report it as an orphan and delete it, like any other unknown chunk.
//
// Pure bookkeeping; master-state.ts creates and discards the chunks.

export interface SpareChunk {
  handle: string;
  /** Servers holding a replica (version 1, empty). */
  serverIds: string[];
  /** The server holding the chunk's first lease. */
  primaryId: string;
  /** When the master granted that lease (after the primary received it). */
  grantedAtMs: number;
  /** The lease's token, given to every replica at creation. */
  token: string;
}

export interface SparePolicy {
  /** Spares kept ready (0: none, every chunk is created on demand). */
  count: number;
  /** A spare older than this is not handed out: its lease would be mostly gone. */
  maxAgeMs: number;
  /** Every replica's server must have been heard from within this long. */
  heardWithinMs: number;
}

/** When a server was last heard from; undefined if it is not alive. */
export type LastHeard = (serverId: string) => number | undefined;

export class SpareChunks {
  /** Oldest first. */
  private readonly ready: SpareChunk[] = [];
  private creating = 0;

  constructor(private readonly policy: SparePolicy) {}

  get size(): number {
    return this.ready.length;
  }

  /**
   * How many creations to start now: none while more than half the count is
   * ready or being made, else enough to get back to the count, as one batch
   * (a call to each replica's server per batch, not per chunk).
   */
  shortfall(): number {
    const have = this.ready.length + this.creating;
    return have * 2 > this.policy.count ? 0 : this.policy.count - have;
  }

  creationStarted(n: number): void {
    this.creating += n;
  }

  /** A background creation ended: with the new spare, or failed (undefined). */
  creationEnded(spare: SpareChunk | undefined): void {
    if (this.creating <= 0) throw new Error("invariant: a spare chunk creation ended that never started");
    this.creating--;
    if (spare) this.ready.push(spare);
  }

  private usable(s: SpareChunk, nowMs: number, lastHeard: LastHeard): boolean {
    if (nowMs - s.grantedAtMs > this.policy.maxAgeMs) return false;
    return s.serverIds.every((id) => {
      const heard = lastHeard(id);
      return heard !== undefined && nowMs - heard <= this.policy.heardWithinMs;
    });
  }

  /**
   * The oldest usable spare, if any. Spares passed over (too old, or a
   * server not heard from lately) come back in `discarded`: a spare is worth
   * keeping only while it is ready to use.
   */
  take(nowMs: number, lastHeard: LastHeard): { spare?: SpareChunk; discarded: SpareChunk[] } {
    const discarded: SpareChunk[] = [];
    while (this.ready.length > 0) {
      const s = this.ready.shift()!;
      if (this.usable(s, nowMs, lastHeard)) return { spare: s, discarded };
      discarded.push(s);
    }
    return { discarded };
  }

  /**
   * Spares with a replica on `serverId`, removed: it (re)registered, so it may
   * have restarted and forgotten the spare's lease, or the chunk itself.
   */
  dropServer(serverId: string): SpareChunk[] {
    const out = this.ready.filter((s) => s.serverIds.includes(serverId));
    if (out.length) this.ready.splice(0, this.ready.length, ...this.ready.filter((s) => !out.includes(s)));
    return out;
  }

  /** Spares too old to hand out, removed (periodic, so idle spares do not linger). */
  expire(nowMs: number): SpareChunk[] {
    const out: SpareChunk[] = [];
    while (this.ready.length > 0 && nowMs - this.ready[0]!.grantedAtMs > this.policy.maxAgeMs) out.push(this.ready.shift()!);
    return out;
  }
}
