// Recent cluster events for the status page and `gfs status --json` (issue 17):
// a chunkserver dead or back, re-replication started or finished, safe mode
// entered or left, this master's role changing. A bounded ring: an operator
// looking at the page wants the last hours, not a history (that is the log's
// job). Producers report batches (one event per re-replication round, not
// per chunk), so a busy cluster does not push the interesting lines out.
import { defaults, type ClusterEvent__Output } from "@gfs/common";
import type { LivenessListener } from "./liveness";
import type { ReplicationRound } from "./replication-scheduler";
import type { SafeModeReason } from "./safe-mode";

export type ClusterEventKind =
  | "chunkserver-registered" | "chunkserver-back" | "chunkserver-dead" | "chunkserver-left"
  | "re-replication-started" | "re-replication-finished"
  | "safe-mode-entered" | "safe-mode-left"
  | "role-changed";

export type ClusterEventLevel = "info" | "warn" | "error";

export class ClusterEvents {
  private readonly ring: ClusterEvent__Output[] = [];
  /** Each chunkserver this master has heard of, alive or dead as last said (one entry per server: bounded by the cluster). */
  readonly serverAlive = new Map<string, boolean>();

  constructor(readonly max: number = defaults.status_events_max, private readonly clock: () => number = Date.now) {
    if (!Number.isSafeInteger(max) || max < 1) throw new Error(`status events max must be a positive integer, got ${max}`);
  }

  add(kind: ClusterEventKind, message: string, level: ClusterEventLevel = "info"): void {
    this.ring.push({ atMs: this.clock(), kind, level, message });
    if (this.ring.length > this.max) this.ring.splice(0, this.ring.length - this.max);
  }

  /** Newest first. */
  recent(): ClusterEvent__Output[] {
    return this.ring.slice().reverse();
  }
}

// The producers' words for their changes, turned into events here, so each producer
// only says what changed (liveness.ts, safe-mode.ts, replication-scheduler.ts).

export function livenessEvents(events: ClusterEvents): LivenessListener {
  return (ev, s, first) => {
    const who = `chunkserver ${s.serverId.slice(0, 8)} (${s.address}${s.rack ? `, rack ${s.rack}` : ""})`;
    // A replicated master builds a new Liveness for every role it takes, and every chunkserver then registers
    // "for the first time" again: the ring (shared by the roles) says only what changed for the cluster.
    const was = events.serverAlive.get(s.serverId);
    if (ev.kind === "dead") {
      events.serverAlive.set(s.serverId, false);
      events.add("chunkserver-dead", `${who} is dead: its heartbeats stopped`, "warn");
      return;
    }
    events.serverAlive.set(s.serverId, true);
    if (was === true && first) return;
    if (was === undefined) events.add("chunkserver-registered", `${who} registered with ${s.chunkCount} chunks`);
    else events.add("chunkserver-back", `${who} is back`);
  };
}

export function safeModeEvents(events: ClusterEvents): (change: "entered" | "left", reasons: readonly SafeModeReason[]) => void {
  return (change, reasons) => {
    const why = reasons.map((r) => r.why).join("; ");
    if (change === "entered") events.add("safe-mode-entered", `safe mode entered: ${why}`, "error");
    else events.add("safe-mode-left", `safe mode left (operator confirmed): ${why}`, "warn");
  };
}

export function replicationEvents(events: ClusterEvents): (r: ReplicationRound) => void {
  return (r) => {
    if (r.kind === "started") events.add("re-replication-started", `re-replication started: ${r.copies} ${plural(r.copies, "copy", "copies")} ordered`);
    else {
      events.add("re-replication-finished", `re-replication finished in ${(r.ms / 1000).toFixed(1)} s: ${r.confirmed} of ${r.ordered} `
        + `${plural(r.ordered, "copy", "copies")} confirmed${r.abandoned ? `, ${r.abandoned} timed out (planned again)` : ""}`,
      r.abandoned ? "warn" : "info");
    }
  };
}

function plural(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}
