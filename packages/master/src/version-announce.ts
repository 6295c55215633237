// Telling one replica the chunk's logged version, with no lease:
// - a grant-set member one version behind the log (the master logged the bump
//   and crashed, or lost the answer, before this replica took it). Safe to
//   treat as current: a mutation under the logged version needs every member
//   of the set at that version (a member still behind refuses it), so none
//   succeeded without this replica; and a chunkserver's setVersion is durable
//   before it answers, so no member "forgets" a version it acknowledged;
// - a released replica (an unverified one that is the best left): told its
//   own version, which is how its server learns it is accepted.
// Held back or corrupt replicas are never told a version: that would vouch for them. Nor is the answer of one
// judged so while the order was on its way recorded (announceOutcome): that would vouch for it too.
import { isBehind } from "./chunk-table";
import { event, isAlive, versionRequest, type LogEvent, type MasterCore, type Message, type Result } from "./core";

export interface AnnouncePlan {
  handle: string;
  serverId: string;
  version: number;
  released: boolean;
  message: Message;
}

/** The announcement due to `serverId` about `handle` at `now`, or undefined when none is (any more). */
export function planAnnounce(core: MasterCore, serverId: string, handle: string, released: boolean, now: number): AnnouncePlan | undefined {
  const c = core.chunks.get(handle);
  const r = c?.replicas.get(serverId);
  if (!c || !r || r.corrupt || !isAlive(core, serverId)) return undefined;
  // A released replica one behind (a grant or fence logged while its server was down) is told the logged version.
  const due = (released && r.version === c.version) || isBehind(c, serverId, r.version);
  if (!due) return undefined;
  const lease = core.leases.current(handle, now);
  // Never a lease: the token only, for a secondary of a lease the master knows.
  const known = lease?.version === c.version && lease.replicas.includes(serverId) && lease.primaryId !== serverId;
  const request = versionRequest(core, handle, c.version, false, serverId, known ? lease.primaryId : "", known ? lease.token : "", c.grantSet ?? []);
  return { handle, serverId, version: c.version, released, message: { to: serverId, rpc: "SetChunkVersion", request } };
}

/** The replica answered (or not): recorded at the version when it still is the chunk's; "retry" on an error. */
export function announceOutcome(core: MasterCore, plan: AnnouncePlan, result: Result): { retry: boolean; events: LogEvent[] } {
  const { handle, serverId, version, released } = plan;
  if (!result.ok) return { retry: true, events: [event("warn", "cannot re-announce a chunk version", { handle, serverId, version, error: result.error })] };
  const c = core.chunks.get(handle);
  if (c?.version !== version) return { retry: false, events: [] };
  // Judged again while the order was on its way (no lock keeps a registration out): a released replica
  // condemned by a majority that agrees, found corrupt, or its deletion queued. Confirming would put it back as
  // good and take its queued deletion back, and it would be handed out and never re-copied (a replica with a bit
  // flip, outvoted 2 to 1, came back so: fsck called it good, replica-length.test.ts in CI, reproduced by slowing
  // its server's answer). Its server took the order; the master still never hands the replica out, and it goes
  // like any corrupt one.
  const r = c.replicas.get(serverId);
  if (!r || r.corrupt || (released && !core.isReleasedReplica(handle, serverId))) {
    return { retry: false, events: [event("warn", "a replica answered a version order after it was judged again: the answer is not recorded", {
      handle, serverId, version, released, replica: !r ? "gone (deletion queued)" : r.corrupt ? "corrupt" : "no longer released",
    })] };
  }
  core.chunks.confirmReplica(serverId, handle, version, result.value.chunkLength);
  core.replication.noteChange();
  const msg = released ? "told a released replica it is accepted" : "re-announced a logged version to a replica one behind";
  return { retry: false, events: [event("info", msg, { handle, serverId, version })] };
}
