// What state each chunkserver is in (issue 18), for status, placement and goals.
// Pure: liveness, the operator's drain list and the replicas the master knows
// on each server go in, a state comes out.
//
// - alive: heartbeating, takes new chunks, its replicas count toward goals;
// - dead: silent for heartbeat_misses_dead heartbeats (a failure: status exits 1);
// - leaving / left: it said it is stopping (SIGTERM); not a failure;
// - draining: an operator drained it: new chunks avoid it, its replicas do not
//   count toward goals (so they are copied elsewhere), they still serve reads
//   and copies until the chunk has its goal elsewhere, then they are removed;
// - retired: draining and holding no replica: it can be stopped.
import type { ChunkserverState } from "./liveness";

export type ServerState = "alive" | "dead" | "leaving" | "left" | "draining" | "retired";

export function serverState(s: ChunkserverState, draining: boolean, replicasHeld: number): ServerState {
  if (s.leave) return s.leave;
  if (!s.alive) return "dead";
  if (draining) return replicasHeld === 0 ? "retired" : "draining";
  return "alive";
}

/**
 * The server `query` names: an exact id, else the one known id it is a prefix of (status shows 8 characters).
 * Undefined if none; throws if the prefix is ambiguous.
 */
export function resolveServerId(query: string, known: Iterable<string>): string | undefined {
  const ids = [...new Set(known)];
  if (ids.includes(query)) return query;
  const matches = query.length > 0 ? ids.filter((id) => id.startsWith(query)) : [];
  if (matches.length > 1) throw new Error(`'${query}' names ${matches.length} chunkservers (${matches.join(", ")}); give more of the id`);
  return matches[0];
}
