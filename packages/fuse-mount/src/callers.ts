// Whom each FUSE operation speaks for at the master: the calling process's
// uid and gid (fuse_get_context(), recorded by the patched fuse-native) and
// its supplementary groups, which FUSE does not pass and are read from
// /proc/PID/status ("Groups:"), remembered briefly per pid. With
// -o root_squash, root becomes nobody (65534:65534) before anything is sent,
// as an NFS client host's root does on a root_squash export.
import { readFile } from "node:fs/promises";
import { defaults, squashRoot, type CallerIdentity } from "@gfs/common";
import type { Caller } from "./operations";

/** The supplementary groups in a /proc/PID/status text ([] when it has no Groups line). */
export function groupsOfStatus(status: string): number[] {
  const line = /^Groups:(.*)$/m.exec(status);
  if (!line) return [];
  return line[1]!.trim().split(/\s+/).filter((s) => s !== "").map(Number).filter((g) => Number.isInteger(g) && g >= 0);
}

export interface CallerResolverOptions {
  rootSquash: boolean;
  cacheMs?: number;
  /** Reads /proc/PID/status (tests give their own). */
  readStatus?: (pid: number) => Promise<string>;
}

export class CallerResolver {
  /** pid -> its groups and when they were read. */
  private readonly groups = new Map<number, { atMs: number; groups: Promise<number[]> }>();
  private readonly readStatus: (pid: number) => Promise<string>;
  private readonly cacheMs: number;

  constructor(private readonly o: CallerResolverOptions, private readonly now: () => number = Date.now) {
    this.cacheMs = o.cacheMs ?? defaults.fuse_caller_groups_cache_ms;
    this.readStatus = o.readStatus ?? ((pid) => readFile(`/proc/${pid}/status`, "utf8"));
  }

  /** The identity the master hears for an operation by `c`. */
  async resolve(c: Caller): Promise<CallerIdentity> {
    if (this.o.rootSquash && c.uid === 0) return squashRoot({ uid: 0, gid: c.gid, groups: [] });
    return { uid: c.uid, gid: c.gid, groups: await this.groupsOf(c.pid) };
  }

  /** A process gone by the time we look (or pid 0: unknown) has no supplementary groups we can know. */
  private groupsOf(pid: number): Promise<number[]> {
    if (pid <= 0) return Promise.resolve([]);
    const now = this.now();
    const known = this.groups.get(pid);
    if (known && now - known.atMs < this.cacheMs) return known.groups;
    if (this.groups.size >= defaults.fuse_caller_groups_cache_entries_max) this.groups.clear();
    const groups = this.readStatus(pid).then(groupsOfStatus, () => []);
    this.groups.set(pid, { atMs: now, groups });
    return groups;
  }
}
