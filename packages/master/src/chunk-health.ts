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
  let state: ChunkState__Output;
  // A suspect replica makes the chunk unhealthy however many good copies exist: an operator must look.
  if (replicas.some((r) => r.suspect)) state = "CHUNK_STATE_SUSPECT";
  else if (good >= replication) state = "CHUNK_STATE_HEALTHY";
  else if (good > 0) state = "CHUNK_STATE_UNDER_REPLICATED";
  else if (replicas.some((r) => r.corrupt)) state = "CHUNK_STATE_CORRUPT";
  else if (replicas.some((r) => r.stale)) state = "CHUNK_STATE_STALE";
  else state = "CHUNK_STATE_MISSING";
  return { state, good, replicas };
}
