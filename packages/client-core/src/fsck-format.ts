// Human-readable rendering of `gfs fsck`.
import type { FsckResponse__Output } from "@gfs/common";
import { stateName } from "./text-format";

export function formatFsck(r: FsckResponse__Output): string {
  const lines: string[] = [];
  for (const f of r.files) {
    lines.push(`${f.path}  ${f.size} bytes, ${f.chunks.length} chunks, goal ${f.goal}`);
    for (const c of f.chunks) {
      const replicas = c.replicas.map((x) => `${x.address}@v${x.version}${x.alive ? "" : "(dead)"}${x.stale ? "(stale)" : ""}${x.corrupt ? "(corrupt)" : ""}${x.suspect ? "(suspect)" : ""}`);
      lines.push(`  #${c.index} ${c.handle || "(hole)"} v${c.version} ${stateName(c.state)} ${c.good}/${f.goal}  ${replicas.join(" ")}`);
    }
  }
  lines.push(`${r.healthyChunks} healthy chunks, ${r.unhealthyChunks} unhealthy`);
  return lines.join("\n") + "\n";
}
