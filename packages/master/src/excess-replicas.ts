// Excess replica removal (issue 18): which replicas to delete when a chunk has
// more good replicas than its file's goal (after `gfs setrep` lowered it, a
// re-replication raced a returning server, a balancer move finished, or a
// retiring server's chunks now have their goal elsewhere). Pure: it takes the
// chunk table's view, the live servers and the copies under way, and returns
// orders; the caller hands each to its holder as a heartbeat delete and forgets
// that replica's location at once (so it is never granted a lease or used as a
// copy source after the order).
//
// Rules:
// - never in safe mode: the master may not yet know every replica, and what
//   looks like an excess may be the only copies some servers still report;
// - never for a chunk with a copy in flight (the copy's source or target may be
//   the one we would remove) or an unexpired lease (its grant set would lose a
//   member mid-mutation);
// - only good replicas count (current version, not corrupt or suspect, on a
//   live server); stale, corrupt and suspect ones are other modules' business;
// - a retiring server's (draining, leaving) replicas do not count toward the
//   goal; they go first, once the chunk has `goal` good replicas elsewhere;
// - beyond that, a chunk above its goal loses first the balancer's preferred
//   victim, then a replica on a rack that keeps another replica (so removal
//   never narrows the rack spread when it need not), then the fullest server's
//   (used/capacity), ties by server id;
// - at most `removalsMax` orders per plan, so a goal lowered on a big tree
//   deletes at a bounded rate.
import { goodReplicaIds, type ChunkEntry } from "./chunk-table";
import type { ChunkserverState } from "./liveness";
import type { CopyInFlight } from "./re-replication";

export interface RemovalOrder { handle: string; version: number; serverId: string }

export interface RemovalInput {
  chunks: Iterable<ChunkEntry>;
  goalOf(c: ChunkEntry): number;
  liveServers: ChunkserverState[];
  inFlight: Iterable<CopyInFlight>;
  hasLease(handle: string): boolean;
  /** Servers whose replicas do not count toward a goal (draining, leaving): their replicas go
   *  first, once the chunk has `goal` good replicas on other servers. */
  retiringIds?: ReadonlySet<string>;
  /** The balancer's move source for a chunk: removed first once the chunk is above goal. */
  preferredVictim?(handle: string): string | undefined;
  removalsMax: number;
  /** The master is in safe mode: nothing is removed (absent: false). */
  safeMode?: boolean;
}

/** used/capacity of a server (1 when it reports no capacity: treat it as full). */
const fullness = (s: ChunkserverState | undefined): number =>
  !s || s.capacityBytes <= 0 ? 1 : s.usedBytes / s.capacityBytes;

export function planRemovals(input: RemovalInput): RemovalOrder[] {
  if (input.safeMode || input.removalsMax <= 0) return [];
  const live = new Map(input.liveServers.map((s) => [s.serverId, s]));
  const copying = new Set<string>();
  for (const f of input.inFlight) copying.add(f.handle);
  const retiring = input.retiringIds ?? new Set<string>();

  const orders: RemovalOrder[] = [];
  for (const c of input.chunks) {
    if (orders.length >= input.removalsMax) break;
    if (copying.has(c.handle)) continue;
    const goal = Math.max(1, input.goalOf(c));
    // The common case, cheaply: no more replicas than the goal and none on a retiring server (a few, looked up).
    if (c.replicas.size <= goal && !holdsAny(c, retiring)) continue;
    const good = goodReplicaIds(c, (id) => live.has(id));
    const staying = good.filter((id) => !retiring.has(id));
    const leaving = good.filter((id) => retiring.has(id));
    if (staying.length < goal) continue; // retiring replicas still needed (as copy sources, and as the data)
    if (staying.length === goal && leaving.length === 0) continue;
    // Checked last: hasLease may be a lookup the caller would rather not do per chunk.
    if (input.hasLease(c.handle)) continue;
    const victims = [...leaving, ...pickVictims(c.handle, staying, staying.length - goal, live, input.preferredVictim)];
    for (const serverId of victims) {
      if (orders.length >= input.removalsMax) break;
      orders.push({ handle: c.handle, version: c.version, serverId });
    }
  }
  return orders;
}

/** Whether any of `ids` (the retiring servers: few) holds a replica of `c`. */
function holdsAny(c: ChunkEntry, ids: ReadonlySet<string>): boolean {
  for (const id of ids) if (c.replicas.has(id)) return true;
  return false;
}

/** `n` of `holders` to remove, by the rules above. */
function pickVictims(handle: string, holders: string[], n: number, live: ReadonlyMap<string, ChunkserverState>,
  preferred?: (handle: string) => string | undefined): string[] {
  const kept = [...holders];
  const out: string[] = [];
  const want = preferred?.(handle);
  if (n > 0 && want !== undefined && kept.includes(want)) {
    out.push(want);
    kept.splice(kept.indexOf(want), 1);
  }
  while (out.length < n && kept.length > 0) {
    const rackCount = new Map<string, number>();
    for (const id of kept) {
      const r = live.get(id)?.rack ?? "";
      if (r !== "") rackCount.set(r, (rackCount.get(r) ?? 0) + 1);
    }
    // A replica whose rack keeps another one goes before the only replica on its rack.
    const shared = kept.filter((id) => (rackCount.get(live.get(id)?.rack ?? "") ?? 0) > 1);
    const pool = shared.length ? shared : kept;
    pool.sort((a, b) => fullness(live.get(b)) - fullness(live.get(a)) || (a < b ? -1 : a > b ? 1 : 0));
    const victim = pool[0];
    out.push(victim);
    kept.splice(kept.indexOf(victim), 1);
  }
  return out;
}
