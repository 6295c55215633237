// Which nodes a namespace operation must check, and for what (the rules are
// permissions.ts's). Every function walks the path once through the
// in-memory tree; a missing node is not an error here: the operation itself
// then fails with ENOENT / ENOTDIR, after the permission checks on the
// directories that do exist, as Linux answers (EACCES first).
//
// Checks run in the same event-loop turn as the operation's apply
// (MasterState.commit applies synchronously), so no other operation can
// change a mode between the check and the change it allows.
import { GfsError, type CallerIdentity } from "@gfs/common";
import type { Namespace } from "./namespace";
import { checkAccess, checkSticky, isPrivilegedMode, isRoot, mayAccess, MAY_EXEC, MAY_READ, MAY_WRITE, type Owned } from "./permissions";
import { TRASH_DIR } from "./trash-table";

type Walk = ReturnType<Namespace["walk"]>;

const pathOf = (parts: string[], i: number): string => "/" + parts.slice(0, i).join("/");
/** The walk's target as errors name it: its path, or the inode path it was reached by (issue 19). */
const targetPath = (w: Walk): string => w.inodePath ?? pathOf(w.parts, w.parts.length);

/**
 * Issue 20: a trash entry (a name directly under /.trash) exists only for its owner and root (an
 * admin certificate is root), as ListTrash and a listing of /.trash show it: the entry has lost
 * the directories that protected it where it was deleted (a 0700 home), and its name is guessable.
 * ENOENT for everyone else, on every call that reaches a node by name (they all walk here).
 */
function checkTrashEntryOwner(c: CallerIdentity, w: Walk): void {
  if (w.parts[0] !== TRASH_DIR.slice(1) || w.nodes.length < 3) return;
  const entry = w.nodes[2]!;
  if (entry.uid !== c.uid) throw new GfsError("ENOENT", `${targetPath(w)}: no such file or directory`);
}

/** Search (x) permission on every directory above the target that exists. */
function searched(ns: Namespace, c: CallerIdentity, path: string): Walk {
  const w = ns.walk(path);
  if (isRoot(c)) return w;
  checkTrashEntryOwner(c, w);
  const above = Math.min(w.nodes.length, w.parts.length);
  for (let i = 0; i < above; i++) {
    const n = w.nodes[i]!;
    if (n.type !== "dir") break; // the operation fails with ENOTDIR
    checkAccess(c, n, MAY_EXEC, pathOf(w.parts, i));
  }
  return w;
}

const targetOf = (w: Walk): Walk["nodes"][number] | undefined => (w.nodes.length === w.parts.length + 1 ? w.nodes[w.parts.length] : undefined);

/** The node at `path`, if it exists (no permission checked: for what an allowed operation does next). */
export const nodeAt = (ns: Namespace, path: string): Owned | undefined => targetOf(ns.walk(path));
const parentOf = (w: Walk): Walk["nodes"][number] | undefined =>
  (w.parts.length > 0 && w.nodes.length >= w.parts.length ? w.nodes[w.parts.length - 1] : undefined);

/** Stat, and what any operation needs to reach a node: search on the directories above it. Returns the node if it exists. */
export function checkLookup(ns: Namespace, c: CallerIdentity, path: string): Owned | undefined {
  return targetOf(searched(ns, c, path));
}

/** Reading (MAY_READ) or writing (MAY_WRITE) a node, or listing a directory (MAY_READ). */
export function checkOpen(ns: Namespace, c: CallerIdentity, path: string, want: number): Owned | undefined {
  const w = searched(ns, c, path);
  const n = targetOf(w);
  if (n) checkAccess(c, n, want, targetPath(w));
  return n;
}

/**
 * Listing a directory: read on it (else EACCES). Returns whether the caller may
 * also see its entries' attributes: that takes search on it, as stat of an
 * entry does (Linux's getdents gives names and types only; `ls -l` of a
 * readable, unsearchable directory shows `?` for the rest).
 */
export function checkList(ns: Namespace, c: CallerIdentity, path: string): { attributes: boolean } {
  const n = checkOpen(ns, c, path, MAY_READ);
  return { attributes: !n || n.type !== "dir" || mayAccess(c, n, MAY_EXEC) };
}

/**
 * Writing a file through a descriptor already open for writing (AddChunk,
 * GetLease, ExtendFile, Truncate, FindChunks for writing): as checkOpen with
 * MAY_WRITE, except that the file's owner always passes, as Linux's NFS server
 * lets it (NFSD_MAY_OWNER_OVERRIDE). The master sees no descriptors, and a
 * descriptor keeps the write permission its open was given: a file created
 * with mode 0444 is written through the descriptor that created it (git's
 * objects, cp of a read-only file). The owner could chmod it anyway, so it
 * gains nothing; an open for writing (Stat access) still checks the mode.
 */
export function checkWriteThrough(ns: Namespace, c: CallerIdentity, path: string): Owned | undefined {
  const w = searched(ns, c, path);
  const n = targetOf(w);
  if (n && !(n.type === "file" && n.uid === c.uid)) checkAccess(c, n, MAY_WRITE, targetPath(w));
  return n;
}

/**
 * Creating `path` (file, symlink, directory): write and search on its parent.
 * Returns the parent (for the new node's group, see newOwnership) and the node
 * already there, if any.
 */
export function checkCreate(ns: Namespace, c: CallerIdentity, path: string): { parent?: Owned; existing?: Owned } {
  const w = searched(ns, c, path);
  const parent = parentOf(w);
  const existing = targetOf(w);
  if (parent?.type === "dir" && !existing) checkAccess(c, parent, MAY_WRITE | MAY_EXEC, pathOf(w.parts, w.parts.length - 1));
  return { parent, existing };
}

/**
 * link(2): search to reach the source, write and search on the new name's directory (as a
 * create), and Linux's fs.protected_hardlinks (its default, 1): a caller who does not own the
 * source may link it only if it is a regular file, not setuid, not setgid with group execute,
 * and the caller may read and write it (else EPERM). Returns the source, if it exists.
 */
export function checkLink(ns: Namespace, c: CallerIdentity, from: string, to: string): Owned | undefined {
  const w = searched(ns, c, from);
  const src = targetOf(w);
  checkCreate(ns, c, to);
  if (!src || isRoot(c) || src.uid === c.uid) return src;
  if (src.type !== "file" || isPrivilegedMode(src.mode) || !mayAccess(c, src, MAY_READ | MAY_WRITE)) {
    throw new GfsError("EPERM", `${from}: only its owner may link it unless it is a regular file others may read and write (protected_hardlinks); caller is uid ${c.uid}`);
  }
  return src;
}

/** mkdir -p: write and search on the deepest directory that exists, when something below it is missing. Returns it. */
export function checkMkdirParents(ns: Namespace, c: CallerIdentity, path: string): Owned | undefined {
  const w = searched(ns, c, path);
  if (w.nodes.length === w.parts.length + 1) return undefined; // all there: the op fails with EEXIST or does nothing
  const deepest = w.nodes[w.nodes.length - 1]!;
  if (deepest.type === "dir") checkAccess(c, deepest, MAY_WRITE | MAY_EXEC, pathOf(w.parts, w.nodes.length - 1));
  return deepest;
}

/** Unlinking the entry at the end of `w` from its parent: write and search on the parent, and the sticky bit. */
function checkUnlink(c: CallerIdentity, w: Walk): void {
  const parent = parentOf(w);
  const n = targetOf(w);
  if (!parent || !n || parent.type !== "dir") return;
  checkAccess(c, parent, MAY_WRITE | MAY_EXEC, pathOf(w.parts, w.parts.length - 1));
  checkSticky(c, parent, n, targetPath(w));
}

/**
 * Delete (rm, rmdir, rm -r). A recursive delete is every unlink `rm -r` would
 * make: each directory in the tree that has entries needs read, write and
 * search, and each entry passes its directory's sticky bit.
 */
export function checkRemove(ns: Namespace, c: CallerIdentity, path: string, recursive: boolean): void {
  const w = searched(ns, c, path);
  checkUnlink(c, w);
  const n = targetOf(w);
  if (!recursive || !n || n.type !== "dir" || isRoot(c)) return;
  const stack: Array<[string, typeof n]> = [[targetPath(w), n]];
  while (stack.length) {
    const [p, dir] = stack.pop()!;
    if (!dir.children || dir.children.size === 0) continue;
    checkAccess(c, dir, MAY_READ | MAY_WRITE | MAY_EXEC, p);
    for (const [name, child] of dir.children) {
      checkSticky(c, dir, child, `${p === "/" ? "" : p}/${name}`);
      if (child.type === "dir") stack.push([`${p === "/" ? "" : p}/${name}`, child]);
    }
  }
}

/**
 * Rename: unlink from the source's directory (write, search, sticky), create
 * in the target's (write, search; sticky for an entry it replaces), and a
 * directory moving to another parent needs write on itself (its "..").
 */
export function checkRename(ns: Namespace, c: CallerIdentity, from: string, to: string): void {
  const src = searched(ns, c, from);
  const dst = searched(ns, c, to);
  if (isRoot(c)) return;
  checkUnlink(c, src);
  const dstParent = parentOf(dst);
  if (dstParent?.type === "dir") {
    if (targetOf(dst)) checkUnlink(c, dst);
    else checkAccess(c, dstParent, MAY_WRITE | MAY_EXEC, pathOf(dst.parts, dst.parts.length - 1));
  }
  const moved = targetOf(src);
  // Nodes are views built per walk (namespace.ts): the same directory is the same id, not the same object.
  if (moved?.type === "dir" && parentOf(src)?.id !== dstParent?.id) checkAccess(c, moved, MAY_WRITE, pathOf(src.parts, src.parts.length));
}

/**
 * Issue 18, setrep: only a node's owner (or root) changes its replication goal; `recursive`, of every file and
 * directory under it too (setGoal rewrites both), reached as the caller could: search on each directory to
 * descend, so a refusal never names an entry below a directory the caller cannot search.
 */
export function checkSetGoal(ns: Namespace, c: CallerIdentity, path: string, recursive = false): void {
  const w = searched(ns, c, path);
  const top = targetOf(w);
  if (!top || isRoot(c)) return;
  const stack: Array<[string, Owned]> = [[targetPath(w), top]];
  while (stack.length) {
    const [p, n] = stack.pop()!;
    if (n.type === "symlink") continue; // setGoal leaves symlinks alone (and refuses one named itself)
    if (n.uid !== c.uid) throw new GfsError("EPERM", `${p}: only its owner (uid ${n.uid}) or root may change its replication goal; caller is uid ${c.uid}`);
    if (!recursive || n.type !== "dir") continue;
    checkAccess(c, n, MAY_EXEC, p);
    for (const e of ns.readdir(p, false).reverse()) {
      const child = p === "/" ? `/${e.name}` : `${p}/${e.name}`;
      stack.push([child, nodeAt(ns, child)!]);
    }
  }
}
