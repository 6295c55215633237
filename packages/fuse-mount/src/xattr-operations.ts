// Extended attributes on the mount (issue 19): getxattr, listxattr, setxattr
// and removexattr, turned into the master's calls (client-core's GfsClient).
//
// Most of these calls find nothing, and the kernel makes many: `ls -l` asks
// every file for security.selinux and system.posix_acl_access, and every
// write(2) first asks for security.capability (to know whether it must drop
// it). So when the cached attributes (FileInfo.xattr_count) say a node has
// no extended attributes at all, getxattr and listxattr are answered at once,
// in the same turn, without the master; the answer is the one the master
// would give (the same name rules: EOPNOTSUPP for system.*, ENODATA for the
// rest). For a node that has some, a name the master said it lacks is
// remembered as long, by inode id and ctime (a rename or a new file under the
// name is another inode; any change of its attributes moves its ctime), so a
// file with user.* attributes is written without a master call per write(2)
// either. What another mount changed shows once the cached attributes expire,
// as any attribute change does (the attribute cache TTL), or at once after an
// open (close-to-open: it asks the master). Permission checks are the
// kernel's (default_permissions runs Linux's xattr_permission before it asks
// us) and the master's.
import type { FileInfo__Output } from "@gfs/common";
import { GfsError, xattrNamespaceOf } from "@gfs/common";
import { toFuseErrno } from "./errno";
import type { MetadataCache } from "./metadata-cache";

/** What the mount needs from client-core for extended attributes (GfsClient has all of it). */
export interface XattrBackend {
  getXattr(path: string, name: string): Promise<Buffer>;
  listXattr(path: string): Promise<string[]>;
  /** `flags`: XATTR_CREATE 1, XATTR_REPLACE 2. Answers the node's attributes after the change. */
  setXattr(path: string, name: string, value: Uint8Array, flags: number): Promise<FileInfo__Output>;
  removeXattr(path: string, name: string): Promise<FileInfo__Output>;
}

export interface XattrOperationsOptions {
  /**
   * The mount's attribute cache. `invalidateInode` (drop every cached name of an inode: its other hard
   * links hold the old xattr count and ctime) is used when the cache has it (the fidelity lane's).
   */
  cache: Pick<MetadataCache, "getAttr" | "putAttr" | "invalidateAttr"> & { invalidateInode?(id: number): void };
  /** A node's attributes, cached or asked for (and then cached), as getattr gets them. */
  attr(path: string): Promise<FileInfo__Output>;
  /** Whether the caller of the operation dispatched now may be answered from the shared cache (see operations.ts `uncached`). */
  mayUseCache(): boolean;
  /**
   * What a backend call on `path` addresses (operations.ts backendPath: a name unlinked while open here,
   * libfuse's ".fuse_hidden...", stands for its inode's path); absent: the path itself.
   */
  backendPath?(path: string): string;
  /** How long a name the master said a node lacks is remembered: the attribute cache's TTL. */
  ttlMs: number;
  now(): number;
}

/** Inodes whose missing names are remembered at most; beyond, all are forgotten (the next calls ask again). */
const ABSENT_INODES_MAX = 10_000;

/**
 * What getxattr of `name` answers for a node whose attributes are `info`, when that needs no master:
 * the error the master would give (GfsError) for a node with none; undefined when the master must be asked.
 */
export function getxattrWithoutMaster(info: FileInfo__Output | undefined, name: string): GfsError | undefined {
  if (info === undefined || info.xattrCount !== 0) return undefined;
  try {
    xattrNamespaceOf(name); // EOPNOTSUPP (system.*), ERANGE, EINVAL: as the master answers for any node
  } catch (e) {
    return e as GfsError;
  }
  return new GfsError("ENODATA", `no extended attribute ${name}`);
}

/** listxattr's answer for a node whose attributes are `info`, when that needs no master: none. */
export const listxattrWithoutMaster = (info: FileInfo__Output | undefined): string[] | undefined =>
  info !== undefined && info.xattrCount === 0 ? [] : undefined;

/** Errors of these calls that are answers, not trouble: logged at debug only (ENODATA is most getxattrs). */
const EXPECTED = new Set(["ENODATA", "EOPNOTSUPP", "ERANGE", "EEXIST", "E2BIG", "ENOSPC", "EPERM", "EACCES", "ENOENT", "ENOTDIR", "EINVAL"]);

export class XattrOperations {
  /** inode id -> its ctime when the master said it lacks these names, and until when each is believed. */
  private readonly absent = new Map<number, { ctimeMs: number; names: Map<string, number> }>();

  constructor(private readonly backend: XattrBackend, private readonly o: XattrOperationsOptions) {}

  /** getxattr answered from the cache in the same turn (an error to return), or undefined: then `get` asks. */
  cachedGet(path: string, name: string): GfsError | undefined {
    if (!this.o.mayUseCache()) return undefined;
    const info = this.o.cache.getAttr(path);
    return getxattrWithoutMaster(info, name) ?? (info && this.knownAbsent(info, name));
  }

  /** listxattr answered from the cache in the same turn, or undefined. */
  cachedList(path: string): string[] | undefined {
    return this.o.mayUseCache() ? listxattrWithoutMaster(this.o.cache.getAttr(path)) : undefined;
  }

  async get(path: string, name: string): Promise<Buffer> {
    // The attributes first (usually cached): a node with none, most nodes, needs no second call,
    // and the ones cached now answer the next calls (the next write's security.capability) at once.
    const info = await this.o.attr(path);
    const none = getxattrWithoutMaster(info, name) ?? (this.o.mayUseCache() ? this.knownAbsent(info, name) : undefined);
    if (none) throw none;
    try {
      return await this.backend.getXattr(this.addressOf(path), name);
    } catch (e) {
      if (e instanceof GfsError && e.errno === "ENODATA") this.rememberAbsent(info, name);
      throw e;
    }
  }

  async list(path: string): Promise<string[]> {
    return listxattrWithoutMaster(await this.o.attr(path)) ?? this.backend.listXattr(this.addressOf(path));
  }

  /** `value` must be this call's own copy (fuse-native's buffer is libfuse memory). */
  async set(path: string, name: string, value: Buffer, flags: number): Promise<void> {
    await this.changed(path, () => this.backend.setXattr(this.addressOf(path), name, value, flags));
  }

  async remove(path: string, name: string): Promise<void> {
    await this.changed(path, () => this.backend.removeXattr(this.addressOf(path), name));
  }

  /** Runs a change; the cache then holds the node's new attributes (its xattr count, its ctime), or nothing. */
  private async changed(path: string, call: () => Promise<FileInfo__Output>): Promise<void> {
    const id = this.o.cache.getAttr(path)?.id;
    if (id !== undefined) this.absent.delete(id);
    try {
      const info = await call();
      this.absent.delete(info.id);
      if (info.nlink > 1) this.o.cache.invalidateInode?.(info.id);
      // A name standing for an inode elsewhere (a hidden name) is not cached under that name.
      if (this.addressOf(path) === path) this.o.cache.putAttr(path, info);
    } catch (e) {
      this.o.cache.invalidateAttr(path); // a refusal (ENODATA, EEXIST) may mean another mount changed them
      throw e;
    }
  }

  private addressOf(path: string): string {
    return this.o.backendPath?.(path) ?? path;
  }

  /** ENODATA if the master said lately that the node `info` describes lacks `name`, and its attributes did not change since. */
  private knownAbsent(info: FileInfo__Output, name: string): GfsError | undefined {
    const known = this.absent.get(info.id);
    if (!known) return undefined;
    if (known.ctimeMs !== info.ctimeMs) {
      this.absent.delete(info.id);
      return undefined;
    }
    const until = known.names.get(name);
    if (until === undefined) return undefined;
    if (until > this.o.now()) return new GfsError("ENODATA", `no extended attribute ${name}`);
    known.names.delete(name);
    return undefined;
  }

  private rememberAbsent(info: FileInfo__Output, name: string): void {
    if (this.o.ttlMs <= 0) return;
    let known = this.absent.get(info.id);
    if (!known || known.ctimeMs !== info.ctimeMs) {
      if (!known && this.absent.size >= ABSENT_INODES_MAX) this.absent.clear();
      this.absent.set(info.id, (known = { ctimeMs: info.ctimeMs, names: new Map() }));
    }
    known.names.set(name, this.o.now() + this.o.ttlMs);
  }

  /**
   * The four handlers in fuse-native's shape: getxattr(path, name, position, cb(err, value)),
   * listxattr(path, cb(err, names)), setxattr(path, name, value, position, flags, cb),
   * removexattr(path, name, cb). `as` runs an operation speaking for its caller (operations.ts);
   * `fail` turns an unexpected error into an errno and logs it.
   */
  fuseHandlers(as: <T>(fn: () => Promise<T>) => Promise<T>, fail: (op: string, path: unknown, e: unknown) => number): Record<string, (...args: any[]) => void> {
    const errnoOf = (op: string, path: string, e: unknown): number =>
      (e instanceof GfsError && EXPECTED.has(e.errno) ? toFuseErrno(e) : fail(op, path, e));
    return {
      getxattr: (path: string, name: string, _position: number, cb: (err: number, value?: Buffer) => void) => {
        const known = this.cachedGet(path, name);
        if (known) return cb(toFuseErrno(known));
        as(() => this.get(path, name)).then((v) => cb(0, v), (e) => cb(errnoOf("getxattr", path, e)));
      },
      listxattr: (path: string, cb: (err: number, names?: string[]) => void) => {
        const known = this.cachedList(path);
        if (known) return cb(0, known);
        as(() => this.list(path)).then((names) => cb(0, names), (e) => cb(errnoOf("listxattr", path, e)));
      },
      setxattr: (path: string, name: string, value: Buffer, _position: number, flags: number, cb: (err: number) => void) => {
        const copy = Buffer.from(value); // now, before anything awaits: the buffer is libfuse's
        as(() => this.set(path, name, copy, flags)).then(() => cb(0), (e) => cb(errnoOf("setxattr", path, e)));
      },
      removexattr: (path: string, name: string, cb: (err: number) => void) => {
        as(() => this.remove(path, name)).then(() => cb(0), (e) => cb(errnoOf("removexattr", path, e)));
      },
    };
  }
}
