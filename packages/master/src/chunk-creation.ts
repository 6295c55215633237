// Chunk creation: `n` empty chunks (version 1) on the same `replication` live
// servers, each with its first lease riding on the creation, saving the
// writer a second round of version updates; no other lease can exist for a
// handle that did not exist. Primaries go round the servers, least loaded
// first. One message per server: SetChunkVersion for one chunk, CreateChunks
// for more. The handles stay reserved until committed or abandoned; on any
// failure all are abandoned and the failing servers avoided for a while.
import { event, isAlive, versionRequest, type LogEvent, type MasterCore, type Message, type Result } from "./core";
import { placeReplicas } from "./placement";
import type { SpareChunk } from "./spare-chunks";

export interface CreationPlan {
  handles: string[];
  serverIds: string[];
  primaries: string[];
  tokens: string[];
  /** One per server, in the order of serverIds. */
  messages: Message[];
}

/**
 * Places and reserves `n` new chunks at `now`. `nextHandle` and `nextToken`
 * are the driver's random values (a handle already in use is drawn again).
 * Throws (placement's ENOSPC/EAGAIN) when too few servers can take a chunk.
 */
export function planCreation(core: MasterCore, n: number, now: number, nextHandle: () => string, nextToken: () => string,
  goal = core.settings.replication): CreationPlan {
  const avoid = new Set([...core.suspects].filter(([id, until]) => until > now && isAlive(core, id)).map(([id]) => id));
  for (const id of core.retiringIds ?? []) if (isAlive(core, id)) avoid.add(id); // issue 18: new chunks avoid drained servers
  // Issue 18: as many replicas as the file's goal, or as many live servers as there are when the goal is
  // higher (re-replication adds the rest when servers join), but never fewer than the default would need.
  const live = core.liveness.alive();
  const count = Math.max(Math.min(goal, live.length - avoid.size), Math.min(goal, core.settings.replication));
  // Room for a whole chunk: a new chunk may grow to one, and a disk with less is full for new data.
  const chosen = placeReplicas(live, count, avoid, core.settings.chunk_size_bytes);
  const handles: string[] = [];
  for (let k = 0; k < n; k++) {
    let handle = nextHandle();
    while (core.chunks.has(handle) || handles.includes(handle)) handle = nextHandle();
    core.chunks.reserve(handle);
    handles.push(handle);
  }
  const byLoad = [...chosen].sort((a, b) => a.load - b.load || (a.serverId < b.serverId ? -1 : 1));
  const primaries = handles.map((_, k) => byLoad[k % byLoad.length]!.serverId);
  const tokens = handles.map(() => nextToken());
  const serverIds = chosen.map((s) => s.serverId);
  const messages = serverIds.map((to): Message => {
    const requests = handles.map((handle, k) => versionRequest(core, handle, 1, true, to, primaries[k]!, tokens[k]!, serverIds));
    return n === 1 ? { to, rpc: "SetChunkVersion", request: requests[0]! } : { to, rpc: "CreateChunks", request: { chunks: requests } };
  });
  return { handles, serverIds, primaries, tokens, messages };
}

export interface CreationOutcome {
  chunks: SpareChunk[];
  failures: string[];
  /** A server's disk was full: the writer's answer is ENOSPC, not "try again". */
  noSpace: boolean;
  events: LogEvent[];
}

/** The creation messages were answered (`results`, one per message) at `grantedAtMs`, after the primaries' receipt. */
export function creationOutcome(core: MasterCore, plan: CreationPlan, results: Result<unknown>[], grantedAtMs: number): CreationOutcome {
  const { handles, serverIds: chosen, primaries, tokens } = plan;
  if (results.length !== chosen.length) throw new Error(`invariant: ${results.length} results for ${chosen.length} creation messages`);
  const serverIds = chosen.filter((_, i) => results[i]!.ok);
  const failures = chosen.flatMap((id, i) => {
    const r = results[i]!;
    return r.ok ? [] : [`${core.liveness.get(id)?.address ?? id}: ${r.error}`];
  });
  if (failures.length === 0) {
    const chunks = handles.map((handle, k) => ({ handle, serverIds, primaryId: primaries[k]!, grantedAtMs, token: tokens[k]! }));
    return { chunks, failures, noSpace: false, events: [] };
  }
  for (const handle of handles) core.chunks.abandon(handle, serverIds);
  const noSpace = results.some((r) => !r.ok && r.errno === "ENOSPC");
  // A server that just failed a creation is avoided until it heartbeats again or is declared dead,
  // so a crashed server is not chosen over and over in the seconds before its death is noticed.
  const deadAfter = core.settings.heartbeat_interval_ms * core.settings.heartbeat_misses_dead;
  chosen.forEach((id, i) => { if (!results[i]!.ok) core.suspects.set(id, grantedAtMs + deadAfter); });
  return { chunks: [], failures, noSpace, events: [event("warn", "chunk creation failed", { handles, failures })] };
}
