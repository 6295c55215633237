// Copy orders from the master (re-replication, GFS §4.3: "the chunkserver
// clones the chunk data directly from a valid replica"). One copy of a chunk
// runs at a time. An order that arrives while a copy of that chunk runs is
// kept: the master re-issues an order (another source) when the first one's
// source dies, and the copy from the dead source may not have failed yet, so
// it runs if the first fails (dropping it would leave the master waiting for
// a copy nobody makes, until its copy timeout). A chunk already held good at
// the order's version (or newer) is not fetched: the store would refuse to
// replace it (chunk-store.ts install), so the fetch would only cost bytes.
import type { ReplicationOrder__Output } from "@gfs/common";

/** The replica held here, as the store knows it. */
export interface HeldReplica {
  version: number;
  /** Known bad or not yet verified: a verified copy of the same version may replace it. */
  suspect: boolean;
}

export type CopyStep =
  | { t: "fetch"; order: ReplicationOrder__Output }
  | { t: "skip"; order: ReplicationOrder__Output; heldVersion: number }
  | { t: "queued"; order: ReplicationOrder__Output };

export class CopyOrders {
  /** handle -> the order that arrived while a copy of that chunk ran (undefined: none). */
  private readonly running = new Map<string, ReplicationOrder__Output | undefined>();

  order(order: ReplicationOrder__Output, held: HeldReplica | undefined): CopyStep {
    if (this.running.has(order.handle)) {
      this.running.set(order.handle, order);
      return { t: "queued", order };
    }
    if (held && !replaceable(held, order.version)) return { t: "skip", order, heldVersion: held.version };
    this.running.set(order.handle, undefined);
    return { t: "fetch", order };
  }

  /** The copy of `handle` finished: after a failure, the order kept meanwhile (if any) is taken. */
  finished(handle: string, ok: boolean, held: HeldReplica | undefined): CopyStep | undefined {
    const next = this.running.get(handle);
    this.running.delete(handle);
    return !ok && next ? this.order(next, held) : undefined;
  }
}

/** The store's rule for replacing a replica with a fetched copy (chunk-store.ts install). */
function replaceable(held: HeldReplica, version: number): boolean {
  return held.suspect ? held.version <= version : held.version < version;
}
