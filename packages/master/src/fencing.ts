// Fencing a dead primary's lease (issue 14), pure: which chunks to fence now,
// the log record and messages for each, and what the answers mean
// (fenceOutcome: the lease dropped). The driver (master-state.ts) logs the
// record, sends the messages and feeds the answers back; tick.ts decides
// between fencing and revoking.
//
// A chunk short of replicas is not copied while it is leased: a copy made
// under a lease could miss mutations its primary still orders. A live
// primary is asked to give the lease back (revokeForCopy). A primary the
// master declared dead cannot be asked, and may only be cut off, still
// acting on its lease; waiting out the lease (60 s by default) was the old
// answer. Fencing makes the lease useless instead:
// - the master logs a version bump above every version ever issued for the
//   chunk (lease-manager.ts). Its grant set is every replica at the chunk's
//   version but the old primary: the old primary's replica is stale, never
//   "one behind and current" (chunk-table.ts isBehind), and is deleted. A
//   dead secondary stays in the set: it was one of the lease's replicas, so
//   it took every write the lease got acknowledged, and when it comes back it
//   is "behind", kept and re-announced, not a copy lost;
// - it tells the live ones (the survivors) the new version with no lease
//   (leaseMs 0, no token). A survivor then refuses every mutation at the old version (its
//   version differs, and it knows no token for it), and a primary's mutation
//   is acknowledged only when every replica of its lease applied it: so the
//   old primary can never again get a write or record append acknowledged.
//   Anything it got acknowledged before is on every survivor;
// - the master drops the lease and copies at once, at the new version, from
//   survivors that hold it. Only replicas at the new version are ever read,
//   copied or granted again, and each of them refuses the old lease's
//   mutations. A survivor that missed the bump stays behind (it is in the
//   grant set, so kept and re-announced, as after a failed grant); it took
//   every write the old primary got acknowledged, being one of its lease's
//   replicas.
// Survivors must have been heard from lately: a server that died with the
// primary (a host or rack lost at once) may still look alive for a few
// heartbeats, and a fence told to nobody leaves the chunk without a replica
// at its version until one is re-announced. So the fence waits until
// liveness settles (a tick or two), which costs little next to a lease.
// Nor is a chunk fenced while a replica of it is unverified since a crash
// (unverified-replicas.ts): the bump would vouch for it.
import type { SetChunkVersionRequest } from "@gfs/common";
import { goodReplicaIds, type ChunkEntry } from "./chunk-table";
import { event, goalOfChunk, type LogEvent, type MasterCore, type Message, type Result } from "./core";
import type { Lease } from "./lease-manager";
import type { MetadataOp } from "./metadata";

/** What a fencing decision reads of the master's state. */
export interface FenceView {
  chunk(handle: string): ChunkEntry | undefined;
  /** The chunk's current (unexpired) lease as the master knows it. */
  lease(handle: string): Lease | undefined;
  isAlive(serverId: string): boolean;
  /** Issue 18: the server said it is stopping and is finishing its mutations (not "left" yet); absent: none is. */
  leaving?(serverId: string): boolean;
  /** Heard from within about a heartbeat interval (not merely not declared dead yet). */
  heardRecently(serverId: string): boolean;
  /** Some replica of the chunk is unverified since a crash, held back or released as the best left (unverified-replicas.ts). */
  unverified(handle: string): boolean;
  /** The highest version ever issued for the chunk, by a grant or a fence, sent or not (0: none). */
  issuedVersion(handle: string): number;
  replication: number;
  /** Issue 18: replicas wanted of a chunk (its file's goal); absent: `replication`. */
  goalOf?(handle: string): number;
  /** The master is in safe mode (read-only until an operator confirms its metadata); absent: not. */
  safeMode?: boolean;
}

export interface Fence {
  handle: string;
  /** The lease made useless: its primary and version. */
  primaryId: string;
  leaseVersion: number;
  /** The new version; the replicas told it now (live), and its grant set (those and any dead secondaries). */
  version: number;
  survivors: string[];
  grantSet: string[];
  /** Logged before any survivor hears of the version (a version a replica holds is always in the log). */
  record: Extract<MetadataOp, { op: "bumpVersion" }>;
  messages: Array<{ serverId: string; request: SetChunkVersionRequest }>;
}

export type FenceDecision = Fence | { skip: string };

/** Whether to fence `handle`'s lease now, and how; or why not. */
export function decideFence(handle: string, view: FenceView): FenceDecision {
  const c = view.chunk(handle);
  if (!c) return { skip: "unknown chunk" };
  const lease = view.lease(handle);
  if (!lease) return { skip: "not leased" };
  if (view.isAlive(lease.primaryId)) return { skip: "its primary is alive: ask it to give the lease back" };
  // A primary leaving gracefully is still finishing the writes it ordered: fencing would fail them. Its
  // lease ends when it says it left (nothing in flight), or runs out, or it falls silent ("left" then).
  if (view.leaving?.(lease.primaryId)) return { skip: "its primary is leaving and finishing its mutations: the lease ends when it has left" };
  // A fence logs a version change as a grant does, and makes replicas stale: not while the master doubts its
  // metadata (a replica above its version may hold the newest data). The lease runs out instead.
  if (view.safeMode) return { skip: "the master is in safe mode (read-only): the lease runs out instead" };
  if (lease.version !== c.version) return { skip: `leased at version ${lease.version}, the chunk is at ${c.version}` };
  const survivors = goodReplicaIds(c, view.isAlive).filter((id) => id !== lease.primaryId);
  if (survivors.length === 0) return { skip: "no live current replica to fence with" };
  if (survivors.length >= (view.goalOf?.(handle) ?? view.replication)) return { skip: "not short of replicas" };
  // Telling an unverified replica a version vouches for it (its server drops the mark), and would make
  // the others stale or behind before their digests are compared: after a crash, the lease runs out instead.
  if (view.unverified(handle)) return { skip: "a replica is unverified since a crash" };
  const unsure = survivors.filter((id) => !view.heardRecently(id));
  if (unsure.length > 0) return { skip: `${unsure.join(", ")} not heard from lately: fencing once liveness settles` };
  // The old primary orders mutations only to its lease's replicas: the bump stops it only through them.
  if (!survivors.some((id) => lease.replicas.includes(id))) return { skip: "no survivor is a replica of the lease" };
  const grantSet = [...c.replicas].filter(([id, r]) => id !== lease.primaryId && r.version === c.version && !r.corrupt && !r.suspect)
    .map(([id]) => id).sort();
  // Above every version issued (a failed grant's included) and any a suspect replica claims.
  const suspectClaims = [...c.replicas.values()].filter((r) => r.suspect).map((r) => r.version);
  const version = Math.max(c.version, view.issuedVersion(handle), ...suspectClaims) + 1;
  const request = (): SetChunkVersionRequest => ({ handle, version, create: false, leaseMs: 0, leaseToken: "", primaryId: "", secondaries: [] });
  return {
    handle, primaryId: lease.primaryId, leaseVersion: lease.version, version, survivors, grantSet,
    record: { op: "bumpVersion", handle, version, replicas: grantSet },
    messages: survivors.map((serverId) => ({ serverId, request: request() })),
  };
}

/** The chunks among `handles` (those a lease keeps from being copied) to fence now. */
export function chunksToFence(handles: Iterable<string>, view: FenceView): Fence[] {
  const out: Fence[] = [];
  for (const h of new Set(handles)) {
    const d = decideFence(h, view);
    if (!("skip" in d)) out.push(d);
  }
  return out;
}

/** The master core's state as a fencing decision reads it at `now`. */
export function fenceViewOf(core: MasterCore, now: number): FenceView {
  return {
    chunk: (handle) => core.chunks.get(handle),
    lease: (handle) => core.leases.current(handle, now),
    isAlive: (id) => core.liveness.isAlive(id),
    leaving: (id) => core.liveness.get(id)?.leave === "leaving",
    // As for spares: heard from within 1.5 intervals, so one late heartbeat does not count as lost.
    heardRecently: (serverId) => {
      const s = core.liveness.get(serverId);
      return !!s?.alive && now - s.lastHeartbeatMs <= core.settings.heartbeat_interval_ms * 1.5;
    },
    unverified: (handle) => core.hasUnverifiedReplica(handle),
    issuedVersion: (handle) => core.leases.issuedVersion(handle),
    replication: core.settings.replication,
    goalOf: (handle) => { const c = core.chunks.get(handle); return c ? goalOfChunk(core, c) : core.settings.replication; },
    safeMode: core.safeMode.active,
  };
}

/** A fence's messages as the driver sends them. */
export function fenceMessages(f: Fence): Message[] {
  return f.messages.map((m) => ({ to: m.serverId, rpc: "SetChunkVersion", request: m.request }));
}

/**
 * The survivors answered the fence (`results`, one per message, in order).
 * The lease is useless now even if none answered: only replicas at the new
 * version are read, copied or granted again, and each refuses the old lease's
 * mutations. `behind`: survivors that missed the bump, to be re-announced.
 */
export function fenceOutcome(core: MasterCore, f: Fence, results: Result[]): { events: LogEvent[]; behind: string[] } {
  const { handle, version } = f;
  if (results.length !== f.survivors.length) throw new Error(`invariant: ${results.length} results for ${f.survivors.length} fence messages`);
  const acked = f.survivors.filter((_, i) => results[i]!.ok);
  if (core.chunks.get(handle)?.version === version) {
    results.forEach((r, i) => { if (r.ok) core.chunks.confirmReplica(f.survivors[i]!, handle, version, r.value.chunkLength); });
  }
  const events: LogEvent[] = [];
  const behind: string[] = [];
  results.forEach((r, i) => {
    if (r.ok) return;
    events.push(event("warn", "replica missed a fencing version bump", { handle, version, serverId: f.survivors[i], error: r.error }));
    behind.push(f.survivors[i]!);
  });
  core.leases.release(handle, f.primaryId, f.leaseVersion);
  core.replication.noteChange();
  events.push(event("info", "dead primary's lease fenced: survivors bumped, copying at once", {
    handle, primary: f.primaryId, leaseVersion: f.leaseVersion, version, survivors: acked,
    missed: f.survivors.filter((id) => !acked.includes(id)), grantSet: f.grantSet,
  }));
  return { events, behind };
}
