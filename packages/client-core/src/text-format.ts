// How the CLI writes sizes, ratios, chunk states and tables, shared by every command so one
// quantity reads the same in status, balance, progress bars, info and fsck.

/**
 * "0 B", "1.5 KiB", "700 KiB", "5.0 GiB": bytes in binary units, one decimal below 10 of a unit.
 * For status, balance and progress lines; du -h and df -h use duBytes, their tools' own format.
 */
export function iecBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return i === 0 ? `${n} B` : `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

/**
 * 1536 -> "1.5K", 23 MiB -> "23M": du -h and df -h's format (powers of 1024, no space, no "B",
 * rounded up so a size is never shown smaller than it is), which scripts and users of du expect.
 */
export function duBytes(bytes: number): string {
  const units = ["K", "M", "G", "T", "P", "E"];
  if (bytes < 1024) return String(bytes);
  let v = bytes;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const shown = v < 10 ? Math.ceil(v * 10) / 10 : Math.ceil(v);
  // Rounding up may reach the next unit (1023.9K -> 1024K): show it there.
  if (shown >= 1024 && u < units.length - 1) return `1.0${units[u + 1]}`;
  return `${v < 10 && shown < 10 ? shown.toFixed(1) : shown}${units[u]}`;
}

/** 0.125 -> "12.5%". */
export const pct = (ratio: number): string => `${(ratio * 100).toFixed(1)}%`;

/** CHUNK_STATE_UNDER_REPLICATED -> "under-replicated", as info and fsck print a chunk's state. */
export const stateName = (s: string): string => s.replace(/^CHUNK_STATE_/, "").toLowerCase().replace(/_/g, "-");

/** Rows as columns padded to their widest cell, two spaces apart; the first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}
