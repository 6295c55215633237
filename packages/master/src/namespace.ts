// The master's namespace: a tree of directories, files and symlinks. Every
// mutation is a plain JSON operation record applied by one deterministic
// function (no clock, no randomness: times and ids are in the record), so the
// operation log can replay it and a snapshot is just the tree as JSON.
import { GfsError, defaults, type FileInfo__Output, type FileType__Output } from "@gfs/common";
import { chunkAt, chunkEntries, chunksFromRow, chunksToRow, cutChunks, slotCount, withChunk, type Chunks, type ReadonlyChunks, type SparseChunksRow } from "./chunk-list";

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

export interface Node {
  id: number;
  type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  target: string;
  /** Chunk handles by index (see chunk-list.ts: an array with "" for holes, or a map when sparse). Files only. */
  chunks: Chunks;
  /** Directories only. */
  children: Map<string, Node> | null;
}

export type NamespaceOp =
  | { op: "create"; path: string; mode: number; uid: number; gid: number; exclusive: boolean; id: number; timeMs: number }
  /** `ids` name the directories created, outermost first (one unless `parents`). */
  | { op: "mkdir"; path: string; mode: number; uid: number; gid: number; parents: boolean; ids: number[]; timeMs: number }
  | { op: "symlink"; path: string; target: string; uid: number; gid: number; id: number; timeMs: number }
  | { op: "rename"; from: string; to: string; noReplace: boolean; timeMs: number }
  | { op: "delete"; path: string; recursive: boolean; directoryOnly: boolean; fileOnly: boolean; timeMs: number }
  | { op: "setAttributes"; path: string; mode?: number; uid?: number; gid?: number; atimeMs?: number; mtimeMs?: number; timeMs: number }
  | { op: "truncate"; path: string; size: number; chunkSizeBytes: number; timeMs: number }
  | { op: "extendFile"; path: string; endOffset: number; mtimeMs: number; timeMs: number }
  | { op: "setChunk"; path: string; index: number; handle: string };

/** What an operation did: the entry it leaves (if any) and chunk handles no file references any more. */
export interface OpResult {
  info?: FileInfo__Output;
  /** The file's inode id, for operations on one file. */
  id?: number;
  garbage: string[];
}

/** A node as a snapshot stores it: what a node holds, with empty parts left out. */
export interface NodeSnapshot extends Omit<Node, "target" | "chunks" | "children"> {
  target?: string;
  chunks?: readonly string[] | SparseChunksRow;
  children?: Record<string, NodeSnapshot>;
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

/** An entry as a caller who may not search its directory sees it: name (path), type and id; no attribute. */
const nameOnlyInfo = (path: string, n: Node): FileInfo__Output => ({
  path, type: fileTypeOf[n.type], id: n.id, mode: 0, uid: 0, gid: 0, size: 0,
  atimeMs: 0, mtimeMs: 0, ctimeMs: 0, nlink: 0, symlinkTarget: "", chunkCount: 0,
});

/** Splits an absolute path into its names; throws EINVAL / ENAMETOOLONG for bad paths. */
export function parsePath(path: string): string[] {
  if (typeof path !== "string" || !path.startsWith("/")) throw new GfsError("EINVAL", `path must be absolute, got '${path}'`);
  if (Buffer.byteLength(path) > PATH_BYTES_MAX) throw new GfsError("ENAMETOOLONG", `path longer than ${PATH_BYTES_MAX} bytes`);
  if (path === "/") return [];
  const parts = path.slice(1).split("/");
  for (const p of parts) {
    if (p === "" || p === "." || p === "..") throw new GfsError("EINVAL", `bad path '${path}' (empty, '.' or '..' part)`);
    if (p.includes("\0")) throw new GfsError("EINVAL", `bad path '${path}' (NUL byte)`);
    if (Buffer.byteLength(p) > NAME_BYTES_MAX) throw new GfsError("ENAMETOOLONG", `name longer than ${NAME_BYTES_MAX} bytes in '${path}'`);
  }
  return parts;
}

const joinPath = (parts: string[]): string => "/" + parts.join("/");

function newNode(type: NodeType, id: number, mode: number, uid: number, gid: number, timeMs: number): Node {
  return {
    id, type, mode: mode & 0o7777, uid, gid, size: 0, atimeMs: timeMs, mtimeMs: timeMs, ctimeMs: timeMs,
    target: "", chunks: [], children: type === "dir" ? new Map() : null,
  };
}

function touch(dir: Node, timeMs: number): void {
  dir.mtimeMs = timeMs;
  dir.ctimeMs = timeMs;
}

function collectChunks(node: Node, out: string[]): void {
  if (node.type === "file") for (const [, h] of chunkEntries(node.chunks)) out.push(h);
  if (node.children) for (const c of node.children.values()) collectChunks(c, out);
}

export class Namespace {
  private root: Node;
  private maxIdSeen: number;

  constructor(rootTimeMs = 0) {
    this.root = newNode("dir", ROOT_ID, 0o755, 0, 0, rootTimeMs);
    this.maxIdSeen = ROOT_ID;
  }

  /** The largest inode id in use (or ever used); new ids must be above it. */
  get maxId(): number {
    return this.maxIdSeen;
  }

  // -------------------------------------------------------------------------
  // Reads
  // -------------------------------------------------------------------------

  private find(parts: string[]): Node | undefined {
    let n: Node = this.root;
    for (const p of parts) {
      if (!n.children) return undefined;
      const c = n.children.get(p);
      if (!c) return undefined;
      n = c;
    }
    return n;
  }

  /** The node at `parts`; ENOENT if missing, ENOTDIR if a middle part is not a directory. */
  private lookup(parts: string[]): Node {
    let n: Node = this.root;
    for (let i = 0; i < parts.length; i++) {
      if (!n.children) throw new GfsError("ENOTDIR", joinPath(parts.slice(0, i)));
      const c = n.children.get(parts[i]);
      if (!c) throw new GfsError("ENOENT", joinPath(parts.slice(0, i + 1)));
      n = c;
    }
    return n;
  }

  private parentDir(parts: string[]): Node {
    const parent = this.lookup(parts.slice(0, -1));
    if (!parent.children) throw new GfsError("ENOTDIR", joinPath(parts.slice(0, -1)));
    return parent;
  }

  private info(path: string, n: Node): FileInfo__Output {
    let nlink = 1;
    if (n.children) {
      nlink = 2;
      for (const c of n.children.values()) if (c.type === "dir") nlink++;
    }
    return {
      path, type: fileTypeOf[n.type], id: n.id, mode: n.mode, uid: n.uid, gid: n.gid, size: n.size,
      atimeMs: n.atimeMs, mtimeMs: n.mtimeMs, ctimeMs: n.ctimeMs, nlink, symlinkTarget: n.target,
      chunkCount: slotCount(n.chunks),
    };
  }

  /**
   * The nodes along `path` from the root (nodes[i] is the node of parts[0..i)),
   * as far as they exist, for permission checks (access.ts): read them, never change them.
   */
  walk(path: string): { parts: string[]; nodes: ReadonlyArray<Readonly<Node>> } {
    const parts = parsePath(path);
    const nodes: Node[] = [this.root];
    let n: Node = this.root;
    for (const p of parts) {
      const c = n.children?.get(p);
      if (!c) break;
      nodes.push(c);
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
    if (!n.children) throw new GfsError("ENOTDIR", path);
    const names = [...n.children.keys()].sort(); // byte order of UTF-16 code units; stable and deterministic
    const infoOf = attributes ? (p: string, c: Node) => this.info(p, c) : nameOnlyInfo;
    return names.map((name) => ({ name, info: infoOf(joinPath([...parts, name]), n.children!.get(name)!) }));
  }

  /** A regular file's info and chunk handles (the live list: read it, never change it); EISDIR / EINVAL for directories and symlinks. */
  file(path: string): { info: FileInfo__Output; chunks: ReadonlyChunks } {
    const parts = parsePath(path);
    const n = this.lookup(parts);
    if (n.type === "dir") throw new GfsError("EISDIR", path);
    if (n.type !== "file") throw new GfsError("EINVAL", `${path} is not a regular file`);
    return { info: this.info(joinPath(parts), n), chunks: n.chunks };
  }

  /** How many directories `mkdir` would create (so the caller can choose that many ids). */
  missingDirectories(path: string, parents: boolean): number {
    const parts = parsePath(path);
    if (!parents) return 1;
    let n: Node = this.root;
    for (let i = 0; i < parts.length; i++) {
      const c = n.children?.get(parts[i]);
      if (!c) return parts.length - i;
      if (!c.children) return 0; // apply will fail with ENOTDIR/EEXIST
      n = c;
    }
    return 0;
  }

  /** Every regular file at or under `path`, in sorted order. */
  files(path: string): Array<{ path: string; info: FileInfo__Output; chunks: ReadonlyChunks }> {
    const parts = parsePath(path);
    const out: Array<{ path: string; info: FileInfo__Output; chunks: ReadonlyChunks }> = [];
    const walk = (p: string[], n: Node) => {
      if (n.type === "file") out.push({ path: joinPath(p), info: this.info(joinPath(p), n), chunks: n.chunks });
      if (n.children) for (const name of [...n.children.keys()].sort()) walk([...p, name], n.children.get(name)!);
    };
    walk(parts, this.lookup(parts));
    return out;
  }

  /** Counts of entries, for Status and StatFs. */
  counts(): { files: number; directories: number; symlinks: number } {
    const c = { files: 0, directories: 0, symlinks: 0 };
    const walk = (n: Node) => {
      if (n.type === "file") c.files++;
      else if (n.type === "symlink") c.symlinks++;
      else c.directories++;
      if (n.children) for (const k of n.children.values()) walk(k);
    };
    walk(this.root);
    return c;
  }

  /** Every chunk reference: handle -> (file id, index). */
  chunkRefs(): Map<string, { fileId: number; index: number }> {
    const refs = new Map<string, { fileId: number; index: number }>();
    const walk = (n: Node) => {
      if (n.type === "file") for (const [index, h] of chunkEntries(n.chunks)) refs.set(h, { fileId: n.id, index });
      if (n.children) for (const k of n.children.values()) walk(k);
    };
    walk(this.root);
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
      default:
        throw new GfsError("EINVAL", `unknown namespace operation ${JSON.stringify((op as { op: unknown }).op)}`);
    }
  }

  private planCreate(op: Extract<NamespaceOp, { op: "create" }>): () => OpResult {
    const parts = parsePath(op.path);
    if (parts.length === 0) throw new GfsError("EISDIR", "/");
    const parent = this.parentDir(parts);
    const name = parts[parts.length - 1];
    const existing = parent.children!.get(name);
    const path = joinPath(parts);
    if (existing) {
      if (op.exclusive) throw new GfsError("EEXIST", path);
      if (existing.type === "dir") throw new GfsError("EISDIR", path);
      if (existing.type !== "file") throw new GfsError("EEXIST", `${path} is a symlink`);
      return () => ({ info: this.info(path, existing), id: existing.id, garbage: [] });
    }
    this.checkFreshId(op.id);
    return () => {
      this.useId(op.id);
      const n = newNode("file", op.id, op.mode, op.uid, op.gid, op.timeMs);
      parent.children!.set(name, n);
      touch(parent, op.timeMs);
      return { info: this.info(path, n), id: n.id, garbage: [] };
    };
  }

  private planMkdir(op: Extract<NamespaceOp, { op: "mkdir" }>): () => OpResult {
    const parts = parsePath(op.path);
    const path = joinPath(parts);
    if (!op.parents) {
      if (parts.length === 0) throw new GfsError("EEXIST", "/");
      const parent = this.parentDir(parts);
      const name = parts[parts.length - 1];
      if (parent.children!.has(name)) throw new GfsError("EEXIST", path);
      if (op.ids.length !== 1) throw new GfsError("EIO", `mkdir ${path} needs exactly 1 id, got ${op.ids.length}`);
      this.checkFreshId(op.ids[0]);
      return () => {
        this.useId(op.ids[0]);
        const n = newNode("dir", op.ids[0], op.mode, op.uid, op.gid, op.timeMs);
        parent.children!.set(name, n);
        touch(parent, op.timeMs);
        return { info: this.info(path, n), id: n.id, garbage: [] };
      };
    }
    // mkdir -p: walk down; the first missing part starts the new chain.
    let n: Node = this.root;
    let i = 0;
    for (; i < parts.length; i++) {
      const c = n.children!.get(parts[i]);
      if (!c) break;
      if (!c.children) throw new GfsError(i === parts.length - 1 ? "EEXIST" : "ENOTDIR", joinPath(parts.slice(0, i + 1)));
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
        const id = op.ids[k - first];
        this.useId(id);
        const c = newNode("dir", id, op.mode, op.uid, op.gid, op.timeMs);
        dir.children!.set(parts[k], c);
        touch(dir, op.timeMs);
        dir = c;
      }
      return { info: this.info(path, dir), id: dir.id, garbage: [] };
    };
  }

  private planSymlink(op: Extract<NamespaceOp, { op: "symlink" }>): () => OpResult {
    const parts = parsePath(op.path);
    if (parts.length === 0) throw new GfsError("EEXIST", "/");
    if (typeof op.target !== "string" || op.target === "") throw new GfsError("EINVAL", "symlink target is empty");
    if (Buffer.byteLength(op.target) > PATH_BYTES_MAX) throw new GfsError("ENAMETOOLONG", `symlink target longer than ${PATH_BYTES_MAX} bytes`);
    const parent = this.parentDir(parts);
    const name = parts[parts.length - 1];
    const path = joinPath(parts);
    if (parent.children!.has(name)) throw new GfsError("EEXIST", path);
    this.checkFreshId(op.id);
    return () => {
      this.useId(op.id);
      const n = newNode("symlink", op.id, 0o777, op.uid, op.gid, op.timeMs);
      n.target = op.target;
      n.size = Buffer.byteLength(op.target);
      parent.children!.set(name, n);
      touch(parent, op.timeMs);
      return { info: this.info(path, n), id: n.id, garbage: [] };
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
    if (toPath === fromPath) return () => ({ info: this.info(toPath, src), id: src.id, garbage: [] });
    if (src.type === "dir" && toPath.startsWith(fromPath + "/")) {
      throw new GfsError("EINVAL", `cannot move ${fromPath} into itself (${toPath})`);
    }
    const dstName = to[to.length - 1];
    const dst = dstParent.children!.get(dstName);
    if (dst) {
      if (op.noReplace) throw new GfsError("EEXIST", toPath);
      if (src.type === "dir") {
        if (dst.type !== "dir") throw new GfsError("ENOTDIR", toPath);
        if (dst.children!.size > 0) throw new GfsError("ENOTEMPTY", toPath);
      } else if (dst.type === "dir") {
        throw new GfsError("EISDIR", toPath);
      }
    }
    return () => {
      const garbage: string[] = [];
      if (dst) collectChunks(dst, garbage);
      srcParent.children!.delete(from[from.length - 1]);
      dstParent.children!.set(dstName, src);
      src.ctimeMs = op.timeMs;
      touch(srcParent, op.timeMs);
      touch(dstParent, op.timeMs);
      return { info: this.info(toPath, src), id: src.id, garbage };
    };
  }

  private planDelete(op: Extract<NamespaceOp, { op: "delete" }>): () => OpResult {
    const parts = parsePath(op.path);
    const path = joinPath(parts);
    if (parts.length === 0) throw new GfsError("EINVAL", "cannot delete the root directory");
    const n = this.lookup(parts);
    const parent = this.parentDir(parts);
    if (n.type === "dir") {
      if (op.fileOnly) throw new GfsError("EISDIR", path);
      if (!op.recursive && n.children!.size > 0) throw new GfsError("ENOTEMPTY", path);
    } else if (op.directoryOnly) {
      throw new GfsError("ENOTDIR", path);
    }
    return () => {
      const garbage: string[] = [];
      collectChunks(n, garbage);
      parent.children!.delete(parts[parts.length - 1]);
      touch(parent, op.timeMs);
      return { id: n.id, garbage };
    };
  }

  private planSetAttributes(op: Extract<NamespaceOp, { op: "setAttributes" }>): () => OpResult {
    const parts = parsePath(op.path);
    const n = this.lookup(parts);
    for (const [k, v] of Object.entries({ mode: op.mode, uid: op.uid, gid: op.gid, atimeMs: op.atimeMs, mtimeMs: op.mtimeMs })) {
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new GfsError("EINVAL", `bad ${k} ${v}`);
    }
    return () => {
      if (op.mode !== undefined) n.mode = op.mode & 0o7777;
      if (op.uid !== undefined) n.uid = op.uid;
      if (op.gid !== undefined) n.gid = op.gid;
      if (op.atimeMs !== undefined) n.atimeMs = op.atimeMs;
      if (op.mtimeMs !== undefined) n.mtimeMs = op.mtimeMs;
      n.ctimeMs = op.timeMs;
      return { info: this.info(joinPath(parts), n), id: n.id, garbage: [] };
    };
  }

  private fileNode(parts: string[]): Node {
    const n = this.lookup(parts);
    if (n.type === "dir") throw new GfsError("EISDIR", joinPath(parts));
    if (n.type !== "file") throw new GfsError("EINVAL", `${joinPath(parts)} is not a regular file`);
    return n;
  }

  private planTruncate(op: Extract<NamespaceOp, { op: "truncate" }>): () => OpResult {
    const parts = parsePath(op.path);
    const n = this.fileNode(parts);
    if (!Number.isSafeInteger(op.size) || op.size < 0) throw new GfsError("EINVAL", `bad size ${op.size}`);
    if (!Number.isSafeInteger(op.chunkSizeBytes) || op.chunkSizeBytes <= 0) throw new GfsError("EINVAL", `bad chunk size ${op.chunkSizeBytes}`);
    return () => {
      const cut = cutChunks(n.chunks, Math.ceil(op.size / op.chunkSizeBytes));
      n.chunks = cut.chunks;
      const garbage = cut.garbage;
      n.size = op.size;
      n.mtimeMs = op.timeMs;
      n.ctimeMs = op.timeMs;
      return { info: this.info(joinPath(parts), n), id: n.id, garbage };
    };
  }

  private planExtendFile(op: Extract<NamespaceOp, { op: "extendFile" }>): () => OpResult {
    const parts = parsePath(op.path);
    const n = this.fileNode(parts);
    if (!Number.isSafeInteger(op.endOffset) || op.endOffset < 0) throw new GfsError("EINVAL", `bad end offset ${op.endOffset}`);
    return () => {
      n.size = Math.max(n.size, op.endOffset);
      n.mtimeMs = op.mtimeMs > 0 ? op.mtimeMs : op.timeMs;
      n.ctimeMs = op.timeMs;
      return { info: this.info(joinPath(parts), n), id: n.id, garbage: [] };
    };
  }

  private planSetChunk(op: Extract<NamespaceOp, { op: "setChunk" }>): () => OpResult {
    const parts = parsePath(op.path);
    const n = this.fileNode(parts);
    if (!Number.isSafeInteger(op.index) || op.index < 0) throw new GfsError("EINVAL", `bad chunk index ${op.index}`);
    const cur = chunkAt(n.chunks, op.index);
    if (cur !== "" && cur !== op.handle) {
      throw new GfsError("EEXIST", `chunk ${op.index} of ${joinPath(parts)} is already ${cur}`);
    }
    return () => {
      n.chunks = withChunk(n.chunks, op.index, op.handle, defaults.chunk_list_dense_gap_max);
      return { info: this.info(joinPath(parts), n), id: n.id, garbage: [] };
    };
  }

  // -------------------------------------------------------------------------
  // Snapshots
  // -------------------------------------------------------------------------

  snapshot(): NamespaceSnapshot {
    const snap = (n: Node): NodeSnapshot => {
      const s: NodeSnapshot = {
        id: n.id, type: n.type, mode: n.mode, uid: n.uid, gid: n.gid, size: n.size,
        atimeMs: n.atimeMs, mtimeMs: n.mtimeMs, ctimeMs: n.ctimeMs,
      };
      if (n.type === "symlink") s.target = n.target;
      if (n.type === "file") s.chunks = structuredClone(chunksToRow(n.chunks));
      if (n.children) {
        s.children = {};
        for (const name of [...n.children.keys()].sort()) s.children[name] = snap(n.children.get(name)!);
      }
      return s;
    };
    return { maxId: this.maxIdSeen, root: snap(this.root) };
  }

  /** Every node as a checkpoint row, parents before children. */
  *rows(): Generator<NodeRow> {
    const stack: Array<[number, string, Node]> = [[0, "", this.root]];
    while (stack.length) {
      const [parentId, name, n] = stack.pop()!;
      yield [parentId, name, n.id, n.type, n.mode, n.uid, n.gid, n.size, n.atimeMs, n.mtimeMs, n.ctimeMs,
        n.type === "symlink" ? n.target : n.type === "file" ? chunksToRow(n.chunks) : null];
      if (n.children) for (const [childName, c] of n.children) stack.push([n.id, childName, c]);
    }
  }

  /**
   * Rebuilds a namespace from checkpoint rows (parents before children),
   * refusing rows that do not describe a tree. Only directories are indexed
   * on the way, so a million files cost no extra map.
   */
  static fromRows(rows: Iterable<NodeRow>, maxId: number): Namespace {
    const bad = (why: string): never => { throw new GfsError("EIO", `checkpoint is corrupt: ${why}`); };
    const dirs = new Map<number, Node>();
    let root: Node | undefined;
    for (const row of rows) {
      if (!Array.isArray(row) || row.length !== NODE_ROW_FIELDS.length) bad(`malformed node row ${JSON.stringify(row)}`);
      const [parentId, name, id, type, mode, uid, gid, size, atimeMs, mtimeMs, ctimeMs, extra] = row;
      if (type !== "file" && type !== "dir" && type !== "symlink") bad(`node ${id} has type ${JSON.stringify(type)}`);
      if (!Number.isSafeInteger(id) || id < ROOT_ID || id > maxId) bad(`node id ${id} outside 1..${maxId}`);
      const n = newNode(type, id, mode, uid, gid, 0);
      n.size = size;
      n.atimeMs = atimeMs;
      n.mtimeMs = mtimeMs;
      n.ctimeMs = ctimeMs;
      if (type === "symlink") n.target = typeof extra === "string" ? extra : bad(`symlink ${id} has no target`);
      if (type === "file") n.chunks = chunksFromRow(extra, `file ${id}`);
      if (parentId === 0) {
        if (root || id !== ROOT_ID || type !== "dir") bad("the root row is missing, repeated or not a directory");
        root = n;
      } else {
        const parent = dirs.get(parentId) ?? bad(`node ${id} comes before its directory ${parentId}`);
        if (typeof name !== "string" || name === "" || name.includes("/") || parent.children!.has(name)) bad(`bad or repeated name in directory ${parentId}`);
        parent.children!.set(name, n);
      }
      if (type === "dir") dirs.set(id, n);
    }
    const ns = new Namespace();
    ns.root = root ?? bad("no root directory");
    ns.maxIdSeen = maxId;
    return ns;
  }

  static restore(s: NamespaceSnapshot): Namespace {
    const build = (x: NodeSnapshot): Node => {
      const n = newNode(x.type, x.id, x.mode, x.uid, x.gid, 0);
      Object.assign(n, { size: x.size, atimeMs: x.atimeMs, mtimeMs: x.mtimeMs, ctimeMs: x.ctimeMs });
      if (x.type === "symlink") n.target = x.target ?? "";
      if (x.type === "file") n.chunks = chunksFromRow(structuredClone(x.chunks ?? []), `file ${x.id}`);
      if (x.type === "dir") for (const [name, c] of Object.entries(x.children ?? {})) n.children!.set(name, build(c));
      return n;
    };
    const ns = new Namespace();
    if (s.root.type !== "dir" || s.root.id !== ROOT_ID) throw new GfsError("EIO", "snapshot root is not the root directory");
    ns.root = build(s.root);
    ns.maxIdSeen = s.maxId;
    return ns;
  }
}
