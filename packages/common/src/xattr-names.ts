// Extended attribute names (issue 19), as the master stores them and the
// mount answers for them without asking: both must give the same errno for
// the same name. Names carry their namespace ("user.", "trusted.",
// "security.") as Linux passes them; "system." (POSIX ACLs) and anything
// else is EOPNOTSUPP, which tells tools (ls, cp, tar) there are none to copy.
import { defaults } from "./config";
import { GfsError } from "./errors";

/** setxattr(2) flags. */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

export const XATTR_NAMESPACES = ["user.", "trusted.", "security."] as const;
export type XattrNamespace = (typeof XATTR_NAMESPACES)[number];

/**
 * The namespace prefix of `name`. ERANGE for an empty name or one longer than
 * `nameBytesMax` bytes (Linux's XATTR_NAME_MAX, checked before anything else),
 * EOPNOTSUPP for a namespace not stored, EINVAL for a namespace alone ("user.").
 */
export function xattrNamespaceOf(name: string, nameBytesMax: number = defaults.xattr_name_bytes_max): XattrNamespace {
  if (typeof name !== "string" || name.length === 0) throw new GfsError("ERANGE", "empty extended attribute name");
  if (Buffer.byteLength(name) > nameBytesMax) throw new GfsError("ERANGE", `extended attribute name longer than ${nameBytesMax} bytes`);
  if (name.includes("\0")) throw new GfsError("EINVAL", "NUL in an extended attribute name");
  const ns = XATTR_NAMESPACES.find((p) => name.startsWith(p));
  if (ns === undefined) throw new GfsError("EOPNOTSUPP", `extended attribute ${JSON.stringify(name)}: only user., trusted. and security. attributes are stored`);
  if (name.length === ns.length) throw new GfsError("EINVAL", `extended attribute name ${JSON.stringify(name)} has nothing after its namespace`);
  return ns;
}

/**
 * setxattr(2)'s flags: XATTR_CREATE, XATTR_REPLACE, both or neither; EINVAL for any other bit, as
 * the syscall answers. Both together is not refused (Linux lets it through): it then fails either way,
 * EEXIST if the attribute exists, ENODATA if not.
 */
export function checkXattrFlags(flags: number): number {
  if (!Number.isInteger(flags) || flags < 0 || (flags & ~(XATTR_CREATE | XATTR_REPLACE)) !== 0) {
    throw new GfsError("EINVAL", `bad setxattr flags ${flags}`);
  }
  return flags;
}
