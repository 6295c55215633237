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
import { GfsError, defaults, type FileInfo__Output, type FileType__Output } from "@gfs/common";
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

export type NodeType = "file" | "dir" | "symlink";

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
  /** Chunk handles by index (see chunk-list.ts: an array with "" for holes, or a map when sparse). Files only. */
  readonly chunks: ReadonlyChunks;
  /** Directories only. */
  readonly children: ReadonlyMap<string, Node> | null;
}

/** Node kinds as the `kinds` column stores them (0: a free slot). */
const FILE = 1;
const DIR = 2;
const SYMLINK = 3;
const typeOfKind: readonly NodeType[] = ["file", "file", "dir", "symlink"];
const kindOfType: Record<NodeType, number> = { file: FILE, dir: DIR, symlink: SYMLINK };
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
export interface NodeSnapshot extends Mutable<Omit<Node, "target" | "chunks" | "children">> {
  target?: string;
  chunks?: readonly string[] | SparseChunksRow;
  children?: Record<string, NodeSnapshot>;
  /** Its own replication goal, when one was set (absent: the cluster default). */
  goal?: number;
}

/**
 * One node in a checkpoint, parents before children:
 * [parentId (0 for the root), name, id, type, mode, uid, gid, size, atimeMs, mtimeMs, ctimeMs,
 *  symlink target | file chunk handles (array, or SparseChunksRow since checkpoint format 2) | null].
 */
export type NodeRow = [number, string, number, NodeType, number, number, number, number, number, number, number, string | readonly string[] | SparseChunksRow | null];
export const NODE_ROW_FIELDS = ["parentId", "name", "id", "type", "mode", "uid", "gid", "size", "atimeMs", "mtimeMs", "ctimeMs", "targetOrChunks"] as const;

export interface NamespaceSnapshot {
  maxId: number;
  root: NodeSnapshot;
}

const fileTypeOf: Record<NodeType, FileType__Output> = {
  file: "FILE_TYPE_FILE", dir: "FILE_TYPE_DIRECTORY", symlink: "FILE_TYPE_SYMLINK",
};

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
  /** A ONE_CHUNK file's handle, as two uint32 halves. */
  private c0his: Uint32Array;
  private c0los: Uint32Array;
  /** Symlink: target; file: FileChunks; directory: unused (see `dirs`). */
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
   * default. A map by id, not a column: the chunk table knows a chunk's file by id (goalOfFile),
   * and the namespace keeps no id -> slot index (a million files would pay for one); nodes without
   * a goal of their own, the common case, cost nothing.
   */
  private readonly goals = new Map<number, number>();
  /** What FileInfo.goal says of a node without a goal of its own (the master sets its --replication; 0 in tests). */
  defaultGoal = 0;

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
    if (kind === DIR) this.dirs.initDir(slot);
    return slot;
  }

  /** Frees `slot` and everything under it (the entries under it leave the index; `slot`'s own entry is the caller's). */
  private freeTree(slot: number): void {
    const stack = [slot];
    while (stack.length) {
      const s = stack.pop()!;
      if (this.kinds[s] === DIR) {
        for (const c of this.dirs.childSlots(s)) {
          this.dirs.deleteSlot(c);
          stack.push(c);
        }
      }
      this.kinds[s] = 0;
      this.extra[s] = undefined;
      this.goals.delete(this.ids[s]!);
      this.free.push(s);
    }
  }

  private isDir(slot: number): boolean {
    return this.kinds[slot] === DIR;
  }

  private child(dir: number, name: string): number | undefined {
    return this.kinds[dir] === DIR ? this.dirs.get(dir, name) : undefined;
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

  private collectChunks(slot: number, out: string[]): void {
    const stack = [slot];
    while (stack.length) {
      const s = stack.pop()!;
      if (this.kinds[s] === FILE) for (const [, h] of chunkEntries(this.readChunks(s))) out.push(h);
      else if (this.kinds[s] === DIR) this.dirs.forEachChild(s, (c) => stack.push(c));
    }
  }

  /** A read-only view of a node (see Node). */
  private view(slot: number): Node {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const ns = this;
    return {
      id: ns.ids[slot]!, type: typeOfKind[ns.kinds[slot]!]!, mode: ns.modes[slot]!, uid: ns.uids[slot]!, gid: ns.gids[slot]!,
      size: ns.sizes[slot]!, atimeMs: ns.atimes[slot]!, mtimeMs: ns.mtimes[slot]!, ctimeMs: ns.ctimes[slot]!,
      target: ns.kinds[slot] === SYMLINK ? (ns.extra[slot] as string) : "",
      get chunks() { return ns.kinds[slot] === FILE ? ns.readChunks(slot) : NO_CHUNKS; },
      get children() { return ns.isDir(slot) ? ns.childrenView(slot) : null; },
    };
  }

  private childrenView(dir: number): ReadonlyMap<string, Node> {
    const d = this.dirs;
    const view = (s: number | undefined) => (s === undefined ? undefined : this.view(s));
    const entries = function* (ns: Namespace): IterableIterator<[string, Node]> { for (const [k, s] of d.entriesOf(dir)) yield [k, ns.view(s)]; };
    const values = function* (ns: Namespace): IterableIterator<Node> { for (const s of d.childSlots(dir)) yield ns.view(s); };
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

  /** The node at `parts`; ENOENT if missing, ENOTDIR if a middle part is not a directory. */
  private lookup(parts: string[]): number {
    let n = this.rootSlot;
    for (let i = 0; i < parts.length; i++) {
      if (!this.isDir(n)) throw new GfsError("ENOTDIR", joinPath(parts.slice(0, i)));
      const c = this.dirs.get(n, parts[i]!);
      if (c === undefined) throw new GfsError("ENOENT", joinPath(parts.slice(0, i + 1)));
      n = c;
    }
    return n;
  }

  private parentDir(parts: string[]): number {
    const parent = this.lookup(parts.slice(0, -1));
    if (!this.isDir(parent)) throw new GfsError("ENOTDIR", joinPath(parts.slice(0, -1)));
    return parent;
  }

  private info(path: string, n: number): FileInfo__Output {
    const kind = this.kinds[n]!;
    let nlink = 1;
    if (kind === DIR) {
      nlink = 2;
      this.dirs.forEachChild(n, (c) => { if (this.kinds[c] === DIR) nlink++; });
    }
    return {
      path, type: fileTypeOf[typeOfKind[kind]!], id: this.ids[n]!, mode: this.modes[n]!, uid: this.uids[n]!, gid: this.gids[n]!, size: this.sizes[n]!,
      atimeMs: this.atimes[n]!, mtimeMs: this.mtimes[n]!, ctimeMs: this.ctimes[n]!, nlink, symlinkTarget: kind === SYMLINK ? (this.extra[n] as string) : "",
      chunkCount: kind === FILE ? this.chunkSlots(n) : 0, goal: this.goals.get(this.ids[n]!) ?? this.defaultGoal,
      rdev: 0, xattrCount: 0,
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
  walk(path: string): { parts: string[]; nodes: ReadonlyArray<Readonly<Node>> } {
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

  stat(path: string): FileInfo__Output {
    const parts = parsePath(path);
    return this.info(joinPath(parts), this.lookup(parts));
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
    return entries.map(([name, c]) => {
      return { name, info: attributes ? this.info(prefix + name, c) : this.nameOnlyInfo(prefix + name, c) };
    });
  }

  /** A regular file's info and chunk handles (read them, never change them); EISDIR / EINVAL for directories and symlinks. */
  file(path: string): { info: FileInfo__Output; chunks: ReadonlyChunks } {
    const parts = parsePath(path);
    const n = this.fileNode(parts);
    return { info: this.info(joinPath(parts), n), chunks: this.readChunks(n) };
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
        for (const [name, c] of entries) walk([...p, name], c);
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
  chunkRefs(): Map<string, { fileId: number; index: number }> {
    const refs = new Map<string, { fileId: number; index: number }>();
    for (let s = 0; s < this.top; s++) {
      if (this.kinds[s] === FILE) for (const [index, h] of chunkEntries(this.readChunks(s))) refs.set(h, { fileId: this.ids[s]!, index });
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
      case "link":
      case "mknod":
      case "reclaim":
      case "setXattr":
      case "removeXattr":
        throw new GfsError("ENOSYS", `namespace operation ${op.op} is not implemented yet`);
      default:
        throw new GfsError("EINVAL", `unknown namespace operation ${JSON.stringify((op as { op: unknown }).op)}`);
    }
  }

  private planCreate(op: Extract<NamespaceOp, { op: "create" }>): () => OpResult {
    const parts = parsePath(op.path);
    if (parts.length === 0) throw new GfsError("EISDIR", "/");
    const parent = this.parentDir(parts);
    const name = parts[parts.length - 1]!;
    const existing = this.dirs.get(parent, name);
    const path = joinPath(parts);
    if (existing !== undefined) {
      if (op.exclusive) throw new GfsError("EEXIST", path);
      if (this.kinds[existing] === DIR) throw new GfsError("EISDIR", path);
      if (this.kinds[existing] !== FILE) throw new GfsError("EEXIST", `${path} is a symlink`);
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
    const src = this.lookup(from);
    const srcParent = this.parentDir(from);
    const dstParent = this.parentDir(to);
    const fromPath = joinPath(from);
    const toPath = joinPath(to);
    if (toPath === fromPath) return () => ({ info: this.info(toPath, src), id: this.ids[src]!, garbage: [] });
    if (this.isDir(src) && toPath.startsWith(fromPath + "/")) {
      throw new GfsError("EINVAL", `cannot move ${fromPath} into itself (${toPath})`);
    }
    const dstName = to[to.length - 1]!;
    const dst = this.dirs.get(dstParent, dstName);
    if (dst !== undefined) {
      if (op.noReplace) throw new GfsError("EEXIST", toPath);
      if (this.isDir(src)) {
        if (!this.isDir(dst)) throw new GfsError("ENOTDIR", toPath);
        if (this.dirs.size(dst) > 0) throw new GfsError("ENOTEMPTY", toPath);
      } else if (this.isDir(dst)) {
        throw new GfsError("EISDIR", toPath);
      }
    }
    return () => {
      const garbage: string[] = [];
      if (dst !== undefined) {
        this.collectChunks(dst, garbage);
        this.freeTree(dst);
      }
      this.dirs.delete(srcParent, from[from.length - 1]!);
      this.dirs.set(dstParent, dstName, src); // over `dst`: takes its place in the listing, as Map.set does
      this.ctimes[src] = op.timeMs;
      this.touch(srcParent, op.timeMs);
      this.touch(dstParent, op.timeMs);
      return { info: this.info(toPath, src), id: this.ids[src]!, garbage };
    };
  }

  private planDelete(op: Extract<NamespaceOp, { op: "delete" }>): () => OpResult {
    const parts = parsePath(op.path);
    const path = joinPath(parts);
    if (parts.length === 0) throw new GfsError("EINVAL", "cannot delete the root directory");
    const n = this.lookup(parts);
    const parent = this.parentDir(parts);
    if (this.isDir(n)) {
      if (op.fileOnly) throw new GfsError("EISDIR", path);
      if (!op.recursive && this.dirs.size(n) > 0) throw new GfsError("ENOTEMPTY", path);
    } else if (op.directoryOnly) {
      throw new GfsError("ENOTDIR", path);
    }
    return () => {
      const garbage: string[] = [];
      const id = this.ids[n]!;
      this.collectChunks(n, garbage);
      this.dirs.delete(parent, parts[parts.length - 1]!);
      this.freeTree(n);
      this.touch(parent, op.timeMs);
      return { id, garbage };
    };
  }

  private planSetAttributes(op: Extract<NamespaceOp, { op: "setAttributes" }>): () => OpResult {
    const parts = parsePath(op.path);
    const n = this.lookup(parts);
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
      return { info: this.info(joinPath(parts), n), id: this.ids[n]!, garbage: [] };
    };
  }

  private fileNode(parts: string[]): number {
    const n = this.lookup(parts);
    if (this.isDir(n)) throw new GfsError("EISDIR", joinPath(parts));
    if (this.kinds[n] !== FILE) throw new GfsError("EINVAL", `${joinPath(parts)} is not a regular file`);
    return n;
  }

  private planTruncate(op: Extract<NamespaceOp, { op: "truncate" }>): () => OpResult {
    const parts = parsePath(op.path);
    const n = this.fileNode(parts);
    if (!Number.isSafeInteger(op.size) || op.size < 0) throw new GfsError("EINVAL", `bad size ${op.size}`);
    if (!Number.isSafeInteger(op.chunkSizeBytes) || op.chunkSizeBytes <= 0) throw new GfsError("EINVAL", `bad chunk size ${op.chunkSizeBytes}`);
    return () => {
      const cut = cutChunks(this.chunksOf(n), Math.ceil(op.size / op.chunkSizeBytes));
      this.setChunks(n, cut.chunks);
      this.sizes[n] = op.size;
      this.mtimes[n] = op.timeMs;
      this.ctimes[n] = op.timeMs;
      return { info: this.info(joinPath(parts), n), id: this.ids[n]!, garbage: cut.garbage };
    };
  }

  private planExtendFile(op: Extract<NamespaceOp, { op: "extendFile" }>): () => OpResult {
    const parts = parsePath(op.path);
    const n = this.fileNode(parts);
    if (!Number.isSafeInteger(op.endOffset) || op.endOffset < 0) throw new GfsError("EINVAL", `bad end offset ${op.endOffset}`);
    return () => {
      this.sizes[n] = Math.max(this.sizes[n]!, op.endOffset);
      this.mtimes[n] = op.mtimeMs > 0 ? op.mtimeMs : op.timeMs;
      this.ctimes[n] = op.timeMs;
      return { info: this.info(joinPath(parts), n), id: this.ids[n]!, garbage: [] };
    };
  }

  private planSetChunk(op: Extract<NamespaceOp, { op: "setChunk" }>): () => OpResult {
    const parts = parsePath(op.path);
    const n = this.fileNode(parts);
    if (!Number.isSafeInteger(op.index) || op.index < 0) throw new GfsError("EINVAL", `bad chunk index ${op.index}`);
    const cur = chunkAt(this.readChunks(n), op.index);
    if (cur !== "" && cur !== op.handle) {
      throw new GfsError("EEXIST", `chunk ${op.index} of ${joinPath(parts)} is already ${cur}`);
    }
    return () => {
      this.setChunks(n, withChunk(this.chunksOf(n), op.index, op.handle, defaults.chunk_list_dense_gap_max));
      return { info: this.info(joinPath(parts), n), id: this.ids[n]!, garbage: [] };
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
        if (op.recursive && this.kinds[s] === DIR) this.dirs.forEachChild(s, (c) => stack.push(c));
      }
      return { info: this.info(joinPath(parts), n), id: this.ids[n]!, garbage: [], changed };
    };
  }

  // -------------------------------------------------------------------------
  // Snapshots
  // -------------------------------------------------------------------------

  snapshot(): NamespaceSnapshot {
    const snap = (n: number): NodeSnapshot => {
      const kind = this.kinds[n]!;
      const s: NodeSnapshot = {
        id: this.ids[n]!, type: typeOfKind[kind]!, mode: this.modes[n]!, uid: this.uids[n]!, gid: this.gids[n]!, size: this.sizes[n]!,
        atimeMs: this.atimes[n]!, mtimeMs: this.mtimes[n]!, ctimeMs: this.ctimes[n]!,
      };
      if (kind === SYMLINK) s.target = this.extra[n] as string;
      const goal = this.goals.get(this.ids[n]!);
      if (goal !== undefined) s.goal = goal;
      if (kind === FILE) s.chunks = structuredClone(chunksToRow(this.readChunks(n)));
      if (kind === DIR) {
        s.children = {};
        for (const [name, c] of [...this.dirs.entriesOf(n)].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) s.children[name] = snap(c);
      }
      return s;
    };
    return { maxId: this.maxIdSeen, root: snap(this.rootSlot) };
  }

  /** Every node as a checkpoint row, parents before children. */
  *rows(): Generator<NodeRow> {
    const stack: Array<[number, string, number]> = [[0, "", this.rootSlot]];
    while (stack.length) {
      const [parentId, name, n] = stack.pop()!;
      const kind = this.kinds[n]!;
      const id = this.ids[n]!;
      yield [parentId, name, id, typeOfKind[kind]!, this.modes[n]!, this.uids[n]!, this.gids[n]!, this.sizes[n]!, this.atimes[n]!, this.mtimes[n]!, this.ctimes[n]!,
        kind === SYMLINK ? (this.extra[n] as string) : kind === FILE ? chunksToRow(this.readChunks(n)) : null];
      if (kind === DIR) for (const [childName, c] of this.dirs.entriesOf(n)) stack.push([id, childName, c]);
    }
  }

  /**
   * Rebuilds a namespace from checkpoint rows (parents before children),
   * refusing rows that do not describe a tree. Only directories are indexed
   * on the way, so a million files cost no extra map.
   */
  static fromRows(rows: Iterable<NodeRow>, maxId: number, nodeCountHint = 0, nameBytesHint = 0): Namespace {
    const bad = (why: string): never => { throw new GfsError("EIO", `checkpoint is corrupt: ${why}`); };
    const ns = new Namespace(0, nodeCountHint, nameBytesHint);
    const dirs = new Map<number, number>();
    let root = false;
    for (const row of rows) {
      if (!Array.isArray(row) || row.length !== NODE_ROW_FIELDS.length) bad(`malformed node row ${JSON.stringify(row)}`);
      const [parentId, name, id, type, mode, uid, gid, size, atimeMs, mtimeMs, ctimeMs, extra] = row;
      if (type !== "file" && type !== "dir" && type !== "symlink") bad(`node ${id} has type ${JSON.stringify(type)}`);
      if (!Number.isSafeInteger(id) || id < ROOT_ID || id > maxId) bad(`node id ${id} outside 1..${maxId}`);
      let n: number;
      if (parentId === 0) {
        if (root || id !== ROOT_ID || type !== "dir") bad("the root row is missing, repeated or not a directory");
        root = true;
        n = ns.rootSlot;
        ns.modes[n] = mode & 0o7777;
        ns.uids[n] = uid;
        ns.gids[n] = gid;
      } else {
        const parent = dirs.get(parentId) ?? bad(`node ${id} comes before its directory ${parentId}`);
        if (typeof name !== "string" || name.includes("/") || !isWellFormed(name)) bad(`bad name in directory ${parentId}`);
        n = ns.newNode(kindOfType[type], id, mode, uid, gid, 0);
        const added = ns.dirs.add(parent, name, n); // empty or over NAME_BYTES_MAX: "bad"
        if (added !== "added") bad(`${added === "bad" ? "bad" : "repeated"} name in directory ${parentId}`);
      }
      ns.sizes[n] = size;
      ns.atimes[n] = atimeMs;
      ns.mtimes[n] = mtimeMs;
      ns.ctimes[n] = ctimeMs;
      if (type === "symlink") ns.extra[n] = typeof extra === "string" ? extra : bad(`symlink ${id} has no target`);
      if (type === "file") ns.setChunks(n, chunksFromRow(extra, `file ${id}`));
      if (type === "dir") dirs.set(id, n);
    }
    if (!root) bad("no root directory");
    ns.maxIdSeen = maxId;
    return ns;
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
      if (x.type === "symlink") ns.extra[n] = x.target ?? "";
      if (x.type === "file") ns.setChunks(n, chunksFromRow(structuredClone(x.chunks ?? []), `file ${x.id}`));
      if (x.type === "dir") {
        for (const [name, c] of Object.entries(x.children ?? {})) {
          const child = ns.newNode(kindOfType[c.type], c.id, c.mode, c.uid, c.gid, 0);
          ns.dirs.set(n, name, child);
          fill(child, c);
        }
      }
    };
    fill(ns.rootSlot, s.root);
    ns.maxIdSeen = s.maxId;
    return ns;
  }
}
