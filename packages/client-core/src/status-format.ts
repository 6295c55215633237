// Human-readable rendering of `gfs status`.
import { iecBytes, table } from "./text-format";
import type { ConfirmGcResponse__Output, SafeModeReason__Output, StatusResponse__Output } from "@gfs/common";

const roleNames: Record<string, string> = { MASTER_ROLE_ACTIVE: "active", MASTER_ROLE_SHADOW: "shadow", MASTER_ROLE_SINGLE: "single" };

/** The masters of a replicated set (issue 16): role, epoch, log position and lag; "" for a single master. */
export function formatMasters(s: StatusResponse__Output): string {
  if (s.masters.length === 0) return "";
  const rows = [["MASTER", "ADDRESS", "ROLE", "EPOCH", "LOG", "APPLIED", "LAG", "IN SYNC"]];
  for (const m of s.masters) {
    if (!m.reachable) {
      rows.push([m.id, m.address, "UNREACHABLE", "-", "-", "-", "-", "-"]);
      continue;
    }
    const lag = m.role === "MASTER_ROLE_SHADOW" ? `${m.lagRecords} records${m.lagMs ? `, ${(m.lagMs / 1000).toFixed(1)}s` : ""}` : "-";
    rows.push([m.id, m.address, roleNames[m.role] ?? String(m.role), String(m.epoch), String(m.lastSeq), String(m.appliedSeq), lag,
      m.role === "MASTER_ROLE_ACTIVE" ? "-" : m.inSync ? "yes" : "no"]);
  }
  return table(rows) + "\n\n";
}

/** A server's state (issue 18); a dead one in capitals, as before; an older master's answer has only `alive`. */
const stateCell = (c: { alive: boolean; state: string }): string => {
  const state = c.state || (c.alive ? "alive" : "dead");
  return state === "dead" ? "DEAD" : state;
};

export function formatStatus(s: StatusResponse__Output): string {
  const rows = [["ID", "ADDRESS", "RACK", "CAPACITY", "USED", "CHUNKS", "STATE", "LAST HEARTBEAT"]];
  for (const c of s.chunkservers) {
    rows.push([c.serverId.slice(0, 8), c.address, c.rack || "-", iecBytes(c.capacityBytes), iecBytes(c.usedBytes),
      String(c.chunkCount), stateCell(c), `${(c.lastHeartbeatAgeMs / 1000).toFixed(1)}s ago`]);
  }
  const alive = s.chunkservers.filter((c) => c.alive).length;
  return `${formatMasters(s)}${table(rows)}\n\n${alive}/${s.chunkservers.length} chunkservers alive; ${s.fileCount} files, ${s.chunkCount} chunks, ` +
    `${s.underReplicatedChunks} under-replicated; chunk size ${iecBytes(s.chunkSizeBytes)}, replication ${s.replication}\n` +
    formatTrashLine(s) +
    formatQuotasLine(s) + // issue 20, quota lane
    (s.safeMode ? "\n" + formatSafeMode(s) : "");
}

/** Issue 20, trash lane: what the trash holds (counted in the servers' used bytes until reclaimed). */
export function formatTrashLine(s: Pick<StatusResponse__Output, "trashBytes" | "trashEntries">): string {
  const n = Number(s.trashEntries ?? 0);
  return `trash: ${n} ${n === 1 ? "entry" : "entries"}, ${iecBytes(Number(s.trashBytes ?? 0))} (kept on the chunkservers until reclaimed)\n`;
}

/** Issue 20, quota lane: how many directory quotas there are and which are over a limit (nothing without quotas; `gfs quota ls` has the table). */
export function formatQuotasLine(s: Pick<StatusResponse__Output, "quotas">): string {
  const qs = s.quotas ?? [];
  if (qs.length === 0) return "";
  const hard = qs.filter((q) => q.overHard).map((q) => q.path);
  const soft = qs.filter((q) => q.overSoft && !q.overHard).map((q) => q.path);
  return `quotas: ${qs.length}${hard.length ? `; over hard: ${hard.join(", ")}` : ""}${soft.length ? `; over soft: ${soft.join(", ")}` : ""}\n`;
}

const reasonLines = (reasons: readonly SafeModeReason__Output[]) =>
  reasons.map((r) => `  - ${r.why} (since ${new Date(r.atMs).toISOString()})\n`).join("");

/** The safe-mode part of `gfs status` and `gfs gc`. */
export function formatSafeMode(s: StatusResponse__Output): string {
  if (!s.safeMode) {
    return `garbage collection is running (not in safe mode); ${s.chunkDeletesPending} replica deletions and ` +
      `${s.chunkQuarantinesPending} quarantines queued\n`;
  }
  return "SAFE MODE: the master deletes and quarantines no chunk and refuses every mutation (EROFS), because:\n" +
    reasonLines(s.safeModeReasons) +
    `held back: ${s.chunkDeletesPending} replica deletions, ${s.chunkQuarantinesPending} quarantines of chunks it does not know\n` +
    "Check the master's metadata (restore a backup of its data directory if records were lost), " +
    "then run 'gfs gc --confirm' to resume mutations and garbage collection.\n";
}

/** What `gfs gc --confirm` did. */
export function formatConfirmGc(r: ConfirmGcResponse__Output): string {
  if (!r.wasInSafeMode) return "not in safe mode: nothing to confirm; garbage collection is running\n";
  return "left safe mode; confirmed:\n" + reasonLines(r.confirmed) +
    `garbage collection resumes: ${r.chunkDeletesPending} replica deletions and ${r.chunkQuarantinesPending} quarantines ` +
    "go out with the chunkservers' next heartbeats; mutations are accepted again\n";
}
