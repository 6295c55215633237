// How healthy one chunk is, for fsck and the replication backlog.
import type { ChunkState__Output } from "@gfs/common";
import type { ChunkEntry } from "./chunk-table";

export interface ReplicaHealth {
  serverId: string;
  version: number;
  alive: boolean;
  stale: boolean;
  corrupt: boolean;
  /** Claims a version the master never issued: not counted as good, never served. */
  suspect: boolean;
}

export interface ChunkHealth {
  state: ChunkState__Output;
  /** Live, current-version, uncorrupted replicas. */
  good: number;
  replicas: ReplicaHealth[];
}

export function chunkHealth(c: ChunkEntry, replication: number, isAlive: (serverId: string) => boolean): ChunkHealth {
  const replicas: ReplicaHealth[] = [...c.replicas].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([serverId, r]) => ({
    serverId, version: r.version, alive: isAlive(serverId), stale: r.version < c.version && !r.suspect, corrupt: r.corrupt,
    suspect: !!r.suspect,
  }));
  const good = replicas.filter((r) => r.alive && !r.stale && !r.corrupt && !r.suspect && r.version === c.version).length;
  const state = stateOf(good, replication, replicas.some((r) => r.suspect), replicas.some((r) => r.corrupt), replicas.some((r) => r.stale));
  return { state, good, replicas };
}

/**
 * The state and good replicas of a chunk by the same rules as chunkHealth,
 * without sorting or copying its replicas: metrics count every chunk's state
 * at each scrape (master-metrics.ts).
 */
export function chunkState(c: ChunkEntry, replication: number, isAlive: (serverId: string) => boolean): { state: ChunkState__Output; good: number } {
  let good = 0;
  let suspect = false;
  let corrupt = false;
  let stale = false;
  for (const [serverId, r] of c.replicas) {
    const isStale = r.version < c.version && !r.suspect;
    suspect ||= !!r.suspect;
    corrupt ||= r.corrupt;
    stale ||= isStale;
    if (!isStale && !r.corrupt && !r.suspect && r.version === c.version && isAlive(serverId)) good++;
  }
  return { state: stateOf(good, replication, suspect, corrupt, stale), good };
}

function stateOf(good: number, replication: number, suspect: boolean, corrupt: boolean, stale: boolean): ChunkState__Output {
  // A suspect replica makes the chunk unhealthy however many good copies exist: an operator must look.
  if (suspect) return "CHUNK_STATE_SUSPECT";
  if (good >= replication) return "CHUNK_STATE_HEALTHY";
  if (good > 0) return "CHUNK_STATE_UNDER_REPLICATED";
  if (corrupt) return "CHUNK_STATE_CORRUPT";
  if (stale) return "CHUNK_STATE_STALE";
  return "CHUNK_STATE_MISSING";
}
