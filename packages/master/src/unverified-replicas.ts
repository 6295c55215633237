// Replicas a chunkserver reports as corrupt or unverified at registration
// (issue 12, finding 3; see packages/chunkserver/src/chunk-store.ts).
//
// - corrupt: the replica is known bad (its file is shorter than the length
//   its clean sidecar records, or a datasync of it failed). It is marked
//   corrupt like a checksum failure: never handed out, deleted once a good
//   copy exists, then re-copied.
// - unverified: it was written in the window before a crash, and some of its
//   blocks no longer match the CRCs its server had recorded. If a verified
//   replica exists it is treated as corrupt (deleted, re-copied). If none does
//   (every replica crashed inside its window), it stays in use as the best of
//   what is left, and is dropped as soon as a verified replica is reported
//   (a server re-registering with one, or a fresh copy).
//
// This module only decides; the master applies the verdicts.

export interface ReportedReplica {
  handle: string;
  corrupt?: boolean;
  unverified?: boolean;
}

export type ReplicaJudgement =
  | { kind: "corrupt"; handle: string; serverId: string; why: string }
  | { kind: "kept-unverified"; handle: string; serverId: string };

export class UnverifiedReplicas {
  /** handle -> servers whose unverified replica of it is in use for want of a verified one. */
  private readonly kept = new Map<string, Set<string>>();

  /** A server registers again: what it said before no longer holds. */
  forgetServer(serverId: string): void {
    for (const [handle, ids] of this.kept) {
      ids.delete(serverId);
      if (ids.size === 0) this.kept.delete(handle);
    }
  }

  /**
   * Judges the replicas `serverId` reports. `goodElsewhere(handle)`: the servers
   * with a good (current, uncorrupted, live) replica of the chunk; those kept
   * unverified here do not count as verified. `isCurrent(handle)`: whether this
   * server's replica is at the chunk's current version and not corrupt.
   */
  judge(serverId: string, reports: readonly ReportedReplica[], goodElsewhere: (handle: string) => string[],
    isCurrent: (handle: string) => boolean): ReplicaJudgement[] {
    const out: ReplicaJudgement[] = [];
    for (const r of reports) {
      if (r.corrupt) {
        out.push({ kind: "corrupt", handle: r.handle, serverId, why: "reported corrupt by its server (short on disk or a failed datasync)" });
        continue;
      }
      const kept = this.kept.get(r.handle);
      if (r.unverified) {
        const verified = goodElsewhere(r.handle).filter((id) => id !== serverId && !kept?.has(id));
        if (verified.length > 0) {
          out.push({ kind: "corrupt", handle: r.handle, serverId, why: "written in the dirty window before a crash; a verified replica exists" });
        } else if (isCurrent(r.handle)) {
          if (kept) kept.add(serverId); else this.kept.set(r.handle, new Set([serverId]));
          out.push({ kind: "kept-unverified", handle: r.handle, serverId });
        }
        continue;
      }
      // A verified replica: any unverified one kept for want of it goes.
      if (kept && isCurrent(r.handle)) {
        for (const id of kept) {
          if (id !== serverId) out.push({ kind: "corrupt", handle: r.handle, serverId: id, why: "unverified since a crash; a verified replica is now reported" });
        }
        this.kept.delete(r.handle);
      }
    }
    return out;
  }

  /** Servers whose unverified replica of `handle` is in use (for fsck and tests). */
  keptFor(handle: string): string[] {
    return [...(this.kept.get(handle) ?? [])].sort();
  }
}
