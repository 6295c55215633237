// The chunk table: handle -> current version, owning file slot and replica
// locations. Versions (and which handles exist) are persistent and change only
// through logged operations (add, setVersion, drop); replica locations are
// learned from chunkserver reports and never persisted.
//
// Version rules (GFS 4.5, made stricter):
// - a replica reporting the master's version is current and may be handed out;
// - a replica reporting a lower version is stale: never handed out, deleted
//   once a current replica exists (we never delete the last copies of data);
// - except at the version before the last logged bump (one behind, or more
//   if that grant skipped past a suspect's claim), from a member of the
//   chunk's last logged grant set: the master logs a bump BEFORE it tells any
//   replica, so a crash (or a lost answer) between the two leaves the grant
//   set behind the log. No mutation can have succeeded under the new version (it needs every
//   member of the set at that version), so such a replica is as good as
//   current: it is "behind", kept, and the caller re-announces the version.
//   A bump may carry that "version before" along (`from`, lease-grant.ts): a
//   grant that follows one this master saw fail (a member missed it, so no
//   lease and no mutation at that version either) keeps the failed grant's
//   `from`, and a member anywhere from there up to the new version is behind;
// - a replica reporting a higher version claims a version the master never
//   issued (bumps are logged before anyone hears of them). GFS adopts it; we
//   do not, since one bad report would then make every good copy stale. It is
//   "suspect": never handed out, never a copy source, never a reason to
//   delete other replicas, and not deleted either (the caller enters safe mode);
// - chunks of deleted or truncated files and abandoned creations are garbage
//   the master made itself (it remembers their handles, see `dropped`):
//   deleted via the holder's next heartbeat reply;
// - a handle the master does not know at all (orphan) may be data its
//   metadata lost (a damaged op log, older metadata restored): quarantined by
//   its holder, not deleted, and deleted there only after
//   quarantine_retention_ms, so restored metadata can bring it back.
import { GfsError, defaults } from "@gfs/common";
import { HandleIndex } from "./handle-index";
import { grownTo } from "./typed-columns";

export interface ReplicaState {
  version: number;
  length: number;
  corrupt: boolean;
  /** Reported a version above the master's (one it never issued); see the rules above. */
  suspect?: boolean;
}

/**
 * A chunk as readers see it: a view over the table's columns (see ChunkTable),
 * live (it reads the current version and replicas), built per get(): use it
 * in the same turn, never keep it past a change that may drop its chunk.
 */
export interface ChunkEntry {
  readonly handle: string;
  readonly version: number;
  /**
   * A file that references the chunk: with snapshots (issue 20) a chunk may be in several files
   * (ChunkTable.sharers lists them; this is the lowest id among them, moved on when that file lets
   * go). The replication goal of a shared chunk is the highest of its files' (goalOf). `index` is
   * the slot in every file that references it.
   */
  readonly fileId: number;
  readonly index: number;
  /** Replicas by server id (learned from reports, never persisted). */
  readonly replicas: ReadonlyMap<string, ReplicaState>;
  /**
   * The replica set (server ids, sorted) of the chunk's last logged grant or creation,
   * persistent; undefined for chunks logged before grant sets were recorded.
   */
  readonly grantSet?: readonly string[];
  /**
   * The lowest version a grant-set member may hold and still be "behind"
   * (see the rules above), persistent, when not version - 1: the version
   * before the last logged bump when that grant skipped past a suspect
   * replica's claimed version, or an earlier one carried along by a bump
   * after failed grants.
   */
  readonly grantFrom?: number;
}

/** Chunk columns start this long and double when full. */
const INITIAL_SLOTS = 1024;
/** What a chunk no server has reported yet reads as its replicas (never changed: the table makes a Map on the first replica). */
const NO_REPLICAS: ReadonlyMap<string, ReplicaState> = new Map();

/** The table's view of one chunk (see ChunkEntry). */
class ChunkView implements ChunkEntry {
  constructor(private readonly t: ChunkTable, readonly slot: number, private readonly gen: number, readonly handle: string) {}

  /** The slot, if this view's chunk is still the one there; a view kept past its chunk's drop is a bug, not a guess. */
  private at(): number {
    if (this.t.generation(this.slot) !== this.gen) throw new Error(`invariant: chunk ${this.handle} read after it was dropped`);
    return this.slot;
  }

  get version(): number { return this.t.versionAt(this.at()); }
  get fileId(): number { return this.t.fileIdAt(this.at()); }
  get index(): number { return this.t.indexAt(this.at()); }
  get replicas(): ReadonlyMap<string, ReplicaState> { return this.t.replicasAt(this.at()) ?? NO_REPLICAS; }
  get grantSet(): readonly string[] | undefined { return this.t.grantSetAt(this.at()); }
  get grantFrom(): number | undefined { return this.t.grantFromAt(this.at()); }
}

export interface ReplicaReport {
  handle: string;
  version: number;
  length: number;
}

/** What the table made of one reported replica. */
export type ReplicaVerdict = "current" | "stale" | "orphan" | "garbage" | "suspect" | "behind" | "pending";

/**
 * Whether `serverId`'s replica at `version` is a grant-set member that missed
 * the last logged bump: at the version before it (one behind, unless that
 * grant skipped past a suspect's claim), or, after failed grants, at any
 * version from the one before the first of them. See the rules above.
 */
export function isBehind(c: ChunkEntry, serverId: string, version: number): boolean {
  return version >= (c.grantFrom ?? c.version - 1) && version < c.version && !!c.grantSet?.includes(serverId);
}

/**
 * Memory (issue 15): a chunk is a slot in typed-array columns (version, file
 * id, index, generation, interned grant set: 32 bytes), its handle in the
 * HandleIndex (~28 bytes, no string) and one reference to its replica Map,
 * made when a server first reports it. A JS object, a handle string and a
 * Map per chunk cost ~5 times as much.
 */
export class ChunkTable {
  /** handle -> slot of every chunk a file references. */
  private readonly slots: HandleIndex;
  private versions_: Float64Array;
  private fileIds: Float64Array;
  private indexes: Float64Array;
  /** Bumped when a slot is freed, so a view of the chunk that was there fails loudly (ChunkView). */
  private gens: Uint32Array;
  /** Interned grant set id + 1 (0: none). */
  private grantSetIds: Uint32Array;
  /** slot -> ChunkEntry.grantFrom, for the few chunks that have one. */
  private readonly grantFroms_ = new Map<number, number>();
  /** slot -> replicas, once a server has reported one. */
  private replicaMaps: Array<Map<string, ReplicaState> | undefined> = [];
  private top = 0;
  private readonly freeSlots: number[] = [];
  /** Grant sets, interned: thousands of chunks share each set of servers. Sorted and frozen. */
  private readonly grantSetByKey = new Map<string, number>();
  private readonly grantSetList: Array<readonly string[] | undefined> = [];
  private readonly grantSetRefs: number[] = [];
  private readonly freeGrantSets: number[] = [];
  /** serverId -> handles it holds (any version), so a re-registration replaces its whole report. */
  private readonly byServer = new Map<string, Set<string>>();
  /** serverId -> handles to tell it to delete on its next heartbeat reply. */
  private readonly deletes = new Map<string, Set<string>>();
  /**
   * Issue 20 (snapshots, GFS 3.4): slot -> the ids of the files referencing the chunk (ascending, its
   * reference count is their number), only for chunks shared by more than one (a snapshot's copies);
   * absent means one, the fileId column's, so unshared chunks cost nothing. The goal of a shared chunk
   * is the highest of its files' (sharers), and the fileId column always names one of them.
   */
  private readonly refs = new Map<number, number[]>();
  /** Handles being allocated right now: reports of them are neither orphans nor recorded yet. */
  private readonly reserved = new Set<string>();
  /** serverId -> unknown handles (orphans) to tell it to quarantine on its next reply. */
  private readonly quarantines = new Map<string, Set<string>>();
  /**
   * Handles this master dropped itself (since it started, replay included), in
   * insertion order, at most `droppedMax`: a replica of one reported later is
   * known garbage and deleted; any other unknown handle is an orphan.
   */
  private readonly dropped = new Set<string>();

  /** `slotsHint`: how many chunks to make room for at once (recovery), so the columns are not copied to grow. */
  constructor(private readonly droppedMax: number = defaults.garbage_handles_remembered_max, slotsHint = INITIAL_SLOTS) {
    const n = Math.max(INITIAL_SLOTS, slotsHint);
    this.slots = new HandleIndex(n);
    this.versions_ = new Float64Array(n);
    this.fileIds = new Float64Array(n);
    this.indexes = new Float64Array(n);
    this.gens = new Uint32Array(n);
    this.grantSetIds = new Uint32Array(n);
  }

  /**
   * The master's view of which servers are alive (the driver sets it; all, by
   * default). A stale replica is deleted only once a current one is on a live
   * server: a fenced primary that was only declared dead (a pause, a load
   * spike) holds every acknowledged write, and deleting it while the survivors
   * that hold the new version are down would leave no reachable copy.
   */
  isAlive: (serverId: string) => boolean = () => true;

  get size(): number {
    return this.slots.size;
  }

  get(handle: string): ChunkEntry | undefined {
    return this.view(handle);
  }

  has(handle: string): boolean {
    return this.slots.has(handle) || this.reserved.has(handle);
  }

  *entries(): IterableIterator<ChunkEntry> {
    for (const [handle, slot] of this.slots.entries()) yield new ChunkView(this, slot, this.gens[slot]!, handle);
  }

  // ---- columns (ChunkView reads them) -----------------------------------------

  private view(handle: string): ChunkView | undefined {
    const slot = this.slots.get(handle);
    return slot === undefined ? undefined : new ChunkView(this, slot, this.gens[slot]!, handle);
  }

  generation(slot: number): number { return this.gens[slot]!; }
  versionAt(slot: number): number { return this.versions_[slot]!; }
  fileIdAt(slot: number): number { return this.fileIds[slot]!; }
  indexAt(slot: number): number { return this.indexes[slot]!; }
  replicasAt(slot: number): ReadonlyMap<string, ReplicaState> | undefined { return this.replicaMaps[slot]; }
  grantSetAt(slot: number): readonly string[] | undefined {
    const id = this.grantSetIds[slot]!;
    return id === 0 ? undefined : this.grantSetList[id - 1];
  }
  grantFromAt(slot: number): number | undefined { return this.grantFroms_.get(slot); }

  /** A chunk's replica Map, made on the first replica. */
  private ownReplicas(c: ChunkView): Map<string, ReplicaState> {
    let m = this.replicaMaps[c.slot];
    if (!m) this.replicaMaps[c.slot] = m = new Map();
    return m;
  }

  private grow(): void {
    const cap = this.versions_.length * 2;
    this.versions_ = grownTo(this.versions_, cap);
    this.fileIds = grownTo(this.fileIds, cap);
    this.indexes = grownTo(this.indexes, cap);
    this.gens = grownTo(this.gens, cap);
    this.grantSetIds = grownTo(this.grantSetIds, cap);
  }

  /** Sets a slot's grant set (interned), releasing the one it had. */
  private setGrantSet(slot: number, set: readonly string[] | undefined): void {
    const old = this.grantSetIds[slot]!;
    let id = 0;
    if (set) {
      const sorted = [...set].sort();
      const key = sorted.join("\n");
      let k = this.grantSetByKey.get(key);
      if (k === undefined) {
        k = this.freeGrantSets.pop() ?? this.grantSetList.length;
        this.grantSetList[k] = Object.freeze(sorted);
        this.grantSetRefs[k] = 0;
        this.grantSetByKey.set(key, k);
      }
      this.grantSetRefs[k]!++;
      id = k + 1;
    }
    this.grantSetIds[slot] = id;
    if (old !== 0 && --this.grantSetRefs[old - 1]! === 0) {
      this.grantSetByKey.delete(this.grantSetList[old - 1]!.join("\n"));
      this.grantSetList[old - 1] = undefined;
      this.freeGrantSets.push(old - 1);
    }
  }

  // ---- persistent changes (only through logged operations) ----------------

  add(handle: string, version: number, fileId: number, index: number, grantSet?: readonly string[], grantFrom?: number): void {
    if (this.slots.has(handle)) throw new GfsError("EIO", `chunk ${handle} already exists`);
    this.reserved.delete(handle);
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      if (this.top === this.versions_.length) this.grow();
      slot = this.top++;
    }
    this.versions_[slot] = version;
    this.fileIds[slot] = fileId;
    this.indexes[slot] = index;
    this.grantSetIds[slot] = 0;
    this.setGrantSet(slot, grantSet);
    if (grantFrom !== undefined && grantFrom !== version - 1) this.grantFroms_.set(slot, grantFrom);
    this.slots.set(handle, slot);
  }

  /**
   * Versions only grow; anything else is a bug that must stop the master from
   * handing out stale data. `grantSet`: the replicas the new version is sent
   * to (undefined: unknown, e.g. an old log record). `from`: the lowest
   * version a member of that set may hold and be behind (default: the
   * chunk's version now; see ChunkEntry.grantFrom).
   */
  setVersion(handle: string, version: number, grantSet?: readonly string[], from?: number): void {
    const slot = this.slots.get(handle);
    if (slot === undefined) throw new GfsError("EIO", `setVersion of unknown chunk ${handle}`);
    const cur = this.versions_[slot]!;
    if (!(version > cur)) throw new Error(`invariant: chunk ${handle} version must grow (${cur} -> ${version})`);
    const f = from ?? cur;
    if (!(f <= cur)) throw new Error(`invariant: chunk ${handle} bump to ${version} from ${f}, above its version ${cur}`);
    if (grantSet && f !== version - 1) this.grantFroms_.set(slot, f);
    else this.grantFroms_.delete(slot);
    this.versions_[slot] = version;
    this.setGrantSet(slot, grantSet);
  }

  // ---- issue 20: reference counts of chunks shared by snapshots ------------

  /** How many file slots reference `handle` (0: not a chunk of this table). */
  refCount(handle: string): number {
    const slot = this.slots.get(handle);
    return slot === undefined ? 0 : this.refs.get(slot)?.length ?? 1;
  }

  /** The ids of the files referencing a shared chunk, ascending (undefined: not shared, see fileId). */
  sharers(handle: string): readonly number[] | undefined {
    if (this.refs.size === 0) return undefined; // no snapshot shares anything: no lookup
    const slot = this.slots.get(handle);
    return slot === undefined ? undefined : this.refs.get(slot);
  }

  /**
   * File `fileId` references `handle` too (a snapshot's copy, or a repeated handle in a checkpoint). The
   * fileId column becomes the lowest sharer, so replay and a checkpoint load keep the same one.
   */
  addRef(handle: string, fileId: number): void {
    const slot = this.slots.get(handle);
    if (slot === undefined) throw new Error(`invariant: a reference to unknown chunk ${handle}`);
    const ids = this.refs.get(slot) ?? [this.fileIds[slot]!];
    ids.splice(sortedIndex(ids, fileId), 0, fileId);
    this.refs.set(slot, ids);
    this.fileIds[slot] = ids[0]!;
  }

  /**
   * File `fileId` stops referencing `handle`: the chunk is dropped (garbage, see drop) when no reference
   * is left. Whether it was dropped: only those are garbage for the caller. A `fileId` that is not a
   * sharer (a caller that could not tell which file let go) takes the highest one's reference.
   */
  unref(handle: string, fileId?: number): boolean {
    const slot = this.slots.get(handle);
    if (slot === undefined) return false;
    const ids = this.refs.get(slot);
    if (ids === undefined) {
      this.drop(handle);
      return true;
    }
    const at = fileId === undefined ? -1 : ids.indexOf(fileId);
    ids.splice(at < 0 ? ids.length - 1 : at, 1);
    if (ids.length < 2) this.refs.delete(slot);
    this.fileIds[slot] = ids[0]!; // a file that still references it (goalOf)
    return false;
  }

  /** Chunks referenced by more than one file slot (status, tests). */
  get sharedCount(): number {
    return this.refs.size;
  }

  /**
   * The chunk is garbage: forget it and have every holder delete it, whatever references are left
   * (metadata drops references with unref; this is the last step).
   */
  drop(handle: string): void {
    const slot = this.slots.get(handle);
    if (slot === undefined) return;
    this.refs.delete(slot);
    for (const serverId of [...(this.replicaMaps[slot]?.keys() ?? [])]) this.queueDelete(serverId, handle);
    this.slots.delete(handle);
    this.setGrantSet(slot, undefined);
    this.grantFroms_.delete(slot);
    this.replicaMaps[slot] = undefined;
    this.gens[slot]!++;
    this.freeSlots.push(slot);
    this.rememberDropped(handle);
  }

  private rememberDropped(handle: string): void {
    this.dropped.delete(handle);
    this.dropped.add(handle);
    if (this.dropped.size > this.droppedMax) this.dropped.delete(this.dropped.values().next().value!);
  }

  /** Whether `handle` is one this master dropped (deleted, truncated away, abandoned) and still remembers. */
  wasDropped(handle: string): boolean {
    return this.dropped.has(handle);
  }

  /** The dropped handles remembered, oldest first: a checkpoint carries them, so a restart does not forget them. */
  droppedHandles(): string[] {
    return [...this.dropped];
  }

  /** Remembers handles a checkpoint says were dropped (oldest first). */
  rememberDroppedHandles(handles: readonly string[]): void {
    for (const h of handles) this.rememberDropped(h);
  }

  // ---- allocation in flight --------------------------------------------------

  reserve(handle: string): void {
    if (this.has(handle)) throw new GfsError("EIO", `chunk handle ${handle} already in use`);
    this.reserved.add(handle);
  }

  /** An allocation failed: the servers that created the chunk must delete it again. */
  abandon(handle: string, createdOn: string[]): void {
    this.reserved.delete(handle);
    if (this.slots.has(handle)) return;
    this.rememberDropped(handle);
    for (const serverId of createdOn) this.queueDelete(serverId, handle);
  }

  // ---- replica locations (learned, not persisted) --------------------------

  /** Records one replica a server reports holding and judges it. */
  recordReplica(serverId: string, r: ReplicaReport): ReplicaVerdict {
    if (this.reserved.has(r.handle)) return "pending";
    const c = this.view(r.handle);
    if (!c) {
      if (this.dropped.has(r.handle)) {
        this.queueDelete(serverId, r.handle);
        return "garbage";
      }
      this.queueQuarantine(serverId, r.handle);
      return "orphan";
    }
    this.quarantines.get(serverId)?.delete(r.handle);
    let prev = c.replicas.get(serverId);
    if (prev?.suspect) {
      // Judged afresh: a suspect's version says nothing about what it holds now.
      this.ownReplicas(c).delete(serverId);
      prev = undefined;
    }
    if (r.version > c.version) {
      // Kept aside: recorded (so fsck shows it and no copy is sent to its server), never deleted.
      this.ownReplicas(c).set(serverId, { version: r.version, length: r.length, corrupt: false, suspect: true });
      this.serverSet(serverId).add(r.handle);
      this.deletes.get(serverId)?.delete(r.handle);
      return "suspect";
    }
    // A replica's version only grows. A report below what this server already
    // confirmed was built before a version bump and arrived after it: old news,
    // not a stale replica (deleting it would destroy a current copy).
    if (prev && r.version < prev.version) return prev.version === c.version ? "current" : "stale";
    this.ownReplicas(c).set(serverId, { version: r.version, length: r.length, corrupt: prev?.corrupt ?? false });
    this.serverSet(serverId).add(r.handle);
    this.deletes.get(serverId)?.delete(r.handle);
    this.collectStale(c);
    if (r.version === c.version) return "current";
    return isBehind(c, serverId, r.version) ? "behind" : "stale";
  }

  /** A replica confirmed a new version (lease grant) or was created at it. */
  confirmReplica(serverId: string, handle: string, version: number, length: number): void {
    const c = this.view(handle);
    if (!c) return;
    if (version !== c.version) throw new Error(`invariant: chunk ${handle} confirmed at ${version}, the master has ${c.version}`);
    const prev = c.replicas.get(serverId);
    this.ownReplicas(c).set(serverId, { version, length, corrupt: prev?.corrupt ?? false });
    this.serverSet(serverId).add(handle);
    // Confirming replicas one by one after a bump: the first confirmation makes the others look
    // stale for a moment and queues their deletion; a confirmation takes that back.
    this.deletes.get(serverId)?.delete(handle);
    this.collectStale(c);
  }

  removeReplica(serverId: string, handle: string): void {
    this.deleteReplica(handle, serverId);
    this.byServer.get(serverId)?.delete(handle);
    this.deletes.get(serverId)?.delete(handle);
    this.quarantines.get(serverId)?.delete(handle);
  }

  /**
   * A replica failed its checksums: never handed out again, and deleted at
   * once if a good copy exists on a live server (its server may then receive
   * a fresh copy); otherwise kept, as the best of what is left. `minGood`:
   * how many good copies must exist for the deletion (2 for an unverified
   * replica condemned only for a verified one, see unverified-replicas.ts).
   */
  markCorrupt(serverId: string, handle: string, isAlive: (serverId: string) => boolean = () => true, minGood = 1): boolean {
    const c = this.view(handle);
    const r = c?.replicas.get(serverId);
    if (!c || !r) return false;
    r.corrupt = true;
    if (this.goodReplicas(handle, isAlive).length >= minGood && !r.suspect) this.queueDelete(serverId, handle);
    return true;
  }

  /**
   * Issue 18: a good replica beyond its chunk's goal (excess-replicas.ts) is deleted: queued for its
   * holder's next reply and forgotten at once, so it is never granted a lease or copied from again.
   */
  removeExcessReplica(serverId: string, handle: string): void {
    if (this.view(handle)?.replicas.has(serverId)) this.queueDelete(serverId, handle);
  }

  /** A server re-registers: its previous report is replaced by the new one. */
  forgetServer(serverId: string): void {
    for (const h of this.byServer.get(serverId) ?? []) this.deleteReplica(h, serverId);
    this.byServer.delete(serverId);
    this.deletes.delete(serverId);
    this.quarantines.delete(serverId);
  }

  /** Handles this server should delete, handed out once. */
  takeDeletes(serverId: string): string[] {
    return takeSorted(this.deletes, serverId);
  }

  pendingDeletes(serverId: string): string[] {
    return [...(this.deletes.get(serverId) ?? [])].sort();
  }

  /** Unknown handles this server should quarantine, handed out once. */
  takeQuarantines(serverId: string): string[] {
    return takeSorted(this.quarantines, serverId);
  }

  pendingQuarantines(serverId: string): string[] {
    return [...(this.quarantines.get(serverId) ?? [])].sort();
  }

  /** Deletions and quarantines queued for every server (held back while the master is in safe mode). */
  pendingGarbage(): { deletes: number; quarantines: number } {
    let deletes = 0;
    let quarantines = 0;
    for (const d of this.deletes.values()) deletes += d.size;
    for (const q of this.quarantines.values()) quarantines += q.size;
    return { deletes, quarantines };
  }

  private queueQuarantine(serverId: string, handle: string): void {
    let q = this.quarantines.get(serverId);
    if (!q) this.quarantines.set(serverId, (q = new Set()));
    q.add(handle);
    this.deletes.get(serverId)?.delete(handle);
    this.byServer.get(serverId)?.delete(handle);
  }

  /** Replicas at the current version, not corrupt, on servers `isAlive` accepts. */
  goodReplicas(handle: string, isAlive: (serverId: string) => boolean): string[] {
    const c = this.view(handle);
    return c ? goodReplicaIds(c, isAlive) : [];
  }

  /** Replicas this table knows on a server (any version). */
  replicaCountOn(serverId: string): number {
    return this.byServer.get(serverId)?.size ?? 0;
  }

  /** Suspect replicas of a chunk (versions the master never issued). */
  suspects(handle: string): string[] {
    const c = this.view(handle);
    return c ? [...c.replicas].filter(([, r]) => r.suspect).map(([id]) => id).sort() : [];
  }

  private queueDelete(serverId: string, handle: string): void {
    let d = this.deletes.get(serverId);
    if (!d) this.deletes.set(serverId, (d = new Set()));
    d.add(handle);
    this.quarantines.get(serverId)?.delete(handle);
    this.deleteReplica(handle, serverId);
    this.byServer.get(serverId)?.delete(handle);
  }

  /**
   * Stale replicas are deleted only once a good current replica exists on a
   * live server: never delete the last reachable copies. Suspects never count as current, and grant-set
   * members one version behind are not stale (see the rules above).
   */
  private collectStale(c: ChunkEntry): void {
    let hasCurrent = false;
    for (const [id, r] of c.replicas) if (r.version === c.version && !r.corrupt && !r.suspect && this.isAlive(id)) hasCurrent = true;
    if (!hasCurrent) return;
    for (const [id, r] of [...c.replicas]) if (r.version < c.version && !r.suspect && !isBehind(c, id, r.version)) this.queueDelete(id, c.handle);
  }

  private deleteReplica(handle: string, serverId: string): void {
    const slot = this.slots.get(handle);
    if (slot !== undefined) this.replicaMaps[slot]?.delete(serverId);
  }

  private serverSet(serverId: string): Set<string> {
    let s = this.byServer.get(serverId);
    if (!s) this.byServer.set(serverId, (s = new Set()));
    return s;
  }

  /** Persistent part: handle -> last grant set, for chunks that have one. */
  grantSets(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const h of [...this.slots.keys()].sort()) {
      const s = this.grantSetAt(this.slots.get(h)!);
      if (s) out[h] = [...s];
    }
    return out;
  }

  /** Persistent part: handle -> version before the last bump, where that is not version - 1. */
  grantFroms(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const h of [...this.slots.keys()].sort()) {
      const f = this.grantFromAt(this.slots.get(h)!);
      if (f !== undefined) out[h] = f;
    }
    return out;
  }

  /** Persistent part only: handle -> version, sorted. */
  versions(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const h of [...this.slots.keys()].sort()) out[h] = this.versions_[this.slots.get(h)!]!;
    return out;
  }
}

/** A server's queued handles, sorted, removed from the queue (each is handed out once). */
function takeSorted(queues: Map<string, Set<string>>, serverId: string): string[] {
  const q = queues.get(serverId);
  if (!q || q.size === 0) return [];
  queues.delete(serverId);
  return [...q].sort();
}

/** Good replicas of a chunk: current version, not corrupt (or held back), not suspect, on a server `isAlive` accepts; sorted. */
export function goodReplicaIds(c: ChunkEntry, isAlive: (serverId: string) => boolean): string[] {
  const out: string[] = [];
  for (const [id, r] of c.replicas) if (r.version === c.version && !r.corrupt && !r.suspect && isAlive(id)) out.push(id);
  return out.sort();
}

/** Where `v` goes in ascending `ids` (after equal ones). */
function sortedIndex(ids: readonly number[], v: number): number {
  let i = ids.length;
  while (i > 0 && ids[i - 1]! > v) i--;
  return i;
}
