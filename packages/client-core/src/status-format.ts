// Human-readable rendering of `gfs status`.
import type { StatusResponse__Output } from "@gfs/common";

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export function formatStatus(s: StatusResponse__Output): string {
  const rows = [["ID", "ADDRESS", "RACK", "CAPACITY", "USED", "CHUNKS", "STATE", "LAST HEARTBEAT"]];
  for (const c of s.chunkservers) {
    rows.push([c.serverId.slice(0, 8), c.address, c.rack || "-", formatBytes(c.capacityBytes), formatBytes(c.usedBytes),
      String(c.chunkCount), c.alive ? "alive" : "DEAD", `${(c.lastHeartbeatAgeMs / 1000).toFixed(1)}s ago`]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const table = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
  const alive = s.chunkservers.filter((c) => c.alive).length;
  return `${table}\n\n${alive}/${s.chunkservers.length} chunkservers alive; ${s.fileCount} files, ${s.chunkCount} chunks, ` +
    `${s.underReplicatedChunks} under-replicated; chunk size ${formatBytes(s.chunkSizeBytes)}, replication ${s.replication}\n`;
}
