// POSIX permission rules, as Linux applies them (fs/namei.c generic_permission,
// fs/attr.c setattr_prepare / chown_ok / chgrp_ok, inode_init_owner,
// should_remove_suid), for one caller and one node at a time. Pure: which
// nodes a namespace operation must check is access.ts's business.
//
// Root (uid 0) passes every check except executing a file with no x bit at
// all (CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_CHOWN, CAP_FSETID); nobody else has
// capabilities.
import { GfsError, type CallerIdentity } from "@gfs/common";

export const MAY_READ = 4;
export const MAY_WRITE = 2;
export const MAY_EXEC = 1;
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_ISVTX = 0o1000;
const S_IXGRP = 0o010;

/** What permission checks read of a node. */
export interface Owned {
  type: "file" | "dir" | "symlink" | "fifo" | "chr" | "blk" | "sock";
  mode: number;
  uid: number;
  gid: number;
}

export const isRoot = (c: CallerIdentity): boolean => c.uid === 0;

/** The caller's primary group or one of its supplementary groups is `gid`. */
export const inGroup = (c: CallerIdentity, gid: number): boolean => c.gid === gid || c.groups.includes(gid);

/**
 * May `c` have every access in `want` (MAY_READ | MAY_WRITE | MAY_EXEC) to `n`?
 * The owner class decides alone when it matches (a 0077 file denies its owner), then the group class.
 */
export function mayAccess(c: CallerIdentity, n: Owned, want: number): boolean {
  if (isRoot(c)) return (want & MAY_EXEC) === 0 || n.type === "dir" || (n.mode & 0o111) !== 0;
  const bits = c.uid === n.uid ? (n.mode >> 6) & 7 : inGroup(c, n.gid) ? (n.mode >> 3) & 7 : n.mode & 7;
  return (bits & want) === want;
}

const wantWords = (want: number, dir: boolean): string =>
  [want & MAY_READ ? "read" : "", want & MAY_WRITE ? "write" : "", want & MAY_EXEC ? (dir ? "search" : "execute") : ""]
    .filter(Boolean).join("+");

/** EACCES "permission denied" naming the path, the access and the caller. */
export function denied(c: CallerIdentity, path: string, what: string): GfsError {
  return new GfsError("EACCES", `${path}: ${what} permission denied to uid ${c.uid}`);
}

/** EACCES unless `c` may have `want` to the node at `path`. */
export function checkAccess(c: CallerIdentity, n: Owned, want: number, path: string): void {
  if (!mayAccess(c, n, want)) throw denied(c, path, wantWords(want, n.type === "dir"));
}

/**
 * The sticky bit (a /tmp-style directory): an entry of a sticky directory may be
 * unlinked or renamed away only by the entry's owner, the directory's owner or root.
 */
export function mayRemoveFrom(c: CallerIdentity, dir: Owned, entry: Owned): boolean {
  return (dir.mode & S_ISVTX) === 0 || isRoot(c) || c.uid === entry.uid || c.uid === dir.uid;
}

export function checkSticky(c: CallerIdentity, dir: Owned, entry: Owned, path: string): void {
  if (!mayRemoveFrom(c, dir, entry)) throw denied(c, path, "sticky directory: removal");
}

/**
 * chmod: only the owner or root (else EPERM). A non-root caller setting setgid
 * on a node whose group it is not in loses the bit (Linux does so silently).
 * One exception: anyone who may write a file may clear its setuid/setgid bits
 * and nothing else (`dropsPrivilegesOnly`). Returns the mode to store.
 */
export function chmodMode(c: CallerIdentity, n: Owned, mode: number, path: string): number {
  if (!isRoot(c) && c.uid !== n.uid) {
    if (dropsPrivilegesOnly(n, mode) && mayAccess(c, n, MAY_WRITE)) return mode & 0o7777;
    throw new GfsError("EPERM", `${path}: only its owner (uid ${n.uid}) may change its mode; caller is uid ${c.uid}`);
  }
  let m = mode & 0o7777;
  if (!isRoot(c) && (m & S_ISGID) !== 0 && !inGroup(c, n.gid)) m &= ~S_ISGID;
  return m;
}

/**
 * chown / chgrp (uid or gid undefined: left alone). Root may set both; the
 * owner may "set" its own uid and change the group to one it belongs to;
 * anything else is EPERM. Any chown of a non-directory clears setuid, and
 * setgid when the group may execute (a privilege must not change hands),
 * for root too (Linux's ATTR_KILL_SUID). Returns what to store.
 */
export function chownResult(c: CallerIdentity, n: Owned, uid: number | undefined, gid: number | undefined, path: string):
  { uid: number; gid: number; mode: number } {
  if (!isRoot(c)) {
    if (uid !== undefined && !(c.uid === n.uid && uid === n.uid)) {
      throw new GfsError("EPERM", `${path}: only root may change its owner (uid ${n.uid} -> ${uid}); caller is uid ${c.uid}`);
    }
    if (gid !== undefined && !(c.uid === n.uid && (gid === n.gid || inGroup(c, gid)))) {
      throw new GfsError("EPERM", c.uid === n.uid
        ? `${path}: uid ${c.uid} is not in group ${gid}`
        : `${path}: only its owner (uid ${n.uid}) or root may change its group; caller is uid ${c.uid}`);
    }
  }
  let mode = n.mode;
  if ((uid !== undefined || gid !== undefined) && n.type !== "dir") mode = clearPrivileges(mode);
  return { uid: uid ?? n.uid, gid: gid ?? n.gid, mode };
}

/**
 * Whether `mode` is `n`'s mode with setuid and/or setgid cleared, nothing else changed: what the
 * kernel asks on its own before a write or truncate by someone who is not the owner (a FUSE file
 * system without handle_killpriv: fs/fuse/dir.c fuse_setattr after file_remove_privs), as the
 * writer. The kernel lets no one else's chmod(2) through (default_permissions: owner only).
 */
function dropsPrivilegesOnly(n: Owned, mode: number): boolean {
  const m = mode & 0o7777;
  return n.type === "file" && m !== n.mode && (m | S_ISUID | S_ISGID) === (n.mode | S_ISUID | S_ISGID) && (m & ~n.mode) === 0;
}

/**
 * Whether `mode` is a privileged file's (Linux's: setuid, or setgid with group execute; setgid without
 * g+x is mandatory locking). Such files lose those bits on chown and write, and a caller who could not
 * read and write one may not hard-link it (fs.protected_hardlinks).
 */
export function isPrivilegedMode(mode: number): boolean {
  return (mode & S_ISUID) !== 0 || (mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP);
}

/** setuid always, setgid when the group may execute (setgid without g+x is mandatory locking, kept). */
function clearPrivileges(mode: number): number {
  let m = mode & ~S_ISUID;
  if ((m & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) m &= ~S_ISGID;
  return m;
}

/**
 * Setting times. To "now" (utimensat with both UTIME_NOW, `touch`): the owner,
 * root or anyone who may write the file (else EACCES). To chosen times: the
 * owner or root only (else EPERM).
 */
export function checkTimes(c: CallerIdentity, n: Owned, toNow: boolean, path: string): void {
  if (isRoot(c) || c.uid === n.uid) return;
  if (!toNow) throw new GfsError("EPERM", `${path}: only its owner (uid ${n.uid}) may set its times; caller is uid ${c.uid}`);
  checkAccess(c, n, MAY_WRITE, path);
}

/**
 * The mode a file must take when `c` writes or truncates it: a non-root writer
 * clears setuid, and setgid when the group may execute (Linux's
 * file_remove_privs; the owner's own write clears them too). undefined: no change.
 */
export function modeAfterWrite(c: CallerIdentity, n: Owned): number | undefined {
  if (isRoot(c) || n.type !== "file") return undefined;
  const m = clearPrivileges(n.mode);
  return m === n.mode ? undefined : m;
}

/**
 * Owner, group and mode of a node `c` creates in `parent` (inode_init_owner).
 * The uid is the caller's; root may name another (`requested`, as it could
 * chown right after). The group is the parent's when the parent is setgid (and
 * a new directory inherits setgid), else the caller's (root: `requested`). A
 * non-root caller outside that group cannot create a setgid executable file.
 */
export function newOwnership(c: CallerIdentity, parent: Owned, type: Owned["type"], mode: number,
  requested: { uid: number; gid: number }): { uid: number; gid: number; mode: number } {
  const uid = isRoot(c) ? requested.uid : c.uid;
  let m = mode & 0o7777;
  if ((parent.mode & S_ISGID) === 0) return { uid, gid: isRoot(c) ? requested.gid : c.gid, mode: m };
  const gid = parent.gid;
  if (type === "dir") m |= S_ISGID;
  else if ((m & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP) && !isRoot(c) && !inGroup(c, gid)) m &= ~S_ISGID;
  return { uid, gid, mode: m };
}
