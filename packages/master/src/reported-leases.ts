// A restarted master and the leases it forgot (paper 3.1, 4.5 on master
// restarts). The lease table is not logged: after a restart a primary may
// still hold a lease the master no longer knows. Two rules keep at most one
// primary per chunk:
// - no new grant on a chunk while some member of its last logged grant set has
//   not registered again (the primary of any lease is in that set, and every
//   server reports the leases it holds when it registers), and at most for one
//   lease length after the start;
// - a lease a registering server reports is honoured only when it is at the
//   chunk's logged version, on a current, verified replica, by a member of the
//   last grant set, with no later grant and no other lease known.
import { isHandle, type HeldLease__Output } from "@gfs/common";
import { event, type LogEvent, type MasterCore } from "./core";

/**
 * Why a lease this master does not know might exist for the chunk (so none
 * may be granted yet), or undefined. A chunk logged without a grant set (an
 * old record) waits out the lease length.
 */
export function forgottenLease(core: MasterCore, handle: string, now: number): string | undefined {
  const until = core.leaseGrantsFromMs;
  if (now >= until || core.leases.everGranted(handle)) return undefined;
  const set = core.chunks.get(handle)?.grantSet;
  if (!set) return `its last grant set is not logged; for ${until - now} ms, until any lease it forgot has expired`;
  const missing = set.filter((id) => !core.registeredSinceStart.has(id));
  if (missing.length === 0) return undefined;
  return `${missing.join(", ")} of its last grant set not registered yet; at most ${until - now} ms more`;
}

/** Why the lease `serverId` reports cannot be honoured, or undefined when it can. */
export function heldLeaseRefusal(core: MasterCore, serverId: string, l: HeldLease__Output, now: number): string | undefined {
  if (!isHandle(l.handle)) return "malformed handle";
  const c = core.chunks.get(l.handle);
  if (!c) return "unknown chunk";
  const r = c.replicas.get(serverId);
  const cur = core.leases.current(l.handle, now);
  if (c.version !== l.version) return `the chunk is at version ${c.version}`;
  if (!r || r.version !== l.version || r.suspect || r.corrupt) return "no current, verified replica there";
  if (c.grantSet && !c.grantSet.includes(serverId)) return "not in the chunk's last grant set";
  if (cur) return cur.primaryId === serverId && cur.version === l.version ? "already known" : `leased to ${cur.primaryId}`;
  if (!core.leases.canGrant(l.handle, l.version)) return "a later grant exists";
  if (!l.leaseToken) return "no lease token";
  return undefined;
}

/**
 * Honours the leases a registering server holds as primary (after its
 * replicas were recorded and judged): the master counts each from `now`,
 * after the primary's own receipt, so its view ends no earlier, and extends
 * it as usual.
 */
export function honourLeases(core: MasterCore, serverId: string, held: HeldLease__Output[], now: number): LogEvent[] {
  const events: LogEvent[] = [];
  for (const l of held) {
    const why = heldLeaseRefusal(core, serverId, l, now);
    if (why) {
      // An unknown chunk is an orphan (e.g. a spare from before the restart), judged as such with its report.
      if (why !== "already known" && why !== "unknown chunk" && why !== "malformed handle") {
        events.push(event("warn", "reported lease not honoured", { handle: l.handle, serverId, version: l.version, why }));
      }
      continue;
    }
    const c = core.chunks.get(l.handle)!;
    const replicas = c.grantSet ? [...c.grantSet] : [...new Set([serverId, ...l.secondaries.map((s) => s.serverId).filter(Boolean)])];
    core.leases.grant(l.handle, serverId, l.version, now, { token: l.leaseToken, replicas });
    events.push(event("info", "lease reported at registration honoured", { handle: l.handle, primary: serverId, version: l.version, remainingMs: l.remainingMs }));
  }
  return events;
}
