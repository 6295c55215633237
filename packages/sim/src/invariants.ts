// Checks run after every event. Each returns a one-line description of the
// first violation, or undefined.
import type { SimChunkserver } from "./chunkserver";
import type { SimMaster } from "./master";
import type { Model } from "./model";

/**
 * At most one chunkserver holds an unexpired lease on a chunk at a version
 * (by the one simulated clock). Two holders at different versions happen: a
 * grant whose primary took the lease while another member missed the bump is
 * refused to the client (EAGAIN) and the master forgets that lease, so the
 * next grant (a higher version) may name another primary before the first
 * expires. The older one cannot order anything the newer version's replicas
 * accept (versions must match exactly) and no client was told of it; such
 * overlaps are counted in `stats.staleOverlaps`, not failed.
 */
export function onePrimary(servers: SimChunkserver[], stats: { staleOverlaps: number }): string | undefined {
  const holders = new Map<string, Array<{ who: string; version: number }>>();
  for (const s of servers) {
    if (!s.up || !s.leases) continue;
    for (const l of s.leases.held()) holders.set(l.handle, [...(holders.get(l.handle) ?? []), { who: s.serverId, version: l.version }]);
  }
  for (const [handle, list] of holders) {
    if (list.length < 2) continue;
    const versions = new Set(list.map((h) => h.version));
    const all = list.map((h) => `${h.who}@v${h.version}`).join(", ");
    if (versions.size < list.length) return `chunk ${handle} has two primaries with unexpired leases at one version: ${all}`;
    stats.staleOverlaps++;
  }
  return undefined;
}

/** Versions only grow: on each replica (across its crashes) and in the master (within one incarnation of it). */
export class VersionWatch {
  private readonly replicas = new Map<string, number>();
  private readonly master = new Map<string, number>();
  private masterIncarnation = -1;

  check(master: SimMaster, servers: SimChunkserver[]): string | undefined {
    for (const s of servers) {
      if (!s.up || !s.store) continue;
      for (const c of s.store.list()) {
        const version = Number(c.version ?? 0);
        const key = `${s.serverId}/${c.handle}`;
        const before = this.replicas.get(key) ?? 0;
        if (version < before) return `replica ${key} went from version ${before} down to ${version}`;
        this.replicas.set(key, version);
      }
    }
    const st = master.state;
    if (!master.up || !st) return undefined;
    if (master.proc.incarnation !== this.masterIncarnation) {
      this.masterIncarnation = master.proc.incarnation;
      this.master.clear();
    }
    for (const c of st.chunks.entries()) {
      const handle = c.handle;
      const before = this.master.get(handle) ?? 0;
      if (c.version < before) return `master's version of chunk ${handle} went from ${before} down to ${c.version}`;
      this.master.set(handle, c.version);
    }
    return undefined;
  }
}

/** The namespace holds every acknowledged create and none of the acknowledged deletes (unknown outcomes may go either way). */
export function namespaceMatches(master: SimMaster, model: Model): string | undefined {
  const st = master.state;
  if (!master.up || !st) return undefined;
  for (const [path, want] of model.paths) {
    if (want === "unknown" || model.pending.has(path)) continue;
    const has = st.namespace.exists(path);
    if (want === "exists" && !has) return `acknowledged file ${path} is missing from the master's namespace`;
    if (want === "absent" && has) return `acknowledged delete of ${path}, but the master still has it`;
  }
  return undefined;
}
