// POSIX file operations as the kernel sends them through fuse-native, turned
// into client-core calls. Paths come from libfuse (absolute, '/'-separated),
// which is exactly the master's namespace, so no translation is needed.
//
// Every operation is an async function here; `fuseHandlers()` wraps them into
// fuse-native's callback shape and maps errors to negative errnos. Nothing in
// here blocks the event loop: FUSE callbacks and gRPC replies share it.
import { AsyncLocalStorage } from "node:async_hooks";
import type { FileInfo__Output, Logger, ReadDirResponse__Output, StatFsResponse__Output } from "@gfs/common";
import type { ReadLayout } from "@gfs/client-core";
import { BufferPool, GfsError, checkFileEnd, inodePath } from "@gfs/common";
import { AppendBuffer } from "./append-buffer";
import { errnoNumber, toFuseErrno } from "./errno";
import { toFuseStat, type FuseStat } from "./file-attributes";
import { KernelAttributes } from "./kernel-attributes";
import { joinPath, MetadataCache, parentOf } from "./metadata-cache";
import { O_EXCL, O_TRUNC, OpenFiles, writableFlags, type OpenFile } from "./open-files";
import { checkMknodMode, specialKindOf, type SpecialKind } from "./special-files";
import { ReadAhead } from "./read-ahead";
import { isHideShaped } from "./hidden-names";
import type { OpenInodes } from "./session-keeper";
import { WriteBack } from "./write-back";
import { XattrOperations, type XattrBackend } from "./xattr-operations";

/** Issue 20: the master's trash directory, whose listing depends on who asks (master/src/trash-table.ts TRASH_DIR). */
const TRASH_DIR = "/.trash";
/** Issue 20: a trash entry, or something in one, exists only for its owner and root (the master says): never answered from what another user's call cached. */
const inTrashEntry = (path: string): boolean => path.startsWith(TRASH_DIR + "/");

/** What the adapter needs from client-core (GfsClient has all of it). */
export interface GfsBackend extends XattrBackend {
  /** `access`: 4 read, 2 write (the master checks the caller may open it so). */
  stat(path: string, o?: { access?: number }): Promise<FileInfo__Output>;
  /** `open`: a descriptor is made for it (the master registers the open with the mount's session). */
  create(path: string, o: { mode?: number; uid?: number; gid?: number; exclusive?: boolean; forWriting?: boolean; open?: boolean }): Promise<FileInfo__Output>;
  mkdir(path: string, o: { mode?: number; uid?: number; gid?: number }): Promise<FileInfo__Output>;
  symlink(path: string, target: string, o: { uid?: number; gid?: number }): Promise<FileInfo__Output>;
  /** A new name `to` for the file at `from` (a hard link); the file's info after it. */
  link(from: string, to: string): Promise<FileInfo__Output>;
  /** A special file (FIFO, device node, socket): metadata only; the kernel does its I/O. */
  mknod(path: string, o: { type: SpecialKind; mode: number; rdev?: number; uid?: number; gid?: number }): Promise<FileInfo__Output>;
  /** A directory's entries; their attributes withheld (zero) when the caller may read it but not search it. */
  listDir(path: string): Promise<ReadDirResponse__Output>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  setAttributes(path: string, a: { mode?: number; uid?: number; gid?: number; atimeMs?: number; mtimeMs?: number; atimeNow?: boolean; mtimeNow?: boolean }): Promise<FileInfo__Output>;
  statfs(): Promise<StatFsResponse__Output>;
  truncate(path: string, size: number): Promise<FileInfo__Output>;
  read(path: string, offset: number, length: number): Promise<Buffer>;
  /** Fills `into` from `offset`; returns the bytes filled (fewer only at the end of the file). `layout`: see newReadLayout. */
  readInto(path: string, offset: number, into: Buffer, layout?: ReadLayout): Promise<number>;
  /** What one open file's reads may reuse of the master's answers (client-core's read-layout.ts). */
  newReadLayout?(): ReadLayout;
  /** `settleLater`: see client-core's WriteOptions (the mtime of a write within the recorded size waits for settle). */
  write(path: string, offset: number, data: Uint8Array, o?: { sync?: boolean; settleLater?: boolean }): Promise<void>;
  /** Records at the master the size and mtime of writes made with settleLater (one call; none when nothing is owed). */
  settle(path: string): Promise<void>;
  /** Makes chunk `index` of `path` durable on every replica (a SYNC mutation). */
  sync(path: string, index: number): Promise<void>;
  append(path: string, data: Uint8Array): Promise<number>;
  chunkSizeBytes(): Promise<number>;
  /** What the backend learned of `name` also holds for `alias` (client-core's learnedAs): an open file's inode path. */
  learnedAs?(name: string, alias: string): void;
}

/** Who made the call (from fuse_get_context()); new entries belong to them. */
export interface Caller { uid: number; gid: number; pid: number }

export interface OperationsOptions {
  attrCacheMs: number;
  /** How long the kernel keeps the attributes we answer (libfuse's attr_timeout; 0: it keeps none). */
  kernelAttrTimeoutMs?: number;
  writePieceBytesMax: number;
  writesInFlightMax: number;
  writeBackBytesMax: number;
  readAheadInitialBytes: number;
  readAheadMaxBytes: number;
  /** Largest read-ahead window (one fetch; the size of the mount's read buffers). */
  readAheadWindowBytes: number;
  /** Reads this close to a sequential reader's position still belong to it (the kernel reorders them). */
  readAheadReorderBytes: number;
  /** Idle read buffers the mount keeps for reuse, in bytes. */
  readBufferPoolBytes: number;
  /** Fraction of a chunk one record append may carry. */
  recordAppendFractionOfChunk: number;
  /** The caller of the operation being dispatched right now (read synchronously at its start). */
  caller: () => Caller;
  /**
   * Runs one operation's work speaking for its caller at the master (callers.ts, GfsClient.runAs);
   * absent (unit tests): the backend's own identity.
   */
  runAs?: <T>(caller: Caller, fn: () => Promise<T>) => Promise<T>;
  /**
   * Callers the kernel's permission checks do not speak for, whose operations must not be answered
   * from the cache other users filled: root on a root_squash mount (the kernel lets root through,
   * the master hears nobody). Absent: none.
   */
  uncached?: (caller: Caller) => boolean;
  now: () => number;
  log: Logger;
  /**
   * The mount's session at the master (session-keeper.ts; issue 19). With it, descriptors address
   * their inode (inode paths), and a file unlinked or replaced while open here lives on until its
   * last close. Absent (unit tests): descriptors address the name they were opened by.
   */
  sessions?: OpenInodes;
}

export interface StatFs {
  bsize: number; frsize: number; blocks: number; bfree: number; bavail: number;
  files: number; ffree: number; favail: number; fsid: number; flag: number; namemax: number;
}

/** utimens carries "now" and "leave alone" as these (see the fuse-native patch). */
export const UTIME_NOW_MS = -1;
export const UTIME_OMIT_MS = -2;
/** chown's "leave alone" for uid or gid ((uid_t) -1). */
const ID_UNCHANGED = 0xffff_ffff;
const NAME_BYTES_MAX = 255;
/** Hidden names remembered after their last close for libfuse's unlink of them (which comes at once, if at all). */
const HIDDEN_CLOSED_MAX = 1024;
const UINT32_MAX = 0xffff_ffff;

export class GfsOperations {
  readonly cache: MetadataCache;
  /** What the kernel holds of each path's attributes (kernel-attributes.ts). */
  readonly kernel: KernelAttributes;
  readonly files = new OpenFiles();
  /** getxattr, listxattr, setxattr, removexattr (xattr-operations.ts). */
  readonly xattrs: XattrOperations;
  private readonly readBuffers: BufferPool;
  /**
   * The caller read at dispatch. runAs may wait (for the caller's groups from
   * /proc) before the operation runs, and meanwhile fuse-native may dispatch
   * another operation: reading `o.caller()` again then would name that one's
   * caller (a root mkdir made as another user's).
   */
  private readonly dispatched = new AsyncLocalStorage<Caller>();
  /**
   * Files unlinked while open here: the ".fuse_hidden..." name libfuse moved each to (instead of an
   * unlink; no hard_remove) -> its inode. The master has no such name (the mount unlinked it there
   * and its session keeps the inode); libfuse addresses the open file by it until the last close.
   */
  private readonly hidden = new Map<string, number>();
  /** Hidden names just changed (chmod, chown, truncate, utimens): libfuse's getattr for its setattr reply comes next. */
  private readonly setattrReplies = new Set<string>();
  /** Hidden names whose inode's last descriptor closed, until libfuse unlinks them (the newest HIDDEN_CLOSED_MAX). */
  private readonly hiddenClosed = new Set<string>();

  constructor(private readonly backend: GfsBackend, private readonly o: OperationsOptions) {
    this.cache = new MetadataCache({ ttlMs: o.attrCacheMs, now: o.now });
    this.kernel = new KernelAttributes({ attrTimeoutMs: o.kernelAttrTimeoutMs ?? 0, now: o.now });
    this.readBuffers = new BufferPool(o.readAheadWindowBytes, Math.floor(o.readBufferPoolBytes / o.readAheadWindowBytes));
    this.xattrs = new XattrOperations(backend, {
      cache: this.cache, attr: (path) => this.attr(path), mayUseCache: () => !(this.o.uncached?.(this.caller()) ?? false),
      ttlMs: o.attrCacheMs, now: o.now, backendPath: (path) => this.backendPath(path),
    });
  }

  /** The caller of the operation running now, as read when it was dispatched. */
  private caller(): Caller {
    return this.dispatched.getStore() ?? this.o.caller();
  }

  /** Whether the operation running now must not be answered from the cache other users filled (`uncached`). */
  private bypassesCache(): boolean {
    const c = this.dispatched.getStore();
    return c !== undefined && (this.o.uncached?.(c) ?? false);
  }

  // -------------------------------------------------------------------------
  // Attributes and directories
  // -------------------------------------------------------------------------

  async getattr(path: string): Promise<FuseStat> {
    const info = await this.attr(path);
    const stat = toFuseStat(info, this.sizeSeen(path, info));
    // libfuse 2 takes one link off what we answer for a hidden name (fuse_lib_getattr: it counts the
    // hidden name as a link the file system still has), but the master unlinked it for real (hide):
    // the count the master has, one more. An orphan (0) thus shows 0, one with another name left 1.
    // Not so the getattr libfuse's setattr makes for its reply right after a change (fuse_lib_setattr
    // takes nothing off): changeAttributes marks the hidden name for that one call.
    if (this.hidden.has(path)) stat.nlink = this.setattrReplies.delete(path) ? info.nlink : info.nlink + 1;
    // An open file unlinked everywhere else (by another mount) has no link left: fstat says so, as on a local file system.
    else if (info.nlink === 0 && this.files.of(path).length > 0) stat.nlink = 0;
    this.kernel.answered(path, stat);
    return stat;
  }

  /**
   * fgetattr: libfuse passes the descriptor (the patched fuse-native hands it on): the answer is the
   * descriptor's inode, whatever its name is now (renamed, unlinked, or replaced by a new file on
   * another mount). Without a session (or an inode id) it is getattr of the name.
   */
  async fgetattr(path: string, fd: number): Promise<FuseStat> {
    const f = this.files.get(fd);
    if (!f || !this.o.sessions || !(f.id > 0)) return this.getattr(path);
    const cached = this.bypassesCache() ? undefined : this.cache.getAttr(f.path);
    const info = cached && cached.id === f.id ? cached : await this.backend.stat(inodePath(f.id));
    let size = info.size;
    if (info.type === "FILE_TYPE_FILE") for (const g of this.files.all()) if (g.id === f.id) size = Math.max(size, g.sizeSeen(info.size));
    const stat = toFuseStat(info, size);
    if (info.nlink === 0) stat.nlink = 0; // an orphan: fstat says it has no name left, as on a local file system
    if (f.path === path && info === cached) this.kernel.answered(path, stat);
    return stat;
  }

  /**
   * getattr answered from the cache in the same turn, or undefined (then the async getattr asks).
   * Most stats of `ls -l`, `find` and `rm -r` are such hits: no promise, no caller lookup.
   */
  cachedGetattr(path: string, caller: Caller): FuseStat | undefined {
    if (this.o.uncached?.(caller) || inTrashEntry(path)) return undefined;
    const info = this.cache.getAttr(path);
    if (!info) return undefined;
    const stat = toFuseStat(info, this.sizeSeen(path, info));
    this.kernel.answered(path, stat);
    return stat;
  }

  async access(path: string): Promise<void> {
    // Mode bits are checked by the kernel (default_permissions); here only existence.
    await this.attr(path);
  }

  async readdir(path: string): Promise<{ names: string[]; stats: FuseStat[] }> {
    // A cached listing may be another local user's: libfuse 2's readdir passes the kernel only each
    // entry's type (d_type) from these stats, and the kernel checks read permission on the directory
    // (default_permissions) before it asks, so it shows a caller names and types only.
    // Issue 20, trash lane: the master lists /.trash per caller (each user their own entries), and a
    // trashed directory only for its owner: never cached for another.
    const perCaller = path === TRASH_DIR || inTrashEntry(path);
    let listing = this.bypassesCache() || perCaller ? undefined : this.cache.getListing(path);
    if (!listing) {
      listing = await this.backend.listDir(path);
      if (!perCaller) this.cache.putListing(path, listing);
    }
    const self = toFuseStat(await this.attr(path));
    const names = [".", ".."];
    const stats = [self, self];
    for (const e of listing.entries) {
      if (!e.info) continue;
      names.push(e.name);
      stats.push(listing.attributesWithheld ? toFuseStat(e.info, e.info.size, true) : toFuseStat(e.info, this.sizeSeen(joinPath(path, e.name), e.info)));
    }
    return { names, stats };
  }

  async mkdir(path: string, mode: number): Promise<void> {
    checkName(path);
    const c = this.caller();
    const info = await this.backend.mkdir(path, { mode: mode & 0o7777, uid: c.uid, gid: c.gid });
    this.cache.added(path, info);
  }

  async rmdir(path: string): Promise<void> {
    try {
      await this.backend.rmdir(path);
    } finally {
      this.cache.invalidateTree(path);
    }
  }

  async unlink(path: string): Promise<void> {
    // libfuse's unlink of the hidden name at the last close: the master never had it; the session's close lets it reclaim the inode.
    if (this.hidden.delete(path) || this.hiddenClosed.delete(path)) return;
    // Bytes still buffered for it must not land in a file created later under the same name.
    await this.flushQuietly(this.files.of(path));
    const linked = this.cache.peekAttr(path); // its other names, if any, lose a link too
    try {
      await this.backend.unlink(path);
      this.kernel.forget(path);
    } finally {
      this.cache.invalidateEntry(path);
      this.otherNamesChanged(linked, true);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    checkName(to);
    // libfuse hides a file unlinked (or replaced by a rename) while open here: the unlink, for real.
    if (await this.isLibfuseHide(from, to)) return this.hide(from, to);
    // Buffered bytes are addressed by path: they must land before the path changes (those of a
    // replaced target too, or they would land in the file that replaces it).
    await this.flushQuietly([...this.files.under(from), ...this.files.under(to)]);
    // A replaced file's other names lose a link, and the moved file's other names get its new ctime.
    const moved = this.cache.peekAttr(from);
    const replaced = this.cache.peekAttr(to);
    try {
      await this.backend.rename(from, to);
      this.files.moved(from, to);
      this.kernel.moved(from, to);
    } finally {
      this.cache.invalidateTree(from);
      this.cache.invalidateTree(to);
      this.otherNamesChanged(moved, true);
      this.otherNamesChanged(replaced, false);
    }
  }

  /**
   * Whether rename(from, to) is libfuse hiding `from`, open here, rather than a user's rename to a name
   * of that shape (which must stay a rename: treating it as the hide would delete the file). libfuse
   * hides only in the same directory and only under a name that does not exist (it checks first).
   */
  private async isLibfuseHide(from: string, to: string): Promise<boolean> {
    if (!this.o.sessions || !isHideShaped(from, to) || !this.files.of(from).some((f) => f.id > 0)) return false;
    if (this.hidden.has(to)) return false;
    try {
      await this.backend.stat(to);
      return false;
    } catch (e) {
      if (e instanceof GfsError && e.errno === "ENOENT") return true;
      throw e;
    }
  }

  /**
   * `from`, open here, is unlinked (or replaced by a rename) and libfuse moves it to the hidden name
   * `to`: the master unlinks it (keeping the inode as an orphan while this mount's session holds it
   * open), and the hidden name stands for the inode here until libfuse unlinks it at the last close.
   * In a rename over an open target, libfuse hides the target first: should its rename then fail, the
   * target is already unlinked at the master (libfuse's own hide would have kept it under the hidden
   * name); the data lives on through the open descriptors only.
   */
  private async hide(from: string, to: string): Promise<void> {
    const id = this.files.of(from).find((f) => f.id > 0)!.id;
    const linked = this.cache.peekAttr(from); // its other names, if any, lose a link
    try {
      await this.backend.unlink(from);
    } finally {
      this.cache.invalidateEntry(from);
      this.kernel.forget(from);
      this.otherNamesChanged(linked, true);
    }
    this.hidden.set(to, id);
    this.files.moved(from, to);
  }

  async symlink(target: string, path: string): Promise<void> {
    checkName(path);
    const c = this.caller();
    const info = await this.backend.symlink(path, target, { uid: c.uid, gid: c.gid });
    this.cache.added(path, info);
  }

  async readlink(path: string): Promise<string> {
    const info = await this.attr(path);
    if (info.type !== "FILE_TYPE_SYMLINK") throw new GfsError("EINVAL", `${path} is not a symbolic link`);
    return info.symlinkTarget;
  }

  async link(from: string, to: string): Promise<void> {
    checkName(to);
    const info = await this.backend.link(from, to);
    this.cache.invalidateInode(info.id); // every name of it: nlink and ctime changed
    this.cache.added(to, info);
  }

  /** mknod(2): a regular file (created, not opened) or a special file; `rdev` names a device node's device. */
  async mknod(path: string, mode: number, rdev: number): Promise<void> {
    checkName(path);
    checkMknodMode(path, mode);
    const c = this.caller();
    const type = specialKindOf(mode);
    const info = type === undefined
      ? await this.backend.create(path, { mode: mode & 0o7777, uid: c.uid, gid: c.gid, exclusive: true })
      : await this.backend.mknod(path, { type, mode: mode & 0o7777, rdev: type === "chr" || type === "blk" ? rdev : 0, uid: c.uid, gid: c.gid });
    this.cache.added(path, info);
  }

  async chmod(path: string, mode: number): Promise<void> {
    await this.setAttributes(path, { mode: mode & 0o7777 });
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    await this.setAttributes(path, {
      uid: uid === ID_UNCHANGED || uid === -1 ? undefined : uid,
      gid: gid === ID_UNCHANGED || gid === -1 ? undefined : gid,
    });
  }

  async utimens(path: string, atimeMs: number, mtimeMs: number): Promise<void> {
    // Bytes written before the times are set must not set the mtime after them (tar, cp -p).
    if (mtimeMs !== UTIME_OMIT_MS) {
      const open = this.files.of(path);
      await this.flushQuietly(open);
      // Their mtime is owed under the inode path the descriptors write by: recorded now, so the
      // close has nothing left to record over the time set here.
      await Promise.all(open.filter((f) => f.writer).map((f) => this.settle(f).catch(() => {})));
    }
    // "Now" is the master's: anyone who may write the file may set it (touch); chosen times need the owner.
    const pick = (t: number) => (t === UTIME_OMIT_MS || t === UTIME_NOW_MS ? undefined : t);
    await this.setAttributes(path, {
      atimeMs: pick(atimeMs), mtimeMs: pick(mtimeMs), atimeNow: atimeMs === UTIME_NOW_MS, mtimeNow: mtimeMs === UTIME_NOW_MS,
    });
  }

  async truncate(path: string, size: number, via: string = this.backendPath(path)): Promise<void> {
    this.kernel.forget(path);
    const open = this.files.of(path);
    await this.flushAll(open);
    try {
      await this.changeAttributes(path, () => this.backend.truncate(via, size));
    } finally {
      for (const f of open) {
        f.reader?.invalidate();
        if (f.writer instanceof WriteBack) f.writer.truncated(size);
      }
    }
  }

  async statfs(): Promise<StatFs> {
    const s = await this.backend.statfs();
    // Every byte is stored `replication` times: report what files can still use.
    const replication = Math.max(1, s.replication);
    const capacity = Math.floor(s.capacityBytes / replication);
    const free = Math.floor(s.freeBytes / replication);
    // fuse-native passes 32-bit block counts: grow the fragment size until they fit.
    let frsize = 4096;
    while (capacity / frsize > UINT32_MAX) frsize *= 2;
    const files = Math.min(UINT32_MAX, Math.max(s.fileCount * 2, 1_000_000));
    return {
      bsize: Math.max(frsize, 128 * 1024), frsize,
      blocks: Math.floor(capacity / frsize), bfree: Math.floor(free / frsize), bavail: Math.floor(free / frsize),
      files, ffree: files - Math.min(files, s.fileCount), favail: files - Math.min(files, s.fileCount),
      fsid: 0, flag: 0, namemax: NAME_BYTES_MAX,
    };
  }

  // -------------------------------------------------------------------------
  // Open files
  // -------------------------------------------------------------------------

  /** `flags` is undefined when fuse-native does not pass create's flags (unpatched). */
  async create(path: string, mode: number, flags?: number): Promise<number> {
    checkName(path);
    const c = this.caller();
    const info = await this.backend.create(path, {
      mode: mode & 0o7777, uid: c.uid, gid: c.gid, exclusive: flags !== undefined && (flags & O_EXCL) !== 0,
      // Created to be written from scratch (cp, >, open "w"): its first chunk comes with it. Not for
      // creates that may stay empty (touch has no O_TRUNC): an unused chunk costs every replica a file.
      forWriting: flags !== undefined && (flags & O_TRUNC) !== 0 && writableFlags(flags),
      open: true,
    });
    this.cache.added(path, info);
    // Without the flags, the safe guess is read-write, positional.
    return this.opened(path, flags ?? 0o2, info, c).fd;
  }

  async open(path: string, flags: number): Promise<number> {
    const opener = this.caller();
    // Close-to-open: an open always sees what the master has now, not the cache. The master also
    // decides whether the caller may open it so (the kernel's check saw the mount's cached attributes).
    const hiddenId = this.hidden.get(path);
    const closing = this.o.sessions?.beforeOpen?.(); // a close of this very file may be on its way: it must land first
    if (closing) await closing;
    const info = await this.backend.stat(hiddenId !== undefined ? inodePath(hiddenId) : path, { access: accessOf(flags) });
    // The master registered the open with this mount's session: a refusal below must tell it of the close.
    const id = this.o.sessions ? Number(info.id) : 0;
    this.o.sessions?.opened(id);
    try {
      return await this.openChecked(path, flags, info, opener);
    } finally {
      this.o.sessions?.released(id);
    }
  }

  private async openChecked(path: string, flags: number, info: FileInfo__Output, opener: Caller): Promise<number> {
    if (!this.hidden.has(path)) this.cache.putAttr(path, info);
    if (info.type === "FILE_TYPE_DIRECTORY") throw new GfsError("EISDIR", path);
    // The kernel may hold older attributes (another mount changed the file): make it look again first.
    // Not while this mount has the file open for writing: the kernel sees those writes itself, and
    // concurrent writers elsewhere are outside close-to-open.
    const writing = this.files.of(path).some((f) => f.writable);
    if (!writing && this.kernel.mustRevalidate(path, toFuseStat(info, this.sizeSeen(path, info)), opener.pid)) {
      throw new GfsError("ESTALE", `${path} changed since the kernel cached its attributes; it looks it up again`);
    }
    const f = this.opened(path, flags, info, opener);
    if ((flags & O_TRUNC) !== 0 && f.writable && info.size > 0) {
      try {
        await this.truncate(path, 0, this.addressOf(f));
      } catch (e) {
        this.closed(f);
        throw e;
      }
    }
    return f.fd;
  }

  async read(path: string, fd: number, buf: Buffer, length: number, position: number): Promise<number> {
    const f = this.file(fd, path);
    // This mount's own unsent writes must be visible to its readers.
    const dirty = this.files.ofInode(path, f.id).filter((x) => x.dirty);
    if (dirty.length > 0) await this.flushQuietly(dirty);
    if (!f.reader) {
      // Per open file: a new open asks the master afresh (close-to-open).
      const layout = this.backend.newReadLayout?.();
      f.reader = new ReadAhead((offset, into) => this.backend.readInto(this.addressOf(f), offset, into, layout), {
        initialBytes: this.o.readAheadInitialBytes, maxBytes: this.o.readAheadMaxBytes,
        reorderBytes: this.o.readAheadReorderBytes, pool: this.readBuffers,
        onInvalidate: () => layout?.forget(), // this mount wrote: sizes and versions may have moved
      });
    }
    return f.reader.read(position, length, buf);
  }

  async write(path: string, fd: number, buf: Buffer, length: number, position: number): Promise<number> {
    const f = this.file(fd, path);
    // At write(2) time, not at close: the write-back buffer would otherwise accept bytes the master must refuse.
    if (!(f.writer instanceof AppendBuffer)) checkFileEnd(path, position, length);
    // Made once per handle even if writes overlap while the first one awaits the chunk size.
    const writer = f.writer ?? await (f.writerReady ??= this.newWriter(f).then((w) => (f.writer = w), (e) => {
      f.writerReady = undefined;
      throw e;
    }));
    for (const other of this.files.of(path)) other.reader?.invalidate();
    this.kernel.forget(path); // the kernel drops what it held after a write; ours would be outdated
    // fuse-native's buffer is libfuse memory, gone once we answer: the writers keep copies.
    if (writer instanceof AppendBuffer) await writer.write(Buffer.from(buf.subarray(0, length)));
    else await writer.write(position, buf.subarray(0, length), true);
    return length;
  }

  async flush(path: string, fd: number): Promise<void> {
    const f = this.file(fd, path);
    if (!f.writer) return;
    try {
      await f.writer.flush();
      // Close-to-open: close(2) returns only once the master has the size and mtime of every write.
      await this.settle(f);
    } finally {
      this.cache.invalidateAttr(f.path);
    }
  }

  async fsync(path: string, fd: number): Promise<void> {
    this.file(fd, path);
    // fsync covers the file, not only this descriptor: everything this mount buffered for it.
    // The size covering the data is already recorded (writes that extend the file record it before they
    // return); only the mtime of writes inside the size waits for close, as it may (fsync(2) promises data).
    const open = this.files.of(path).filter((f) => f.writer);
    try {
      await Promise.all(open.map((f) => f.writer!.flush(true)));
    } finally {
      this.cache.invalidateAttr(path);
    }
  }

  async release(path: string, fd: number): Promise<void> {
    const f = this.files.get(fd);
    if (!f) return;
    if (path) f.path = path;
    try {
      if (f.writer) {
        await f.writer.flush();
        await this.settle(f);
      }
    } finally {
      this.closed(f);
      f.reader?.invalidate(); // its buffers back to the pool
      if (f.writer) this.cache.invalidateAttr(f.path);
    }
  }

  async ftruncate(path: string, fd: number, size: number): Promise<void> {
    const f = this.file(fd, path);
    await this.truncate(f.path, size, this.addressOf(f));
  }

  /** Sends everything every open file buffered (before an unmount); resolves to the paths that failed. */
  async flushEverything(): Promise<string[]> {
    const failed: string[] = [];
    await Promise.all(this.files.all().map(async (f) => {
      try {
        if (f.writer) {
          await f.writer.flush();
          await this.settle(f);
        }
      } catch (e) {
        failed.push(f.path);
        this.o.log.error("buffered writes lost at unmount", { path: f.path, error: (e as Error).message });
      }
    }));
    return failed;
  }

  // -------------------------------------------------------------------------

  private async attr(path: string): Promise<FileInfo__Output> {
    const hiddenId = this.hidden.get(path);
    if (hiddenId !== undefined) return this.backend.stat(inodePath(hiddenId));
    const shared = !this.bypassesCache() && !inTrashEntry(path);
    const cached = shared ? this.cache.getAttr(path) : undefined;
    if (cached) return cached;
    const dir = parentOf(path);
    checkName(path); // a lookup of a name no entry can have: ENAMETOOLONG, as a local file system says
    if (shared && path !== "/" && this.cache.beingWalked(dir)) {
      // `ls -l` of a large directory outlives the TTL: one ReadDir refreshes every entry, not a Stat each.
      await this.relist(dir);
      const listed = this.cache.getAttr(path);
      if (listed) return listed;
    }
    let info: FileInfo__Output;
    try {
      info = await this.backend.stat(path);
    } catch (e) {
      // Unlinked by another mount while open here: fstat through a descriptor still shows it (the kernel's
      // GETATTR of an open file carries no descriptor, so it comes here by the name libfuse still has).
      // Only while the inode is an orphan: one renamed away on another mount (mv log log.1) still has a
      // name, and showing it here would keep the old name looking present (a create of it failing).
      const open = this.o.sessions && e instanceof GfsError && e.errno === "ENOENT" ? this.files.of(path).find((f) => f.id > 0) : undefined;
      if (!open) throw e;
      const orphan = await this.backend.stat(inodePath(open.id));
      if (orphan.nlink !== 0) throw e;
      return orphan;
    }
    this.cache.putAttr(path, info);
    return info;
  }

  /** What a backend call through descriptor `f` addresses: its inode with a mount session, else its name. */
  private addressOf(f: OpenFile): string {
    return this.o.sessions && f.id > 0 ? inodePath(f.id) : f.path;
  }

  /** What a backend call on `path` addresses: the inode of a hidden (unlinked while open) name, else the name (xattr calls too). */
  backendPath(path: string): string {
    const id = this.hidden.get(path);
    return id !== undefined ? inodePath(id) : path;
  }

  /** A descriptor of `info`'s inode opened here: the session holds the inode; the backend's knowledge of the name holds for it. */
  private opened(path: string, flags: number, info: FileInfo__Output, opener: Caller): OpenFile {
    const id = this.o.sessions ? Number(info.id) : 0;
    const f = this.files.open(path, flags, id);
    f.opener = opener;
    if (id > 0) {
      this.o.sessions!.opened(id);
      this.backend.learnedAs?.(path, inodePath(id));
    }
    return f;
  }

  /** Closes descriptor `f` here (the session learns of the inode's last close). */
  private closed(f: OpenFile): void {
    this.files.close(f.fd);
    if (f.id <= 0) return;
    this.o.sessions?.released(f.id);
    // libfuse unlinks the hidden name right after the last close, unless it lost its path (its directory
    // was removed): the name stops standing for the inode now, and its unlink is still recognised.
    if (this.hidden.size > 0 && !this.files.all().some((o) => o.id === f.id)) {
      for (const [name, id] of this.hidden) {
        if (id !== f.id) continue;
        this.hidden.delete(name);
        this.setattrReplies.delete(name);
        this.hiddenClosed.add(name);
        if (this.hiddenClosed.size > HIDDEN_CLOSED_MAX) this.hiddenClosed.delete(this.hiddenClosed.values().next().value!);
      }
    }
  }

  /** dir -> its ReadDir in flight, shared by the stats that wait for it. */
  private readonly relisting = new Map<string, Promise<void>>();

  private relist(dir: string): Promise<void> {
    let p = this.relisting.get(dir);
    if (!p) {
      p = this.backend.listDir(dir).then((listing) => this.cache.putListing(dir, listing), () => {})
        .finally(() => this.relisting.delete(dir));
      this.relisting.set(dir, p);
    }
    return p;
  }

  private sizeSeen(path: string, info: FileInfo__Output): number {
    let size = info.size;
    if (info.type !== "FILE_TYPE_FILE") return size;
    for (const f of this.files.ofInode(path, info.id)) size = Math.max(size, f.sizeSeen(info.size));
    return size;
  }

  private file(fd: number, path: string): OpenFile {
    const f = this.files.get(fd);
    if (!f) throw new GfsError("EIO", `no open file with handle ${fd}`);
    // libfuse passes the current path (it follows renames); background writes use it.
    if (path) f.path = path;
    return f;
  }

  private async newWriter(f: OpenFile): Promise<WriteBack | AppendBuffer> {
    const chunkSizeBytes = await this.backend.chunkSizeBytes();
    const runAs = this.o.runAs;
    const asOpener = <T>(fn: () => Promise<T>): Promise<T> => (runAs && f.opener ? runAs(f.opener, fn) : fn());
    if (f.appendOnly) {
      const recordMax = Math.max(1, Math.floor(chunkSizeBytes * this.o.recordAppendFractionOfChunk));
      return new AppendBuffer(async (data) => {
        const at = await asOpener(() => this.backend.append(this.addressOf(f), data));
        this.cache.noteWritten(f.path, at + data.length, this.o.now());
        return at;
      }, recordMax, {
        chunkSizeBytes,
        syncChunk: (index) => asOpener(() => this.backend.sync(this.addressOf(f), index)),
      });
    }
    return new WriteBack(async (offset, data, sync) => {
      // Inside the size the master has, a piece costs no master call: its mtime is settled at close.
      await asOpener(() => this.backend.write(this.addressOf(f), offset, data, { sync, settleLater: true }));
      this.cache.noteWritten(f.path, offset + data.length, this.o.now());
    }, { chunkSizeBytes, pieceBytesMax: this.o.writePieceBytesMax, inFlightMax: this.o.writesInFlightMax,
      bytesMax: this.o.writeBackBytesMax, syncChunk: (index) => asOpener(() => this.backend.sync(this.addressOf(f), index)) });
  }

  /** Has the master record what `f`'s writes owe (size, mtime), speaking for its opener as its writes did. */
  private settle(f: OpenFile): Promise<void> {
    const runAs = this.o.runAs;
    const at = this.addressOf(f);
    return runAs && f.opener ? runAs(f.opener, () => this.backend.settle(at)) : this.backend.settle(at);
  }

  private async flushAll(files: OpenFile[]): Promise<void> {
    await Promise.all(files.map((f) => f.writer?.flush()));
  }

  /** Flushes other handles' buffers for a reader or a rename; their errors stay with them for their own close. */
  private async flushQuietly(files: OpenFile[]): Promise<void> {
    await Promise.all(files.map((f) => f.writer?.flush().catch(() => {})));
  }

  private setAttributes(path: string, a: Parameters<GfsBackend["setAttributes"]>[1]): Promise<void> {
    const at = this.backendPath(path);
    return this.changeAttributes(path, () => this.backend.setAttributes(at, a));
  }

  /**
   * A name of the file `known` (what the cache had of it; undefined: nothing, or no entry) lost or
   * moved a link: its other cached names hold an old nlink and ctime. `mustExist`: the name was
   * there (an unlink's or a rename's source), so an uncached one may be any file with several names.
   */
  private otherNamesChanged(known: FileInfo__Output | undefined, mustExist: boolean): void {
    if (known) {
      if (known.nlink > 1) this.cache.invalidateInode(known.id);
    } else if (mustExist) {
      this.cache.invalidateLinked();
    }
  }

  /** Runs a call that changes `path`'s attributes; whatever happened, the cache no longer guesses. */
  private async changeAttributes(path: string, call: () => Promise<FileInfo__Output>): Promise<void> {
    try {
      const info = await call();
      // Its other names (hard links) hold the old mode, owner, size and ctime.
      if (info.nlink > 1) this.cache.invalidateInode(info.id);
      // A hidden name is not the master's: nothing is cached under it (getattr asks its inode).
      if (this.hidden.has(path)) {
        this.cache.invalidateEntry(path);
        this.setattrReplies.add(path);
      }
      else this.cache.replaced(path, info);
    } catch (e) {
      this.cache.invalidateEntry(path);
      throw e;
    }
  }

  // -------------------------------------------------------------------------
  // fuse-native's callback shape
  // -------------------------------------------------------------------------

  /** The handlers object fuse-native expects. `extraArgs` receives the patched create's flags. */
  fuseHandlers(): Record<string, (...args: any[]) => void> {
    const log = this.o.log;
    const fail = (op: string, path: unknown, e: unknown): number => {
      const errno = toFuseErrno(e);
      const err = e as Error;
      const quiet = e instanceof GfsError && ["ENOENT", "EEXIST", "ENOTEMPTY", "EACCES", "EPERM", "EINVAL", "ESTALE"].includes(e.errno);
      (quiet ? log.debug : log.warn)("operation failed", { op, path, errno, error: err?.message ?? String(e) });
      return errno;
    };
    // Each operation speaks for its caller, read now, at its start (the patched fuse-native's contract).
    const runAs = this.o.runAs;
    const as = <T>(fn: () => Promise<T>): Promise<T> => {
      const c = this.o.caller();
      return this.dispatched.run(c, () => (runAs ? runAs(c, fn) : fn()));
    };
    // Plain: cb(0) / cb(errno). Valued: cb(0, value). Counted: cb(bytes) / cb(errno).
    const plain = (op: string, fn: (...a: any[]) => Promise<void>) => (...args: any[]) => {
      const cb = args.pop();
      as(() => fn(...args)).then(() => cb(0), (e) => cb(fail(op, args[0], e)));
    };
    const valued = <T>(op: string, fn: (...a: any[]) => Promise<T>) => (...args: any[]) => {
      const cb = args.pop();
      as(() => fn(...args)).then((v) => cb(0, v), (e) => cb(fail(op, args[0], e)));
    };
    const counted = (op: string, fn: (...a: any[]) => Promise<number>) => (...args: any[]) => {
      const cb = args.pop();
      as(() => fn(...args)).then((n) => cb(n), (e) => cb(fail(op, args[0], e)));
    };
    const getattr = (op: string) => {
      const slow = valued(op, (p: string) => this.getattr(p));
      return (path: string, ...rest: any[]) => {
        const hit = this.cachedGetattr(path, this.o.caller());
        if (hit) rest[rest.length - 1](0, hit);
        else slow(path, ...rest);
      };
    };
    return {
      getattr: getattr("getattr"),
      fgetattr: (path: string, fd: number, cb: (err: number, stat?: FuseStat) => void) => {
        as(() => this.fgetattr(path, fd)).then((st) => cb(0, st), (e) => cb(fail("fgetattr", path, e)));
      },
      access: plain("access", (p: string) => this.access(p)),
      readdir: (path: string, cb: (err: number, names?: string[], stats?: FuseStat[]) => void) => {
        as(() => this.readdir(path)).then((r) => cb(0, r.names, r.stats), (e) => cb(fail("readdir", path, e)));
      },
      mkdir: plain("mkdir", (p: string, mode: number) => this.mkdir(p, mode)),
      rmdir: plain("rmdir", (p: string) => this.rmdir(p)),
      unlink: plain("unlink", (p: string) => this.unlink(p)),
      rename: plain("rename", (from: string, to: string) => this.rename(from, to)),
      symlink: plain("symlink", (target: string, p: string) => this.symlink(target, p)),
      readlink: valued("readlink", (p: string) => this.readlink(p)),
      link: plain("link", (from: string, to: string) => this.link(from, to)),
      mknod: plain("mknod", (p: string, mode: number, rdev: number) => this.mknod(p, mode, rdev)),
      chmod: plain("chmod", (p: string, mode: number) => this.chmod(p, mode)),
      chown: plain("chown", (p: string, uid: number, gid: number) => this.chown(p, uid, gid)),
      utimens: plain("utimens", (p: string, atime: number, mtime: number) => this.utimens(p, atime, mtime)),
      truncate: plain("truncate", (p: string, size: number) => this.truncate(p, size)),
      ftruncate: plain("ftruncate", (p: string, fd: number, size: number) => this.ftruncate(p, fd, size)),
      statfs: valued("statfs", () => this.statfs()),
      create: (...args: any[]) => {
        const cb = args.pop();
        const [path, mode, flags] = args as [string, number, number | undefined];
        as(() => this.create(path, mode, flags)).then((fd) => cb(0, fd), (e) => cb(fail("create", path, e)));
      },
      open: valued("open", (p: string, flags: number) => this.open(p, flags)),
      read: counted("read", (p: string, fd: number, buf: Buffer, len: number, pos: number) => this.read(p, fd, buf, len, pos)),
      write: counted("write", (p: string, fd: number, buf: Buffer, len: number, pos: number) => this.write(p, fd, buf, len, pos)),
      flush: plain("flush", (p: string, fd: number) => this.flush(p, fd)),
      fsync: plain("fsync", (p: string, _datasync: number, fd: number) => this.fsync(p, fd)),
      release: plain("release", (p: string, fd: number) => this.release(p, fd)),
      // getxattr, listxattr (answered without the master for a node with none), setxattr, removexattr.
      ...this.xattrs.fuseHandlers(as, fail),
    };
  }
}

/** What an open with `flags` asks of the file: 4 read, 2 write. */
function accessOf(flags: number): number {
  const mode = flags & 0o3;
  return mode === 0o1 ? 2 : mode === 0o2 ? 6 : 4;
}

function checkName(path: string): void {
  const name = path.slice(path.lastIndexOf("/") + 1);
  if (Buffer.byteLength(name) > NAME_BYTES_MAX) throw new GfsError("ENAMETOOLONG", path);
}
