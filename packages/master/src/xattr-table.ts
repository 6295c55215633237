// Extended attributes of every inode (issue 19): name -> bytes, by inode id.
// Kept beside the namespace's node columns, not in them: most inodes have
// none, and those cost nothing here. Pure and deterministic, so op-log replay
// rebuilds it exactly; every check happens before anything changes.
//
// Names carry their namespace ("user.", "trusted.", "security.") as Linux
// passes them; "system." (POSIX ACLs) and anything else is EOPNOTSUPP, which
// tells tools there are none to copy. Limits as Linux defines them: a name
// of at most xattr_name_bytes_max bytes (ERANGE), a value of at most
// xattr_value_bytes_max (E2BIG), and all of one inode's attributes within
// xattr_bytes_per_inode_max (ENOSPC, as ext4 answers when they outgrow their block).
import { defaults, GfsError } from "@gfs/common";

/** setxattr(2) flags. */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

export const XATTR_NAMESPACES = ["user.", "trusted.", "security."] as const;

export interface XattrLimits {
  valueBytesMax: number;
  nameBytesMax: number;
  bytesPerInodeMax: number;
}

export const xattrLimits: XattrLimits = {
  valueBytesMax: defaults.xattr_value_bytes_max,
  nameBytesMax: defaults.xattr_name_bytes_max,
  bytesPerInodeMax: defaults.xattr_bytes_per_inode_max,
};

/** The namespace prefix of `name` ("user." ...); EOPNOTSUPP for any other, ERANGE for a bad length. */
export function xattrNamespaceOf(name: string, limits: XattrLimits = xattrLimits): (typeof XATTR_NAMESPACES)[number] {
  if (typeof name !== "string" || name.length === 0) throw new GfsError("ERANGE", "empty extended attribute name");
  if (Buffer.byteLength(name) > limits.nameBytesMax) throw new GfsError("ERANGE", `extended attribute name longer than ${limits.nameBytesMax} bytes`);
  if (name.includes("\0")) throw new GfsError("EINVAL", "NUL in an extended attribute name");
  const ns = XATTR_NAMESPACES.find((p) => name.startsWith(p));
  if (ns === undefined) throw new GfsError("EOPNOTSUPP", `extended attribute ${JSON.stringify(name)}: only user., trusted. and security. attributes are stored`);
  if (name.length === ns.length) throw new GfsError("EINVAL", `extended attribute name ${JSON.stringify(name)} has nothing after its namespace`);
  return ns;
}

/** Bytes one attribute costs against its inode's limit: its name, its value. */
const cost = (name: string, value: Buffer): number => Buffer.byteLength(name) + value.length;

export class XattrTable {
  /** inode id -> its attributes, in the order they were first set (listxattr's order). */
  private readonly byId = new Map<number, Map<string, Buffer>>();

  constructor(private readonly limits: XattrLimits = xattrLimits) {}

  /** Throws what set() would throw, changing nothing. */
  checkSet(id: number, name: string, value: Buffer, flags: number): void {
    xattrNamespaceOf(name, this.limits);
    if (!Number.isInteger(flags) || (flags & ~(XATTR_CREATE | XATTR_REPLACE)) !== 0 || flags === (XATTR_CREATE | XATTR_REPLACE)) {
      throw new GfsError("EINVAL", `bad setxattr flags ${flags}`);
    }
    if (value.length > this.limits.valueBytesMax) throw new GfsError("E2BIG", `extended attribute value of ${value.length} bytes is over ${this.limits.valueBytesMax}`);
    const attrs = this.byId.get(id);
    const old = attrs?.get(name);
    if (old !== undefined && (flags & XATTR_CREATE)) throw new GfsError("EEXIST", `extended attribute ${name} exists`);
    if (old === undefined && (flags & XATTR_REPLACE)) throw new GfsError("ENODATA", `no extended attribute ${name}`);
    const total = this.bytesOf(id) - (old === undefined ? 0 : cost(name, old)) + cost(name, value);
    if (total > this.limits.bytesPerInodeMax) {
      throw new GfsError("ENOSPC", `extended attributes of inode ${id} would take ${total} bytes, over ${this.limits.bytesPerInodeMax}`);
    }
  }

  set(id: number, name: string, value: Buffer, flags: number): void {
    this.checkSet(id, name, value, flags);
    let attrs = this.byId.get(id);
    if (!attrs) this.byId.set(id, (attrs = new Map()));
    attrs.set(name, Buffer.from(value)); // a copy: the caller's buffer may be reused
  }

  checkRemove(id: number, name: string): void {
    xattrNamespaceOf(name, this.limits);
    if (!this.byId.get(id)?.has(name)) throw new GfsError("ENODATA", `no extended attribute ${name}`);
  }

  remove(id: number, name: string): void {
    this.checkRemove(id, name);
    const attrs = this.byId.get(id)!;
    attrs.delete(name);
    if (attrs.size === 0) this.byId.delete(id);
  }

  /** The value of `name` (read it, never change it); ENODATA if it has none. */
  get(id: number, name: string): Buffer {
    xattrNamespaceOf(name, this.limits);
    const v = this.byId.get(id)?.get(name);
    if (v === undefined) throw new GfsError("ENODATA", `no extended attribute ${name}`);
    return v;
  }

  list(id: number): string[] {
    return [...(this.byId.get(id)?.keys() ?? [])];
  }

  count(id: number): number {
    return this.byId.get(id)?.size ?? 0;
  }

  /** The inode is gone: so are its attributes. */
  dropInode(id: number): void {
    this.byId.delete(id);
  }

  private bytesOf(id: number): number {
    let n = 0;
    for (const [name, v] of this.byId.get(id) ?? []) n += cost(name, v);
    return n;
  }

  /** Every inode's attributes as a checkpoint stores them: [name, base64 value] pairs, in order. */
  rowOf(id: number): Array<[string, string]> | undefined {
    const attrs = this.byId.get(id);
    return attrs ? [...attrs].map(([k, v]) => [k, v.toString("base64")]) : undefined;
  }

  /** Restores one inode's attributes from a checkpoint row; a bad row is a corrupt checkpoint (EIO). */
  restoreRow(id: number, row: unknown): void {
    if (!Array.isArray(row)) throw new GfsError("EIO", `checkpoint is corrupt: bad extended attributes of inode ${id}`);
    for (const pair of row) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string") {
        throw new GfsError("EIO", `checkpoint is corrupt: bad extended attribute of inode ${id}`);
      }
      try {
        this.set(id, pair[0], Buffer.from(pair[1], "base64"), 0);
      } catch (e) {
        throw new GfsError("EIO", `checkpoint is corrupt: extended attribute of inode ${id}: ${(e as Error).message}`);
      }
    }
  }

  /** Ids of every inode with attributes (checkpoints, fsck). */
  ids(): IterableIterator<number> {
    return this.byId.keys();
  }
}
