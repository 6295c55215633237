// Lease grants (paper 3.1): the decision and the judgement of its outcome,
// with no I/O between them. The driver commits `record`, sends `messages`,
// and hands the results to grantOutcome.
//
// Rules kept here:
// - no grant in safe mode (read-only until an operator confirms);
// - no grant while a lease is current: the current one is the answer;
// - no grant while a lease this master forgot (it restarted) may be held;
// - every grant is at a version above any issued before, granted or not:
//   LeaseManager.decide reserves it, so a failed grant's version is never reused;
// - the bump is logged BEFORE any replica hears of it: a version a replica
//   holds is always one the log has (a higher report is suspect);
// - a lease is granted only once every member of the grant set took the
//   version: the primary orders mutations to exactly that set.
import type { LeaseInfo__Output } from "@gfs/common";
import { isBehind } from "./chunk-table";
import { addressOf, event, goalOfChunk, isAlive, versionRequest, type LogEvent, type MasterCore, type Message, type Result } from "./core";
import type { Lease } from "./lease-manager";
import type { MetadataOp } from "./metadata";
import { forgottenLease } from "./reported-leases";

export type Refusal = { kind: "refuse"; errno: "EAGAIN" | "ESTALE" | "EROFS"; message: string };

export type GrantPlan =
  | { kind: "current"; lease: Lease }
  | Refusal
  | { kind: "grant"; handle: string; version: number; primaryId: string; replicas: string[]; token: string;
      record: MetadataOp; messages: Message[] };

/** What to do about a lease request on `handle` at `now`; `token` is the new grant's secret (random, from the driver). */
export function planGrant(core: MasterCore, handle: string, now: number, token: string): GrantPlan {
  // Read-only until an operator confirms the metadata (the driver says why, see MasterState.checkWritable).
  if (core.safeMode.active) return { kind: "refuse", errno: "EROFS", message: `lease on chunk ${handle} refused: the master is in safe mode` };
  const c = core.chunks.get(handle);
  if (!c) return { kind: "refuse", errno: "ESTALE", message: `no chunk ${handle} (deleted or never allocated)` };
  const current = core.leases.current(handle, now);
  if (current) {
    // A lease honoured at a restart may name replicas that have not registered again yet: the
    // master has no address for them, and a primary refuses a secondary without one. Soon they will.
    const unknown = current.replicas.filter((id) => !core.liveness.get(id));
    if (unknown.length) return { kind: "refuse", errno: "EAGAIN", message: `master restarted recently: chunk ${handle}'s lease replicas ${unknown.join(", ")} have not registered again yet` };
    return { kind: "current", lease: current };
  }
  const forgotten = forgottenLease(core, handle, now);
  if (forgotten) return { kind: "refuse", errno: "EAGAIN", message: `master restarted recently: no new lease on chunk ${handle} yet (${forgotten})` };
  // Current replicas, and grant-set members one version behind the log (a crash or a lost answer
  // between logging a bump and telling them; see chunk-table.ts): the new grant brings them along.
  const candidates = [...c.replicas].filter(([id, r]) => !r.corrupt && !r.suspect && isAlive(core, id)
    && (r.version === c.version || isBehind(c, id, r.version))).map(([id]) => id).sort();
  // Issue 18: the grant keeps up to the file's goal (more would be trimmed stale and deleted), and needs
  // at least the cluster's default of them (or the goal, if lower): a goal raised above what is copied
  // yet, or above the live servers, does not stop writes that the default would allow.
  const goal = goalOfChunk(core, c);
  const need = Math.min(goal, core.settings.replication);
  const load = (id: string) => core.liveness.get(id)?.load ?? 0;
  const replicas = grantReplicas(candidates, core.retiringIds ?? new Set(), goal, load, (id) => core.liveness.get(id)?.rack ?? "");
  if (replicas.length < need) return { kind: "refuse", errno: "EAGAIN", message: `chunk ${handle} has ${replicas.length} of ${need} replicas reachable` };
  // Above any version a suspect replica claims, so the claim never becomes a version the master issued.
  const floor = Math.max(c.version, ...[...c.replicas.values()].filter((r) => r.suspect).map((r) => r.version));
  const decision = core.leases.decide(handle, floor, replicas.map((id) => ({ serverId: id, load: load(id) })), now);
  if (decision?.kind !== "grant") throw new Error(`invariant: no lease decision for ${handle}`);
  const { version, primaryId } = decision;
  // The chunk's version now came from a grant this master saw fail (a member of its set missed the bump, so no
  // mutation succeeded under it): a member still at a version the failed grant counted as behind is as good now.
  // Without this, two failed grants in a row (a member down for both) made a member with every acknowledged
  // write stale, and when the one that took both bumps was lost, the data was never served again (seed 52).
  const from = core.leases.failedUnleased(handle, c.version) ? Math.min(c.version, c.grantFrom ?? c.version - 1) : undefined;
  return {
    kind: "grant", handle, version, primaryId, replicas, token,
    record: { op: "bumpVersion", handle, version, replicas, primary: primaryId, ...(from !== undefined ? { from } : {}) },
    messages: replicas.map((id) => ({ to: id, rpc: "SetChunkVersion", request: versionRequest(core, handle, version, false, id, primaryId, token, replicas) })),
  };
}

export type GrantOutcome = { kind: "granted"; lease: Lease; events: LogEvent[] } | (Refusal & { events: LogEvent[] });

/**
 * The grant's messages were answered (`results`, one per message, in order)
 * at `after`: the primary counted its lease from receipt, the master counts
 * from `after`, later, so it never believes a lease over before the primary does.
 */
export function grantOutcome(core: MasterCore, plan: Extract<GrantPlan, { kind: "grant" }>, results: Result[], after: number): GrantOutcome {
  const { handle, version, primaryId, replicas, token } = plan;
  if (results.length !== replicas.length) throw new Error(`invariant: ${results.length} results for ${replicas.length} messages`);
  const events: LogEvent[] = [];
  results.forEach((r, i) => {
    if (r.ok) return;
    events.push(event("warn", "replica missed a version bump", { handle, version, serverId: replicas[i], error: r.error }));
    core.replication.noteChange();
  });
  if (core.chunks.get(handle)?.version === version) {
    results.forEach((r, i) => { if (r.ok) core.chunks.confirmReplica(replicas[i]!, handle, version, r.value.chunkLength); });
  }
  // The members that missed it stay behind the log (kept, see chunk-table.ts) and join the next grant.
  const acked = replicas.filter((_, i) => results[i]!.ok);
  if (acked.length < replicas.length) {
    if (core.chunks.get(handle)?.version === version) core.leases.grantFailed(handle, version);
    return { kind: "refuse", errno: "EAGAIN", events, message: `chunk ${handle}: ${acked.length} of ${replicas.length} replicas took version ${version}`
      + (acked.includes(primaryId) ? "" : " (the chosen primary did not answer)") };
  }
  if (core.chunks.get(handle)?.version !== version) return { kind: "refuse", errno: "ESTALE", events, message: `chunk ${handle} was deleted` };
  const lease = core.leases.grant(handle, primaryId, version, after, { token, replicas });
  events.push(event("info", "lease granted", { handle, version, primary: primaryId, replicas: acked }));
  return { kind: "granted", lease, events };
}

/** The lease as a client sees it (no token: the service signs one, chunk-grants.ts). */
export function leaseInfo(core: MasterCore, lease: Lease, now: number): LeaseInfo__Output {
  // Exactly the grant's replica set, alive or not: leaving a dead one out would let it miss writes yet
  // look current when it returns, and the primary refuses a Write naming any other set. The primary
  // releases the lease when a secondary fails.
  const secondaries = lease.replicas.filter((id) => id !== lease.primaryId).map((id) => addressOf(core, id));
  return {
    handle: lease.handle, version: lease.version, primary: addressOf(core, lease.primaryId), secondaries,
    leaseRemainingMs: Math.max(0, lease.expiresMs - now), token: "",
  };
}

/**
 * Leases a primary asks to extend (with its heartbeat at `now`): the ones it
 * holds at the chunk's version, unless the chunk is short of replicas (its
 * lease runs out so the copy can be made) or the master is in safe mode
 * (read-only until an operator confirms). Counted from now, after the primary
 * sent the heartbeat, so the primary's view expires first.
 */
export function extendLeases(core: MasterCore, serverId: string, handles: string[], now: number): { handle: string; version: number; leaseMs: number }[] {
  return handles.flatMap((handle) => {
    const c = core.chunks.get(handle);
    const lease = c && !core.safeMode.active && !core.replication.needsCopy(handle) && core.leases.extend(handle, serverId, c.version, now);
    return lease ? [{ handle, version: lease.version, leaseMs: core.settings.lease_ms }] : [];
  });
}

/**
 * Issue 18: the grant set of up to `goal` among `candidates` when some are on drained (`retiring`) servers:
 * every staying replica first (one left out goes stale and is deleted: data lost from a server that stays),
 * then drained ones only to fill what the chunk lacks of its goal elsewhere.
 */
export function grantReplicas(candidates: string[], retiring: ReadonlySet<string>, goal: number, load: (id: string) => number,
  rack: (id: string) => string = () => ""): string[] {
  const staying = candidates.filter((id) => !retiring.has(id));
  if (staying.length >= goal) return keepReplicas(staying, goal, load, rack);
  return [...staying, ...keepReplicas(candidates.filter((id) => retiring.has(id)), goal - staying.length, load, rack)];
}

/**
 * The replicas a lease grant bumps: all of them, or `need` of them when there
 * are more (a server came back after its chunks were copied elsewhere): the
 * least loaded, spread over racks as placement spreads new chunks, so the
 * trim never drops a rack's only copy while two share another. The others
 * keep the old version, so they become stale and are deleted: a lease, and
 * so a push chain, never names more than `replication` servers (chunkservers
 * refuse longer chains).
 */
export function keepReplicas(ids: string[], need: number, load: (id: string) => number, rack: (id: string) => string = () => ""): string[] {
  if (ids.length <= need) return ids;
  const pool = [...ids].sort((a, b) => load(a) - load(b) || (a < b ? -1 : a > b ? 1 : 0));
  const kept: string[] = [];
  const racksUsed = new Set<string>();
  while (kept.length < need) {
    // The least loaded on a rack not used yet; an unlabelled server counts as a rack of its own.
    let i = pool.findIndex((id) => rack(id) === "" || !racksUsed.has(rack(id)));
    if (i < 0) i = 0;
    const [id] = pool.splice(i, 1);
    kept.push(id!);
    if (rack(id!) !== "") racksUsed.add(rack(id!));
  }
  return kept;
}
