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
// rest). A node another mount gave attributes shows them once its cached
// attributes expire, as any attribute change does (the attribute cache TTL);
// an open (close-to-open) refreshes them at once. Permission checks are the
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
  cache: MetadataCache;
  /** A node's attributes, cached or asked for (and then cached), as getattr gets them. */
  attr(path: string): Promise<FileInfo__Output>;
  /** Whether the caller of the operation dispatched now may be answered from the shared cache (see operations.ts `uncached`). */
  mayUseCache(): boolean;
}

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
  constructor(private readonly backend: XattrBackend, private readonly o: XattrOperationsOptions) {}

  /** getxattr answered from the cache in the same turn (an error to return), or undefined: then `get` asks. */
  cachedGet(path: string, name: string): GfsError | undefined {
    return this.o.mayUseCache() ? getxattrWithoutMaster(this.o.cache.getAttr(path), name) : undefined;
  }

  /** listxattr answered from the cache in the same turn, or undefined. */
  cachedList(path: string): string[] | undefined {
    return this.o.mayUseCache() ? listxattrWithoutMaster(this.o.cache.getAttr(path)) : undefined;
  }

  async get(path: string, name: string): Promise<Buffer> {
    // The attributes first (usually cached): a node with none, most nodes, needs no second call,
    // and the ones cached now answer the next calls (the next write's security.capability) at once.
    const none = getxattrWithoutMaster(await this.o.attr(path), name);
    if (none) throw none;
    return this.backend.getXattr(path, name);
  }

  async list(path: string): Promise<string[]> {
    return listxattrWithoutMaster(await this.o.attr(path)) ?? this.backend.listXattr(path);
  }

  /** `value` must be this call's own copy (fuse-native's buffer is libfuse memory). */
  async set(path: string, name: string, value: Buffer, flags: number): Promise<void> {
    await this.changed(path, () => this.backend.setXattr(path, name, value, flags));
  }

  async remove(path: string, name: string): Promise<void> {
    await this.changed(path, () => this.backend.removeXattr(path, name));
  }

  /** Runs a change; the cache then holds the node's new attributes (its xattr count, its ctime), or nothing. */
  private async changed(path: string, call: () => Promise<FileInfo__Output>): Promise<void> {
    try {
      this.o.cache.putAttr(path, await call());
    } catch (e) {
      this.o.cache.invalidateAttr(path); // a refusal (ENODATA, EEXIST) may mean another mount changed them
      throw e;
    }
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
