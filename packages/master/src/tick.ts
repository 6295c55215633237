// The master's periodic work as one decision: servers silent too long are
// declared dead, copies are planned for chunks short of replicas, and the
// leases that block a copy are revoked (lease-revocation.ts).
import { addressOf, event, type LogEvent, type MasterCore } from "./core";
import { planRevoke, type RevokePlan } from "./lease-revocation";

export interface TickEffects {
  events: LogEvent[];
  /** Revocations to send (the driver marks them in flight until answered). */
  revokes: Extract<RevokePlan, { kind: "revoke" }>[];
  /** Leases that block a copy and are left alone, and why. */
  waits: { handle: string; why: string }[];
}

/** `revoking`: handles whose revocation is under way. */
export function tickDecisions(core: MasterCore, now: number, revoking: ReadonlySet<string>): TickEffects {
  const out: TickEffects = { events: [], revokes: [], waits: [] };
  for (const ev of core.liveness.sweep(now)) {
    out.events.push(event("warn", "chunkserver dead", { serverId: ev.serverId, address: core.liveness.get(ev.serverId)?.address }));
    core.replication.noteChange();
  }
  for (const o of core.replication.plan(now)) {
    out.events.push(event("info", "re-replication ordered", {
      handle: o.handle, version: o.version, goodReplicas: o.good,
      source: addressOf(core, o.sourceId).address, target: addressOf(core, o.targetId).address,
    }));
  }
  for (const handle of new Set(core.replication.leaseBlocked)) {
    const plan = planRevoke(core, handle, now, revoking);
    if (plan.kind === "revoke") out.revokes.push(plan); else out.waits.push({ handle, why: plan.why });
  }
  return out;
}
