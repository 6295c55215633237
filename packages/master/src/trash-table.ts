// Issue 20 (trash lane): the trash (GFS 4.4). A delete of a last name (a file, symlink or special
// file with one name, or a directory tree deleted recursively) moves the entry to /.trash under a
// name that says what it was (MooseFS's "<id>|<path with / as |>"), and this table records where
// it came from and when. Everything here is deterministic: the ops carry times and ids, so replay,
// shadows and checkpoints rebuild the same table. The interface (TRASH_DIR, TrashRecord, `get`,
// `entries`, `size`) is the contract the quota lane charges against: an entry stays charged to the
// quotas above `path` until it is restored or purged.
import { GfsError, inodeOfPath } from "@gfs/common";
import type { Metadata, MetadataOp, TrashOp } from "./metadata";
import { NAME_BYTES_MAX, type Namespace, type OpResult } from "./namespace";

/** Where the trash lives in the namespace: a root-owned directory, hidden from listings of the root. */
export const TRASH_DIR = "/.trash";
/** TRASH_DIR's name in the root directory. */
const TRASH_NAME = TRASH_DIR.slice(1);
/** Read and search for all, write for none: only trash ops change it (every other change is EROFS). */
export const TRASH_DIR_MODE = 0o555;

/** One entry: the node now at `${TRASH_DIR}/${name}` (inode id `id`) was deleted from `path` at `deletedMs`. */
export interface TrashRecord {
  readonly id: number;
  readonly name: string;
  readonly path: string;
  readonly deletedMs: number;
}

/** An entry as a checkpoint's header stores it (format 5): [id, name, path, deletedMs]. */
export type TrashRow = [number, string, string, number];

export class TrashTable {
  /** By inode id, in the order entries were trashed (the op log's order): oldest first. */
  private readonly byId = new Map<number, TrashRecord>();

  get size(): number { return this.byId.size; }
  get(id: number): TrashRecord | undefined { return this.byId.get(id); }
  /** Every entry, oldest first. */
  entries(): IterableIterator<TrashRecord> { return this.byId.values(); }

  add(r: TrashRecord): void {
    if (this.byId.has(r.id)) throw new Error(`invariant: trash entry ${r.id} added twice`);
    this.byId.set(r.id, r);
  }

  remove(id: number): void {
    if (!this.byId.delete(id)) throw new Error(`invariant: no trash entry ${id} to remove`);
  }

  /** The newest entry deleted from exactly `path` that `visible` lets through (restore by path). */
  newestFrom(path: string, visible: (r: TrashRecord) => boolean = () => true): TrashRecord | undefined {
    let found: TrashRecord | undefined;
    for (const r of this.byId.values()) if (r.path === path && visible(r) && (!found || r.deletedMs >= found.deletedMs)) found = r;
    return found;
  }

  rows(): TrashRow[] {
    return [...this.byId.values()].map((r) => [r.id, r.name, r.path, r.deletedMs]);
  }

  /** Loads a checkpoint's rows, each checked against the namespace it was taken with (a damaged one is refused). */
  restoreRows(rows: unknown, format: number, ns: Namespace): void {
    if (format < 5) throw new GfsError("EIO", `checkpoint is corrupt: trash entries in format ${format}`);
    if (!Array.isArray(rows)) throw new GfsError("EIO", "checkpoint is corrupt: malformed trash entries");
    for (const row of rows) {
      if (!Array.isArray(row) || row.length !== 4) throw new GfsError("EIO", `checkpoint is corrupt: malformed trash entry ${JSON.stringify(row)}`);
      const [id, name, path, deletedMs] = row as TrashRow;
      if (!Number.isSafeInteger(id) || typeof name !== "string" || typeof path !== "string" || !path.startsWith("/") || !Number.isSafeInteger(deletedMs)
        || this.byId.has(id)) throw new GfsError("EIO", `checkpoint is corrupt: bad trash entry ${JSON.stringify(row)}`);
      let at: number;
      try {
        at = ns.idOf(`${TRASH_DIR}/${name}`);
      } catch {
        throw new GfsError("EIO", `checkpoint is corrupt: trash entry ${id} has no node ${TRASH_DIR}/${name}`);
      }
      if (at !== id) throw new GfsError("EIO", `checkpoint is corrupt: ${TRASH_DIR}/${name} is inode ${at}, not trash entry ${id}`);
      this.byId.set(id, { id, name, path, deletedMs });
    }
  }
}

/** Whether `path` (a name path) is the trash or something in it. */
export const inTrash = (path: string): boolean => path === TRASH_DIR || path.startsWith(TRASH_DIR + "/");

/** Where trash entry `r` is in the namespace. */
export const trashPathOf = (r: Pick<TrashRecord, "name">): string => `${TRASH_DIR}/${r.name}`;

/**
 * The name inode `id` deleted from `path` gets in the trash: "<id>|<path with / as |>" (as MooseFS
 * shows it), cut to NAME_BYTES_MAX bytes at a character boundary; the id comes first, so it stays
 * and the name is unique (an id is not reused while its inode is in the trash).
 */
export function trashName(id: number, path: string): string {
  const full = `${id}|${path.slice(1).split("/").join("|")}`;
  let bytes = 0;
  let out = "";
  for (const ch of full) {
    bytes += Buffer.byteLength(ch);
    if (bytes > NAME_BYTES_MAX) break;
    out += ch;
  }
  return out;
}

/**
 * What a descriptor open on a file that was then deleted still does to it through its inode path
 * (issue 19): write, extend, truncate, set times. Nothing else (link, chmod, chown, xattrs, delete,
 * rename) may reach a trashed inode: a link would give it a live name without a restore.
 */
function isDescriptorOp(op: MetadataOp): boolean {
  switch (op.op) {
    case "truncate": case "extendFile": case "addChunk":
      return true;
    case "setAttributes":
      return op.mode === undefined && op.uid === undefined && op.gid === undefined;
    default:
      return false;
  }
}

/**
 * EROFS for a new op (not a trash op) that would change the trash or anything in it: through a
 * name path, anything; through an inode path (`inodeInTrash` says whether it is a node in the
 * trash), all but what an open descriptor does (isDescriptorOp). Checked at commit, new ops only.
 */
export function checkTrashReadOnly(op: MetadataOp, inodeInTrash: (inodePath: string) => boolean = () => false): void {
  switch (op.op) {
    case "restoreTrash": case "purgeTrash": case "cowChunk": case "bumpVersion": case "drainServer": case "reclaim":
      return;
    default:
      for (const key of ["path", "from", "to"] as const) {
        const p = (op as Partial<Record<typeof key, unknown>>)[key];
        if (typeof p !== "string") continue;
        if (inTrash(p) || (inodeOfPath(p) !== undefined && !isDescriptorOp(op) && inodeInTrash(p))) {
          throw new GfsError("EROFS", `${p}: the trash is read-only (gfs trash restore|purge change it)`);
        }
      }
  }
}

/** Whether inode path `path` addresses a node in the trash (an entry, or in a trashed tree). O(nodes in the trash). */
export function inodeInTrash(m: Metadata, path: string): boolean {
  const id = inodeOfPath(path);
  if (id === undefined || m.trash.size === 0 || !m.namespace.hasInode(id)) return false;
  return m.trash.get(id) !== undefined || m.namespace.namesBelow(TRASH_DIR, id) > 0;
}

/** Checks `op` against `m` and returns what applies it (throws, changing nothing, if it cannot apply). */
export function planTrashOp(m: Metadata, op: TrashOp): () => OpResult {
  checkTime(op.timeMs);
  switch (op.op) {
    case "trash": return planTrash(m, op);
    case "restoreTrash": return planRestore(m, op);
    case "purgeTrash": return planPurge(m, op);
    default:
      throw new GfsError("EINVAL", `unknown trash operation ${JSON.stringify((op as { op: unknown }).op)}`);
  }
}

function checkTime(timeMs: number): void {
  if (!Number.isSafeInteger(timeMs) || timeMs < 0) throw new GfsError("EINVAL", `bad time ${timeMs}`);
}

function planTrash(m: Metadata, op: Extract<TrashOp, { op: "trash" }>): () => OpResult {
  const id = m.namespace.idOf(op.path);
  if (m.trash.get(id)) throw new GfsError("EIO", `inode ${id} is in the trash already`);
  if (op.name !== trashName(id, op.path)) throw new GfsError("EINVAL", `trash name ${JSON.stringify(op.name)} is not ${JSON.stringify(trashName(id, op.path))}`);
  const move = m.namespace.planTrashMove({ path: op.path, dir: TRASH_NAME, name: op.name, dirId: op.trashDirId, dirMode: TRASH_DIR_MODE, timeMs: op.timeMs });
  return () => {
    const res = move();
    m.trash.add({ id, name: op.name, path: op.path, deletedMs: op.timeMs });
    return res;
  };
}

function planRestore(m: Metadata, op: Extract<TrashOp, { op: "restoreTrash" }>): () => OpResult {
  const r = m.trash.get(op.id) ?? noEntry(`no trash entry ${op.id}`);
  const move = m.namespace.planTrashRestore({ dir: TRASH_NAME, name: r.name, id: r.id, to: op.to, parentIds: op.parentIds, uid: op.uid, gid: op.gid, timeMs: op.timeMs });
  return () => {
    const res = move();
    m.trash.remove(r.id);
    return res;
  };
}

function planPurge(m: Metadata, op: Extract<TrashOp, { op: "purgeTrash" }>): () => OpResult {
  if (!Array.isArray(op.ids) || op.ids.length === 0) throw new GfsError("EINVAL", "purge: ids must be a non-empty list");
  if (new Set(op.ids).size !== op.ids.length) throw new GfsError("EINVAL", "purge: an entry named twice");
  const records = op.ids.map((id) => m.trash.get(id) ?? noEntry(`no trash entry ${id}`));
  const purge = m.namespace.planTrashPurge({ dir: TRASH_NAME, entries: records, keep: op.keep, timeMs: op.timeMs });
  return () => {
    const res = purge();
    for (const r of records) m.trash.remove(r.id);
    return res;
  };
}

/** What `gfs status` shows of the trash: its entries and the logical bytes of the files in them. O(nodes in the trash). */
export function trashUsage(m: Metadata): { trashBytes: number; trashEntries: number } {
  let bytes = 0;
  for (const r of m.trash.entries()) bytes += m.namespace.subtreeUsage(trashPathOf(r), true).bytes;
  return { trashBytes: bytes, trashEntries: m.trash.size };
}

/** ENOENT for a trash entry (or its path) that is not there: the trash's and quotas' one helper. */
export function noEntry(message: string): never {
  throw new GfsError("ENOENT", message);
}
