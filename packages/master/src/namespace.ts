// The master's namespace: a tree of directories, files and symlinks. Every
// mutation is a plain JSON operation record applied by one deterministic
// function (no clock, no randomness: times and ids are in the record), so the
// operation log can replay it and a snapshot is just the tree as JSON.
//
// Memory: a master holds every node, so a node is not a JS object but a slot
// in typed-array columns (id, type, mode, uid, gid, size, three times, and
// the one-chunk file's handle as two uint32s: about 59 bytes), plus one
// reference: a symlink's target, or a file's chunk handles (a marker for
// the common one-chunk file, else an array or SparseChunks). Directory entries
// and their names live in one DirIndex (dir-index.ts: a byte arena and one
// hash table, no string or Map per entry). A JS object per node with its boxed times, an
// array per file and a Map per directory cost ~4 times as much (issue 15:
// 795 bytes of RSS a file at a million files). Freed slots are reused.
//
// Inodes and names (issue 19): a directory entry is a slot. For the common
// inode with one name, the entry's slot IS the inode's slot (nothing extra).
// A second name (a hard link) is a LINK slot whose c0hi column holds the
// inode's slot; an inode whose first entry was unlinked while other names
// remain keeps its slot, nameless. nlink of a non-directory is 1 unless
// `linkCounts` (inode slot -> count, only for inodes with several names or
// none) says otherwise; an inode with count 0 is an orphan: unlinked while
// open (`keep`), reachable only by its inode path until `reclaim`. A
// directory's nlink is 2 + its subdirectories, counted in its c0hi column
// (directories have no chunk handle). A special file's rdev lives in its
// c0hi/c0lo columns too. `byId` finds an inode's slot by id (inode paths).
import { GfsError, defaults, inodeOfPath, type FileInfo__Output, type FileType__Output } from "@gfs/common";
import { IdIndex } from "./id-index";
import { XattrTable } from "./xattr-table";
import { handleHalves, handleOf } from "./handle-index";
import { DirIndex, isWellFormed } from "./dir-index";
import { chunkAt, chunkEntries, chunksFromRow, chunksToRow, cutChunks, slotCount, withChunk, type Chunks, type ReadonlyChunks, type SparseChunks, type SparseChunksRow } from "./chunk-list";
import { grownTo } from "./typed-columns";

export const NAME_BYTES_MAX = 255;
export const PATH_BYTES_MAX = 4096;
export const ROOT_ID = 1;
/** Largest file size (EFBIG beyond it); see file_size_bytes_max in config.ts. */
export const FILE_SIZE_BYTES_MAX = defaults.file_size_bytes_max;

/** EFBIG unless a file may be `bytes` long. */
export function checkFileSize(bytes: number, what: string): void {
  if (bytes > FILE_SIZE_BYTES_MAX) throw new GfsError("EFBIG", `${what}: ${bytes} bytes is beyond the largest file size, ${FILE_SIZE_BYTES_MAX} bytes`);
}

/** EFBIG unless chunk `index` lies within the largest file at this chunk size. */
export function checkChunkIndex(index: number, chunkSizeBytes: number, what: string): void {
  const last = Math.ceil(FILE_SIZE_BYTES_MAX / chunkSizeBytes) - 1;
  if (index > last) throw new GfsError("EFBIG", `${what}: chunk index ${index} is beyond the largest file (${FILE_SIZE_BYTES_MAX} bytes, chunk index at most ${last})`);
}

export type NodeType = "file" | "dir" | "symlink" | SpecialType;

/**
 * A node as readers outside this module see it (walk(): permission checks).
 * A view over the node's slot, built on demand: read it in the same turn, never keep it.
 */
export interface Node {
  readonly id: number;
  readonly type: NodeType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly target: string;
  /** Names it has (a directory: 2 + its subdirectories). */
  readonly nlink: number;
  /** Chunk handles by index (see chunk-list.ts: an array with "" for holes, or a map when sparse). Files only. */
  readonly chunks: ReadonlyChunks;
  /** Directories only. */
  readonly children: ReadonlyMap<string, Node> | null;
}

/** Node kinds as the `kinds` column stores them (0: a free slot). */
const FILE = 1;
const DIR = 2;
const SYMLINK = 3;
const FIFO = 4;
const SOCK = 7;
/** A second (third...) name of an inode: its c0hi column holds the inode's slot. Never an inode itself. */
const LINK = 8;
const typeOfKind: readonly NodeType[] = ["file", "file", "dir", "symlink", "fifo", "chr", "blk", "sock", "file"];
const kindOfType: Record<NodeType, number> = { file: FILE, dir: DIR, symlink: SYMLINK, fifo: FIFO, chr: 5, blk: 6, sock: SOCK };
const isSpecialKind = (k: number): boolean => k >= FIFO && k <= SOCK;
export const SPECIAL_TYPES: readonly SpecialType[] = ["fifo", "chr", "blk", "sock"];
/** Most names one inode may have (EMLINK beyond); see links_per_inode_max in config.ts. */
export const LINKS_PER_INODE_MAX = defaults.links_per_inode_max;
/** Marks a file whose one chunk (index 0) has its handle's halves in the c0 columns: no string for it. */
const ONE_CHUNK = Object.freeze({ oneChunk: true });
/** A file's chunks as a slot keeps them: none, one handle at index 0 (packed, or a string if not hex), or the list. */
type FileChunks = undefined | typeof ONE_CHUNK | string | string[] | SparseChunks;
/** Columns start this long and double when full. */
const INITIAL_SLOTS = 1024;

export type NamespaceOp =
  | { op: "create"; path: string; mode: number; uid: number; gid: number; exclusive: boolean; id: number; timeMs: number }
  /** `ids` name the directories created, outermost first (one unless `parents`). */
  | { op: "mkdir"; path: string; mode: number; uid: number; gid: number; parents: boolean; ids: number[]; timeMs: number }
  | { op: "symlink"; path: string; target: string; uid: number; gid: number; id: number; timeMs: number }
  /** `keep` (issue 19): inodes this rename unlinks for the last time (a replaced target) that stay as orphans: a mount session has them open. */
  | { op: "rename"; from: string; to: string; noReplace: boolean; timeMs: number; keep?: number[] }
  /** `keep` (issue 19): inodes this delete unlinks for the last time that stay as orphans (open in a mount session) instead of being freed. */
  | { op: "delete"; path: string; recursive: boolean; directoryOnly: boolean; fileOnly: boolean; timeMs: number; keep?: number[] }
  | { op: "setAttributes"; path: string; mode?: number; uid?: number; gid?: number; atimeMs?: number; mtimeMs?: number; timeMs: number }
  | { op: "truncate"; path: string; size: number; chunkSizeBytes: number; timeMs: number }
  | { op: "extendFile"; path: string; endOffset: number; mtimeMs: number; timeMs: number }
  | { op: "setChunk"; path: string; index: number; handle: string }
  /** Issue 18: the replication goal of a node (and, `recursive`, of every file and directory under it). */
  | { op: "setGoal"; path: string; goal: number; recursive: boolean; timeMs: number }
  // ---- issue 19: POSIX fidelity ----
  /** A hard link: a new entry `to` for the inode at `from` (not a directory: EPERM). */
  | { op: "link"; from: string; to: string; timeMs: number }
  /** A special file: metadata only. `rdev`: the device number of a device node, else 0. */
  | { op: "mknod"; path: string; type: SpecialType; mode: number; rdev: number; uid: number; gid: number; id: number; timeMs: number }
  /** Frees orphans (inodes unlinked while open, see `keep`) no session holds open any more: their chunks become garbage. */
  | { op: "reclaim"; ids: number[]; timeMs: number }
  /** An extended attribute (xattr-table.ts); `value` in base64; `flags` XATTR_CREATE 1 / XATTR_REPLACE 2. Changes the inode's ctime. */
  | { op: "setXattr"; path: string; name: string; value: string; flags: number; timeMs: number }
  | { op: "removeXattr"; path: string; name: string; timeMs: number };

/** Special files (issue 19): metadata-only inodes the kernel does the I/O of. */
export type SpecialType = "fifo" | "chr" | "blk" | "sock";

/**
 * The largest goal a node can store (one byte per goal would do; the limit users may set,
 * replication_goal_max in config.ts, is lower and checked when a SetReplication arrives, not at replay).
 */
export const GOAL_STORED_MAX = 255;

/** What an operation did: the entry it leaves (if any) and chunk handles no file references any more. */
export interface OpResult {
  info?: FileInfo__Output;
  /** The file's inode id, for operations on one file. */
  id?: number;
  garbage: string[];
  /** setGoal: how many nodes' goals changed. */
  changed?: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A node as a snapshot stores it: what a node holds, with empty parts left out. */
export interface NodeSnapshot extends Mutable<Omit<Node, "target" | "chunks" | "children" | "nlink">> {
  target?: string;
  chunks?: readonly string[] | SparseChunksRow;
  children?: Record<string, NodeSnapshot>;
  /** Its own replication goal, when one was set (absent: the cluster default). */
  goal?: number;
  /** Issue 19: names it has, when not 1 (files and specials; each name is a copy of the node, same id). */
  nlink?: number;
  /** Issue 19: a device node's number, when not 0. */
  rdev?: number;
  /** Issue 19: its extended attributes, [name, base64 value], when it has some. */
  xattrs?: Array<[string, string]>;
}

/**
 * One node in a checkpoint, parents before children:
 * [parentId (0 for the root), name, id, type, mode, uid, gid, size, atimeMs, mtimeMs, ctimeMs,
 *  symlink target | file chunk handles (array, or SparseChunksRow since checkpoint format 2) | null].
 * Since format 4 (issue 19): type may be a special ("fifo", "chr", "blk", "sock"; last field its rdev);
 * a further name of an inode already given is a "link" row [parentId, name, id, "link", 0 ... 0, null];
 * an orphan (unlinked while open) is a row with parentId -1 and name "", after the tree.
 */
export type NodeRow = [number, string, number, NodeType | "link", number, number, number, number, number, number, number, string | readonly string[] | SparseChunksRow | number | null];
/** parentId of an orphan's checkpoint row. */
export const ORPHAN_PARENT = -1;
export const NODE_ROW_FIELDS = ["parentId", "name", "id", "type", "mode", "uid", "gid", "size", "atimeMs", "mtimeMs", "ctimeMs", "targetOrChunks"] as const;

export interface NamespaceSnapshot {
  maxId: number;
  root: NodeSnapshot;
  /** Issue 19: inodes unlinked while open (nlink 0), by id; absent when none. */
  orphans?: NodeSnapshot[];
}

const fileTypeOf: Record<NodeType, FileType__Output> = {
  file: "FILE_TYPE_FILE", dir: "FILE_TYPE_DIRECTORY", symlink: "FILE_TYPE_SYMLINK",
  fifo: "FILE_TYPE_FIFO", chr: "FILE_TYPE_CHAR_DEVICE", blk: "FILE_TYPE_BLOCK_DEVICE", sock: "FILE_TYPE_SOCKET",
};
const byName = <T>(a: [string, T], b: [string, T]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/** Splits an absolute path into its names; throws EINVAL / ENAMETOOLONG for bad paths. */
export function parsePath(path: string): string[] {
  if (typeof path !== "string" || !path.startsWith("/")) throw new GfsError("EINVAL", `path must be absolute, got '${path}'`);
  if (Buffer.byteLength(path) > PATH_BYTES_MAX) throw new GfsError("ENAMETOOLONG", `path longer than ${PATH_BYTES_MAX} bytes`);
  if (path === "/") return [];
  const parts = path.slice(1).split("/");
  for (const p of parts) {
    if (p === "" || p === "." || p === "..") throw new GfsError("EINVAL", `bad path '${path}' (empty, '.' or '..' part)`);
    if (p.includes("\0")) throw new GfsError("EINVAL", `bad path '${path}' (NUL byte)`);
    // A lone surrogate has no UTF-8 form: two such names would be the same bytes in the directory index.
    if (!isWellFormed(p)) throw new GfsError("EINVAL", `bad path '${path}' (not valid Unicode)`);
    if (Buffer.byteLength(p) > NAME_BYTES_MAX) throw new GfsError("ENAMETOOLONG", `name longer than ${NAME_BYTES_MAX} bytes in '${path}'`);
  }
  return parts;
}

const joinPath = (parts: string[]): string => "/" + parts.join("/");

/** An empty file's chunk list as readers get it (frozen: readers never change a list). */
const NO_CHUNKS: readonly string[] = Object.freeze([]);

export class Namespace {
  // ---- node columns, indexed by slot (the root is slot 0) ------------------
  private ids: Float64Array;
  private kinds: Uint8Array;
  private modes: Uint16Array;
  private uids: Uint32Array;
  private gids: Uint32Array;
  private sizes: Float64Array;
  private atimes: Float64Array;
  private mtimes: Float64Array;
  private ctimes: Float64Array;
  /** A ONE_CHUNK file's handle, as two uint32 halves. Also: a LINK's inode slot (c0hi), a directory's subdirectory count (c0hi), a special's rdev. */
  private c0his: Uint32Array;
  private c0los: Uint32Array;
  /** Symlink: target; file: FileChunks; directory, special file, LINK: unused. */
  private extra: Array<string | FileChunks>;
  /** Every directory entry: (directory slot, name) -> child slot. */
  private dirs: DirIndex;
  /** Slots in use or freed: the next new slot, unless `free` has one. */
  private top = 0;
  private readonly free: number[] = [];
  private readonly rootSlot: number;
  private maxIdSeen: number;
  /**
   * Issue 18: inode id -> replication goal, for the nodes that have one of their own (set by
   * setGoal, or inherited from their directory at creation); every other node has the cluster's
   * default. A map by id, not a column: the chunk table knows a chunk's file by id (goalOfFile);
   * nodes without a goal of their own, the common case, cost nothing here.
   */
  private readonly goals = new Map<number, number>();
  /** What FileInfo.goal says of a node without a goal of its own (the master sets its --replication; 0 in tests). */
  defaultGoal = 0;
  /** Issue 19: extended attributes by inode id (set and removed only through setXattr/removeXattr ops). */
  readonly xattrs = new XattrTable();
  /** Issue 19: inode id -> slot (inode paths, links and orphans in checkpoints). */
  private readonly byId: IdIndex;
  /** Issue 19: inode slot -> nlink, for non-directories whose nlink is not 1 (several names, or 0: an orphan). */
  private readonly linkCounts = new Map<number, number>();
  /** Issue 20 (quota lane): inode slot -> its LINK slots (hard-linked inodes only), so a write to one finds its names in O(names x depth). */
  private readonly linkSlots = new Map<number, Set<number>>();

  /** `slotsHint`: how many nodes to make room for at once (a checkpoint's node count), so recovery never copies columns to grow them. */
  constructor(rootTimeMs = 0, slotsHint = INITIAL_SLOTS, nameBytesHint = 0) {
    const n = Math.max(INITIAL_SLOTS, slotsHint);
    this.dirs = new DirIndex(n, slotsHint, nameBytesHint);
    this.ids = new Float64Array(n);
    this.kinds = new Uint8Array(n);
    this.modes = new Uint16Array(n);
    this.uids = new Uint32Array(n);
    this.gids = new Uint32Array(n);
    this.sizes = new Float64Array(n);
    this.atimes = new Float64Array(n);
    this.mtimes = new Float64Array(n);
    this.ctimes = new Float64Array(n);
    this.c0his = new Uint32Array(n);
    this.c0los = new Uint32Array(n);
    // Sized up front too (a fast holey array): grown by appends, its old copies would be old-space garbage at recovery's peak.
    this.extra = new Array(n);
    this.byId = new IdIndex((slot) => this.ids[slot]!, slotsHint);
    this.rootSlot = this.newNode(DIR, ROOT_ID, 0o755, 0, 0, rootTimeMs);
    this.maxIdSeen = ROOT_ID;
  }

  /** The largest inode id in use (or ever used); new ids must be above it. */
  get maxId(): number {
    return this.maxIdSeen;
  }

  // -------------------------------------------------------------------------
  // Slots
  // -------------------------------------------------------------------------

  private grow(): void {
    const cap = this.ids.length * 2;
    this.ids = grownTo(this.ids, cap);
    this.kinds = grownTo(this.kinds, cap);
    this.modes = grownTo(this.modes, cap);
    this.uids = grownTo(this.uids, cap);
    this.gids = grownTo(this.gids, cap);
    this.sizes = grownTo(this.sizes, cap);
    this.atimes = grownTo(this.atimes, cap);
    this.mtimes = grownTo(this.mtimes, cap);
    this.ctimes = grownTo(this.ctimes, cap);
    this.c0his = grownTo(this.c0his, cap);
    this.c0los = grownTo(this.c0los, cap);
    this.dirs.growSlots(cap);
  }

  private newNode(kind: number, id: number, mode: number, uid: number, gid: number, timeMs: number): number {
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.top === this.ids.length) this.grow();
      slot = this.top++;
    }
    this.ids[slot] = id;
    this.kinds[slot] = kind;
    this.modes[slot] = mode & 0o7777;
    this.uids[slot] = uid;
    this.gids[slot] = gid;
    this.sizes[slot] = 0;
    this.atimes[slot] = timeMs;
    this.mtimes[slot] = timeMs;
    this.ctimes[slot] = timeMs;
    this.extra[slot] = kind === SYMLINK ? "" : undefined;
    this.c0his[slot] = 0;
    this.c0los[slot] = 0;
    if (kind === DIR) this.dirs.initDir(slot);
    if (!this.byId.add(slot)) {
      this.kinds[slot] = 0;
      this.free.push(slot);
      throw new GfsError("EIO", `inode id ${id} is already in use`);
    }
    return slot;
  }

  /** A new name's slot for inode slot `inode` (the caller enters it in a directory and counts it). */
  private newLink(inode: number): number {
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.top === this.ids.length) this.grow();
      slot = this.top++;
    }
    this.ids[slot] = this.ids[inode]!;
    this.kinds[slot] = LINK;
    this.c0his[slot] = inode;
    this.extra[slot] = undefined;
    let links = this.linkSlots.get(inode);
    if (!links) this.linkSlots.set(inode, (links = new Set()));
    links.add(slot);
    return slot;
  }

  /** Frees one slot: an inode (its id, goal, attributes and count go too) or a LINK. */
  private freeSlot(s: number): void {
    if (this.kinds[s] !== LINK) {
      const id = this.ids[s]!;
      this.byId.delete(id);
      this.goals.delete(id);
      this.xattrs.dropInode(id);
      this.linkCounts.delete(s);
    } else {
      const links = this.linkSlots.get(this.c0his[s]!);
      links?.delete(s);
      if (links?.size === 0) this.linkSlots.delete(this.c0his[s]!);
    }
    this.kinds[s] = 0;
    this.extra[s] = undefined;
    this.free.push(s);
  }

  /** The inode an entry names: the entry's own slot, unless it is a LINK. */
  private inode(entry: number): number {
    return this.kinds[entry] === LINK ? this.c0his[entry]! : entry;
  }

  /** nlink of inode slot `n`: a directory's 2 + subdirectories (a kept count: O(1)); else its names. */
  private nlinkOf(n: number): number {
    return this.kinds[n] === DIR ? 2 + this.c0his[n]! : this.linkCounts.get(n) ?? 1;
  }

  private setNlink(n: number, count: number): void {
    if (count === 1) this.linkCounts.delete(n);
    else this.linkCounts.set(n, count);
  }

  private rdevOf(n: number): number {
    return isSpecialKind(this.kinds[n]!) ? this.c0his[n]! * 0x100000000 + this.c0los[n]! : 0;
  }

  /**
   * Takes one name away: `entry` has already left its directory (the caller's part, with the
   * parent's subdirectory count). A directory goes with everything under it; an inode losing its
   * last name is freed, its chunks into `garbage`, unless `keep` has its id: then it stays as an
   * orphan (nlink 0). An inode keeping other names gets a new ctime, as Linux's unlink gives it.
   */
  private dropEntry(entry: number, keep: ReadonlySet<number> | undefined, garbage: string[], timeMs: number): void {
    const stack = [entry];
    while (stack.length) {
      const s = stack.pop()!;
      if (this.kinds[s] === DIR) {
        for (const c of this.dirs.childSlots(s)) {
          this.dirs.deleteSlot(c);
          stack.push(c);
        }
        this.freeSlot(s);
        continue;
      }
      const n = this.inode(s);
      if (s !== n) this.freeSlot(s);
      const left = this.nlinkOf(n) - 1;
      if (left > 0) {
        this.setNlink(n, left);
        this.ctimes[n] = timeMs;
      } else if (keep?.has(this.ids[n]!)) {
        this.linkCounts.set(n, 0);
        this.ctimes[n] = timeMs;
      } else {
        this.collectChunks(n, garbage);
        this.freeSlot(n);
      }
    }
  }

  /**
   * Ids of the inodes that would lose their last name if `entry` (and, a directory, all under it)
   * went: directories are not counted (they never outlive their name).
   */
  private lastNamesUnder(entry: number): number[] {
    const out: number[] = [];
    const seen = new Map<number, number>();
    const stack = [entry];
    while (stack.length) {
      const s = stack.pop()!;
      if (this.kinds[s] === DIR) {
        this.dirs.forEachChild(s, (c) => stack.push(c));
        continue;
      }
      const n = this.inode(s);
      const names = this.nlinkOf(n);
      const gone = names === 1 ? 1 : (seen.get(n) ?? 0) + 1;
      if (names !== 1) seen.set(n, gone);
      if (gone === names) out.push(this.ids[n]!);
    }
    return out;
  }

  /** The set of `keep` ids, each checked to be one this op unlinks for the last time (EINVAL otherwise). */
  private keepSet(keep: number[] | undefined, unlinked: () => number[]): Set<number> | undefined {
    if (keep === undefined) return undefined;
    if (!Array.isArray(keep)) throw new GfsError("EINVAL", "keep must be a list of inode ids");
    if (keep.length === 0) return undefined;
    const may = new Set(unlinked());
    for (const id of keep) if (!may.has(id)) throw new GfsError("EINVAL", `keep: inode ${id} does not lose its last name in this operation`);
    return new Set(keep);
  }

  private isDir(slot: number): boolean {
    return this.kinds[slot] === DIR;
  }

  /** The inode named `name` in `dir`, or undefined. */
  private child(dir: number, name: string): number | undefined {
    if (this.kinds[dir] !== DIR) return undefined;
    const e = this.dirs.get(dir, name);
    return e === undefined ? undefined : this.inode(e);
  }

  /** A file's chunk list; a fresh array for a packed one (see FileChunks), so changing it changes nothing until setChunks. */
  private chunksOf(slot: number): Chunks {
    const c = this.extra[slot] as FileChunks;
    if (c === undefined) return [];
    if (c === ONE_CHUNK) return [handleOf(this.c0his[slot]!, this.c0los[slot]!)];
    if (typeof c === "string") return [c];
    return c as Chunks;
  }

  /** A file's chunk list for readers: no copy unless packed. */
  private readChunks(slot: number): ReadonlyChunks {
    const c = this.extra[slot] as FileChunks;
    if (c === undefined) return NO_CHUNKS;
    if (c === ONE_CHUNK) return [handleOf(this.c0his[slot]!, this.c0los[slot]!)];
    if (typeof c === "string") return [c];
    return c as Chunks;
  }

  private setChunks(slot: number, c: Chunks): void {
    if (!Array.isArray(c) || c.length > 1 || (c.length === 1 && c[0] === "")) {
      this.extra[slot] = c;
      return;
    }
    if (c.length === 0) {
      this.extra[slot] = undefined;
      return;
    }
    const halves = handleHalves(c[0]!);
    if (!halves) {
      this.extra[slot] = c[0]; // not a hex handle (namespace tests): kept as it is
      return;
    }
    this.c0his[slot] = halves[0];
    this.c0los[slot] = halves[1];
    this.extra[slot] = ONE_CHUNK;
  }

  private touch(dir: number, timeMs: number): void {
    this.mtimes[dir] = timeMs;
    this.ctimes[dir] = timeMs;
  }

  /** A file's chunk handles into `out` (nothing for other inodes). */
  private collectChunks(n: number, out: string[]): void {
    if (this.kinds[n] === FILE) for (const [, h] of chunkEntries(this.readChunks(n))) out.push(h);
  }

  /** A read-only view of a node (see Node). */
  private view(slot: number): Node {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const ns = this;
    return {
      id: ns.ids[slot]!, type: typeOfKind[ns.kinds[slot]!]!, mode: ns.modes[slot]!, uid: ns.uids[slot]!, gid: ns.gids[slot]!,
      size: ns.sizes[slot]!, atimeMs: ns.atimes[slot]!, mtimeMs: ns.mtimes[slot]!, ctimeMs: ns.ctimes[slot]!,
      target: ns.kinds[slot] === SYMLINK ? (ns.extra[slot] as string) : "",
      nlink: ns.nlinkOf(slot),
      get chunks() { return ns.kinds[slot] === FILE ? ns.readChunks(slot) : NO_CHUNKS; },
      get children() { return ns.isDir(slot) ? ns.childrenView(slot) : null; },
    };
  }

  private childrenView(dir: number): ReadonlyMap<string, Node> {
    const d = this.dirs;
    const view = (s: number | undefined) => (s === undefined ? undefined : this.view(this.inode(s)));
    const entries = function* (ns: Namespace): IterableIterator<[string, Node]> { for (const [k, s] of d.entriesOf(dir)) yield [k, ns.view(ns.inode(s))]; };
    const values = function* (ns: Namespace): IterableIterator<Node> { for (const s of d.childSlots(dir)) yield ns.view(ns.inode(s)); };
    const keys = function* (): IterableIterator<string> { for (const [k] of d.entriesOf(dir)) yield k; };
    return {
      get size() { return d.size(dir); },
      get: (name: string) => view(d.get(dir, name)),
      has: (name: string) => d.has(dir, name),
      keys,
      values: () => values(this),
      entries: () => entries(this),
      forEach: (f: (v: Node, k: string, map: ReadonlyMap<string, Node>) => void) => { for (const [k, v] of entries(this)) f(v, k, view as never); },
      [Symbol.iterator]: () => entries(this),
    } as ReadonlyMap<string, Node>;
  }

  // -------------------------------------------------------------------------
  // Reads
  // -------------------------------------------------------------------------

  private find(parts: string[]): number | undefined {
    let n = this.rootSlot;
    for (const p of parts) {
      const c = this.child(n, p);
      if (c === undefined) return undefined;
      n = c;
    }
    return n;
  }

  /** The inode at `parts`; ENOENT if missing, ENOTDIR if a middle part is not a directory. */
  private lookup(parts: string[]): number {
    return this.inode(this.lookupEntry(parts));
  }

  /** The entry (a slot in its directory: the inode's own, or a LINK) at `parts`; errors as lookup. */
  private lookupEntry(parts: string[]): number {
    let n = this.rootSlot;
    for (let i = 0; i < parts.length; i++) {
      if (!this.isDir(n)) throw new GfsError("ENOTDIR", joinPath(parts.slice(0, i)));
      const c = this.dirs.get(n, parts[i]!);
      if (c === undefined) throw new GfsError("ENOENT", joinPath(parts.slice(0, i + 1)));
      n = c;
    }
    return n;
  }

  /**
   * The inode `path` addresses, and the path to report: a name path, or an inode path
   * ("//inode/ID", issue 19) of an existing inode, orphans included (ENOENT otherwise).
   */
  private target(path: string): { slot: number; path: string } {
    const id = typeof path === "string" ? inodeOfPath(path) : undefined;
    if (id !== undefined) {
      const slot = this.byId.get(id);
      if (slot === undefined) throw new GfsError("ENOENT", `no inode ${id} (${path})`);
      return { slot, path };
    }
    const parts = parsePath(path);
    return { slot: this.lookup(parts), path: joinPath(parts) };
  }

  private parentDir(parts: string[]): number {
    const parent = this.lookup(parts.slice(0, -1));
    if (!this.isDir(parent)) throw new GfsError("ENOTDIR", joinPath(parts.slice(0, -1)));
    return parent;
  }

  private info(path: string, n: number): FileInfo__Output {
    const kind = this.kinds[n]!;
    const id = this.ids[n]!;
    return {
      path, type: fileTypeOf[typeOfKind[kind]!], id, mode: this.modes[n]!, uid: this.uids[n]!, gid: this.gids[n]!, size: this.sizes[n]!,
      atimeMs: this.atimes[n]!, mtimeMs: this.mtimes[n]!, ctimeMs: this.ctimes[n]!, nlink: this.nlinkOf(n), symlinkTarget: kind === SYMLINK ? (this.extra[n] as string) : "",
      chunkCount: kind === FILE ? this.chunkSlots(n) : 0, goal: this.goals.get(id) ?? this.defaultGoal,
      rdev: this.rdevOf(n), xattrCount: this.xattrs.count(id),
    };
  }

  private chunkSlots(n: number): number {
    const c = this.extra[n] as FileChunks;
    return c === undefined ? 0 : c === ONE_CHUNK || typeof c === "string" ? 1 : slotCount(c as Chunks);
  }

  /** An entry as a caller who may not search its directory sees it: name (path), type and id; no attribute. */
  private nameOnlyInfo(path: string, n: number): FileInfo__Output {
    return {
      path, type: fileTypeOf[typeOfKind[this.kinds[n]!]!], id: this.ids[n]!, mode: 0, uid: 0, gid: 0, size: 0,
      atimeMs: 0, mtimeMs: 0, ctimeMs: 0, nlink: 0, symlinkTarget: "", chunkCount: 0, goal: 0, rdev: 0, xattrCount: 0,
    };
  }

  /** The goal of inode `id` of its own (0: none, the cluster default applies). */
  goalOfId(id: number): number {
    return this.goals.get(id) ?? 0;
  }

  /** Every node's own goal: [inode id, goal] (checkpoints). */
  ownGoals(): IterableIterator<[number, number]> {
    return this.goals.entries();
  }

  /** Sets inode `id`'s own goal while rebuilding from a checkpoint (the caller checked the id is a node of it). */
  restoreGoal(id: number, goal: number): void {
    if (!Number.isSafeInteger(goal) || goal < 1 || goal > GOAL_STORED_MAX) throw new GfsError("EIO", `checkpoint is corrupt: bad goal ${goal} of node ${id}`);
    this.goals.set(id, goal);
  }

  /** A new node takes its directory's goal, if it has one (MooseFS, HDFS: new files inherit). */
  private inheritGoal(parent: number, child: number): void {
    const g = this.goals.get(this.ids[parent]!);
    if (g !== undefined) this.goals.set(this.ids[child]!, g);
  }

  /**
   * The nodes along `path` from the root (nodes[i] is the node of parts[0..i)),
   * as far as they exist, for permission checks (access.ts): read them, never keep them.
   */
  walk(path: string): { parts: string[]; nodes: ReadonlyArray<Readonly<Node>>; inodePath?: string } {
    // An inode path: the inode alone, as the target of no directory (no search permission on any).
    if (inodeOfPath(path) !== undefined) return { parts: [], nodes: [this.view(this.target(path).slot)], inodePath: path };
    const parts = parsePath(path);
    const nodes: Node[] = [this.view(this.rootSlot)];
    let n = this.rootSlot;
    for (const p of parts) {
      const c = this.child(n, p);
      if (c === undefined) break;
      nodes.push(this.view(c));
      n = c;
    }
    return { parts, nodes };
  }

  /** A node's info, by name or inode path. */
  stat(path: string): FileInfo__Output {
    const t = this.target(path);
    return this.info(t.path, t.slot);
  }

  /** Issue 19: the inode id at a name or inode path (ENOENT, ENOTDIR as stat). */
  idOf(path: string): number {
    return this.ids[this.target(path).slot]!;
  }

  /** Issue 19: whether inode `id` exists (named, or an orphan). */
  hasInode(id: number): boolean {
    return Number.isSafeInteger(id) && this.byId.get(id) !== undefined;
  }

  /** Issue 20: whether inode `id` is a file holding `handle` at slot `index` (a chunk's references). */
  holdsChunk(id: number, index: number, handle: string): boolean {
    const n = Number.isSafeInteger(id) ? this.byId.get(id) : undefined;
    return n !== undefined && this.kinds[n] === FILE && chunkAt(this.readChunks(n), index) === handle;
  }

  /** Issue 19: whether inode `id` is an orphan (no name, kept until `reclaim`): O(1), no scan. */
  isOrphan(id: number): boolean {
    if (!Number.isSafeInteger(id)) return false;
    const n = this.byId.get(id);
    return n !== undefined && this.linkCounts.get(n) === 0;
  }

  /** Issue 19: ids of the orphans (inodes unlinked while open, kept by `keep` until `reclaim`), ascending. */
  orphans(): number[] {
    const out: number[] = [];
    for (const [n, count] of this.linkCounts) if (count === 0) out.push(this.ids[n]!);
    return out.sort((a, b) => a - b);
  }

  /**
   * Issue 19: ids of the inodes `op` (a delete or rename, already validated) would leave with no
   * name: non-directories only; for a recursive delete, every such inode under it. [] if none.
   */
  unlinkedBy(op: Extract<NamespaceOp, { op: "delete" | "rename" }>): number[] {
    try {
      if (op.op === "delete") {
        const parts = parsePath(op.path);
        return parts.length === 0 ? [] : this.lastNamesUnder(this.lookupEntry(parts));
      }
      const from = parsePath(op.from);
      const to = parsePath(op.to);
      if (to.length === 0 || joinPath(from) === joinPath(to)) return [];
      const dst = this.dirs.get(this.parentDir(to), to[to.length - 1]!);
      if (dst === undefined || this.isDir(dst) || this.inode(dst) === this.lookup(from)) return [];
      return this.lastNamesUnder(dst);
    } catch {
      return []; // an op that fails unlinks nothing
    }
  }

  exists(path: string): boolean {
    return this.find(parsePath(path)) !== undefined;
  }

  /**
   * The entries of a directory, sorted by name. `attributes` false: each entry's name, type and id
   * only (what getdents gives a caller who may read the directory but not search it), the rest zero.
   */
  readdir(path: string, attributes = true): Array<{ name: string; info: FileInfo__Output }> {
    const parts = parsePath(path);
    const n = this.lookup(parts);
    if (!this.isDir(n)) throw new GfsError("ENOTDIR", path);
    const entries = [...this.dirs.entriesOf(n)].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); // byte order of UTF-16 code units, as sort() of the names; stable and deterministic
    const prefix = parts.length === 0 ? "/" : joinPath(parts) + "/";
    return entries.map(([name, e]) => {
      const c = this.inode(e);
      return { name, info: attributes ? this.info(prefix + name, c) : this.nameOnlyInfo(prefix + name, c) };
    });
  }

  /** A regular file's info and chunk handles (read them, never change them); EISDIR / EINVAL for directories and symlinks. */
  file(path: string): { info: FileInfo__Output; chunks: ReadonlyChunks } {
    const t = this.fileNode(path);
    return { info: this.info(t.path, t.slot), chunks: this.readChunks(t.slot) };
  }

  /** How many directories `mkdir` would create (so the caller can choose that many ids). */
  missingDirectories(path: string, parents: boolean): number {
    const parts = parsePath(path);
    if (!parents) return 1;
    let n = this.rootSlot;
    for (let i = 0; i < parts.length; i++) {
      const c = this.child(n, parts[i]!);
      if (c === undefined) return parts.length - i;
      if (!this.isDir(c)) return 0; // apply will fail with ENOTDIR/EEXIST
      n = c;
    }
    return 0;
  }

  /** Every regular file at or under `path`, in sorted order. */
  files(path: string): Array<{ path: string; info: FileInfo__Output; chunks: ReadonlyChunks }> {
    const parts = parsePath(path);
    const out: Array<{ path: string; info: FileInfo__Output; chunks: ReadonlyChunks }> = [];
    const walk = (p: string[], n: number) => {
      if (this.kinds[n] === FILE) out.push({ path: joinPath(p), info: this.info(joinPath(p), n), chunks: this.readChunks(n) });
      if (this.isDir(n)) {
        const entries = [...this.dirs.entriesOf(n)].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        for (const [name, c] of entries) walk([...p, name], this.inode(c));
      }
    };
    walk(parts, this.lookup(parts));
    return out;
  }

  /** Counts of entries, for Status and StatFs. */
  counts(): { files: number; directories: number; symlinks: number } {
    const c = { files: 0, directories: 0, symlinks: 0 };
    for (let s = 0; s < this.top; s++) {
      const k = this.kinds[s];
      if (k === FILE) c.files++;
      else if (k === DIR) c.directories++;
      else if (k === SYMLINK) c.symlinks++;
    }
    return c;
  }

  /** Every chunk reference: handle -> (file id, index). */
  chunkRefs(): Map<string, { fileId: number; index: number; count: number; fileIds: number[] }> {
    const refs = new Map<string, { fileId: number; index: number; count: number; fileIds: number[] }>();
    for (let s = 0; s < this.top; s++) {
      if (this.kinds[s] !== FILE) continue;
      for (const [index, h] of chunkEntries(this.readChunks(s))) {
        const known = refs.get(h); // issue 20: a chunk a snapshot shares is in several files
        if (known) {
          known.count++;
          known.fileIds.push(this.ids[s]!);
        } else refs.set(h, { fileId: this.ids[s]!, index, count: 1, fileIds: [this.ids[s]!] });
      }
    }
    return refs;
  }

  // -------------------------------------------------------------------------
  // Mutations
  // -------------------------------------------------------------------------

  /** Throws the error `apply(op)` would throw, changing nothing. */
  validate(op: NamespaceOp): void {
    this.plan(op);
  }

  /** Applies one operation: all checks happen before anything changes, so a failed op changes nothing. */
  apply(op: NamespaceOp): OpResult {
    return this.plan(op)();
  }

  private useId(id: number): void {
    this.maxIdSeen = Math.max(this.maxIdSeen, id);
  }

  /** Ids are unique because the caller allocates them above maxId; only their shape is checked here. */
  private checkFreshId(id: number): void {
    if (!Number.isSafeInteger(id) || id <= ROOT_ID) throw new GfsError("EIO", `bad inode id ${id}`);
    if (this.byId.get(id) !== undefined) throw new GfsError("EIO", `inode id ${id} is already in use`);
  }

  private plan(op: NamespaceOp): () => OpResult {
    switch (op.op) {
      case "create": return this.planCreate(op);
      case "mkdir": return this.planMkdir(op);
      case "symlink": return this.planSymlink(op);
      case "rename": return this.planRename(op);
      case "delete": return this.planDelete(op);
      case "setAttributes": return this.planSetAttributes(op);
      case "truncate": return this.planTruncate(op);
      case "extendFile": return this.planExtendFile(op);
      case "setChunk": return this.planSetChunk(op);
      case "setGoal": return this.planSetGoal(op);
      case "link": return this.planLink(op);
      case "mknod": return this.planMknod(op);
      case "reclaim": return this.planReclaim(op);
      case "setXattr": return this.planSetXattr(op);
      case "removeXattr": return this.planRemoveXattr(op);
      default:
        throw new GfsError("EINVAL", `unknown namespace operation ${JSON.stringify((op as { op: unknown }).op)}`);
    }
  }

  private planCreate(op: Extract<NamespaceOp, { op: "create" }>): () => OpResult {
    const parts = parsePath(op.path);
    if (parts.length === 0) throw new GfsError("EISDIR", "/");
    const parent = this.parentDir(parts);
    const name = parts[parts.length - 1]!;
    const entry = this.dirs.get(parent, name);
    const existing = entry === undefined ? undefined : this.inode(entry);
    const path = joinPath(parts);
    if (existing !== undefined) {
      if (op.exclusive) throw new GfsError("EEXIST", path);
      if (this.kinds[existing] === DIR) throw new GfsError("EISDIR", path);
      if (this.kinds[existing] !== FILE) throw new GfsError("EEXIST", `${path} is a ${typeOfKind[this.kinds[existing]!]}`);
      return () => ({ info: this.info(path, existing), id: this.ids[existing]!, garbage: [] });
    }
    this.checkFreshId(op.id);
    return () => {
      this.useId(op.id);
      const n = this.newNode(FILE, op.id, op.mode, op.uid, op.gid, op.timeMs);
      this.inheritGoal(parent, n);
      this.dirs.set(parent, name, n);
      this.touch(parent, op.timeMs);
      return { info: this.info(path, n), id: op.id, garbage: [] };
    };
  }

  private planMkdir(op: Extract<NamespaceOp, { op: "mkdir" }>): () => OpResult {
    const parts = parsePath(op.path);
    const path = joinPath(parts);
    if (!op.parents) {
      if (parts.length === 0) throw new GfsError("EEXIST", "/");
      const parent = this.parentDir(parts);
      const name = parts[parts.length - 1]!;
      if (this.dirs.has(parent, name)) throw new GfsError("EEXIST", path);
      if (op.ids.length !== 1) throw new GfsError("EIO", `mkdir ${path} needs exactly 1 id, got ${op.ids.length}`);
      this.checkFreshId(op.ids[0]!);
      return () => {
        this.useId(op.ids[0]!);
        const n = this.newNode(DIR, op.ids[0]!, op.mode, op.uid, op.gid, op.timeMs);
        this.inheritGoal(parent, n);
        this.dirs.set(parent, name, n);
        this.c0his[parent]!++;
        this.touch(parent, op.timeMs);
        return { info: this.info(path, n), id: op.ids[0]!, garbage: [] };
      };
    }
    // mkdir -p: walk down; the first missing part starts the new chain.
    let n = this.rootSlot;
    let i = 0;
    for (; i < parts.length; i++) {
      const c = this.dirs.get(n, parts[i]!);
      if (c === undefined) break;
      if (!this.isDir(c)) throw new GfsError(i === parts.length - 1 ? "EEXIST" : "ENOTDIR", joinPath(parts.slice(0, i + 1)));
      n = c;
    }
    const missing = parts.length - i;
    if (op.ids.length !== missing) throw new GfsError("EIO", `mkdir -p ${path} needs ${missing} ids, got ${op.ids.length}`);
    for (const id of op.ids) this.checkFreshId(id);
    const start = n;
    const first = i;
    return () => {
      let dir = start;
      for (let k = first; k < parts.length; k++) {
        const id = op.ids[k - first]!;
        this.useId(id);
        const c = this.newNode(DIR, id, op.mode, op.uid, op.gid, op.timeMs);
        this.inheritGoal(dir, c);
        this.dirs.set(dir, parts[k]!, c);
        this.c0his[dir]!++;
        this.touch(dir, op.timeMs);
        dir = c;
      }
      return { info: this.info(path, dir), id: this.ids[dir]!, garbage: [] };
    };
  }

  private planSymlink(op: Extract<NamespaceOp, { op: "symlink" }>): () => OpResult {
    const parts = parsePath(op.path);
    if (parts.length === 0) throw new GfsError("EEXIST", "/");
    if (typeof op.target !== "string" || op.target === "") throw new GfsError("EINVAL", "symlink target is empty");
    if (Buffer.byteLength(op.target) > PATH_BYTES_MAX) throw new GfsError("ENAMETOOLONG", `symlink target longer than ${PATH_BYTES_MAX} bytes`);
    const parent = this.parentDir(parts);
    const name = parts[parts.length - 1]!;
    const path = joinPath(parts);
    if (this.dirs.has(parent, name)) throw new GfsError("EEXIST", path);
    this.checkFreshId(op.id);
    return () => {
      this.useId(op.id);
      const n = this.newNode(SYMLINK, op.id, 0o777, op.uid, op.gid, op.timeMs);
      this.extra[n] = op.target;
      this.sizes[n] = Buffer.byteLength(op.target);
      this.dirs.set(parent, name, n);
      this.touch(parent, op.timeMs);
      return { info: this.info(path, n), id: op.id, garbage: [] };
    };
  }

  private planRename(op: Extract<NamespaceOp, { op: "rename" }>): () => OpResult {
    const from = parsePath(op.from);
    const to = parsePath(op.to);
    if (from.length === 0 || to.length === 0) throw new GfsError("EINVAL", "cannot rename the root directory");
    const src = this.lookupEntry(from);
    const node = this.inode(src);
    const srcParent = this.parentDir(from);
    const dstParent = this.parentDir(to);
    const fromPath = joinPath(from);
    const toPath = joinPath(to);
    const nothing = () => ({ info: this.info(toPath, node), id: this.ids[node]!, garbage: [] });
    if (toPath === fromPath) return nothing;
    if (this.isDir(src) && toPath.startsWith(fromPath + "/")) {
      throw new GfsError("EINVAL", `cannot move ${fromPath} into itself (${toPath})`);
    }
    const dstName = to[to.length - 1]!;
    const dst = this.dirs.get(dstParent, dstName);
    if (dst !== undefined) {
      if (op.noReplace) throw new GfsError("EEXIST", toPath);
      // Two names of one inode: rename(2) does nothing and succeeds.
      if (this.inode(dst) === node) return () => ({ info: this.info(fromPath, node), id: this.ids[node]!, garbage: [] });
      if (this.isDir(src)) {
        if (!this.isDir(dst)) throw new GfsError("ENOTDIR", toPath);
        if (this.dirs.size(dst) > 0) throw new GfsError("ENOTEMPTY", toPath);
      } else if (this.isDir(dst)) {
        throw new GfsError("EISDIR", toPath);
      }
    }
    const keep = this.keepSet(op.keep, () => (dst === undefined || this.isDir(dst) ? [] : this.lastNamesUnder(dst)));
    return () => {
      const garbage: string[] = [];
      this.dirs.delete(srcParent, from[from.length - 1]!);
      this.dirs.set(dstParent, dstName, src); // over `dst`: takes its place in the listing, as Map.set does
      if (this.isDir(src)) {
        this.c0his[srcParent]!--;
        this.c0his[dstParent]!++;
      }
      if (dst !== undefined) {
        if (this.isDir(dst)) this.c0his[dstParent]!--;
        this.dropEntry(dst, keep, garbage, op.timeMs);
      }
      this.ctimes[node] = op.timeMs;
      this.touch(srcParent, op.timeMs);
      this.touch(dstParent, op.timeMs);
      return { info: this.info(toPath, node), id: this.ids[node]!, garbage };
    };
  }

  private planDelete(op: Extract<NamespaceOp, { op: "delete" }>): () => OpResult {
    const parts = parsePath(op.path);
    const path = joinPath(parts);
    if (parts.length === 0) throw new GfsError("EINVAL", "cannot delete the root directory");
    const entry = this.lookupEntry(parts);
    const parent = this.parentDir(parts);
    if (this.isDir(entry)) {
      if (op.fileOnly) throw new GfsError("EISDIR", path);
      if (!op.recursive && this.dirs.size(entry) > 0) throw new GfsError("ENOTEMPTY", path);
    } else if (op.directoryOnly) {
      throw new GfsError("ENOTDIR", path);
    }
    const keep = this.keepSet(op.keep, () => this.lastNamesUnder(entry));
    return () => {
      const garbage: string[] = [];
      const id = this.ids[entry]!;
      this.dirs.delete(parent, parts[parts.length - 1]!);
      if (this.isDir(entry)) this.c0his[parent]!--;
      this.dropEntry(entry, keep, garbage, op.timeMs);
      this.touch(parent, op.timeMs);
      return { id, garbage };
    };
  }

  private planSetAttributes(op: Extract<NamespaceOp, { op: "setAttributes" }>): () => OpResult {
    const { slot: n, path } = this.target(op.path);
    for (const [k, v] of Object.entries({ mode: op.mode, uid: op.uid, gid: op.gid, atimeMs: op.atimeMs, mtimeMs: op.mtimeMs })) {
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new GfsError("EINVAL", `bad ${k} ${v}`);
    }
    return () => {
      if (op.mode !== undefined) this.modes[n] = op.mode & 0o7777;
      if (op.uid !== undefined) this.uids[n] = op.uid;
      if (op.gid !== undefined) this.gids[n] = op.gid;
      if (op.atimeMs !== undefined) this.atimes[n] = op.atimeMs;
      if (op.mtimeMs !== undefined) this.mtimes[n] = op.mtimeMs;
      this.ctimes[n] = op.timeMs;
      return { info: this.info(path, n), id: this.ids[n]!, garbage: [] };
    };
  }

  /** The regular file `path` (name or inode path) addresses; EISDIR / EINVAL for other nodes. */
  private fileNode(path: string): { slot: number; path: string } {
    const t = this.target(path);
    if (this.isDir(t.slot)) throw new GfsError("EISDIR", t.path);
    if (this.kinds[t.slot] !== FILE) throw new GfsError("EINVAL", `${t.path} is not a regular file`);
    return t;
  }

  private planTruncate(op: Extract<NamespaceOp, { op: "truncate" }>): () => OpResult {
    const { slot: n, path } = this.fileNode(op.path);
    if (!Number.isSafeInteger(op.size) || op.size < 0) throw new GfsError("EINVAL", `bad size ${op.size}`);
    if (!Number.isSafeInteger(op.chunkSizeBytes) || op.chunkSizeBytes <= 0) throw new GfsError("EINVAL", `bad chunk size ${op.chunkSizeBytes}`);
    return () => {
      const cut = cutChunks(this.chunksOf(n), Math.ceil(op.size / op.chunkSizeBytes));
      this.setChunks(n, cut.chunks);
      this.sizes[n] = op.size;
      this.mtimes[n] = op.timeMs;
      this.ctimes[n] = op.timeMs;
      return { info: this.info(path, n), id: this.ids[n]!, garbage: cut.garbage };
    };
  }

  private planExtendFile(op: Extract<NamespaceOp, { op: "extendFile" }>): () => OpResult {
    const { slot: n, path } = this.fileNode(op.path);
    if (!Number.isSafeInteger(op.endOffset) || op.endOffset < 0) throw new GfsError("EINVAL", `bad end offset ${op.endOffset}`);
    return () => {
      this.sizes[n] = Math.max(this.sizes[n]!, op.endOffset);
      this.mtimes[n] = op.mtimeMs > 0 ? op.mtimeMs : op.timeMs;
      this.ctimes[n] = op.timeMs;
      return { info: this.info(path, n), id: this.ids[n]!, garbage: [] };
    };
  }

  private planSetChunk(op: Extract<NamespaceOp, { op: "setChunk" }>): () => OpResult {
    const { slot: n, path } = this.fileNode(op.path);
    if (!Number.isSafeInteger(op.index) || op.index < 0) throw new GfsError("EINVAL", `bad chunk index ${op.index}`);
    const cur = chunkAt(this.readChunks(n), op.index);
    if (cur !== "" && cur !== op.handle) {
      throw new GfsError("EEXIST", `chunk ${op.index} of ${path} is already ${cur}`);
    }
    return () => {
      this.setChunks(n, withChunk(this.chunksOf(n), op.index, op.handle, defaults.chunk_list_dense_gap_max));
      return { info: this.info(path, n), id: this.ids[n]!, garbage: [] };
    };
  }

  /**
   * A node's goal, and with `recursive` every file's and directory's under it (symlinks have no
   * chunks: skipped); counts the nodes whose goal changed. A symlink itself is refused (lookup does
   * not follow it, and the caller would think its target's goal changed).
   */
  private planSetGoal(op: Extract<NamespaceOp, { op: "setGoal" }>): () => OpResult {
    const parts = parsePath(op.path);
    const n = this.lookup(parts);
    if (!Number.isSafeInteger(op.goal) || op.goal < 1 || op.goal > GOAL_STORED_MAX) throw new GfsError("EINVAL", `bad replication goal ${op.goal}`);
    if (this.kinds[n] === SYMLINK) throw new GfsError("EINVAL", `${joinPath(parts)} is a symlink`);
    return () => {
      let changed = 0;
      const stack = [n];
      while (stack.length) {
        const s = stack.pop()!;
        if (this.kinds[s] === SYMLINK) continue;
        if (this.goals.get(this.ids[s]!) !== op.goal) {
          this.goals.set(this.ids[s]!, op.goal);
          this.ctimes[s] = op.timeMs;
          changed++;
        }
        if (op.recursive && this.kinds[s] === DIR) this.dirs.forEachChild(s, (c) => stack.push(this.inode(c)));
      }
      return { info: this.info(joinPath(parts), n), id: this.ids[n]!, garbage: [], changed };
    };
  }

  // ---- issue 20, snapshot lane: the copy of a tree for a snapshot (methods here) ----

  /**
   * Plans the copy of the tree at `from` as `to` (a snapshot, GFS 3.4): every inode under it (and
   * itself) gets a new id, `firstId` onwards, in a fixed walk (depth first, names in sorted order:
   * the same on every master and at replay, whatever order the directory index keeps). Hard links
   * inside the tree stay links of one copied inode (nlink: its names inside the tree). The copy's
   * files reference the same chunk handles (`handles`: one per copied file inode and chunk, for the
   * caller to count references; `fileIds`: the copy's file id of each, in the same order). `nodes`:
   * inodes copied (checked against the record's); the plan's `handles`: those the copy will reference.
   */
  planCopyTree(from: string, to: string, firstId: number, timeMs: number): { nodes: number; handles: string[]; apply: () => OpResult & { handles: string[]; fileIds: number[] } } {
    const src = parsePath(from);
    const dst = parsePath(to);
    const fromPath = joinPath(src);
    const toPath = joinPath(dst);
    const top = this.lookupEntry(src);
    if (dst.length === 0) throw new GfsError("EEXIST", "/");
    if (toPath === fromPath || toPath.startsWith(fromPath === "/" ? "/" : fromPath + "/")) throw new GfsError("EINVAL", `snapshot: ${toPath} is inside ${fromPath}`);
    const parent = this.parentDir(dst);
    const name = dst[dst.length - 1]!;
    if (this.dirs.has(parent, name)) throw new GfsError("EEXIST", toPath);
    const order = this.copyOrder(this.inode(top));
    const inodes = new Set<number>();
    for (const [, e] of order) inodes.add(this.inode(e));
    if (!Number.isSafeInteger(firstId) || firstId <= this.maxIdSeen) throw new GfsError("EIO", `snapshot: first id ${firstId} is not above ${this.maxIdSeen}`);
    const handles: string[] = [];
    for (const n of inodes) if (this.kinds[n] === FILE) for (const [, h] of chunkEntries(this.readChunks(n))) handles.push(h);
    return { nodes: inodes.size, handles, apply: () => this.copyTree(order, parent, name, toPath, firstId, timeMs) };
  }

  /** The walk of planCopyTree: [index of its directory's copy in this list (-1: the top), entry slot], names sorted. */
  private copyOrder(top: number): Array<[number, number, string]> {
    const out: Array<[number, number, string]> = [[-1, top, ""]];
    const stack: Array<[number, number]> = [[0, top]];
    while (stack.length) {
      const [at, dir] = stack.pop()!;
      if (!this.isDir(dir)) continue;
      const entries = [...this.dirs.entriesOf(dir)].sort(byName);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [childName, e] = entries[i]!;
        out.push([at, e, childName]);
        stack.push([out.length - 1, this.inode(e)]);
      }
    }
    return out;
  }

  private copyTree(order: Array<[number, number, string]>, parent: number, name: string, toPath: string, firstId: number, timeMs: number): OpResult & { handles: string[]; fileIds: number[] } {
    const copies: number[] = []; // order index -> the copy's slot (entry)
    const copied = new Map<number, number>(); // source inode slot -> its copy, for hard links
    const handles: string[] = [];
    const fileIds: number[] = [];
    let next = firstId;
    for (const [at, e, childName] of order) {
      const n = this.inode(e);
      const dir = at < 0 ? parent : this.inode(copies[at]!);
      const known = copied.get(n);
      let slot: number;
      if (known !== undefined) {
        slot = this.newLink(known); // one more name inside the tree
        this.setNlink(known, this.nlinkOf(known) + 1);
      } else {
        slot = this.copyNode(n, next++, handles, fileIds);
        copied.set(n, slot);
      }
      this.dirs.set(dir, at < 0 ? name : childName, slot);
      if (this.kinds[slot] === DIR) this.c0his[dir]!++;
      copies.push(slot);
    }
    this.useId(next - 1);
    this.touch(parent, timeMs);
    const root = this.inode(copies[0]!);
    return { info: this.info(toPath, root), id: this.ids[root]!, garbage: [], handles, fileIds };
  }

  /** A copy of inode `n` as `id` (no name yet, nlink 1): attributes, goal, xattrs, target, rdev, chunk list. */
  private copyNode(n: number, id: number, handles: string[], fileIds: number[]): number {
    const kind = this.kinds[n]!;
    const c = this.newNode(kind, id, this.modes[n]!, this.uids[n]!, this.gids[n]!, 0);
    this.sizes[c] = this.sizes[n]!;
    this.atimes[c] = this.atimes[n]!;
    this.mtimes[c] = this.mtimes[n]!;
    this.ctimes[c] = this.ctimes[n]!;
    const goal = this.goals.get(this.ids[n]!);
    if (goal !== undefined) this.goals.set(id, goal);
    const attrs = this.xattrs.rowOf(this.ids[n]!);
    if (attrs) this.xattrs.restoreRow(id, attrs);
    if (kind === SYMLINK) this.extra[c] = this.extra[n];
    else if (isSpecialKind(kind)) this.setRdev(c, this.rdevOf(n));
    else if (kind === FILE) {
      const list = this.readChunks(n);
      this.setChunks(c, chunksFromRow(structuredClone(chunksToRow(list)), `file ${id}`));
      for (const [, h] of chunkEntries(list)) {
        handles.push(h);
        fileIds.push(id);
      }
    }
    return c;
  }

  /**
   * What a snapshot of `path` would copy (the handler's walk, before it revokes leases): its inodes
   * (EINVAL past `max`), the chunk handles of its files (one per file inode and chunk), and the uid
   * owning every node (-1 when owners differ). Follows no symlink; ENOENT/ENOTDIR as stat.
   */
  snapshotSource(path: string, max: number): { nodes: number; handles: string[]; owner: number } {
    const top = this.lookup(parsePath(path));
    const seen = new Set<number>();
    const handles: string[] = [];
    let owner = this.uids[top]!;
    const stack = [top];
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n)) continue; // a further name of an inode already counted
      seen.add(n);
      if (seen.size > max) throw new GfsError("EINVAL", `snapshot of ${path}: more than ${max} nodes (snapshot_nodes_max)`);
      if (this.uids[n] !== owner) owner = -1;
      if (this.kinds[n] === FILE) this.collectChunks(n, handles);
      else if (this.isDir(n)) this.dirs.forEachChild(n, (e) => stack.push(this.inode(e)));
    }
    return { nodes: seen.size, handles, owner };
  }

  /**
   * Copy-on-write (issue 20): slot `index` of the file at `path` holds `from` and now holds `to`
   * instead (a chunk of its own, copied from the shared one). Checks first, then returns the change.
   */
  planReplaceChunk(path: string, index: number, from: string, to: string): () => OpResult {
    const { slot: n, path: p } = this.fileNode(path);
    if (!Number.isSafeInteger(index) || index < 0) throw new GfsError("EINVAL", `bad chunk index ${index}`);
    const cur = chunkAt(this.readChunks(n), index);
    if (cur !== from) throw new GfsError("ESTALE", `chunk ${index} of ${p} is ${cur || "a hole"}, not ${from}`);
    return () => {
      this.setChunks(n, withChunk(this.chunksOf(n), index, to, defaults.chunk_list_dense_gap_max));
      return { info: this.info(p, n), id: this.ids[n]!, garbage: [] };
    };
  }


  /** A hard link: `to`, a new name of the inode at `from` (a name or inode path of a named inode). */
  private planLink(op: Extract<NamespaceOp, { op: "link" }>): () => OpResult {
    const src = this.target(op.from);
    const node = src.slot;
    if (this.isDir(node)) throw new GfsError("EPERM", `${src.path} is a directory: directories take no hard links`);
    const names = this.nlinkOf(node);
    if (names === 0) throw new GfsError("ENOENT", `${src.path} has no name left (unlinked while open): linkat refuses it too`);
    if (names >= LINKS_PER_INODE_MAX) throw new GfsError("EMLINK", `${src.path} has ${names} names already, the most one may have (links_per_inode_max)`);
    const parts = parsePath(op.to);
    if (parts.length === 0) throw new GfsError("EEXIST", "/");
    const parent = this.parentDir(parts);
    const name = parts[parts.length - 1]!;
    const path = joinPath(parts);
    if (this.dirs.has(parent, name)) throw new GfsError("EEXIST", path);
    return () => {
      const l = this.newLink(node);
      this.dirs.set(parent, name, l);
      this.setNlink(node, names + 1);
      this.ctimes[node] = op.timeMs;
      this.touch(parent, op.timeMs);
      return { info: this.info(path, node), id: this.ids[node]!, garbage: [] };
    };
  }

  /** A special file (FIFO, device node, socket): metadata only, its rdev in the c0 columns. */
  private planMknod(op: Extract<NamespaceOp, { op: "mknod" }>): () => OpResult {
    const parts = parsePath(op.path);
    if (parts.length === 0) throw new GfsError("EEXIST", "/");
    if (!SPECIAL_TYPES.includes(op.type)) throw new GfsError("EINVAL", `mknod: bad type ${JSON.stringify(op.type)} (fifo, chr, blk or sock; regular files are created)`);
    if (!Number.isSafeInteger(op.rdev) || op.rdev < 0) throw new GfsError("EINVAL", `mknod: bad device number ${op.rdev}`);
    if ((op.type === "fifo" || op.type === "sock") && op.rdev !== 0) throw new GfsError("EINVAL", `mknod: a ${op.type} has no device number`);
    const parent = this.parentDir(parts);
    const name = parts[parts.length - 1]!;
    const path = joinPath(parts);
    if (this.dirs.has(parent, name)) throw new GfsError("EEXIST", path);
    this.checkFreshId(op.id);
    return () => {
      this.useId(op.id);
      const n = this.newNode(kindOfType[op.type], op.id, op.mode, op.uid, op.gid, op.timeMs);
      this.c0his[n] = Math.floor(op.rdev / 0x100000000);
      this.c0los[n] = op.rdev >>> 0;
      this.dirs.set(parent, name, n);
      this.touch(parent, op.timeMs);
      return { info: this.info(path, n), id: op.id, garbage: [] };
    };
  }

  /** Frees orphans: their chunks become garbage, their attributes go. EINVAL for an id that is not an orphan. */
  private planReclaim(op: Extract<NamespaceOp, { op: "reclaim" }>): () => OpResult {
    if (!Array.isArray(op.ids)) throw new GfsError("EINVAL", "reclaim: ids must be a list");
    const slots = op.ids.map((id) => {
      const slot = Number.isSafeInteger(id) ? this.byId.get(id) : undefined;
      if (slot === undefined || this.linkCounts.get(slot) !== 0) throw new GfsError("EINVAL", `reclaim: inode ${id} is not an orphan`);
      return slot;
    });
    if (new Set(slots).size !== slots.length) throw new GfsError("EINVAL", "reclaim: an inode named twice");
    return () => {
      const garbage: string[] = [];
      for (const s of slots) {
        this.collectChunks(s, garbage);
        this.freeSlot(s);
      }
      return { garbage };
    };
  }

  // ---- issue 20, trash lane: moving entries into /.trash and back (methods here) ----
  // trash-table.ts decides names and records; these move entries between a directory of the root
  // (`dir`, the trash) and the tree, as a rename would, with the checks a replayed op needs.

  /** Moves `entry` (of inode `node`) from `from`/`fromName` to `to`/`toName`: subdirectory counts, the node's ctime and both directories' times follow. */
  private moveEntry(entry: number, node: number, from: number, fromName: string, to: number, toName: string, timeMs: number): void {
    this.dirs.delete(from, fromName);
    this.dirs.set(to, toName, entry);
    if (this.isDir(entry)) {
      this.c0his[from]!--;
      this.c0his[to]!++;
    }
    this.ctimes[node] = timeMs;
    this.touch(from, timeMs);
    this.touch(to, timeMs);
  }

  /** The trash directory `dir` (a name in the root), if it exists; EIO if that name is not a directory. */
  private trashSlot(dir: string): number | undefined {
    const t = this.dirs.get(this.rootSlot, dir);
    if (t !== undefined && !this.isDir(t)) throw new GfsError("EIO", `/${dir} is not a directory`);
    return t;
  }

  /** Checks a name for the trash directory: one path component (as parsePath would take it). */
  private checkTrashName(name: string): void {
    if (typeof name !== "string" || name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")
      || !isWellFormed(name) || Buffer.byteLength(name) > NAME_BYTES_MAX) throw new GfsError("EINVAL", `bad trash entry name ${JSON.stringify(name)}`);
  }

  /**
   * Moves the entry at `path` to `/<dir>/<name>`, making `/<dir>` (root's, `dirMode`, id `dirId`)
   * first if it does not exist. Only a last name: a file, symlink or special file with one name,
   * or a directory (its tree goes with it, links inside stay links).
   */
  planTrashMove(o: { path: string; dir: string; name: string; dirId: number; dirMode: number; timeMs: number }): () => OpResult {
    const parts = parsePath(o.path);
    if (parts.length === 0) throw new GfsError("EINVAL", "cannot delete the root directory");
    if (parts[0] === o.dir) throw new GfsError("EROFS", `${joinPath(parts)} is in the trash already`);
    const entry = this.lookupEntry(parts);
    const parent = this.parentDir(parts);
    const node = this.inode(entry);
    if (!this.isDir(node) && this.nlinkOf(node) !== 1) throw new GfsError("EINVAL", `${joinPath(parts)} has other names: only a last name goes to the trash`);
    this.checkTrashName(o.name);
    const existing = this.trashSlot(o.dir);
    if (existing === undefined) this.checkFreshId(o.dirId);
    else if (this.ids[existing] !== o.dirId) throw new GfsError("EIO", `/${o.dir} is inode ${this.ids[existing]}, not ${o.dirId}`);
    if (existing !== undefined && this.dirs.has(existing, o.name)) throw new GfsError("EEXIST", `/${o.dir}/${o.name}`);
    return () => {
      let t = existing;
      if (t === undefined) {
        this.useId(o.dirId);
        t = this.newNode(DIR, o.dirId, o.dirMode, 0, 0, o.timeMs);
        this.dirs.set(this.rootSlot, o.dir, t);
        this.c0his[this.rootSlot]!++;
      }
      this.moveEntry(entry, node, parent, parts[parts.length - 1]!, t, o.name, o.timeMs);
      return { info: this.info(`/${o.dir}/${o.name}`, node), id: this.ids[node]!, garbage: [] };
    };
  }

  /** The entry `/<dir>/<name>`, checked to be inode `id` (ENOENT if missing, EIO if another inode). */
  private trashEntry(dir: string, name: string, id: number): { t: number; entry: number } {
    const t = this.trashSlot(dir);
    const entry = t === undefined ? undefined : this.dirs.get(t, name);
    if (t === undefined || entry === undefined) throw new GfsError("ENOENT", `/${dir}/${name}`);
    if (this.ids[this.inode(entry)] !== id) throw new GfsError("EIO", `/${dir}/${name} is inode ${this.ids[this.inode(entry)]}, not ${id}`);
    return { t, entry };
  }

  /**
   * Moves `/<dir>/<name>` (inode `id`) back into the tree at `to`, making its missing parent
   * directories first (ids `parentIds`, outermost first; mode 0755, owned by uid/gid). `to` must not exist.
   */
  planTrashRestore(o: { dir: string; name: string; id: number; to: string; parentIds: number[]; uid: number; gid: number; timeMs: number }): () => OpResult {
    const { t, entry } = this.trashEntry(o.dir, o.name, o.id);
    const parts = parsePath(o.to);
    if (parts.length === 0) throw new GfsError("EEXIST", "/");
    if (parts[0] === o.dir) throw new GfsError("EROFS", `${joinPath(parts)} is in the trash`);
    if (!Array.isArray(o.parentIds)) throw new GfsError("EINVAL", "restore: parentIds must be a list");
    for (const v of [o.uid, o.gid]) if (!Number.isSafeInteger(v) || v < 0) throw new GfsError("EINVAL", `restore: bad owner ${v}`);
    const parentParts = parts.slice(0, -1);
    // The parents as mkdir -p makes them (its checks: ENOTDIR for a file on the way, the ids' count and freshness).
    const parents = this.planMkdir({ op: "mkdir", path: joinPath(parentParts), mode: 0o755, uid: o.uid, gid: o.gid, parents: true, ids: o.parentIds, timeMs: o.timeMs });
    const name = parts[parts.length - 1]!;
    const to = joinPath(parts);
    if (o.parentIds.length === 0 && this.dirs.has(this.lookup(parentParts), name)) throw new GfsError("EEXIST", to);
    const node = this.inode(entry);
    return () => {
      parents();
      const parent = this.lookup(parentParts);
      this.moveEntry(entry, node, t, o.name, parent, name, o.timeMs);
      return { info: this.info(to, node), id: o.id, garbage: [] };
    };
  }

  /**
   * Deletes trash entries (`/<dir>/<name>`, each checked to be inode `id`) with everything under
   * them, as a recursive delete: chunks of inodes losing their last name go to `garbage`, except
   * those `keep` names (open in a mount session: they stay as orphans until reclaimed).
   */
  planTrashPurge(o: { dir: string; entries: Array<{ name: string; id: number }>; keep?: number[]; timeMs: number }): () => OpResult {
    const found = o.entries.map((e) => ({ name: e.name, ...this.trashEntry(o.dir, e.name, e.id) }));
    if (new Set(found.map((f) => f.name)).size !== found.length) throw new GfsError("EINVAL", "purge: an entry named twice");
    const keep = this.keepSet(o.keep, () => found.flatMap((f) => this.lastNamesUnder(f.entry)));
    return () => {
      const garbage: string[] = [];
      for (const f of found) {
        this.dirs.delete(f.t, f.name);
        if (this.isDir(f.entry)) this.c0his[f.t]!--;
        this.dropEntry(f.entry, keep, garbage, o.timeMs);
        this.touch(f.t, o.timeMs);
      }
      return { garbage };
    };
  }

  private planSetXattr(op: Extract<NamespaceOp, { op: "setXattr" }>): () => OpResult {
    const { slot: n, path } = this.target(op.path);
    if (typeof op.value !== "string") throw new GfsError("EINVAL", "setxattr: the value must be base64");
    const value = Buffer.from(op.value, "base64");
    const id = this.ids[n]!;
    this.xattrs.checkSet(id, op.name, value, op.flags);
    return () => {
      this.xattrs.set(id, op.name, value, op.flags);
      this.ctimes[n] = op.timeMs;
      return { info: this.info(path, n), id, garbage: [] };
    };
  }

  private planRemoveXattr(op: Extract<NamespaceOp, { op: "removeXattr" }>): () => OpResult {
    const { slot: n, path } = this.target(op.path);
    const id = this.ids[n]!;
    this.xattrs.checkRemove(id, op.name);
    return () => {
      this.xattrs.remove(id, op.name);
      this.ctimes[n] = op.timeMs;
      return { info: this.info(path, n), id, garbage: [] };
    };
  }

  // -------------------------------------------------------------------------
  // Snapshots
  // -------------------------------------------------------------------------

  // ---- issue 20, quota lane: usage of subtrees (methods here) ----

  /**
   * Issue 20 (quota lane): ids of the directories above the node `path` names (a name path: that
   * name; an inode path: its one name), nearest first, the root last; [] for the root and for an
   * orphan (no name: counted nowhere). undefined when an inode path's inode has several names (or its
   * one name is a further link): the caller counts its names another way. O(depth).
   */
  dirIdsAbove(path: string): number[] | undefined {
    const id = typeof path === "string" ? inodeOfPath(path) : undefined;
    let entry: number;
    if (id !== undefined) {
      const slot = this.byId.get(id);
      if (slot === undefined) throw new GfsError("ENOENT", `no inode ${id} (${path})`);
      if (slot === this.rootSlot) return [];
      const names = this.nlinkOf(slot);
      if (!this.isDir(slot) && names === 0) return [];
      if (!this.isDir(slot) && (names !== 1 || this.dirs.get(this.dirs.parentOf(slot), this.dirs.nameOf(slot)) !== slot)) return undefined;
      entry = slot;
    } else {
      entry = this.lookupEntry(parsePath(path));
    }
    const out: number[] = [];
    for (let s = entry; s !== this.rootSlot;) {
      s = this.dirs.parentOf(s);
      out.push(this.ids[s]!);
    }
    return out;
  }

  /**
   * Issue 20 (quota lane): for each name of inode `id` (its own slot, if still named, and its LINK
   * slots), the ids of the directories above that name, nearest first. O(names x depth): no scan.
   */
  dirIdsAboveNames(id: number): number[][] {
    const slot = this.byId.get(id);
    if (slot === undefined) throw new GfsError("ENOENT", `no inode ${id}`);
    const entries = [...(this.linkSlots.get(slot) ?? [])];
    if (slot === this.rootSlot || this.dirs.get(this.dirs.parentOf(slot), this.dirs.nameOf(slot)) === slot) entries.push(slot);
    return entries.map((e) => {
      const out: number[] = [];
      for (let s = e; s !== this.rootSlot;) {
        s = this.dirs.parentOf(s);
        out.push(this.ids[s]!);
      }
      return out;
    });
  }

  /** Issue 20 (quota lane): ids of the existing directories on the way to a new name `path` (mkdir -p: as far as they exist), nearest first. */
  dirIdsAboveNew(path: string): number[] {
    const parts = parsePath(path);
    const out = [this.ids[this.rootSlot]!];
    let n = this.rootSlot;
    for (let i = 0; i < parts.length - 1; i++) {
      const c = this.child(n, parts[i]!);
      if (c === undefined || !this.isDir(c)) break;
      out.push(this.ids[c]!);
      n = c;
    }
    return out.reverse();
  }

  /** Issue 20 (quota lane): the name path of directory `id` (ENOENT if it is not a directory here). O(depth). */
  dirPathOfId(id: number): string {
    const slot = Number.isSafeInteger(id) ? this.byId.get(id) : undefined;
    if (slot === undefined || !this.isDir(slot)) throw new GfsError("ENOENT", `no directory with inode ${id}`);
    const names: string[] = [];
    for (let s = slot; s !== this.rootSlot; s = this.dirs.parentOf(s)) names.push(this.dirs.nameOf(s));
    return joinPath(names.reverse());
  }

  /** Issue 20 (quota lane): how many names of inode `id` are at or below `path` (a hard-linked file's size counts once a name). O(nodes below). */
  namesBelow(path: string, id: number): number {
    const top = this.lookupEntry(parsePath(path));
    let names = this.ids[this.inode(top)] === id ? 1 : 0;
    const stack = this.isDir(top) ? [top] : [];
    while (stack.length > 0) {
      this.dirs.forEachChild(stack.pop()!, (e) => {
        const c = this.inode(e);
        if (this.ids[c] === id) names++;
        if (this.isDir(c)) stack.push(c);
      });
    }
    return names;
  }

  /**
   * Issue 20 (shared by the trash and quota lanes): what the tree at `path` holds below itself:
   * `bytes`, the logical sizes of its regular files (each name counts, so a file with two names
   * inside counts twice, as du -l), and `entries`, its nodes below it (a file: 0 entries below,
   * 1 with itself: `withSelf`). Throws ENOENT/ENOTDIR as stat does. O(nodes below).
   */
  subtreeUsage(path: string, withSelf = false): { bytes: number; entries: number } {
    const top = this.lookup(parsePath(path));
    let bytes = 0;
    let entries = withSelf ? 1 : 0;
    if (this.kinds[top] === FILE) bytes += this.sizes[top]!;
    const stack = this.isDir(top) ? [top] : [];
    while (stack.length > 0) {
      this.dirs.forEachChild(stack.pop()!, (e) => {
        const c = this.inode(e);
        entries++;
        if (this.kinds[c] === FILE) bytes += this.sizes[c]!;
        else if (this.isDir(c)) stack.push(c);
      });
    }
    return { bytes, entries };
  }

  snapshot(): NamespaceSnapshot {
    const snap = (n: number): NodeSnapshot => {
      const kind = this.kinds[n]!;
      const id = this.ids[n]!;
      const s: NodeSnapshot = {
        id, type: typeOfKind[kind]!, mode: this.modes[n]!, uid: this.uids[n]!, gid: this.gids[n]!, size: this.sizes[n]!,
        atimeMs: this.atimes[n]!, mtimeMs: this.mtimes[n]!, ctimeMs: this.ctimes[n]!,
      };
      if (kind === SYMLINK) s.target = this.extra[n] as string;
      const goal = this.goals.get(id);
      if (goal !== undefined) s.goal = goal;
      if (kind !== DIR && this.nlinkOf(n) !== 1) s.nlink = this.nlinkOf(n);
      if (this.rdevOf(n) !== 0) s.rdev = this.rdevOf(n);
      const xattrs = this.xattrs.rowOf(id);
      if (xattrs) s.xattrs = xattrs;
      if (kind === FILE) s.chunks = structuredClone(chunksToRow(this.readChunks(n)));
      if (kind === DIR) {
        s.children = {};
        for (const [name, c] of [...this.dirs.entriesOf(n)].sort(byName)) s.children[name] = snap(this.inode(c));
      }
      return s;
    };
    const orphans = this.orphans().map((id) => snap(this.byId.get(id)!));
    return { maxId: this.maxIdSeen, root: snap(this.rootSlot), ...(orphans.length ? { orphans } : {}) };
  }

  /** Inode `n` as a checkpoint row under `parentId` as `name`. */
  private row(parentId: number, name: string, n: number): NodeRow {
    const kind = this.kinds[n]!;
    const last = kind === SYMLINK ? (this.extra[n] as string) : kind === FILE ? chunksToRow(this.readChunks(n)) : isSpecialKind(kind) ? this.rdevOf(n) : null;
    return [parentId, name, this.ids[n]!, typeOfKind[kind]!, this.modes[n]!, this.uids[n]!, this.gids[n]!, this.sizes[n]!, this.atimes[n]!, this.mtimes[n]!, this.ctimes[n]!, last];
  }

  /**
   * Every node as a checkpoint row, parents before children: an inode's first name as its full
   * row, each further name as a "link" row, then the orphans (see NodeRow).
   */
  *rows(): Generator<NodeRow> {
    const given = new Set<number>(); // inodes with several names whose full row is out
    const stack: Array<[number, string, number]> = [[0, "", this.rootSlot]];
    while (stack.length) {
      const [parentId, name, e] = stack.pop()!;
      const n = this.inode(e);
      const id = this.ids[n]!;
      if (this.linkCounts.has(n)) {
        if (given.has(n)) {
          yield [parentId, name, id, "link", 0, 0, 0, 0, 0, 0, 0, null];
          continue;
        }
        given.add(n);
      }
      yield this.row(parentId, name, n);
      if (this.kinds[n] === DIR) for (const [childName, c] of this.dirs.entriesOf(n)) stack.push([id, childName, c]);
    }
    for (const id of this.orphans()) yield this.row(ORPHAN_PARENT, "", this.byId.get(id)!);
  }

  /**
   * Rebuilds a namespace from checkpoint rows (parents before children),
   * refusing rows that do not describe a tree. Directories are found by id
   * through the id index, so a million files cost no extra map.
   */
  static fromRows(rows: Iterable<NodeRow>, maxId: number, nodeCountHint = 0, nameBytesHint = 0): Namespace {
    const bad = (why: string): never => { throw new GfsError("EIO", `checkpoint is corrupt: ${why}`); };
    const ns = new Namespace(0, nodeCountHint, nameBytesHint);
    let root = false;
    for (const row of rows) {
      if (!Array.isArray(row) || row.length !== NODE_ROW_FIELDS.length) bad(`malformed node row ${JSON.stringify(row)}`);
      const [parentId, name, id, type, mode, uid, gid, size, atimeMs, mtimeMs, ctimeMs, extra] = row;
      if (type !== "link" && !Object.hasOwn(kindOfType, type)) bad(`node ${id} has type ${JSON.stringify(type)}`);
      if (!Number.isSafeInteger(id) || id < ROOT_ID || id > maxId) bad(`node id ${id} outside 1..${maxId}`);
      let n: number;
      if (parentId === 0) {
        if (root || id !== ROOT_ID || type !== "dir") bad("the root row is missing, repeated or not a directory");
        root = true;
        n = ns.rootSlot;
        ns.modes[n] = mode & 0o7777;
        ns.uids[n] = uid;
        ns.gids[n] = gid;
      } else if (parentId === ORPHAN_PARENT) {
        if (type === "link" || type === "dir" || name !== "") bad(`orphan ${id} is a link, a directory or named`);
        n = ns.restoredNode(type as NodeType, id, mode, uid, gid, bad);
        ns.linkCounts.set(n, 0);
      } else {
        const parent = (Number.isSafeInteger(parentId) ? ns.byId.get(parentId) : undefined) ?? bad(`node ${id} comes before its directory ${parentId}`);
        if (!ns.isDir(parent)) bad(`node ${id} is in ${parentId}, not a directory`);
        if (typeof name !== "string" || name.includes("/") || !isWellFormed(name)) bad(`bad name in directory ${parentId}`);
        if (type === "link") {
          const node = ns.byId.get(id) ?? bad(`link to inode ${id} before the inode`);
          if (ns.isDir(node) || ns.nlinkOf(node) === 0) bad(`link to directory or orphan ${id}`);
          const l = ns.newLink(node);
          const added = ns.dirs.add(parent, name, l);
          if (added !== "added") bad(`${added === "bad" ? "bad" : "repeated"} name in directory ${parentId}`);
          ns.setNlink(node, ns.nlinkOf(node) + 1);
          continue;
        }
        n = ns.restoredNode(type, id, mode, uid, gid, bad);
        const added = ns.dirs.add(parent, name, n); // empty or over NAME_BYTES_MAX: "bad"
        if (added !== "added") bad(`${added === "bad" ? "bad" : "repeated"} name in directory ${parentId}`);
        if (type === "dir") ns.c0his[parent]!++;
      }
      ns.sizes[n] = size;
      ns.atimes[n] = atimeMs;
      ns.mtimes[n] = mtimeMs;
      ns.ctimes[n] = ctimeMs;
      if (type === "symlink") ns.extra[n] = typeof extra === "string" ? extra : bad(`symlink ${id} has no target`);
      if (type === "file") ns.setChunks(n, chunksFromRow(extra as string[] | SparseChunksRow | null, `file ${id}`));
      if (SPECIAL_TYPES.includes(type as SpecialType)) ns.setRdev(n, typeof extra === "number" && Number.isSafeInteger(extra) && extra >= 0 ? extra : bad(`special file ${id} has a bad device number`));
    }
    if (!root) bad("no root directory");
    ns.maxIdSeen = maxId;
    return ns;
  }

  /** A node of a checkpoint (a repeated id is a corrupt checkpoint). */
  private restoredNode(type: NodeType, id: number, mode: number, uid: number, gid: number, bad: (why: string) => never): number {
    try {
      return this.newNode(kindOfType[type], id, mode, uid, gid, 0);
    } catch {
      return bad(`inode id ${id} repeated`);
    }
  }

  private setRdev(n: number, rdev: number): void {
    this.c0his[n] = Math.floor(rdev / 0x100000000);
    this.c0los[n] = rdev >>> 0;
  }

  static restore(s: NamespaceSnapshot): Namespace {
    if (s.root.type !== "dir" || s.root.id !== ROOT_ID) throw new GfsError("EIO", "snapshot root is not the root directory");
    const ns = new Namespace();
    const fill = (n: number, x: NodeSnapshot) => {
      ns.modes[n] = x.mode & 0o7777;
      ns.uids[n] = x.uid;
      ns.gids[n] = x.gid;
      ns.sizes[n] = x.size;
      ns.atimes[n] = x.atimeMs;
      ns.mtimes[n] = x.mtimeMs;
      ns.ctimes[n] = x.ctimeMs;
      if (x.goal !== undefined) ns.restoreGoal(x.id, x.goal);
      if (x.rdev !== undefined) ns.setRdev(n, x.rdev);
      if (x.xattrs !== undefined) ns.xattrs.restoreRow(x.id, x.xattrs);
      if (x.type === "symlink") ns.extra[n] = x.target ?? "";
      if (x.type === "file") ns.setChunks(n, chunksFromRow(structuredClone(x.chunks ?? []), `file ${x.id}`));
      if (x.type === "dir") {
        for (const [name, c] of Object.entries(x.children ?? {})) {
          const known = c.type === "dir" ? undefined : ns.byId.get(c.id);
          if (known !== undefined) { // a further name of an inode already restored
            ns.dirs.set(n, name, ns.newLink(known));
            ns.setNlink(known, ns.nlinkOf(known) + 1);
            continue;
          }
          const child = ns.newNode(kindOfType[c.type], c.id, c.mode, c.uid, c.gid, 0);
          ns.dirs.set(n, name, child);
          if (c.type === "dir") ns.c0his[n]!++;
          fill(child, c);
        }
      }
    };
    fill(ns.rootSlot, s.root);
    for (const o of s.orphans ?? []) {
      const n = ns.newNode(kindOfType[o.type], o.id, o.mode, o.uid, o.gid, 0);
      ns.linkCounts.set(n, 0);
      fill(n, o);
    }
    ns.maxIdSeen = s.maxId;
    return ns;
  }
}
