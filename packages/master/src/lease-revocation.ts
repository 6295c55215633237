// A copy blocked by a lease (paper 4.3: the master revokes a lease before it
// acts on a chunk). A chunk short of replicas is held by a lease: the master
// asks the primary to give it back (the primary answers once the mutations it
// already ordered are done) rather than wait up to a lease length to copy it.
// A dead primary's lease is not revoked: nothing it is told would be heard,
// and it might still be acting on it; it is fenced instead (fencing.ts).
import { event, isAlive, type LogEvent, type MasterCore, type Message, type Result } from "./core";
import type { Lease } from "./lease-manager";

export type RevokePlan = { kind: "revoke"; lease: Lease; message: Message } | { kind: "none"; why: string };

/** What to do about `handle`'s lease, which blocks a copy, at `now`; `inFlight`: handles whose revocation is under way. */
export function planRevoke(core: MasterCore, handle: string, now: number, inFlight: ReadonlySet<string>): RevokePlan {
  const lease = core.leases.current(handle, now);
  if (!lease) return { kind: "none", why: "no current lease" };
  if (inFlight.has(handle)) return { kind: "none", why: "revocation under way" };
  if (!isAlive(core, lease.primaryId)) return { kind: "none", why: `primary ${lease.primaryId} is not alive: it cannot be asked` };
  return { kind: "revoke", lease, message: { to: lease.primaryId, rpc: "RevokeLease", request: { handle, version: lease.version } } };
}

/**
 * The primary answered the revocation: the lease is gone (unless it changed meanwhile); an error leaves it to
 * expire. `why`: what the revocation was for, as logged (a copy to re-replicate, or a snapshot's quiescing).
 */
export function revokeOutcome(core: MasterCore, lease: Lease, result: Result<unknown>, why = "re-replicate"): LogEvent[] {
  const { handle, version, primaryId } = lease;
  if (!result.ok) return [event("warn", "lease revocation failed; waiting for expiry", { handle, error: result.error })];
  if (!core.leases.release(handle, primaryId, version)) return [];
  return [event("info", `lease revoked to ${why}`, { handle, version, primary: primaryId })];
}
