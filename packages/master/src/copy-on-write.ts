// Issue 20: copy-on-write of a snapshot's shared chunk (GFS 3.4), decided with no I/O. A lease
// request for a chunk that several files reference (ChunkTable.refCount > 1) does not bump it in
// place: the master picks a new handle, has every live holder of a good current replica copy the
// chunk locally (CopyChunkLocal: no network transfer), logs `cowChunk` (the writer's file now holds
// the copy, the shared chunk loses a reference), then grants the lease on the copy. The other files
// keep the old bytes. The driver (MasterState.copyOnWrite) sends the messages and commits.
//
// Rules kept here:
// - only a shared chunk, and only for a file that references it at its index (ESTALE otherwise:
//   the client's layout is stale, it asks again);
// - no copy while a lease on the shared chunk is current or may be held (a snapshot revoked them;
//   one granted since would be a bug, one a restarted master forgot waits out like a grant);
// - servers whose copy failed are left out of the new chunk (re-replication restores its goal);
//   no copy at all: EAGAIN, nothing logged, the reservation abandoned.
import { goodReplicaIds } from "./chunk-table";
import { isAlive, type MasterCore, type Message, type Result } from "./core";
import type { Refusal } from "./lease-grant";
import type { MetadataOp } from "./metadata";
import { forgottenLease } from "./reported-leases";

/** The version a copy starts at: a new chunk, as a created one (its lease grant bumps it). */
export const COPY_VERSION = 1;

export type CowPlan = Refusal | { kind: "copy"; from: string; handle: string; index: number; version: number; servers: string[]; messages: Message[] };

/**
 * What to do about a lease request on shared chunk `handle` for the file at `path`, whose slot at
 * the chunk's index holds `slotHandle`; `newHandle`: a fresh random handle (the driver's).
 */
export function planCow(core: MasterCore, handle: string, path: string, slotHandle: string, newHandle: string, now: number): CowPlan {
  const c = core.chunks.get(handle);
  if (!c) return { kind: "refuse", errno: "ESTALE", message: `no chunk ${handle} (deleted or never allocated)` };
  if (slotHandle !== handle) return { kind: "refuse", errno: "ESTALE", message: `chunk ${handle} is no longer chunk ${c.index} of ${path} (copied on write, or replaced): ask for its chunks again` };
  if (core.leases.current(handle, now)) return { kind: "refuse", errno: "EAGAIN", message: `chunk ${handle} is shared by a snapshot and still leased; try again once its lease is revoked or expired` };
  const forgotten = forgottenLease(core, handle, now);
  if (forgotten) return { kind: "refuse", errno: "EAGAIN", message: `master restarted recently: no copy of shared chunk ${handle} yet (${forgotten})` };
  const servers = goodReplicaIds(c, (id) => isAlive(core, id));
  if (servers.length === 0) return { kind: "refuse", errno: "EAGAIN", message: `shared chunk ${handle} has no live current replica to copy` };
  const messages: Message[] = servers.map((to) => ({
    to, rpc: "CopyChunkLocal", request: { handle, version: c.version, newHandle, newVersion: COPY_VERSION },
  }));
  return { kind: "copy", from: handle, handle: newHandle, index: c.index, version: COPY_VERSION, servers, messages };
}

export type CowOutcome = Refusal | { kind: "commit"; record: MetadataOp; copied: Array<{ serverId: string; length: number }>; failed: string[] };

/** The copies were answered (`results`, one per message): the record to log, or EAGAIN when none succeeded. */
export function cowOutcome(plan: Extract<CowPlan, { kind: "copy" }>, path: string, results: Array<Result<{ chunkLength: number | string }>>): CowOutcome {
  if (results.length !== plan.servers.length) throw new Error(`invariant: ${results.length} results for ${plan.servers.length} copies`);
  const copied: Array<{ serverId: string; length: number }> = [];
  const failed: string[] = [];
  results.forEach((r, i) => {
    if (r.ok) copied.push({ serverId: plan.servers[i]!, length: Number(r.value.chunkLength) });
    else failed.push(`${plan.servers[i]}: ${r.error}`);
  });
  if (copied.length === 0) return { kind: "refuse", errno: "EAGAIN", message: `copy-on-write of chunk ${plan.from} failed on every replica (${failed.join("; ")})` };
  return {
    kind: "commit", copied, failed,
    record: { op: "cowChunk", path, index: plan.index, from: plan.from, handle: plan.handle, version: plan.version, replicas: copied.map((c) => c.serverId) },
  };
}

/**
 * Chunks a snapshot is quiescing (its source's): no lease is granted on them until it committed,
 * so no write slips in between the revocation and the record. Counted: two snapshots of
 * overlapping trees each hold their own.
 */
export class SnapshotFence {
  private readonly held = new Map<string, number>();

  add(handles: Iterable<string>): void {
    for (const h of handles) this.held.set(h, (this.held.get(h) ?? 0) + 1);
  }

  release(handles: Iterable<string>): void {
    for (const h of handles) {
      const n = this.held.get(h) ?? 0;
      if (n <= 1) this.held.delete(h);
      else this.held.set(h, n - 1);
    }
  }

  has(handle: string): boolean {
    return this.held.has(handle);
  }
}
