// Verdicts on the replicas a chunkserver reports (at registration, or added
// since its last heartbeat), on top of ChunkTable.recordReplica:
// - a version above the master's is never adopted: the master logs every bump
//   before any replica hears of it, so such a replica holds a version the
//   master never issued (a restored old metadata, or a bug). It is kept aside
//   as suspect and the master enters safe mode: an operator must look;
// - a grant-set member one version behind the log is re-announced the logged
//   version (see version-announce.ts);
// - a stale one (older still) is left to ChunkTable, which queues its deletion.
import { isHandle } from "@gfs/common";
import { event, type LogEvent, type MasterCore } from "./core";
import type { ReplicaReport } from "./chunk-table";

export type ReportedReplica = ReplicaReport & { corrupt?: boolean; unverified?: boolean };

export interface ReportEffects {
  events: LogEvent[];
  /** Reasons to enter safe mode. */
  safeMode: string[];
  /** Replicas to tell the logged version (version-announce.ts). */
  announce: { serverId: string; handle: string }[];
}

export function recordReports(core: MasterCore, serverId: string, reports: ReportedReplica[]): ReportEffects {
  const out: ReportEffects = { events: [], safeMode: [], announce: [] };
  for (const r of reports) {
    if (!isHandle(r.handle)) {
      out.events.push(event("warn", "chunkserver reported a malformed handle", { serverId, handle: r.handle }));
      continue;
    }
    core.replication.onReplicaReported(serverId, r.handle);
    const verdict = core.chunks.recordReplica(serverId, r);
    if (verdict === "suspect") {
      const version = core.chunks.get(r.handle)?.version;
      out.events.push(event("error", "a replica claims a chunk version the master never issued; kept aside as suspect", {
        handle: r.handle, serverId, address: core.liveness.get(serverId)?.address, reported: r.version, masterVersion: version,
      }));
      out.safeMode.push(`chunk ${r.handle}: server ${serverId} reports version ${r.version}, above the master's ${version}`);
    } else if (verdict === "behind" && !r.unverified && !r.corrupt) {
      out.announce.push({ serverId, handle: r.handle });
    }
  }
  return out;
}
