// Issue 20 (trash lane): the trash's reclaim (GFS 4.4: "lazily"). The decision is pure (which
// entries are due); the driver runs it on the active master's tick and commits one `purgeTrash`
// op of at most trash_expire_batch_max entries at a time, so a large backlog drains over several
// ticks. A shadow or a master in safe mode reclaims nothing.
import { defaults, GfsError, type Logger } from "@gfs/common";
import type { MetadataOp } from "./metadata";
import type { Namespace, NamespaceOp, OpResult } from "./namespace";
import { trashPathOf, type TrashRecord, type TrashTable } from "./trash-table";

/** Ids of the entries whose retention has run out at `nowMs` (deletedMs + retention <= now), oldest first, at most `max`. */
export function expiredIds(entries: Iterable<TrashRecord>, nowMs: number, retentionMs: number, max: number): number[] {
  const out: number[] = [];
  for (const r of entries) {
    if (out.length >= max) break;
    if (r.deletedMs + retentionMs <= nowMs) out.push(r.id);
  }
  return out;
}

/** What the driver needs of the master (MasterState has it). */
export interface TrashHost {
  clock: () => number;
  log: Logger;
  readonly actsAsShadow: boolean;
  readonly safeMode: { readonly active: boolean };
  readonly namespace: Namespace;
  readonly metadata: { readonly trash: TrashTable };
  readonly settings: { trash_retention_ms?: number };
  readonly sessions: { keepFor(op: Extract<NamespaceOp, { op: "delete" }>): number[] | undefined };
  commit(op: MetadataOp): Promise<OpResult>;
}

/** The retention the master runs with (gfs-master --trash-retention-ms; 0: no trash). */
export const retentionOf = (h: Pick<TrashHost, "settings">): number => h.settings.trash_retention_ms ?? defaults.trash_retention_ms;

/**
 * The purge of entries `ids` (in the table): with its `keep`, the inodes in them a mount session
 * still has open (they live on as orphans until closed, as after a plain delete). Built and
 * committed in one turn.
 */
export function purgeOpFor(h: Pick<TrashHost, "metadata" | "sessions">, ids: number[], timeMs: number): Extract<MetadataOp, { op: "purgeTrash" }> {
  const keep: number[] = [];
  for (const id of ids) {
    const r = h.metadata.trash.get(id);
    if (!r) throw new GfsError("ENOENT", `no trash entry ${id}`);
    keep.push(...(h.sessions.keepFor({ op: "delete", path: trashPathOf(r), recursive: true, directoryOnly: false, fileOnly: false, timeMs }) ?? []));
  }
  return { op: "purgeTrash", ids, timeMs, ...(keep.length ? { keep } : {}) };
}

export class TrashExpiry {
  /** One purge at a time: the next tick looks again once it is durable. */
  private inFlight = false;

  constructor(private readonly h: TrashHost) {}

  tick(): void {
    if (this.h.actsAsShadow || this.h.safeMode.active || this.inFlight || this.h.metadata.trash.size === 0) return;
    const now = this.h.clock();
    const ids = expiredIds(this.h.metadata.trash.entries(), now, retentionOf(this.h), defaults.trash_expire_batch_max);
    if (ids.length === 0) return;
    this.inFlight = true;
    this.h.commit(purgeOpFor(this.h, ids, now)).then(
      (res) => this.h.log.info("trash entries expired", { entries: ids.length, chunks: res.garbage.length }),
      (e: unknown) => {
        if (!(e instanceof GfsError && e.errno === "ENOTACTIVE")) this.h.log.warn("reclaiming expired trash entries failed; trying again", { entries: ids.length, error: (e as Error).message });
      },
    ).finally(() => { this.inFlight = false; });
  }
}
