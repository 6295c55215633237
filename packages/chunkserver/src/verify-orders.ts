// The master's orders to verify replicas (HeartbeatResponse.verify_chunks):
// a client reported them bad, and the master believes no client on its word
// alone (see packages/master/src/replica-verification.ts). Each replica is
// read whole through the store's verified read path (scrubber.ts's
// verifyWhole); a bad one is reported by the store itself (onCorrupt, then
// HeartbeatRequest.corrupt_chunks), a good one is left alone. One at a time,
// deduplicated, and bounded: orders beyond the bound are dropped (the master
// sends at most a few per heartbeat, so only a flood of them is).
import type { Logger } from "@gfs/common";
import { verifyWhole, type ScrubbableStore } from "./scrubber";

export class VerifyOrders {
  private readonly waiting = new Set<string>();
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: Pick<ScrubbableStore, "get" | "read">,
    private readonly queuedMax: number,
    private readonly log?: Logger,
  ) {
    if (!(queuedMax > 0)) throw new Error("verify orders: queuedMax must be positive");
  }

  /** Queues the orders; returns how many were dropped (duplicates are not counted). */
  add(handles: string[]): number {
    let dropped = 0;
    for (const h of handles) {
      if (this.waiting.has(h)) continue;
      if (this.waiting.size >= this.queuedMax) {
        dropped++;
        continue;
      }
      this.waiting.add(h);
    }
    if (dropped) this.log?.warn("verification orders dropped: too many waiting", { dropped, waiting: this.waiting.size });
    if (!this.running && this.waiting.size > 0) this.running = this.drain();
    return dropped;
  }

  /** Resolves once every queued verification is done (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    try {
      for (let handle = first(this.waiting); handle !== undefined; handle = first(this.waiting)) {
        this.waiting.delete(handle);
        const r = await verifyWhole(this.store, handle);
        if (r.verdict === "good") this.log?.info("replica verified on the master's order: good, kept", { handle, bytes: r.bytes });
        else if (r.verdict === "bad") this.log?.error("replica verified on the master's order: not good (a bad one is reported corrupt)", { handle, error: r.error });
        else this.log?.info("replica to verify is not here", { handle });
      }
    } finally {
      this.running = undefined; // no await between the last check of the queue and this
    }
  }
}

function first(s: Set<string>): string | undefined {
  for (const x of s) return x;
  return undefined;
}
