// Extended attributes of every inode (issue 19): name -> bytes, by inode id.
// Kept beside the namespace's node columns, not in them: most inodes have
// none, and those cost nothing here. Pure and deterministic, so op-log replay
// rebuilds it exactly; every check happens before anything changes.
//
// Names carry their namespace ("user.", "trusted.", "security."), see
// @gfs/common's xattr-names.ts (the mount answers by the same rules). Limits
// as Linux defines them: a name of at most xattr_name_bytes_max bytes
// (ERANGE), a value of at most xattr_value_bytes_max (E2BIG), and all of one
// inode's attributes within xattr_bytes_per_inode_max (ENOSPC, as ext4 answers
// when they outgrow their block). Who may read or change which namespace is
// xattr-access.ts's business, not this table's.
import { checkXattrFlags, defaults, GfsError, XATTR_CREATE, XATTR_REPLACE, xattrNamespaceOf as namespaceOfName } from "@gfs/common";

export { XATTR_CREATE, XATTR_NAMESPACES, XATTR_REPLACE } from "@gfs/common";

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
export const xattrNamespaceOf = (name: string, limits: XattrLimits = xattrLimits) => namespaceOfName(name, limits.nameBytesMax);

/**
 * Bytes one attribute costs against its inode's limit: its name with the NUL that ends it in
 * listxattr's answer, and its value. So the names of any inode within the limit always fit
 * listxattr's largest buffer (XATTR_LIST_MAX, 64 KiB: the kernel answers E2BIG beyond it).
 */
const cost = (name: string, value: Buffer): number => Buffer.byteLength(name) + 1 + value.length;

/** One inode's attributes, in the order they were first set (listxattr's order), and what they cost. */
interface InodeXattrs {
  values: Map<string, Buffer>;
  bytes: number;
}

export class XattrTable {
  private readonly byId = new Map<number, InodeXattrs>();

  constructor(private readonly limits: XattrLimits = xattrLimits) {}

  /** Throws what set() would throw, changing nothing. */
  checkSet(id: number, name: string, value: Buffer, flags: number): void {
    xattrNamespaceOf(name, this.limits);
    checkXattrFlags(flags);
    if (value.length > this.limits.valueBytesMax) throw new GfsError("E2BIG", `extended attribute value of ${value.length} bytes is over ${this.limits.valueBytesMax}`);
    const attrs = this.byId.get(id);
    const old = attrs?.values.get(name);
    if (old !== undefined && (flags & XATTR_CREATE)) throw new GfsError("EEXIST", `extended attribute ${name} exists`);
    if (old === undefined && (flags & XATTR_REPLACE)) throw new GfsError("ENODATA", `no extended attribute ${name}`);
    const total = (attrs?.bytes ?? 0) - (old === undefined ? 0 : cost(name, old)) + cost(name, value);
    if (total > this.limits.bytesPerInodeMax) {
      throw new GfsError("ENOSPC", `extended attributes of inode ${id} would take ${total} bytes, over ${this.limits.bytesPerInodeMax}`);
    }
  }

  set(id: number, name: string, value: Buffer, flags: number): void {
    this.checkSet(id, name, value, flags);
    let attrs = this.byId.get(id);
    if (!attrs) this.byId.set(id, (attrs = { values: new Map(), bytes: 0 }));
    const old = attrs.values.get(name);
    if (old !== undefined) attrs.bytes -= cost(name, old);
    const copy = Buffer.from(value); // a copy: the caller's buffer may be reused
    attrs.values.set(name, copy); // a replaced value keeps its place in the order
    attrs.bytes += cost(name, copy);
  }

  checkRemove(id: number, name: string): void {
    xattrNamespaceOf(name, this.limits);
    if (!this.byId.get(id)?.values.has(name)) throw new GfsError("ENODATA", `no extended attribute ${name}`);
  }

  remove(id: number, name: string): void {
    this.checkRemove(id, name);
    const attrs = this.byId.get(id)!;
    attrs.bytes -= cost(name, attrs.values.get(name)!);
    attrs.values.delete(name);
    if (attrs.values.size === 0) this.byId.delete(id);
  }

  /** The value of `name` (read it, never change it); ENODATA if it has none. */
  get(id: number, name: string): Buffer {
    xattrNamespaceOf(name, this.limits);
    const v = this.byId.get(id)?.values.get(name);
    if (v === undefined) throw new GfsError("ENODATA", `no extended attribute ${name}`);
    return v;
  }

  list(id: number): string[] {
    return [...(this.byId.get(id)?.values.keys() ?? [])];
  }

  count(id: number): number {
    return this.byId.get(id)?.values.size ?? 0;
  }

  /** Bytes inode `id`'s attributes cost against xattr_bytes_per_inode_max. */
  bytesOf(id: number): number {
    return this.byId.get(id)?.bytes ?? 0;
  }

  /** The inode is gone: so are its attributes. */
  dropInode(id: number): void {
    this.byId.delete(id);
  }

  /** Every inode's attributes as a checkpoint stores them: [name, base64 value] pairs, in order. */
  rowOf(id: number): Array<[string, string]> | undefined {
    const attrs = this.byId.get(id);
    return attrs ? [...attrs.values].map(([k, v]) => [k, v.toString("base64")]) : undefined;
  }

  /** Restores one inode's attributes from a checkpoint row; a bad row is a corrupt checkpoint (EIO). */
  restoreRow(id: number, row: unknown): void {
    if (!Array.isArray(row)) throw new GfsError("EIO", `checkpoint is corrupt: bad extended attributes of inode ${id}`);
    for (const pair of row) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string") {
        throw new GfsError("EIO", `checkpoint is corrupt: bad extended attribute of inode ${id}`);
      }
      try {
        this.set(id, pair[0], Buffer.from(pair[1], "base64"), XATTR_CREATE); // a name twice is corrupt too
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
