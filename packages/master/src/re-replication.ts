// Re-replication planning (GFS §4.3): which under-replicated chunks to copy
// now, from which good replica to which new server. Pure: it takes the chunk
// table's view, the live servers, the copies already under way and a clock,
// and returns orders.
//
// Rules:
// - each chunk is copied up to its own file's goal (issue 18: `goalOf`);
// - most endangered first: a chunk with 1 good replica before one with 2, and
//   among equals the one furthest below its goal (1 of 4 before 1 of 2);
// - a copy needs a source holding the chunk at its current version, uncorrupted;
// - the target is chosen by placement among live servers holding no replica of
//   the chunk (any version), so copies spread by free space and rack;
// - each server takes part (as source or target) in at most
//   `copies_per_server_max` copies at once, so recovery does not starve clients;
// - a chunk with an unexpired lease is not copied: mutations under that lease
//   would miss the new replica while it still looked current. (The master stops
//   extending such leases, so they end within one lease.)
import { goodReplicaIds, type ChunkEntry } from "./chunk-table";
import type { ChunkserverState } from "./liveness";
import { freeBytesOf, placeReplicas } from "./placement";

export interface CopyInFlight {
  handle: string;
  version: number;
  sourceId: string;
  targetId: string;
  issuedMs: number;
}

export interface CopyOrder {
  handle: string;
  version: number;
  sourceId: string;
  targetId: string;
  /** Good replicas when ordered (1 = most endangered). */
  good: number;
}

export interface PlanInput {
  chunks: Iterable<ChunkEntry>;
  /** Replicas wanted of every chunk, unless goalOf says otherwise for a chunk. */
  replication: number;
  /** Issue 18: replicas wanted of a chunk (its file's goal). */
  goalOf?: (c: ChunkEntry) => number;
  liveServers: ChunkserverState[];
  inFlight: Iterable<CopyInFlight>;
  hasLease: (handle: string) => boolean;
  copiesPerServerMax: number;
  /** Told of each chunk that needs a copy but is held back by its lease. */
  onLeased?: (handle: string) => void;
  /** A copy target needs room for a whole chunk (by what its disk reports); 0: no check. */
  chunkSizeBytes?: number;
  /**
   * Issue 18: draining servers. Their replicas do not count toward the goal (so they are copied elsewhere) but
   * are still copy sources; they are never copy targets.
   */
  retiringIds?: ReadonlySet<string>;
}


export function planReplication(input: PlanInput): CopyOrder[] {
  const live = new Map(input.liveServers.map((s) => [s.serverId, s]));
  const isAlive = (id: string) => live.has(id);
  const busy = new Map<string, number>();
  const copying = new Map<string, number>(); // handle -> copies under way
  const bump = (id: string) => busy.set(id, (busy.get(id) ?? 0) + 1);
  for (const f of input.inFlight) {
    bump(f.sourceId);
    bump(f.targetId);
    copying.set(f.handle, (copying.get(f.handle) ?? 0) + 1);
  }
  const hasRoom = (id: string) => (busy.get(id) ?? 0) < input.copiesPerServerMax;

  const retiring = input.retiringIds ?? new Set<string>();
  const counted = (good: string[]) => (retiring.size ? good.filter((id) => !retiring.has(id)) : good);
  const needy: Array<{ c: ChunkEntry; good: string[]; goal: number }> = [];
  for (const c of input.chunks) {
    const good = goodReplicaIds(c, isAlive);
    if (good.length === 0) continue; // nothing to copy from: fsck shows it as stale, corrupt or missing
    const goal = input.goalOf ? input.goalOf(c) : input.replication;
    if (counted(good).length + (copying.get(c.handle) ?? 0) >= goal) continue;
    if (input.hasLease(c.handle)) {
      input.onLeased?.(c.handle);
      continue;
    }
    needy.push({ c, good, goal });
  }
  const count = (x: { good: string[] }) => counted(x.good).length;
  needy.sort((a, b) => count(a) - count(b) || count(a) / a.goal - count(b) / b.goal || (a.c.handle < b.c.handle ? -1 : 1));

  const orders: CopyOrder[] = [];
  for (const { c, good, goal } of needy) {
    const missing = goal - counted(good).length - (copying.get(c.handle) ?? 0);
    for (let k = 0; k < missing; k++) {
      const source = good.filter(hasRoom).sort((a, b) => (busy.get(a) ?? 0) - (busy.get(b) ?? 0))[0];
      if (!source) break;
      const holders = new Set([...c.replicas.keys(), ...orders.filter((o) => o.handle === c.handle).map((o) => o.targetId)]);
      // A server whose disk cannot take the chunk would fail the copy (ENOSPC) every time it is asked.
      const candidates = input.liveServers.filter((s) => !holders.has(s.serverId) && !retiring.has(s.serverId) && hasRoom(s.serverId)
        && freeBytesOf(s) >= (input.chunkSizeBytes ?? 0));
      if (candidates.length === 0) break;
      // Prefer a rack none of the staying replicas is on (an unlabelled server is a rack of its own).
      const racksKept = new Set(good.map((id) => live.get(id)?.rack ?? "").filter((r) => r !== ""));
      const newRack = candidates.filter((s) => s.rack === "" || !racksKept.has(s.rack));
      const target = placeReplicas(newRack.length ? newRack : candidates, 1)[0];
      orders.push({ handle: c.handle, version: c.version, sourceId: source, targetId: target.serverId, good: counted(good).length });
      bump(source);
      bump(target.serverId);
    }
  }
  return orders;
}
