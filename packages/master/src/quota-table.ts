// Issue 20 (quota lane): directory quotas. A quota is the limits an operator set on one directory
// (logical bytes: file sizes, each name counting, as du --apparent-size; entries: nodes below it),
// and its usage, which is derived state: recounted from the tree when a quota is set or a
// checkpoint loads, and kept up to date op by op after that (quota-accounting.ts). What was deleted
// from under a quota directory and waits in the trash stays charged to it until purged (`charges`).
import { defaults, GfsError } from "@gfs/common";
import type { Metadata, QuotaOp } from "./metadata";
import type { OpResult } from "./namespace";
import { inTrash, TRASH_DIR, trashPathOf } from "./trash-table";

export interface QuotaLimits {
  bytesSoft: number;
  bytesHard: number;
  entriesSoft: number;
  entriesHard: number;
}

export interface Usage {
  bytes: number;
  entries: number;
}

export type QuotaKind = "bytes" | "entries";
export const QUOTA_KINDS: readonly QuotaKind[] = ["bytes", "entries"];

/** One directory's quota: its limits (0: none), usage, and since when usage has been over each soft limit. */
export interface Quota extends QuotaLimits {
  readonly dirId: number;
  bytes: number;
  entries: number;
  /**
   * Per kind, the op time usage first went over that kind's soft limit (undefined: it is not over);
   * persisted, as that kind's grace period runs from it. Each kind has its own clock: bytes over
   * soft for days must not make an entries soft limit crossed now act as a hard one.
   */
  softSinceMs: Record<QuotaKind, number | undefined>;
}

/**
 * A checkpoint row: [dir id, bytesSoft, bytesHard, entriesSoft, entriesHard, bytes soft since
 * (0: not over), trash entry ids charged to it, entries soft since (0: not over)]. A 7-field row
 * (written before the clocks were split) has one since for both kinds.
 */
export type QuotaRow = [number, number, number, number, number, number, number[], number];

/** The grace period in force: the one place that decides it, for enforcement (commit) and for what GetQuota/status show. */
export const quotaGraceMs = (settings: { quota_grace_ms?: number }): number => settings.quota_grace_ms ?? defaults.quota_grace_ms;

const LIMIT_NAMES = ["bytesSoft", "bytesHard", "entriesSoft", "entriesHard"] as const;

export class QuotaTable {
  private readonly byDir = new Map<number, Quota>();
  /** Trash entry id -> the quota directories it was deleted from under (still charged to them until purged). */
  private readonly charges = new Map<number, number[]>();

  get size(): number {
    return this.byDir.size;
  }

  get(dirId: number): Quota | undefined {
    return this.byDir.get(dirId);
  }

  has(dirId: number): boolean {
    return this.byDir.has(dirId);
  }

  /** Every quota, by directory id order (deterministic listings and checkpoints). */
  all(): Quota[] {
    return [...this.byDir.values()].sort((a, b) => a.dirId - b.dirId);
  }

  /** The quota directories trash entry `entryId` is charged to (those still having a quota). */
  chargedTo(entryId: number): number[] {
    return (this.charges.get(entryId) ?? []).filter((d) => this.byDir.has(d));
  }

  /** Whether trash entry `entryId` is charged to quota directory `dirId`. */
  isCharged(entryId: number, dirId: number): boolean {
    return this.charges.get(entryId)?.includes(dirId) ?? false;
  }

  charge(entryId: number, dirIds: number[]): void {
    if (dirIds.length > 0) this.charges.set(entryId, dirIds);
    else this.charges.delete(entryId);
  }

  uncharge(entryId: number): void {
    this.charges.delete(entryId);
  }

  /** Adds `d` to quota `dirId`'s usage; the soft limit's grace starts (or ends) at `timeMs`. */
  add(dirId: number, d: Usage, timeMs: number): void {
    const q = this.byDir.get(dirId);
    if (!q) return;
    q.bytes += d.bytes;
    q.entries += d.entries;
    if (q.bytes < 0 || q.entries < 0) throw new Error(`invariant: quota usage of directory ${dirId} went negative (${q.bytes} bytes, ${q.entries} entries)`);
    this.markSoft(q, timeMs);
  }

  private markSoft(q: Quota, timeMs: number): void {
    for (const k of QUOTA_KINDS) {
      if (!overSoftOf(q, k)) q.softSinceMs[k] = undefined;
      else if (q.softSinceMs[k] === undefined) q.softSinceMs[k] = timeMs;
    }
  }

  /** Sets directory `dirId`'s limits with its counted usage (setQuota's apply). */
  set(dirId: number, limits: QuotaLimits, usage: Usage, timeMs: number): void {
    const q: Quota = { dirId, ...limits, ...usage, softSinceMs: { ...(this.byDir.get(dirId)?.softSinceMs ?? { bytes: undefined, entries: undefined }) } };
    this.byDir.set(dirId, q);
    this.markSoft(q, timeMs);
  }

  remove(dirId: number): void {
    if (!this.byDir.delete(dirId)) return;
    for (const [entry, dirs] of this.charges) this.charge(entry, dirs.filter((d) => d !== dirId));
  }

  /** Counts every quota's usage from scratch (when an op's usage could not be planned). */
  recount(m: Metadata, timeMs: number): void {
    this.dropMissing((id) => m.namespace.hasInode(id));
    for (const q of this.byDir.values()) {
      Object.assign(q, countUsage(m, q.dirId));
      this.markSoft(q, timeMs);
    }
  }

  /** Drops the quotas of directories that are gone (deleted, purged from the trash). */
  dropMissing(exists: (dirId: number) => boolean): void {
    for (const id of [...this.byDir.keys()]) if (!exists(id)) this.remove(id);
  }

  rows(): QuotaRow[] {
    return this.all().map((q) => {
      const charged = [...this.charges].filter(([, dirs]) => dirs.includes(q.dirId)).map(([e]) => e).sort((a, b) => a - b);
      return [q.dirId, q.bytesSoft, q.bytesHard, q.entriesSoft, q.entriesHard, q.softSinceMs.bytes ?? 0, charged, q.softSinceMs.entries ?? 0];
    });
  }

  /** Rebuilds the table from checkpoint rows on `m` (its namespace and trash loaded): usage recounted. */
  restoreRows(m: Metadata, rows: unknown): void {
    if (!Array.isArray(rows)) throw new GfsError("EIO", "checkpoint is corrupt: malformed quotas");
    for (const row of rows) {
      const ok = Array.isArray(row) && (row.length === 7 || row.length === 8) && [...row.slice(0, 6), ...row.slice(7)].every((x) => Number.isSafeInteger(x) && x >= 0)
        && Array.isArray(row[6]) && (row[6] as unknown[]).every((e) => Number.isSafeInteger(e));
      if (!ok) throw new GfsError("EIO", `checkpoint is corrupt: bad quota row ${JSON.stringify(row)}`);
      const [dirId, bytesSoft, bytesHard, entriesSoft, entriesHard, bytesSince, charged, entriesSince = bytesSince] = row as QuotaRow;
      try {
        m.namespace.dirPathOfId(dirId);
      } catch {
        throw new GfsError("EIO", `checkpoint is corrupt: a quota on inode ${dirId}, not a directory of it`);
      }
      for (const e of charged) {
        if (!m.trash.get(e)) throw new GfsError("EIO", `checkpoint is corrupt: quota of ${dirId} charged with trash entry ${e}, not in the trash`);
        this.charges.set(e, [...(this.charges.get(e) ?? []), dirId]);
      }
      const softSinceMs = { bytes: bytesSince > 0 ? bytesSince : undefined, entries: entriesSince > 0 ? entriesSince : undefined };
      this.byDir.set(dirId, { dirId, bytesSoft, bytesHard, entriesSoft, entriesHard, bytes: 0, entries: 0, softSinceMs });
    }
    for (const q of this.byDir.values()) {
      Object.assign(q, countUsage(m, q.dirId));
      for (const k of QUOTA_KINDS) if (!overSoftOf(q, k)) q.softSinceMs[k] = undefined;
    }
  }
}

/** Whether usage of kind `k` is over that kind's soft limit. */
export const overSoftOf = (q: Quota, k: QuotaKind): boolean => (k === "bytes" ? q.bytesSoft > 0 && q.bytes > q.bytesSoft : q.entriesSoft > 0 && q.entries > q.entriesSoft);
export const overSoft = (q: Quota): boolean => overSoftOf(q, "bytes") || overSoftOf(q, "entries");
/** The earliest grace start of the kinds over their soft limits (undefined: none is over). */
export function earliestSoftSince(q: Quota): number | undefined {
  const s = QUOTA_KINDS.map((k) => q.softSinceMs[k]).filter((x): x is number => x !== undefined);
  return s.length ? Math.min(...s) : undefined;
}
export const overHard = (q: Quota): boolean => (q.bytesHard > 0 && q.bytes > q.bytesHard) || (q.entriesHard > 0 && q.entries > q.entriesHard);

/** The id of /.trash, if the trash has been made. */
export function trashDirId(m: Metadata): number | undefined {
  return m.namespace.exists(TRASH_DIR) ? m.namespace.idOf(TRASH_DIR) : undefined;
}

/**
 * What quota directory `dirId` holds, counted from scratch: its subtree (for the root, without
 * /.trash itself), plus the trash entries charged to it. O(nodes below): at set and load only.
 */
export function countUsage(m: Metadata, dirId: number): Usage {
  const path = m.namespace.dirPathOfId(dirId);
  const u = m.namespace.subtreeUsage(path);
  if (path === "/" && trashDirId(m) !== undefined) {
    const t = m.namespace.subtreeUsage(TRASH_DIR, true);
    u.bytes -= t.bytes;
    u.entries -= t.entries;
  }
  for (const rec of m.trash.entries()) {
    if (!m.quotas.isCharged(rec.id, dirId)) continue;
    const t = m.namespace.subtreeUsage(trashPathOf(rec), true);
    u.bytes += t.bytes;
    u.entries += t.entries;
  }
  return u;
}

/** Checks `op` against `m` and returns what applies it (throws, changing nothing, if it cannot apply). */
export function planQuotaOp(m: Metadata, op: QuotaOp): () => OpResult {
  const limits = checkLimits(op);
  const st = m.namespace.stat(op.path);
  if (st.type !== "FILE_TYPE_DIRECTORY") throw new GfsError("ENOTDIR", `quota of ${op.path}: not a directory`);
  if (inTrash(op.path)) throw new GfsError("EROFS", `quota of ${op.path}: the trash takes no quota`);
  const dirId = st.id;
  const remove = LIMIT_NAMES.every((k) => limits[k] === 0);
  return () => {
    if (remove) {
      m.quotas.remove(dirId);
      return { info: st, id: dirId, garbage: [] };
    }
    if (!m.quotas.has(dirId)) chargeTrashUnder(m, dirId, op.path);
    m.quotas.set(dirId, limits, countUsage(m, dirId), op.timeMs);
    return { info: st, id: dirId, garbage: [] };
  };
}

/** A new quota on `path` counts what was deleted from under it and still sits in the trash. */
function chargeTrashUnder(m: Metadata, dirId: number, path: string): void {
  const prefix = path === "/" ? "/" : `${path}/`;
  for (const rec of m.trash.entries()) {
    if (rec.path.startsWith(prefix)) m.quotas.charge(rec.id, [...m.quotas.chargedTo(rec.id), dirId]);
  }
}

function checkLimits(op: QuotaOp): QuotaLimits {
  const limits = {} as QuotaLimits;
  for (const k of LIMIT_NAMES) {
    const v = op[k];
    if (!Number.isSafeInteger(v) || v < 0) throw new GfsError("EINVAL", `quota of ${op.path}: bad ${k} ${v}`);
    limits[k] = v;
  }
  if (limits.bytesSoft > 0 && limits.bytesHard > 0 && limits.bytesSoft > limits.bytesHard) throw new GfsError("EINVAL", `quota of ${op.path}: soft byte limit ${limits.bytesSoft} above the hard one ${limits.bytesHard}`);
  if (limits.entriesSoft > 0 && limits.entriesHard > 0 && limits.entriesSoft > limits.entriesHard) throw new GfsError("EINVAL", `quota of ${op.path}: soft entry limit ${limits.entriesSoft} above the hard one ${limits.entriesHard}`);
  return limits;
}
