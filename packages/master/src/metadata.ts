// Everything the master must not forget: the namespace and the chunk versions.
// Both change only through MetadataOp records applied by `apply`, which is
// deterministic (times, ids and handles are in the record), so replaying the
// operation log on top of a snapshot rebuilds exactly the same state.
import { GfsError, isHandle } from "@gfs/common";
import { ChunkTable } from "./chunk-table";
import { planQuotaOp, QuotaTable } from "./quota-table";
import { applyUsage, planUsage, type UsagePlan } from "./quota-accounting";
import { planSnapshotOp } from "./snapshot";
import { planTrashOp, TrashTable } from "./trash-table";
import { chunkEntries, chunksFromRow } from "./chunk-list";
import { checkChunkIndex, checkFileSize, NODE_ROW_FIELDS, ORPHAN_PARENT, Namespace, type NamespaceOp, type NamespaceSnapshot, type NodeRow, type OpResult } from "./namespace";

/**
 * Layout of a checkpoint's parts; a later master can still read this one by its number.
 * 2: node parts also carry each chunk's last grant set (`grantSets`), and a
 *    sparse file's chunks may be a SparseChunksRow ({slots, chunks: [index, handle][]})
 *    instead of an array; format 1 (neither) is still read.
 * 3: node parts also carry the replication goals of their nodes that have one of their own
 *    (`goals`, issue 18); formats 1 and 2 (no goals: every node has the cluster default) still read.
 * 4: issue 19: hard links ("link" rows: a further name of an inode given earlier), special files
 *    (types fifo/chr/blk/sock, their rdev in the last field), orphans (parentId -1, after the tree)
 *    and extended attributes (`xattrs` of a part's inodes); formats 1-3 (none of these) still read.
 * 5: issue 20: a chunk handle may be in several files (a snapshot's shared chunks, counted on load),
 *    the header may carry the trash's entries (`trash`) and the directory quotas (`quotas`);
 *    formats 1-4 (none of these) still read, and one of them claiming any is refused.
 */
export const CHECKPOINT_FORMAT = 5;
const CHECKPOINT_FORMATS_READ = [1, 2, 3, 4, 5];
/** Row types every format has; the others came with format 4. */
const FORMAT_1_TYPES = new Set(["file", "dir", "symlink"]);
const CHECKPOINT_KIND = "gfs-master-metadata";
/**
 * Nodes in one checkpoint part. Recovery parses a part whole, so its rows all
 * live until the part is done: at 4096 they outlived young-generation
 * collections and piled up as old-space garbage (~20 MiB more peak RSS at a
 * million files, and slower). Older checkpoints with bigger parts still read.
 */
const CHECKPOINT_NODES_PER_PART = 512;
/** The most node and chunk slots recovery makes room for up front (beyond it, columns grow as nodes arrive). */
const RECOVERY_SLOTS_HINT_MAX = 1 << 25;

/** The first part of a checkpoint: what follows and how to read it. */
interface CheckpointHeader {
  kind: typeof CHECKPOINT_KIND;
  format: number;
  maxId: number;
  nodeCount: number;
  nodeFields: readonly string[];
  /** Format 2: handles of chunks dropped by logged ops, oldest first (at most garbage_handles_remembered_max). */
  dropped?: string[];
  /** Issue 18: drained chunkservers (absent: none; an optional part, no format change). */
  draining?: string[];
  /** Format 5 (trash lane): the trash's entries (trash-table.ts's rows); absent: none. */
  trash?: unknown[];
  /** Format 5 (quota lane): the directory quotas (quota-table.ts's rows); absent: none. */
  quotas?: unknown[];
}

/** Every other part: a batch of nodes, and the versions of the chunks their files reference. */
interface CheckpointNodes {
  nodes: NodeRow[];
  versions: Record<string, number>;
  /** Format 2: handle -> server ids of the chunk's last grant (chunks that have one). */
  grantSets?: Record<string, readonly string[]>;
  /** Format 2: handle -> version before the last bump, where that is not version - 1 (see ChunkEntry.grantFrom). */
  grantFrom?: Record<string, number>;
  /** Format 3: inode id -> its own replication goal, for this part's nodes that have one. */
  goals?: Record<string, number>;
  /** Format 4: inode id -> its extended attributes ([name, base64 value] pairs), for this part's inodes that have some. */
  xattrs?: Record<string, Array<[string, string]>>;
}

export type MetadataOp =
  | Exclude<NamespaceOp, { op: "setChunk" }>
  /**
   * A new chunk at slot `index` of the file at `path`, created on its replicas at `version`.
   * `replicas`: the servers it was created on (its first grant set); absent in old records.
   */
  | { op: "addChunk"; path: string; index: number; handle: string; version: number; replicas?: string[] }
  /**
   * A new, empty file created with its first chunk (slot 0) in one record: a create and an
   * addChunk, applied together or not at all, so a small file costs one commit, not two.
   * A distinct op (not a field of "create") so a master that does not know it refuses the log
   * loudly rather than replaying a file without its chunk.
   */
  | (Omit<Extract<NamespaceOp, { op: "create" }>, "op"> & { op: "createWithChunk"; chunk: { handle: string; version: number; replicas: string[] } })
  /**
   * A chunk's version grows: a lease grant, logged before any replica hears of
   * it. `replicas`/`primary`: the grant's replica set and primary (absent in
   * records written before grant sets were logged). `from`: the lowest version
   * a member of the set may hold and be behind (absent: the chunk's version
   * before this bump; see ChunkEntry.grantFrom).
   */
  | { op: "bumpVersion"; handle: string; version: number; replicas?: string[]; primary?: string; from?: number }
  /** Issue 18: an operator drained (`gfs chunkserver drain`) or undrained/forgot a chunkserver. */
  | { op: "drainServer"; serverId: string; draining: boolean }
  | SnapshotOp
  | TrashOp
  | QuotaOp;

// ---- issue 20: snapshots, trash and quotas (each lane's ops, applied by its own module) ----

export type SnapshotOp =
  /**
   * A copy-on-write copy of the tree at `from` as `to` (GFS 3.4): new inode ids are `firstId`,
   * `firstId + 1`, ... (`nodes` of them) in the namespace's own deterministic walk order; every
   * chunk the copy references gains a reference (snapshot.ts).
   */
  | { op: "snapshot"; from: string; to: string; firstId: number; nodes: number; timeMs: number }
  /**
   * Copy-on-write of one shared chunk: slot `index` of the file at `path` now holds `handle`, made
   * from `from` by local copies on `replicas` at `version`; `from` loses a reference.
   */
  | { op: "cowChunk"; path: string; index: number; from: string; handle: string; version: number; replicas: string[] };

export type TrashOp =
  /**
   * A delete that keeps what it deletes (GFS 4.4): the node at `path` (a file, symlink, special
   * file or a directory tree) moves to `/.trash/<name>`; `path` and `timeMs` are its deletion
   * record. `trashDirId`: the id /.trash gets if it does not exist yet (trash-table.ts).
   */
  | { op: "trash"; path: string; name: string; trashDirId: number; timeMs: number }
  /** Puts trash entry `id` back at `to`, making missing parents with `parentIds` (outermost first), owned by uid/gid. */
  | { op: "restoreTrash"; id: number; to: string; parentIds: number[]; uid: number; gid: number; timeMs: number }
  /**
   * Reclaims trash entries (expired or purged): their chunks lose a reference. `keep` (as a
   * delete's): inodes in them a mount session has open, which stay as orphans until reclaimed.
   */
  | { op: "purgeTrash"; ids: number[]; timeMs: number; keep?: number[] };

/** Sets (or, every limit 0, removes) the quota of the directory at `path` (quota-table.ts). */
export type QuotaOp = { op: "setQuota"; path: string; bytesSoft: number; bytesHard: number; entriesSoft: number; entriesHard: number; timeMs: number };

export interface MetadataSnapshot {
  /** Issue 18: drained chunkservers (absent: none). */
  draining?: string[];
  namespace: NamespaceSnapshot;
  /** handle -> version of every chunk a file references. */
  chunkVersions: Record<string, number>;
  /** handle -> last grant set, for chunks that have one. */
  chunkGrantSets?: Record<string, string[]>;
  /** handle -> version before the last bump, where that is not version - 1. */
  chunkGrantFrom?: Record<string, number>;
}

/**
 * EFBIG for a new operation that would take a file past the largest file
 * size (file_size_bytes_max) or chunk index. Checked when an operation is
 * committed, not when one is applied: a log written before the limit
 * existed must still replay.
 */
export function checkOpLimits(op: MetadataOp, chunkSizeBytes: number): void {
  switch (op.op) {
    case "extendFile": return checkFileSize(op.endOffset, `size of ${op.path}`);
    case "truncate": return checkFileSize(op.size, `truncate of ${op.path}`);
    case "addChunk": return checkChunkIndex(op.index, chunkSizeBytes, `chunk of ${op.path}`);
    default:
  }
}

export class Metadata {
  /** Issue 18: chunkservers an operator drained (server-states.ts): persistent, in the op log and checkpoints. */
  readonly draining = new Set<string>();
  /** Issue 20: the trash's entries (trash-table.ts): persistent, in the op log and checkpoints. */
  readonly trash = new TrashTable();
  /** Issue 20: directory quotas and their usage (quota-table.ts): limits persistent, usage derived. */
  readonly quotas = new QuotaTable();

  constructor(readonly namespace: Namespace = new Namespace(), readonly chunks: ChunkTable = new ChunkTable()) {}

  /** Throws what `apply(op)` would throw, changing nothing. */
  validate(op: MetadataOp): void {
    switch (op.op) {
      case "addChunk":
        this.checkNewChunk(op);
        this.namespace.validate({ op: "setChunk", path: op.path, index: op.index, handle: op.handle });
        return;
      case "bumpVersion":
        this.checkBump(op);
        return;
      case "createWithChunk":
        this.checkCreateWithChunk(op);
        return;
      case "drainServer":
        checkDrain(op);
        return;
      case "snapshot": case "cowChunk":
        planSnapshotOp(this, op);
        return;
      case "trash": case "restoreTrash": case "purgeTrash":
        planTrashOp(this, op);
        return;
      case "setQuota":
        planQuotaOp(this, op);
        return;
      default:
        this.namespace.validate(op);
    }
  }

  apply(op: MetadataOp, plannedUsage?: UsagePlan): OpResult {
    // Issue 20, quota lane: the usage the op adds to or takes from the quota directories above what it
    // touches, planned before it applies (quota-accounting.ts). A plan that cannot be made (an op the
    // planner does not understand) costs a recount of every quota, never a wrong number.
    // `plannedUsage`: the plan the committing master made on this same state in the same turn
    // (checkQuotas), so it is not made twice; replay and shadows pass none and plan here.
    let usage: UsagePlan | undefined = this.quotas.size > 0 ? plannedUsage : undefined;
    let recount = false;
    if (this.quotas.size > 0 && !usage) {
      try { usage = planUsage(this, op); } catch { recount = true; }
    }
    const res = this.applyOp(op);
    if (usage) applyUsage(this, usage, op);
    else if (recount) this.quotas.recount(this, "timeMs" in op ? op.timeMs : 0);
    return res;
  }

  private applyOp(op: MetadataOp): OpResult {
    switch (op.op) {
      case "addChunk": {
        this.checkNewChunk(op);
        const res = this.namespace.apply({ op: "setChunk", path: op.path, index: op.index, handle: op.handle });
        this.chunks.add(op.handle, op.version, res.id!, op.index, op.replicas);
        return res;
      }
      case "bumpVersion":
        this.checkBump(op);
        this.chunks.setVersion(op.handle, op.version, op.replicas, op.from);
        return { garbage: [] };
      case "createWithChunk": {
        // Everything checked before anything changes: the create cannot fail after the checks, and a new file has an empty slot 0.
        this.checkCreateWithChunk(op);
        const { chunk, ...create } = op;
        this.namespace.apply({ ...create, op: "create" });
        const res = this.namespace.apply({ op: "setChunk", path: op.path, index: 0, handle: chunk.handle });
        this.chunks.add(chunk.handle, chunk.version, res.id!, 0, chunk.replicas);
        return res;
      }
      case "drainServer":
        checkDrain(op);
        if (op.draining) this.draining.add(op.serverId); else this.draining.delete(op.serverId);
        return { garbage: [] };
      case "snapshot": case "cowChunk":
        return planSnapshotOp(this, op)();
      case "trash": case "restoreTrash": case "purgeTrash": {
        const res = planTrashOp(this, op)();
        // A purge's chunks: the same garbage path as a delete's (a snapshot may still share some).
        return { ...res, garbage: this.dropReferences(res.garbage) };
      }
      case "setQuota":
        return planQuotaOp(this, op)();
      default: {
        const res = this.namespace.apply(op);
        return { ...res, garbage: this.dropReferences(res.garbage) };
      }
    }
  }

  /**
   * Issue 20: the garbage path of every op that takes chunks out of files (delete, truncate,
   * rename-over, reclaim, trash purge): each handle loses one reference, and only those left with
   * none are dropped. Returns those: the op's real garbage (leases forgotten, replicas deleted).
   */
  dropReferences(handles: readonly string[]): string[] {
    return handles.filter((h) => this.chunks.unref(h, this.sharerLettingGo(h)));
  }

  /**
   * Which file dropped its reference to shared chunk `h` (the op has applied): the first sharer that no
   * longer holds it at its index (deleted, truncated, purged). Undefined for an unshared chunk (no lookup).
   */
  private sharerLettingGo(h: string): number | undefined {
    const ids = this.chunks.sharers(h);
    if (!ids) return undefined;
    const index = this.chunks.get(h)!.index;
    return ids.find((id) => !this.namespace.holdsChunk(id, index, h));
  }

  private checkNewChunk(op: Extract<MetadataOp, { op: "addChunk" }>): void {
    if (!isHandle(op.handle)) throw new GfsError("EINVAL", `bad chunk handle '${op.handle}'`);
    if (this.chunks.get(op.handle)) throw new GfsError("EIO", `chunk handle ${op.handle} already in use`);
    if (!Number.isSafeInteger(op.version) || op.version < 1) throw new GfsError("EINVAL", `bad chunk version ${op.version}`);
    checkGrantSet(op.replicas);
  }

  private checkCreateWithChunk(op: Extract<MetadataOp, { op: "createWithChunk" }>): void {
    const { chunk, ...create } = op;
    this.checkNewChunk({ op: "addChunk", path: op.path, index: 0, ...chunk });
    if (!Array.isArray(chunk.replicas) || chunk.replicas.length === 0) throw new GfsError("EINVAL", `create of ${op.path}: its first chunk has no replicas`);
    // Only a new file: an existing one (a non-exclusive create) keeps the chunks it has.
    this.namespace.validate({ ...create, op: "create", exclusive: true });
  }

  private checkBump(op: Extract<MetadataOp, { op: "bumpVersion" }>): void {
    const c = this.chunks.get(op.handle);
    if (!c) throw new GfsError("ESTALE", `no chunk ${op.handle}`);
    if (!Number.isSafeInteger(op.version) || op.version <= c.version) {
      throw new GfsError("EIO", `chunk ${op.handle} version must grow (${c.version} -> ${op.version})`);
    }
    checkGrantSet(op.replicas);
    if (op.from !== undefined && !(Number.isSafeInteger(op.from) && op.from >= 0 && op.from <= c.version)) {
      throw new GfsError("EINVAL", `bump of ${op.handle}: 'from' ${op.from} is not a version up to ${c.version}`);
    }
    if (op.primary !== undefined && !op.replicas?.includes(op.primary)) throw new GfsError("EINVAL", `grant of ${op.handle}: primary ${op.primary} is not in its replica set`);
  }

  snapshot(): MetadataSnapshot {
    return { ...(this.draining.size ? { draining: [...this.draining].sort() } : {}), namespace: this.namespace.snapshot(), chunkVersions: this.chunks.versions(), chunkGrantSets: this.chunks.grantSets(), chunkGrantFrom: this.chunks.grantFroms() };
  }

  /**
   * The whole state as checkpoint parts (JSON strings of at most
   * `nodesPerPart` nodes each), taken synchronously so it is the state after
   * exactly the operations applied so far.
   */
  checkpointParts(nodesPerPart = CHECKPOINT_NODES_PER_PART): string[] {
    const parts: string[] = [];
    let batch: NodeRow[] = [];
    let versions: Record<string, number> = {};
    let grantSets: Record<string, readonly string[]> = {};
    let grantFrom: Record<string, number> = {};
    let goals: Record<string, number> = {};
    let xattrs: Record<string, Array<[string, string]>> = {};
    let nodeCount = 0;
    const flush = () => {
      // Goals and attributes only when some node of the part has them: most parts have none.
      const body: CheckpointNodes = {
        nodes: batch, versions, grantSets, grantFrom, ...(Object.keys(goals).length ? { goals } : {}), ...(Object.keys(xattrs).length ? { xattrs } : {}),
      };
      parts.push(JSON.stringify(body));
      batch = [];
      versions = {};
      grantSets = {};
      grantFrom = {};
      goals = {};
      xattrs = {};
    };
    for (const row of this.namespace.rows()) {
      batch.push(row);
      nodeCount++;
      const goal = this.namespace.goalOfId(row[2]);
      if (goal !== 0) goals[row[2]] = goal;
      const attrs = row[3] === "link" ? undefined : this.namespace.xattrs.rowOf(row[2]);
      if (attrs) xattrs[row[2]] = attrs;
      if (row[3] === "file") {
        for (const [, h] of chunkEntries(chunksFromRow(row[11], `file ${row[2]}`))) {
          const c = this.chunks.get(h) ?? fail(`invariant: chunk ${h} of file ${row[2]} is not in the chunk table`);
          versions[h] = c.version;
          if (c.grantSet) grantSets[h] = c.grantSet;
          if (c.grantFrom !== undefined) grantFrom[h] = c.grantFrom;
        }
      }
      if (batch.length >= nodesPerPart) flush();
    }
    if (batch.length) flush();
    const header: CheckpointHeader = {
      kind: CHECKPOINT_KIND, format: CHECKPOINT_FORMAT, maxId: this.namespace.maxId, nodeCount, nodeFields: NODE_ROW_FIELDS,
      dropped: this.chunks.droppedHandles(),
      ...(this.draining.size ? { draining: [...this.draining].sort() } : {}),
      ...(this.quotas.size ? { quotas: this.quotas.rows() } : {}), // issue 20, quota lane
      ...(this.trash.size ? { trash: this.trash.rows() } : {}), // issue 20, trash lane
    };
    return [JSON.stringify(header), ...parts];
  }

  /** Rebuilds the state from checkpoint parts; a damaged or foreign checkpoint is refused, never guessed at. */
  static fromCheckpoint(parts: Iterable<string>): Metadata {
    const it = parts[Symbol.iterator]();
    const first = it.next();
    if (first.done) throw new GfsError("EIO", "checkpoint is empty");
    const header = JSON.parse(first.value) as CheckpointHeader;
    if (header.kind !== CHECKPOINT_KIND) throw new GfsError("EIO", `checkpoint is not a master metadata checkpoint (${JSON.stringify(header.kind)})`);
    if (!CHECKPOINT_FORMATS_READ.includes(header.format)) {
      throw new GfsError("EIO", `checkpoint has format ${header.format}; this master reads formats ${CHECKPOINT_FORMATS_READ.join(", ")}`);
    }
    if (JSON.stringify(header.nodeFields) !== JSON.stringify(NODE_ROW_FIELDS)) throw new GfsError("EIO", "checkpoint node fields differ from this master's");
    if (!Number.isSafeInteger(header.nodeCount) || header.nodeCount < 1) throw new GfsError("EIO", "checkpoint is corrupt: bad node count");
    // Room for that many nodes and chunks at once (most files have one chunk): columns that grow by copying would briefly hold
    // both copies. Capped, so a damaged count is refused by the count check below rather than by a failed huge allocation.
    const slotsHint = Math.min(header.nodeCount, RECOVERY_SLOTS_HINT_MAX);
    const chunks = new ChunkTable(undefined, slotsHint);
    // Handles dropped before the checkpoint: a replica of one reported after a restart is known garbage, not an orphan.
    if (header.dropped !== undefined) {
      if (!Array.isArray(header.dropped) || !header.dropped.every(isHandle)) throw new GfsError("EIO", "checkpoint is corrupt: bad dropped handles");
      chunks.rememberDroppedHandles(header.dropped);
    }
    let count = 0;
    const goals: Array<[number, number]> = [];
    const xattrs: Array<[number, unknown]> = [];
    function* rows(): Generator<NodeRow> {
      for (let next = it.next(); !next.done; next = it.next()) {
        const body = JSON.parse(next.value) as CheckpointNodes;
        if (!Array.isArray(body.nodes) || typeof body.versions !== "object" || body.versions === null) {
          throw new GfsError("EIO", "checkpoint is corrupt: malformed node part");
        }
        goals.push(...partGoals(body, header.format));
        xattrs.push(...partXattrs(body, header.format));
        for (const row of body.nodes) {
          if (header.format < 4 && Array.isArray(row) && (row[0] === ORPHAN_PARENT || !FORMAT_1_TYPES.has(row[3]))) {
            throw new GfsError("EIO", `checkpoint is corrupt: a link, special file or orphan (node ${row[2]}) in format ${header.format}`);
          }
          if (row[3] === "file") {
            const list = chunksFromRow(row[11] as Parameters<typeof chunksFromRow>[0], `file ${row[2]}`);
            if (header.format < 2 && !Array.isArray(list)) throw new GfsError("EIO", `checkpoint is corrupt: file ${row[2]} has a sparse chunk list in format ${header.format}`);
            for (const [index, h] of chunkEntries(list)) {
              const version = body.versions[h];
              if (!Number.isSafeInteger(version) || version < 1) throw new GfsError("EIO", `checkpoint is corrupt: no version for chunk ${h}`);
              const grantSet = body.grantSets?.[h];
              if (grantSet !== undefined && (!Array.isArray(grantSet) || !grantSet.every((id) => typeof id === "string" && id))) {
                throw new GfsError("EIO", `checkpoint is corrupt: bad grant set for chunk ${h}`);
              }
              const from = body.grantFrom?.[h];
              if (from !== undefined && (!Number.isSafeInteger(from) || from < 0 || from >= version)) {
                throw new GfsError("EIO", `checkpoint is corrupt: bad pre-grant version for chunk ${h}`);
              }
              if (chunks.get(h)) {
                sharedChunk(chunks, h, index, version, header.format, row[2]);
                continue;
              }
              chunks.add(h, version, row[2], index, grantSet, from);
            }
          }
          count++;
          yield row;
        }
      }
    }
    const namespace = Namespace.fromRows(rows(), header.maxId, slotsHint);
    if (count !== header.nodeCount) throw new GfsError("EIO", `checkpoint is corrupt: ${count} of ${header.nodeCount} nodes`);
    for (const [id, goal] of goals) namespace.restoreGoal(id, goal);
    for (const [id, row] of xattrs) {
      if (!namespace.hasInode(id)) throw new GfsError("EIO", `checkpoint is corrupt: extended attributes of inode ${id}, not one of its nodes`);
      namespace.xattrs.restoreRow(id, row);
    }
    const m = new Metadata(namespace, chunks);
    // Issue 18, an optional part (absent: no server drained), so the format number stays.
    if (header.draining !== undefined) {
      if (!Array.isArray(header.draining) || !header.draining.every((id) => typeof id === "string" && id)) throw new GfsError("EIO", "checkpoint is corrupt: bad drained servers");
      for (const id of header.draining) m.draining.add(id);
    }
    // Issue 20, trash lane: the trash's entries (format 5), each checked against its node in /.trash.
    if (header.trash !== undefined) m.trash.restoreRows(header.trash, header.format, namespace);
    // Issue 20, quota lane: last, after the trash's entries (a quota is charged with some); usage is recounted.
    if (header.quotas !== undefined) {
      if (header.format < 5) throw new GfsError("EIO", `checkpoint is corrupt: quotas in format ${header.format}`);
      m.quotas.restoreRows(m, header.quotas);
    }
    return m;
  }

  static restore(s: MetadataSnapshot): Metadata {
    const namespace = Namespace.restore(s.namespace);
    const chunks = new ChunkTable();
    for (const [handle, ref] of namespace.chunkRefs()) {
      const version = s.chunkVersions[handle];
      if (version === undefined) throw new GfsError("EIO", `snapshot has no version for chunk ${handle}`);
      chunks.add(handle, version, ref.fileId, ref.index, s.chunkGrantSets?.[handle], s.chunkGrantFrom?.[handle]);
      for (let k = 1; k < ref.count; k++) chunks.addRef(handle, ref.fileIds[k]!); // issue 20: shared by snapshots
    }
    const m = new Metadata(namespace, chunks);
    for (const id of s.draining ?? []) m.draining.add(id);
    return m;
  }
}

/**
 * Issue 20: a handle a checkpoint gives again (a chunk a snapshot shared): one more reference, at
 * the same slot index and version as before; before format 5 no chunk was shared, so it is corrupt.
 */
function sharedChunk(chunks: ChunkTable, h: string, index: number, version: number, format: number, fileId: number): void {
  const c = chunks.get(h)!;
  if (format < 5) throw new GfsError("EIO", `checkpoint is corrupt: chunk ${h} is in two files in format ${format}`);
  if (c.index !== index || c.version !== version) throw new GfsError("EIO", `checkpoint is corrupt: chunk ${h} shared at index ${index} v${version}, first seen at index ${c.index} v${c.version}`);
  chunks.addRef(h, fileId);
}

function checkDrain(op: Extract<MetadataOp, { op: "drainServer" }>): void {
  if (typeof op.serverId !== "string" || op.serverId.length === 0 || op.serverId.length > 256) throw new GfsError("EINVAL", "drain of a server without a valid id");
}

/** A node part's goals (format 3), each for a node of that part; none before format 3. */
function partGoals(body: CheckpointNodes, format: number): Array<[number, number]> {
  if (body.goals === undefined) return [];
  if (format < 3) throw new GfsError("EIO", `checkpoint is corrupt: replication goals in format ${format}`);
  if (typeof body.goals !== "object" || body.goals === null) throw new GfsError("EIO", "checkpoint is corrupt: malformed goals");
  const ids = new Set(body.nodes.map((row) => row[2]));
  return Object.entries(body.goals).map(([k, goal]) => {
    const id = Number(k);
    if (!ids.has(id)) throw new GfsError("EIO", `checkpoint is corrupt: a goal for node ${k}, not a node of its part`);
    return [id, goal];
  });
}

/** A node part's extended attributes (format 4), each for an inode of that part; none before format 4. */
function partXattrs(body: CheckpointNodes, format: number): Array<[number, unknown]> {
  if (body.xattrs === undefined) return [];
  if (format < 4) throw new GfsError("EIO", `checkpoint is corrupt: extended attributes in format ${format}`);
  if (typeof body.xattrs !== "object" || body.xattrs === null) throw new GfsError("EIO", "checkpoint is corrupt: malformed extended attributes");
  const ids = new Set(body.nodes.map((row) => row[2]));
  return Object.entries(body.xattrs).map(([k, row]) => {
    const id = Number(k);
    if (!ids.has(id)) throw new GfsError("EIO", `checkpoint is corrupt: extended attributes for node ${k}, not a node of its part`);
    return [id, row];
  });
}

function checkGrantSet(replicas: string[] | undefined): void {
  if (replicas === undefined) return;
  if (!Array.isArray(replicas) || replicas.length === 0 || !replicas.every((id) => typeof id === "string" && id.length > 0)
    || new Set(replicas).size !== replicas.length) {
    throw new GfsError("EINVAL", `bad grant replica set ${JSON.stringify(replicas)}`);
  }
}

function fail(message: string): never {
  throw new Error(message);
}
