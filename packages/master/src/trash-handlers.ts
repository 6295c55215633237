// Issue 20 (trash lane): the master's trash calls (gfs trash ls|restore|purge), the delete that
// keeps what it deletes, and what keeps /.trash read-only and per owner for callers. A user sees,
// restores and purges only the entries whose node they own; root (and an admin certificate) all.
import { defaults, GfsError, toServiceError, unary, type CallerIdentity, type DeleteRequest__Output, type MasterHandlers, type TrashEntry__Output } from "@gfs/common";
import { checkMkdirParents } from "./access";
import { callerOf } from "./caller";
import type { MasterState } from "./master-state";
import type { MetadataOp } from "./metadata";
import type { Namespace } from "./namespace";
import { isRoot } from "./permissions";
import { purgeOpFor, retentionOf } from "./trash-expiry";
import { inTrash, noEntry, TRASH_DIR, trashName, trashPathOf, type TrashRecord } from "./trash-table";

type TrashHandlers = Pick<MasterHandlers, "ListTrash" | "RestoreTrash" | "PurgeTrash">;

/** Whether caller `c` may see and change trash entry `r`: its node is theirs, or they are root. */
export function mayTouch(ns: Namespace, c: CallerIdentity, r: TrashRecord): boolean {
  return isRoot(c) || ns.stat(trashPathOf(r)).uid === c.uid;
}

/**
 * Whether a delete goes to the trash (retention > 0): a recursive delete of a directory (the whole
 * tree is one entry), or the delete of a file's, symlink's or special file's last name. rmdir of a
 * directory (never recursive) and the unlink of one of several names delete as before; so does a
 * delete that would fail (it fails with its own error). Pure.
 */
export function goesToTrash(ns: Namespace, req: Pick<DeleteRequest__Output, "path" | "recursive" | "directoryOnly" | "fileOnly">, retentionMs: number): boolean {
  if (retentionMs <= 0 || inTrash(req.path)) return false;
  try {
    ns.validate({ op: "delete", path: req.path, recursive: req.recursive, directoryOnly: req.directoryOnly, fileOnly: req.fileOnly, timeMs: 0 });
    const info = ns.stat(req.path);
    return info.type === "FILE_TYPE_DIRECTORY" ? req.recursive : info.nlink === 1;
  } catch {
    return false;
  }
}

/**
 * The `trash` op a Delete commits instead of `delete`, if it goes to the trash (decided in the commit's turn).
 * `no_trash` (a client's own temporary file) deletes for good, if caller `c` owns the node or is root:
 * the entry would be theirs to purge anyway; another's file still goes to the trash.
 */
export function trashOpFor(state: MasterState, req: DeleteRequest__Output, c: CallerIdentity): MetadataOp | undefined {
  const ns = state.namespace;
  if (!goesToTrash(ns, req, retentionOf(state))) return undefined;
  if (req.noTrash && (isRoot(c) || ns.stat(req.path).uid === c.uid)) return undefined;
  const id = ns.idOf(req.path);
  const trashDirId = ns.exists(TRASH_DIR) ? ns.idOf(TRASH_DIR) : state.allocIds(1)[0]!;
  return { op: "trash", path: req.path, name: trashName(id, req.path), trashDirId, timeMs: state.clock() };
}

/**
 * A listing as the caller may see it: the root's without the trash (for everyone: `ls /` never
 * shows it; stat and lookup of /.trash still work), the trash's with only the caller's own entries.
 */
export function listingFor<T extends { name: string; info: { uid: number } }>(path: string, c: CallerIdentity, entries: T[]): T[] {
  if (path === "/") return entries.filter((e) => e.name !== TRASH_DIR.slice(1));
  if (path === TRASH_DIR && !isRoot(c)) return entries.filter((e) => e.info.uid === c.uid);
  return entries;
}

/** Calls that change the namespace through a name path, and where their paths are. */
const writesByPath: Record<string, (req: Record<string, unknown>) => unknown[]> = {
  Create: (r) => [r.path], CreateForWriting: (r) => [r.path], Mkdir: (r) => [r.path], Symlink: (r) => [r.path],
  Rename: (r) => [r.from, r.to], Delete: (r) => [r.path], SetAttributes: (r) => [r.path], Truncate: (r) => [r.path],
  ExtendFile: (r) => [r.path], SetReplication: (r) => [r.path], AddChunk: (r) => [r.path], GetLease: (r) => [r.path],
  Link: (r) => [r.from, r.to], Mknod: (r) => [r.path], SetXattr: (r) => [r.path], RemoveXattr: (r) => [r.path],
  Snapshot: (r) => [r.from, r.to], SetQuota: (r) => [r.path],
  // Opens for writing (access bit 2) and lookups for writing: read-only is said at the open, as Linux does.
  Stat: (r) => (Number(r.access) & 2 ? [r.path] : []), FindChunks: (r) => (r.forWriting ? [r.path] : []),
};

/**
 * EROFS before anything else (permissions included, as Linux checks a read-only file system
 * first) for a call that would change /.trash or anything in it by name. The commit checks again
 * (trash-table.ts checkTrashReadOnly): this is what callers see first.
 */
export function refuseTrashWrites<H extends object>(handlers: H): H {
  type Handler = (call: { request?: unknown }, callback?: (e: unknown, v?: unknown) => void) => unknown;
  const out: Record<string, Handler> = { ...(handlers as Record<string, Handler>) };
  for (const [method, pathsOf] of Object.entries(writesByPath)) {
    const h = out[method];
    if (!h) continue;
    out[method] = (call, callback) => {
      const req = call?.request as Record<string, unknown> | undefined;
      const p = req && typeof req === "object" ? pathsOf(req).find((x) => typeof x === "string" && inTrash(x)) : undefined;
      if (p === undefined) return h(call, callback);
      callback?.(toServiceError(new GfsError("EROFS", `${p as string}: the trash is read-only (gfs trash restore|purge change it)`)));
      return undefined;
    };
  }
  return out as H;
}

export function trashHandlers(state: MasterState): TrashHandlers {
  const ns = () => state.namespace;
  const table = () => state.metadata.trash;
  const entryOf = (r: TrashRecord, retentionMs: number): TrashEntry__Output => {
    const usage = ns().subtreeUsage(trashPathOf(r), true);
    return {
      id: r.id, path: r.path, deletedMs: r.deletedMs, expiresMs: r.deletedMs + retentionMs, info: ns().stat(trashPathOf(r)),
      bytes: usage.bytes, entries: usage.entries, name: r.name,
    };
  };
  /** The entry a restore names: by id, or the newest the caller may touch deleted from `path`. */
  const chosen = (c: CallerIdentity, id: number, path: string): TrashRecord => {
    if (id > 0) {
      const r = table().get(id);
      if (!r) throw new GfsError("ENOENT", `no trash entry ${id}`);
      if (!mayTouch(ns(), c, r)) throw new GfsError("EPERM", `trash entry ${id} is not yours (uid ${c.uid})`);
      return r;
    }
    if (!path) throw new GfsError("EINVAL", "restore: name an entry (its id) or the path it was deleted from");
    return table().newestFrom(path, (r) => mayTouch(ns(), c, r)) ?? noEntry(`nothing deleted from ${path} is in the trash`);
  };
  return {
    ListTrash: unary((req, call) => {
      const c = callerOf(call);
      return state.visible(() => {
        const prefix = req.pathPrefix;
        const under = (p: string) => !prefix || p === prefix || p.startsWith(prefix.endsWith("/") ? prefix : prefix + "/");
        const retentionMs = retentionOf(state);
        const entries = [...table().entries()].filter((r) => under(r.path) && mayTouch(ns(), c, r)).map((r) => entryOf(r, retentionMs));
        return { entries, retentionMs };
      });
    }),
    RestoreTrash: unary(async (req, call) => {
      state.checkWritable("restore from the trash");
      const c = callerOf(call);
      const r = chosen(c, Number(req.id), req.path);
      const to = req.to || r.path;
      if (inTrash(to)) throw new GfsError("EROFS", `${to}: the trash is read-only`);
      if (ns().exists(to)) throw new GfsError("EEXIST", `${to} exists: restore it elsewhere with --to`);
      checkMkdirParents(ns(), c, to); // write and search on the nearest directory there is (as a create, or mkdir -p)
      const parent = to.slice(0, to.lastIndexOf("/")) || "/";
      const parentIds = state.allocIds(ns().missingDirectories(parent, true));
      const res = await state.commit({ op: "restoreTrash", id: r.id, to, parentIds, uid: c.uid, gid: c.gid, timeMs: state.clock() });
      state.log.info("trash entry restored", { id: r.id, to, parents: parentIds.length });
      return { info: res.info!, path: to };
    }),
    PurgeTrash: unary(async (req, call) => {
      state.checkWritable("purge the trash");
      const c = callerOf(call);
      const now = state.clock();
      const olderThan = Number(req.olderThanMs);
      const named = req.ids.map(Number);
      for (const id of named) {
        const r = table().get(id);
        if (!r) throw new GfsError("ENOENT", `no trash entry ${id}`);
        if (!mayTouch(ns(), c, r)) throw new GfsError("EPERM", `trash entry ${id} is not yours (uid ${c.uid})`);
      }
      const wanted = (named.length ? named.map((id) => table().get(id)!) : [...table().entries()].filter((r) => mayTouch(ns(), c, r)))
        .filter((r) => olderThan === 0 || r.deletedMs <= now - olderThan).map((r) => r.id);
      let purged = 0;
      let bytes = 0;
      for (let i = 0; i < wanted.length; i += defaults.trash_expire_batch_max) {
        // Entries expiry reclaimed meanwhile are gone already: the rest, checked in the commit's turn.
        const ids = wanted.slice(i, i + defaults.trash_expire_batch_max).filter((id) => table().get(id));
        if (ids.length === 0) continue;
        for (const id of ids) bytes += ns().subtreeUsage(trashPathOf(table().get(id)!), true).bytes;
        await state.commit(purgeOpFor(state, ids, now));
        purged += ids.length;
      }
      if (purged > 0) state.log.info("trash entries purged", { entries: purged, bytes });
      return { purged, bytes };
    }),
  };
}

