// Who may read and change which extended attributes (issue 19), as Linux
// decides it (fs/xattr.c xattr_permission, security/commoncap.c
// cap_inode_setxattr / cap_inode_removexattr, with no security module):
//
//   user.*      regular files and directories only (others: get ENODATA, set EPERM);
//               get needs read permission, set/remove write permission; on a sticky
//               directory only its owner or root may set/remove (EPERM)
//   trusted.*   privileged callers only: others get ENODATA, set EPERM, and list hides them
//   security.*  anyone may get it (the VFS checks nothing, a security module would);
//               set/remove by privileged callers only (EPERM)
//   system.*, anything else: EOPNOTSUPP (xattr-names.ts), before any permission
//
// "Privileged" is CAP_SYS_ADMIN: root, or an admin certificate. listxattr(2)
// needs no permission on the node beyond reaching it (search on the
// directories above, checked by the caller of these functions). Pure: one
// caller, one node.
import { GfsError, xattrNamespaceOf, type CallerIdentity, type XattrNamespace } from "@gfs/common";
import { checkAccess, isRoot, MAY_READ, MAY_WRITE, S_ISVTX, type Owned } from "./permissions";

/** Whether the caller may use trusted.* and set security.* (root, or an admin certificate whatever uid it claims). */
export const xattrPrivileged = (c: CallerIdentity, peerRole: string): boolean => isRoot(c) || peerRole === "admin";

const holdsUserXattrs = (n: Owned): boolean => n.type === "file" || n.type === "dir";

/**
 * Throws what Linux answers when `c` reads (MAY_READ) or sets/removes (MAY_WRITE) attribute `name`
 * of node `n` at `path`: the name's own errors first (ERANGE, EINVAL, EOPNOTSUPP), then permission.
 */
export function checkXattrAccess(c: CallerIdentity, privileged: boolean, n: Owned, name: string, want: typeof MAY_READ | typeof MAY_WRITE, path: string): void {
  const ns: XattrNamespace = xattrNamespaceOf(name);
  const writing = want === MAY_WRITE;
  switch (ns) {
    case "security.":
      if (writing && !privileged) throw new GfsError("EPERM", `${path}: only root may set or remove ${name}; caller is uid ${c.uid}`);
      return;
    case "trusted.":
      if (!privileged) {
        if (writing) throw new GfsError("EPERM", `${path}: only root may set or remove trusted.* attributes; caller is uid ${c.uid}`);
        throw new GfsError("ENODATA", `no extended attribute ${name}`); // as if it did not exist
      }
      break;
    case "user.":
      if (!holdsUserXattrs(n)) {
        if (writing) throw new GfsError("EPERM", `${path}: user.* attributes are only for regular files and directories`);
        throw new GfsError("ENODATA", `no extended attribute ${name}`);
      }
      if (writing && n.type === "dir" && (n.mode & S_ISVTX) !== 0 && !isRoot(c) && c.uid !== n.uid) {
        throw new GfsError("EPERM", `${path}: sticky directory: only its owner (uid ${n.uid}) or root may set its user.* attributes; caller is uid ${c.uid}`);
      }
      break;
  }
  checkAccess(c, n, want, path);
}

/** The names of `names` that `c` may see in a listxattr(2) answer (trusted.* only when privileged). */
export function visibleXattrNames(names: readonly string[], privileged: boolean): string[] {
  return privileged ? [...names] : names.filter((name) => !name.startsWith("trusted."));
}
