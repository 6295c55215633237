// An in-memory disk for the deterministic simulator (issue 14): the real chunk
// store runs on it, and a crash loses exactly what a real crash may lose.
//
// The model, stricter than ext4 (which commits a rename in both directories at
// once) and as strict as POSIX promises:
// - a file has its current content and its durable content; sync or datasync
//   of the file (or a write through an "w-dsync" handle) makes the current
//   content durable;
// - a directory has a current and a durable list of entries (name -> file or
//   directory); a create, rename or unlink changes the current list only, and
//   a sync of that directory makes its current list durable. A rename between
//   two directories is two changes: syncing only one of them may leave the file
//   in both, or in neither, after a crash;
// - crash() puts every directory back to its durable list and every file
//   reachable from the root back to its durable content, and invalidates every
//   open handle (EBADF); an operation that was waiting in the hook when the
//   crash came fails with EIO and changes nothing.
// flipBit and cut damage a file as a bad disk would: both contents change, so
// a crash does not heal them. `full` (or `capacityBytes`) makes allocating
// operations fail with ENOSPC. `hook` is called before every operation, so the
// simulator can delay it (return a promise) or fail it (return an Error).
// session() gives one process incarnation its view of the disk: once the disk
// crashed, a dead incarnation's operations fail (EIO) instead of changing
// what the next one sees.
//
// No real I/O, no timers, no randomness: the same calls give the same results.
import { constants as osConstants } from "node:os";
import { posix } from "node:path";
import type { Disk, DiskFile, DiskStat, OpenMode } from "./disk";

export type SimDiskOp =
  | "open" | "read" | "write" | "sync" | "datasync" | "fstat" | "truncate" | "close" | "writeFile"
  | "readFile" | "rename" | "copyFile" | "unlink" | "rm" | "mkdir" | "readdir" | "stat" | "syncDir";

/**
 * Called before each operation with its (absolute) path and, for open its mode,
 * for rename and copyFile its destination; a returned Error (or a promise of one) fails it,
 * a promise delays it.
 */
export type SimDiskHook = (op: SimDiskOp, path: string, detail?: string) => void | Error | Promise<void | Error>;

export interface SimDiskOptions {
  hook?: SimDiskHook;
  /** Bytes of file content the disk holds at most (current content of reachable files); default unlimited. */
  capacityBytes?: number;
  /** False: "direct" opens fail with EINVAL, as on tmpfs (default true). */
  directIo?: boolean;
}

interface FileNode {
  kind: "file";
  /** Current content in [0, length); every byte past length is zero. */
  data: Buffer;
  length: number;
  durable: Buffer;
}

interface DirNode {
  kind: "dir";
  entries: Map<string, Node>;
  durable: Map<string, Node>;
}

type Node = FileNode | DirNode;

/** O_DIRECT wants file offsets and lengths aligned to the logical block. */
const directAlignBytes = 512;

const messages: Record<string, string> = {
  ENOENT: "no such file or directory", EEXIST: "file already exists", ENOTDIR: "not a directory",
  EISDIR: "illegal operation on a directory", ENOTEMPTY: "directory not empty", EBADF: "bad file descriptor",
  ENOSPC: "no space left on device", EINVAL: "invalid argument", EIO: "i/o error",
};

/** An error shaped like node's fs errors (code, errno, syscall, path). */
export function simFsError(code: string, syscall: string, path: string, dest?: string): NodeJS.ErrnoException {
  const e = new Error(`${code}: ${messages[code] ?? code}, ${syscall} '${path}'${dest === undefined ? "" : ` -> '${dest}'`}`) as NodeJS.ErrnoException;
  e.code = code;
  e.errno = -((osConstants.errno as Record<string, number>)[code] ?? 0);
  e.syscall = syscall;
  e.path = path;
  if (dest !== undefined) (e as NodeJS.ErrnoException & { dest?: string }).dest = dest;
  return e;
}

function newFile(): FileNode {
  return { kind: "file", data: Buffer.alloc(0), length: 0, durable: Buffer.alloc(0) };
}

function newDir(): DirNode {
  return { kind: "dir", entries: new Map(), durable: new Map() };
}

function statOf(node: Node): DiskStat {
  const size = node.kind === "file" ? node.length : 4096;
  return { size, isFile: () => node.kind === "file", isDirectory: () => node.kind === "dir" };
}

export class SimDisk implements Disk {
  hook: SimDiskHook | undefined;
  capacityBytes: number | undefined;
  /** A full disk: writes that grow a file, and creations, fail with ENOSPC. */
  full = false;
  private readonly directIo: boolean;
  private readonly root: DirNode = newDir();
  /** Bumped by crash(): handles and operations of an older generation are dead. */
  private generation = 0;

  constructor(opts: SimDiskOptions = {}) {
    this.hook = opts.hook;
    this.capacityBytes = opts.capacityBytes;
    this.directIo = opts.directIo ?? true;
  }

  // ------------------------------------------------------------------------
  // Faults
  // ------------------------------------------------------------------------

  /**
   * Power loss: every open handle is dead, and what was not durable is gone.
   * With `choose` (an integer in [0, n), e.g. the simulator's seeded random
   * numbers) unsynced changes may also have reached the disk, as they may on a
   * real one: each unsynced directory entry change is kept or not, and each
   * file with unsynced content comes back as it was durably, as it is now, or
   * torn (each 4 KiB page from either, and either length). Choices are asked in
   * a fixed order (directories before their entries, names sorted), so a
   * seeded chooser replays exactly. Whatever is left is durable afterwards.
   */
  crash(choose?: (n: number) => number): void {
    this.generation++;
    const pick = (n: number): number => {
      const k = choose!(n);
      if (!Number.isInteger(k) || k < 0 || k >= n) throw new RangeError(`crash: chooser gave ${k}, not an integer in [0, ${n})`);
      return k;
    };
    const files = new Set<FileNode>();
    const restore = (dir: DirNode): void => {
      const kept = new Map(dir.durable);
      if (choose) {
        const names = [...new Set([...dir.entries.keys(), ...dir.durable.keys()])].sort();
        for (const name of names) {
          const now = dir.entries.get(name);
          if (now === dir.durable.get(name) || pick(2) === 0) continue;
          if (now) kept.set(name, now);
          else kept.delete(name);
        }
      }
      dir.entries = kept;
      dir.durable = new Map(kept);
      for (const name of [...kept.keys()].sort()) {
        const child = kept.get(name)!;
        if (child.kind === "dir") restore(child);
        else if (!files.has(child)) {
          files.add(child);
          const content = choose ? crashedContent(child, pick) : child.durable;
          child.data = Buffer.from(content);
          child.length = content.length;
          child.durable = Buffer.from(content);
        }
      }
    };
    restore(this.root);
  }

  /**
   * The disk as one incarnation of a process sees it: after the next crash()
   * every operation through it fails with EIO (the process is gone) and its
   * handles with EBADF, so a crashed process's promise chains that are still
   * running can change nothing its successor sees. Give each start its own.
   */
  session(): Disk {
    const gen = this.generation;
    return {
      open: (path, mode) => this.open(path, mode, gen),
      readFile: (path, encoding) => this.readFile(path, encoding, gen),
      writeFile: (path, data) => this.writeFile(path, data, gen),
      rename: (from, to) => this.rename(from, to, gen),
      copyFile: (from, to) => this.copyFile(from, to, gen),
      unlink: (path) => this.unlink(path, gen),
      rm: (path, opts) => this.rm(path, opts, gen),
      mkdir: (path, opts) => this.mkdir(path, opts, gen),
      readdir: (path) => this.readdir(path, gen),
      stat: (path) => this.stat(path, gen),
      syncDir: (path) => this.syncDir(path, gen),
    };
  }

  /** Flips bit `bit` (0-7) of byte `byteOffset` in both the current and the durable content (where each is that long). */
  flipBit(path: string, byteOffset: number, bit = 0): void {
    const f = this.fileAt(path, "flipBit");
    if (!Number.isSafeInteger(byteOffset) || byteOffset < 0 || !(bit >= 0 && bit <= 7)) throw new RangeError(`flipBit: bad offset ${byteOffset} or bit ${bit}`);
    if (byteOffset >= f.length && byteOffset >= f.durable.length) throw new RangeError(`flipBit: ${path} has no byte ${byteOffset}`);
    if (byteOffset < f.length) f.data[byteOffset]! ^= 1 << bit;
    if (byteOffset < f.durable.length) f.durable[byteOffset]! ^= 1 << bit;
  }

  /** Cuts both the current and the durable content to at most `length` bytes (a lost tail). */
  cut(path: string, length: number): void {
    const f = this.fileAt(path, "cut");
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`cut: bad length ${length}`);
    if (length < f.length) setLength(f, length);
    if (length < f.durable.length) f.durable = Buffer.from(f.durable.subarray(0, length));
  }

  // ------------------------------------------------------------------------
  // Inspection (tests, the simulator's invariants); no hook, no faults
  // ------------------------------------------------------------------------

  exists(path: string): boolean {
    return this.lookup(path) !== undefined;
  }

  /** Which file `path` names now (the same object while it is that file, across crashes), or undefined: tells a replaced file. */
  identityOf(path: string): object | undefined {
    const n = this.lookup(path);
    return n?.kind === "file" ? n : undefined;
  }

  /** A copy of the file's current content. */
  contentOf(path: string): Buffer {
    const f = this.fileAt(path, "contentOf");
    return Buffer.from(f.data.subarray(0, f.length));
  }

  /** A copy of what would be left of the file's content after a crash (if its entry survives). */
  durableContentOf(path: string): Buffer {
    return Buffer.from(this.fileAt(path, "durableContentOf").durable);
  }

  /** Bytes of current content in files reachable from the root. */
  usedBytes(): number {
    const seen = new Set<FileNode>();
    const walk = (dir: DirNode): void => {
      for (const child of dir.entries.values()) {
        if (child.kind === "dir") walk(child);
        else seen.add(child);
      }
    };
    walk(this.root);
    let n = 0;
    for (const f of seen) n += f.length;
    return n;
  }

  // ------------------------------------------------------------------------
  // Disk
  // ------------------------------------------------------------------------

  async open(path: string, mode: OpenMode, session?: number): Promise<DiskFile> {
    const p = await this.begin("open", path, mode, session);
    const { parent, name, node } = this.resolveParent(p, "open");
    if (node?.kind === "dir") {
      if (mode !== "r") throw simFsError("EISDIR", "open", p);
      return new SimFile(this, p, node, mode, this.generation);
    }
    switch (mode) {
      case "r": case "r+": case "direct": {
        if (!node) throw simFsError("ENOENT", "open", p);
        if (mode === "direct" && !this.directIo) throw simFsError("EINVAL", "open", p);
        return new SimFile(this, p, node, mode, this.generation);
      }
      case "w": case "w+": case "w-dsync": {
        let f = node;
        if (!f) {
          this.checkSpace("open", p, 0, true);
          f = newFile();
          parent.entries.set(name, f);
        } else {
          setLength(f, 0);
        }
        return new SimFile(this, p, f, mode, this.generation);
      }
    }
  }

  async readFile(path: string, encoding: "utf8", session?: number): Promise<string> {
    const p = await this.begin("readFile", path, undefined, session);
    const node = this.mustExist(p, "open");
    if (node.kind === "dir") throw simFsError("EISDIR", "read", p);
    return node.data.toString(encoding, 0, node.length);
  }

  async writeFile(path: string, data: string | Buffer, session?: number): Promise<void> {
    const p = await this.begin("writeFile", path, undefined, session);
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    const { parent, name, node } = this.resolveParent(p, "open");
    if (node?.kind === "dir") throw simFsError("EISDIR", "open", p);
    this.checkSpace("write", p, bytes.length - (node?.length ?? 0), !node);
    const f = node ?? newFile();
    if (!node) parent.entries.set(name, f);
    setLength(f, 0);
    writeAt(f, bytes, 0, bytes.length, 0);
  }

  async rename(from: string, to: string, session?: number): Promise<void> {
    const dst = posix.resolve("/", to);
    const src = await this.begin("rename", from, dst, session);
    const a = this.resolveParent(src, "rename", dst);
    const b = this.resolveParent(dst, "rename", dst, src);
    if (!a.node) throw simFsError("ENOENT", "rename", src, dst);
    if (src === dst || a.node === b.node) return;
    if (a.node.kind === "dir" && (dst + "/").startsWith(src + "/")) throw simFsError("EINVAL", "rename", src, dst);
    if (b.node) {
      if (a.node.kind === "file" && b.node.kind === "dir") throw simFsError("EISDIR", "rename", src, dst);
      if (a.node.kind === "dir" && b.node.kind === "file") throw simFsError("ENOTDIR", "rename", src, dst);
      if (b.node.kind === "dir" && b.node.entries.size > 0) throw simFsError("ENOTEMPTY", "rename", src, dst);
    }
    a.parent.entries.delete(a.name);
    b.parent.entries.set(b.name, a.node);
  }

  /** A new file (or `to` emptied) with `from`'s current content; nothing of it durable until synced. No reflinks: the bytes count twice. */
  async copyFile(from: string, to: string, session?: number): Promise<void> {
    const dst = posix.resolve("/", to);
    const src = await this.begin("copyFile", from, dst, session);
    const source = this.mustExist(src, "copyfile");
    if (source.kind === "dir") throw simFsError("EISDIR", "copyfile", src, dst);
    const { parent, name, node } = this.resolveParent(dst, "copyfile", dst, src);
    if (node?.kind === "dir") throw simFsError("EISDIR", "copyfile", src, dst);
    this.checkSpace("copyfile", dst, source.length - (node?.length ?? 0), !node);
    const bytes = Buffer.from(source.data.subarray(0, source.length));
    const f = node ?? newFile();
    if (!node) parent.entries.set(name, f);
    setLength(f, 0);
    writeAt(f, bytes, 0, bytes.length, 0);
  }

  async unlink(path: string, session?: number): Promise<void> {
    const p = await this.begin("unlink", path, undefined, session);
    const { parent, name, node } = this.resolveParent(p, "unlink");
    if (!node) throw simFsError("ENOENT", "unlink", p);
    if (node.kind === "dir") throw simFsError("EISDIR", "unlink", p);
    parent.entries.delete(name);
  }

  async rm(path: string, opts: { recursive: boolean; force: boolean }, session?: number): Promise<void> {
    const p = await this.begin("rm", path, undefined, session);
    let found: ReturnType<SimDisk["resolveParent"]>;
    try {
      found = this.resolveParent(p, "rm");
    } catch (e) {
      if (opts.force && (e as NodeJS.ErrnoException).code === "ENOENT") return;
      throw e;
    }
    const { parent, name, node } = found;
    if (!node) {
      if (opts.force) return;
      throw simFsError("ENOENT", "rm", p);
    }
    if (node.kind === "dir" && !opts.recursive) throw simFsError("EISDIR", "rm", p);
    parent.entries.delete(name);
  }

  async mkdir(path: string, _opts: { recursive: true }, session?: number): Promise<string | undefined> {
    const p = await this.begin("mkdir", path, undefined, session);
    let dir = this.root;
    let first: string | undefined;
    let at = "";
    for (const part of parts(p)) {
      at += "/" + part;
      const next = dir.entries.get(part);
      if (next?.kind === "file") throw simFsError(at === p ? "EEXIST" : "ENOTDIR", "mkdir", p);
      if (next) {
        dir = next;
        continue;
      }
      this.checkSpace("mkdir", p, 0, true);
      const made = newDir();
      dir.entries.set(part, made);
      first ??= at;
      dir = made;
    }
    return first;
  }

  async readdir(path: string, session?: number): Promise<string[]> {
    const p = await this.begin("readdir", path, undefined, session);
    const node = this.mustExist(p, "scandir");
    if (node.kind !== "dir") throw simFsError("ENOTDIR", "scandir", p);
    return [...node.entries.keys()].sort();
  }

  async stat(path: string, session?: number): Promise<DiskStat> {
    const p = await this.begin("stat", path, undefined, session);
    return statOf(this.mustExist(p, "stat"));
  }

  async syncDir(path: string, session?: number): Promise<void> {
    const p = await this.begin("syncDir", path, undefined, session);
    const node = this.mustExist(p, "open");
    if (node.kind !== "dir") throw simFsError("ENOTDIR", "open", p);
    node.durable = new Map(node.entries);
  }

  // ------------------------------------------------------------------------
  // Internals shared with SimFile
  // ------------------------------------------------------------------------

  /**
   * Runs the hook before an operation; the normalised path. An operation of a
   * session (`session`) or through a handle (`handle`: its generation) of
   * before the last crash fails: EIO (the process is gone), EBADF (a dead
   * handle); as does one that was waiting in the hook when a crash came.
   */
  async begin(op: SimDiskOp, path: string, detail?: string, session?: number, handle?: number): Promise<string> {
    const p = posix.resolve("/", path);
    const gen = handle ?? session ?? this.generation;
    const dead = handle === undefined ? "EIO" : "EBADF";
    if (gen !== this.generation) throw simFsError(dead, op, p);
    const r = this.hook?.(op, p, detail);
    const verdict = r instanceof Promise ? await r : r;
    if (gen !== this.generation) throw simFsError(dead, op, p);
    if (verdict instanceof Error) throw verdict;
    return p;
  }

  /** ENOSPC if the disk is full (for growth or a creation) or `grow` more bytes would pass the capacity. */
  checkSpace(syscall: string, path: string, grow: number, creates: boolean): void {
    if (this.full && (grow > 0 || creates)) throw simFsError("ENOSPC", syscall, path);
    if (grow > 0 && this.capacityBytes !== undefined && this.usedBytes() + grow > this.capacityBytes) throw simFsError("ENOSPC", syscall, path);
  }

  private lookup(path: string): Node | undefined {
    let node: Node = this.root;
    for (const part of parts(posix.resolve("/", path))) {
      if (node.kind !== "dir") return undefined;
      const next: Node | undefined = node.entries.get(part);
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  private mustExist(p: string, syscall: string): Node {
    const { node } = this.resolveParent(p, syscall);
    if (!node) throw simFsError("ENOENT", syscall, p);
    return node;
  }

  private fileAt(path: string, what: string): FileNode {
    const node = this.lookup(path);
    if (node?.kind !== "file") throw new Error(`${what}: no file at ${path}`);
    return node;
  }

  /**
   * The directory holding `p` (which must exist), the last name, and what that
   * name is now (if anything). Errors name `p`, or for a rename (`dest` given)
   * `errPath` -> `dest`.
   */
  private resolveParent(p: string, syscall: string, dest?: string, errPath = p): { parent: DirNode; name: string; node: Node | undefined } {
    const names = parts(p);
    if (names.length === 0) return { parent: this.root, name: "", node: this.root };
    let dir: DirNode = this.root;
    for (const part of names.slice(0, -1)) {
      const next = dir.entries.get(part);
      if (next?.kind !== "dir") throw simFsError(next ? "ENOTDIR" : "ENOENT", syscall, errPath, dest);
      dir = next;
    }
    const name = names[names.length - 1]!;
    return { parent: dir, name, node: dir.entries.get(name) };
  }
}

/** An open file of a SimDisk; dead after a crash (EBADF) or close. */
class SimFile implements DiskFile {
  private closed = false;
  /** Where writeFile writes next. */
  private position = 0;

  constructor(
    private readonly disk: SimDisk, private readonly path: string, private readonly node: Node,
    private readonly mode: OpenMode, private readonly generation: number,
  ) {}

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    const f = await this.file("read", this.mode === "r" || this.mode === "r+" || this.mode === "w+");
    const n = Math.max(0, Math.min(length, f.length - position));
    if (n > 0) f.data.copy(buffer, offset, position, position + n);
    return { bytesRead: n };
  }

  async write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    const f = await this.file("write", this.mode !== "r");
    if (this.mode === "direct" && (position % directAlignBytes !== 0 || length % directAlignBytes !== 0)) throw simFsError("EINVAL", "write", this.path);
    this.disk.checkSpace("write", this.path, position + length - f.length, false);
    writeAt(f, buffer, offset, length, position);
    if (this.mode === "w-dsync") makeDurable(f);
    return { bytesWritten: length };
  }

  async writeFile(data: string | Buffer): Promise<void> {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    await this.write(bytes, 0, bytes.length, this.position);
    this.position += bytes.length;
  }

  async sync(): Promise<void> {
    await this.syncAs("sync");
  }

  async datasync(): Promise<void> {
    await this.syncAs("datasync");
  }

  async stat(): Promise<DiskStat> {
    await this.disk.begin("fstat", this.path, undefined, undefined, this.live("fstat"));
    return statOf(this.node);
  }

  async truncate(length: number): Promise<void> {
    const f = await this.file("truncate", this.mode !== "r");
    if (!Number.isSafeInteger(length) || length < 0) throw simFsError("EINVAL", "ftruncate", this.path);
    setLength(f, length);
  }

  async close(): Promise<void> {
    await this.disk.begin("close", this.path, undefined, undefined, this.live("close"));
    if (this.closed) throw simFsError("EBADF", "close", this.path);
    this.closed = true;
  }

  private async syncAs(op: "sync" | "datasync"): Promise<void> {
    await this.disk.begin(op, this.path, undefined, undefined, this.live(op));
    if (this.closed) throw simFsError("EBADF", op === "sync" ? "fsync" : "fdatasync", this.path);
    if (this.node.kind === "dir") this.node.durable = new Map(this.node.entries);
    else makeDurable(this.node);
  }

  /** The file, once the hook let the operation through; EBADF when closed or opened the wrong way, EISDIR on a directory. */
  private async file(op: SimDiskOp, allowed: boolean): Promise<FileNode> {
    await this.disk.begin(op, this.path, undefined, undefined, this.live(op));
    if (this.closed || !allowed) throw simFsError("EBADF", op, this.path);
    if (this.node.kind === "dir") throw simFsError("EISDIR", op, this.path);
    return this.node;
  }

  /** This handle's generation, or EBADF at once if it is closed. */
  private live(op: SimDiskOp): number {
    if (this.closed) throw simFsError("EBADF", op, this.path);
    return this.generation;
  }
}

function parts(p: string): string[] {
  return p.split("/").filter((s) => s.length > 0);
}

/** Bytes a torn crash takes from the current or the durable content, per page. */
const crashPageBytes = 4096;

/** What is left of a file's content after a crash that may keep unsynced bytes (see SimDisk.crash). */
function crashedContent(f: FileNode, pick: (n: number) => number): Buffer {
  const current = f.data.subarray(0, f.length);
  if (current.equals(f.durable)) return f.durable;
  const how = pick(3);
  if (how === 0) return f.durable;
  if (how === 1) return current;
  const length = pick(2) === 0 ? f.durable.length : current.length;
  const out = Buffer.alloc(length);
  for (let lo = 0; lo < length; lo += crashPageBytes) {
    const src = pick(2) === 0 ? f.durable : current;
    const hi = Math.min(lo + crashPageBytes, length, src.length);
    if (hi > lo) src.copy(out, lo, lo, hi);
  }
  return out;
}

function makeDurable(f: FileNode): void {
  f.durable = Buffer.from(f.data.subarray(0, f.length));
}

/** Sets the current length; bytes past it are zero (so a later extension reads zeros). */
function setLength(f: FileNode, length: number): void {
  if (length < f.length) f.data.fill(0, length, f.length);
  else grow(f, length);
  f.length = length;
}

function grow(f: FileNode, capacity: number): void {
  if (f.data.length >= capacity) return;
  const data = Buffer.alloc(Math.max(capacity, 2 * f.data.length));
  f.data.copy(data, 0, 0, f.length);
  f.data = data;
}

function writeAt(f: FileNode, src: Buffer, offset: number, length: number, position: number): void {
  grow(f, position + length);
  src.copy(f.data, position, offset, offset + length);
  if (position + length > f.length) f.length = position + length;
}
