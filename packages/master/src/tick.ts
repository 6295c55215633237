// The master's periodic work as one decision: servers silent too long are
// declared dead, copies are planned for chunks short of replicas, and the
// leases that block a copy are dealt with: a live primary is asked to give
// its lease back (lease-revocation.ts), a dead primary's lease is fenced by a
// version bump on the survivors (fencing.ts) instead of waited out.
import { addressOf, event, type LogEvent, type MasterCore } from "./core";
import { decideFence, fenceViewOf, type Fence } from "./fencing";
import { planRevoke, type RevokePlan } from "./lease-revocation";

export interface TickEffects {
  events: LogEvent[];
  /** Fences to make (the driver decides each again under the chunk's lock). */
  fences: Fence[];
  /** Revocations to send (the driver marks them in flight until answered). */
  revokes: Extract<RevokePlan, { kind: "revoke" }>[];
  /** Leases that block a copy and are left alone, and why. */
  waits: { handle: string; why: string }[];
}

/** `revoking`, `fencing`: handles whose revocation or fence is under way. */
export function tickDecisions(core: MasterCore, now: number, revoking: ReadonlySet<string>, fencing: ReadonlySet<string> = new Set()): TickEffects {
  const out: TickEffects = { events: [], fences: [], revokes: [], waits: [] };
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
  const view = fenceViewOf(core, now);
  for (const handle of new Set(core.replication.leaseBlocked)) {
    const lease = core.leases.current(handle, now);
    if (lease && !core.liveness.isAlive(lease.primaryId)) {
      const f = fencing.has(handle) ? { skip: "fence under way" } : decideFence(handle, view);
      if ("skip" in f) out.waits.push({ handle, why: `primary ${lease.primaryId} is not alive, no fence: ${f.skip}` }); else out.fences.push(f);
      continue;
    }
    const plan = planRevoke(core, handle, now, revoking);
    if (plan.kind === "revoke") out.revokes.push(plan); else out.waits.push({ handle, why: plan.why });
  }
  return out;
}
