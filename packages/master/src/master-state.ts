// The master's state and the few flows that need more than one module or
// talk to chunkservers (chunk allocation, lease grants, chunk reports). The
// decisions themselves live in the pure modules: namespace, chunk table,
// placement, lease manager, liveness.
import {
  ChunkServerPool, GfsError, checkHandle, defaults, isHandle, randomHandle,
  type ChunkLocation__Output, type ChunkReport__Output, type FsckResponse__Output, type LeaseInfo__Output,
  type Logger, type ServerAddress__Output, type StatFsResponse__Output, type StatusResponse__Output,
} from "@gfs/common";
import { chunkHealth } from "./chunk-health";
import { KeyLock } from "./key-lock";
import { LeaseManager, type Lease } from "./lease-manager";
import { Liveness } from "./liveness";
import { Metadata, type MetadataOp } from "./metadata";
import type { OpResult } from "./namespace";
import { clusterSpace, placeReplicas } from "./placement";
import { ReplicationScheduler } from "./replication-scheduler";
import { SafeMode } from "./safe-mode";
import { SpareChunks, type SpareChunk } from "./spare-chunks";
import type { MasterSettings } from "./settings";

export type Clock = () => number;

/** Where committed operations go to become durable (the op log). */
export interface Journal {
  append(op: MetadataOp): Promise<void>;
  readonly stats: { readonly records: number; readonly commits: number };
}

export interface MasterStateOptions {
  pool?: ChunkServerPool;
  metadata?: Metadata;
  /** Without one, commits are in memory only (unit tests). */
  journal?: Journal;
  /** Sequence number of the last record `metadata` includes (from recovery). */
  journalSeq?: number;
  /**
   * The journal could not be written: the in-memory state is now ahead of the
   * disk, so the master must stop (main.ts exits). Defaults to logging.
   */
  onJournalFailure?: (e: Error) => void;
  /** Runs after each durable commit (checkpoint scheduling). */
  afterCommit?: () => void;
  /**
   * No new lease is granted before this time. After a restart an old primary
   * may still hold a lease the master forgot, so grants wait one lease length.
   */
  leaseGrantsFromMs?: number;
  /** Deadline of each SetChunkVersion call to a chunkserver. */
  chunkserverCallTimeoutMs?: number;
}

export class MasterState {
  readonly liveness: Liveness;
  readonly metadata: Metadata;
  readonly leases: LeaseManager;
  readonly replication: ReplicationScheduler;
  /** Read-only, delete-nothing mode until an operator confirms (see safe-mode.ts). */
  readonly safeMode = new SafeMode();
  /** Chunks allocated during the post-restart lease pause: no forgotten lease can exist for them. */
  private readonly createdSinceStart = new Set<string>();
  /** serverId -> until when new chunks avoid it (it failed a chunk creation). */
  private readonly suspects = new Map<string, number>();
  readonly pool: ChunkServerPool;
  private readonly spares: SpareChunks;
  private readonly chunkLocks = new KeyLock();
  private readonly slotLocks = new KeyLock();
  private lastIdIssued = 0;
  private readonly callTimeoutMs: number;
  private readonly journal: Journal | undefined;
  private journalFailure: Error | undefined;
  /** Records handed to the journal (durable or not): the state in memory is the state after this one. */
  private appended: number;
  /** Settles once everything appended so far is durable (never rejects; check journalFailure after). */
  private lastDurable: Promise<void> = Promise.resolve();
  private readonly options: MasterStateOptions;

  constructor(readonly settings: MasterSettings, readonly clock: Clock, readonly log: Logger, options: MasterStateOptions = {}) {
    this.liveness = new Liveness(settings);
    this.metadata = options.metadata ?? new Metadata();
    this.leases = new LeaseManager(settings.lease_ms);
    this.replication = new ReplicationScheduler(settings, this.metadata.chunks, this.liveness,
      (handle) => this.leases.current(handle, this.clock()) !== undefined,
      clock() + settings.heartbeat_interval_ms * settings.heartbeat_misses_dead);
    this.pool = options.pool ?? new ChunkServerPool();
    this.spares = new SpareChunks({
      count: settings.chunk_spares,
      maxAgeMs: settings.lease_ms / 2,
      heardWithinMs: settings.heartbeat_interval_ms * 1.5,
    });
    this.callTimeoutMs = options.chunkserverCallTimeoutMs ?? defaults.rpc_deadline_ms;
    this.journal = options.journal;
    this.appended = options.journalSeq ?? 0;
    this.options = options;
  }

  get namespace() {
    return this.metadata.namespace;
  }

  get chunks() {
    return this.metadata.chunks;
  }

  /**
   * The single point every metadata mutation goes through. The op is applied
   * at once (so concurrent mutations validate against each other in one serial
   * order, the order of the log), handed to the journal in the same turn, and
   * the caller is answered only once it is durable. Concurrent commits share
   * the journal's group commit. Anything that shows state to the outside goes
   * through `visible`, so nobody observes an op before it is durable.
   */
  async commit(op: MetadataOp): Promise<OpResult> {
    if (this.journalFailure) throw new GfsError("EIO", `the operation log failed; the master is stopping: ${this.journalFailure.message}`);
    let res: OpResult;
    try {
      res = this.metadata.apply(op); // checks everything first: a refused op changes nothing and is not logged
    } catch (e) {
      // The refusal (EEXIST, ENOENT, ...) may follow from ops still being committed: like any read, it waits for them.
      await this.lastDurable;
      throw e;
    }
    for (const h of res.garbage) this.leases.forget(h);
    if (!this.journal) return res;
    this.appended++;
    const durable = this.journal.append(op).catch((e: Error) => this.failJournal(e));
    this.lastDurable = durable;
    await durable;
    const failure = this.journalFailure as Error | undefined; // set by failJournal while we waited
    if (failure) throw new GfsError("EIO", `operation not durable: ${failure.message}`);
    this.options.afterCommit?.();
    return res;
  }

  private failJournal(e: Error): void {
    if (this.journalFailure) return;
    this.journalFailure = e;
    this.log.error("operation log write failed; refusing to acknowledge anything more", { error: e.message });
    this.options.onJournalFailure?.(e);
  }

  /**
   * Runs `fn` (a read of the state, or a flow that reads it) and answers only
   * once every op applied by then is durable: a result, or an error like
   * ENOENT, may reflect ops still being committed.
   */
  async visible<T>(fn: () => T | Promise<T>): Promise<T> {
    let value: T | undefined;
    let error: unknown;
    let failed = false;
    try {
      value = await fn();
    } catch (e) {
      failed = true;
      error = e;
    }
    await this.lastDurable; // read after fn: covers every op fn could have seen
    if (this.journalFailure) throw new GfsError("EIO", `the operation log failed; the master is stopping: ${this.journalFailure.message}`);
    if (failed) throw error;
    return value as T;
  }

  /** Resolves once everything applied so far is durable; returns the sequence number that covers. */
  async durable(): Promise<number> {
    const seq = this.appended;
    await this.lastDurable;
    if (this.journalFailure) throw this.journalFailure;
    return seq;
  }

  /** Sequence number of the last op applied in memory (durable or not). */
  get appliedSeq(): number {
    return this.appended;
  }

  /** Fresh inode ids, never reused even if commits are still in flight. */
  allocIds(n: number): number[] {
    const base = Math.max(this.lastIdIssued, this.namespace.maxId);
    this.lastIdIssued = base + n;
    return Array.from({ length: n }, (_, i) => base + 1 + i);
  }

  /** Periodic work: declare silent chunkservers dead; plan copies of chunks that lack replicas. */
  tick(): void {
    const now = this.clock();
    for (const s of this.spares.expire(now)) this.discardSpare(s, "expired");
    for (const ev of this.liveness.sweep(now)) {
      this.log.warn("chunkserver dead", { serverId: ev.serverId, address: this.liveness.get(ev.serverId)?.address });
      this.replication.noteChange();
    }
    for (const o of this.replication.plan(now)) {
      this.log.info("re-replication ordered", {
        handle: o.handle, version: o.version, goodReplicas: o.good,
        source: this.address(o.sourceId).address, target: this.address(o.targetId).address,
      });
    }
    for (const handle of this.replication.leaseBlocked) void this.revokeForCopy(handle);
  }

  private readonly revoking = new Set<string>();

  /**
   * A chunk short of replicas is held by a lease: ask its primary to give the
   * lease back (it answers once mutations already ordered are done) rather
   * than wait up to a lease length to copy it. An unreachable primary's lease
   * is left to expire: it might still be acting on it.
   */
  private async revokeForCopy(handle: string): Promise<void> {
    const lease = this.leases.current(handle, this.clock());
    if (!lease || this.revoking.has(handle) || !this.isAlive(lease.primaryId)) return;
    this.revoking.add(handle);
    try {
      await this.pool.get(this.address(lease.primaryId).address).api.RevokeLease({ handle, version: lease.version }, { timeoutMs: this.callTimeoutMs });
      if (this.leases.release(handle, lease.primaryId, lease.version)) {
        this.log.info("lease revoked to re-replicate", { handle, version: lease.version, primary: lease.primaryId });
      }
    } catch (e) {
      this.log.warn("lease revocation failed; waiting for expiry", { handle, error: (e as Error).message });
    } finally {
      this.revoking.delete(handle);
    }
  }

  private readonly isAlive = (serverId: string): boolean => this.liveness.isAlive(serverId);

  private address(serverId: string): ServerAddress__Output {
    const s = this.liveness.get(serverId);
    return { serverId, address: s?.address ?? "", rack: s?.rack ?? "" };
  }

  /** Live, current, uncorrupted replicas of a chunk, least loaded first. */
  location(index: number, handle: string): ChunkLocation__Output {
    const c = this.chunks.get(handle);
    if (!c) return { index, handle: "", version: 0, replicas: [], lease: null };
    const ids = this.chunks.goodReplicas(handle, this.isAlive)
      .sort((a, b) => (this.liveness.get(a)?.load ?? 0) - (this.liveness.get(b)?.load ?? 0));
    return { index, handle, version: c.version, replicas: ids.map((id) => this.address(id)), lease: null };
  }

  // -------------------------------------------------------------------------
  // Chunks
  // -------------------------------------------------------------------------

  findChunks(path: string, offset: number, length: number) {
    checkUint(offset, "offset");
    checkUint(length, "length");
    const { info, chunks } = this.namespace.file(path);
    const cs = this.settings.chunk_size_bytes;
    const out: ChunkLocation__Output[] = [];
    if (length > 0 && chunks.length > 0) {
      const first = Math.floor(offset / cs);
      const last = Math.min(chunks.length - 1, Math.floor((offset + length - 1) / cs));
      for (let i = first; i <= last; i++) out.push(this.location(i, chunks[i]));
    }
    return { info, chunkSizeBytes: cs, chunks: out };
  }

  /** Idempotent: returns the chunk at slot `index`, allocating and placing it first if the slot is empty. */
  async addChunk(path: string, index: number): Promise<ChunkLocation__Output> {
    return (await this.allocate(path, index, true))!;
  }

  /**
   * addChunk, but only with a spare chunk that is ready: never waits for
   * chunkservers (a slow or cut-off one would hold the caller up to its
   * deadline). Undefined when there is none; the writer's AddChunk will do.
   */
  async addSpareChunk(path: string, index: number): Promise<ChunkLocation__Output | undefined> {
    return this.allocate(path, index, false);
  }

  private async allocate(path: string, index: number, createIfNoSpare: boolean): Promise<ChunkLocation__Output | undefined> {
    checkUint(index, "chunk index");
    if (index * this.settings.chunk_size_bytes > Number.MAX_SAFE_INTEGER) throw new GfsError("EFBIG", `chunk ${index} of ${path}`);
    const fileId = this.namespace.file(path).info.id;
    const answer = this.slotLocks.run(`${fileId}:${index}`, async () => {
      const file = this.namespace.file(path);
      if (file.info.id !== fileId) throw new GfsError("ENOENT", `${path} was replaced`);
      const existing = file.chunks[index] ?? "";
      if (existing) return this.location(index, existing);

      const chunk = this.takeSpare() ?? (createIfNoSpare ? await this.createChunkFor(path, index) : undefined);
      if (!chunk) return undefined;
      const { handle, serverIds: created, primaryId, grantedAtMs: grantedAt } = chunk;
      try {
        await this.commit({ op: "addChunk", path, index, handle, version: 1 });
        if (this.clock() < (this.options.leaseGrantsFromMs ?? 0)) this.createdSinceStart.add(handle);
      } catch (e) {
        this.chunks.abandon(handle, created); // e.g. the file was deleted while we waited
        throw e;
      }
      for (const id of created) this.chunks.confirmReplica(id, handle, 1, 0);
      const lease = this.leases.current(handle, this.clock()) ?? this.leases.grant(handle, primaryId, 1, grantedAt);
      this.log.info("chunk added", { path, index, handle, replicas: created });
      return { ...this.location(index, handle), lease: this.leaseInfo(lease, this.clock()) };
    });
    // Spares are topped up once this answer is on its way (the reply is written in the microtasks
    // that follow; setImmediate comes after them): the creations on chunkservers would otherwise
    // compete with the commit and the reply for the CPU, and the spares left cover the next writers.
    answer.finally(() => setImmediate(() => void this.refillSpares())).catch(() => {});
    return answer;
  }

  /**
   * Creates `n` empty chunks (version 1) on the same `replication` live
   * servers, each with its first lease riding on the creation, saving the
   * writer a second round of version updates; no other lease can exist for a
   * handle that did not exist. Primaries go round the servers, least loaded
   * first. One call per server: SetChunkVersion for one chunk, CreateChunks
   * for more. The handles stay reserved until committed or abandoned; on any
   * failure all are abandoned and the failing servers avoided for a while
   * (see `suspects`).
   */
  private async createChunks(n: number): Promise<{ chunks: SpareChunk[]; failures: string[]; noSpace?: boolean }> {
    const now = this.clock();
    const avoid = new Set([...this.suspects].filter(([id, until]) => until > now && this.liveness.isAlive(id)).map(([id]) => id));
    // Room for a whole chunk: a new chunk may grow to one, and a disk with less is full for new data.
    const chosen = placeReplicas(this.liveness.alive(), this.settings.replication, avoid, this.settings.chunk_size_bytes);
    const handles: string[] = [];
    for (let k = 0; k < n; k++) {
      let handle = randomHandle();
      while (this.chunks.has(handle)) handle = randomHandle();
      this.chunks.reserve(handle);
      handles.push(handle);
    }
    const byLoad = [...chosen].sort((a, b) => a.load - b.load || (a.serverId < b.serverId ? -1 : 1));
    const primaryOf = (k: number) => byLoad[k % byLoad.length]!.serverId;
    const requests = (serverId: string) => handles.map((handle, k) =>
      ({ handle, version: 1, create: true, leaseMs: primaryOf(k) === serverId ? this.settings.lease_ms : 0 }));
    const results = await Promise.allSettled(chosen.map((s) => {
      const api = this.pool.get(s.address).api;
      const opts = { timeoutMs: this.callTimeoutMs };
      return n === 1 ? api.SetChunkVersion(requests(s.serverId)[0]!, opts) : api.CreateChunks({ chunks: requests(s.serverId) }, opts);
    }));
    const grantedAtMs = this.clock(); // after the primaries' receipt: the master's view of the leases ends later
    const serverIds = chosen.filter((_, i) => results[i].status === "fulfilled").map((s) => s.serverId);
    const failures = chosen.flatMap((s, i) => {
      const r = results[i];
      return r.status === "rejected" ? [`${s.address}: ${(r.reason as Error).message}`] : [];
    });
    if (failures.length === 0) return { chunks: handles.map((handle, k) => ({ handle, serverIds, primaryId: primaryOf(k), grantedAtMs })), failures };
    for (const handle of handles) this.chunks.abandon(handle, serverIds);
    const noSpace = results.some((r) => r.status === "rejected" && (r.reason as { errno?: string }).errno === "ENOSPC");
    // A server that just failed a creation is avoided until it heartbeats again or is declared dead,
    // so a crashed server is not chosen over and over in the seconds before its death is noticed.
    const deadAfter = this.settings.heartbeat_interval_ms * this.settings.heartbeat_misses_dead;
    chosen.forEach((s, i) => { if (results[i].status === "rejected") this.suspects.set(s.serverId, this.clock() + deadAfter); });
    this.log.warn("chunk creation failed", { handles, failures });
    return { chunks: [], failures, noSpace };
  }

  /** A chunk for slot `index` of `path`, created now (a few attempts, placing around servers that fail). */
  private async createChunkFor(path: string, index: number): Promise<SpareChunk> {
    let full: string | undefined; // a server's disk was full: the writer's answer is ENOSPC, not "try again"
    for (let attempt = 1; ; attempt++) {
      let created: Awaited<ReturnType<MasterState["createChunks"]>>;
      try {
        created = await this.createChunks(1);
      } catch (e) {
        if (full) throw new GfsError("ENOSPC", `could not create chunk ${index} of ${path}: ${full}`);
        throw e;
      }
      const { chunks: [chunk], failures, noSpace } = created;
      if (chunk) return chunk;
      if (noSpace) full = failures.join("; ");
      if (attempt >= 3) throw new GfsError(full ? "ENOSPC" : "EAGAIN", `could not create chunk ${index} of ${path}: ${failures.join("; ")}`);
    }
  }

  private takeSpare(): SpareChunk | undefined {
    const { spare, discarded } = this.spares.take(this.clock(), (id) => {
      const s = this.liveness.get(id);
      return s?.alive && !this.suspects.has(id) ? s.lastHeartbeatMs : undefined;
    });
    for (const s of discarded) this.discardSpare(s, "no longer usable");
    return spare;
  }

  /** Tops the spares up in the background, in one batch; a failed batch is retried on the next allocation. */
  private async refillSpares(): Promise<void> {
    const n = Math.min(this.spares.shortfall(), defaults.create_chunks_max);
    if (n === 0) return;
    this.spares.creationStarted(n);
    let chunks: SpareChunk[] = [];
    try {
      chunks = (await this.createChunks(n)).chunks;
    } catch (e) {
      this.log.warn("spare chunk creation failed", { error: (e as Error).message });
    }
    for (let k = 0; k < n; k++) this.spares.creationEnded(chunks[k]);
  }

  private discardSpare(s: SpareChunk, why: string): void {
    this.chunks.abandon(s.handle, s.serverIds);
    this.log.info("spare chunk discarded", { handle: s.handle, why });
  }

  private leaseInfo(lease: Lease, now: number): LeaseInfo__Output {
    const c = this.chunks.get(lease.handle)!;
    // Every replica at the lease's version, alive or not: leaving a dead one out would let it miss
    // writes yet look current when it returns. The primary releases the lease when a secondary fails.
    const secondaries = [...c.replicas].filter(([id, r]) => id !== lease.primaryId && r.version === lease.version && !r.corrupt)
      .map(([id]) => id).sort().map((id) => this.address(id));
    return {
      handle: lease.handle, version: lease.version, primary: this.address(lease.primaryId), secondaries,
      leaseRemainingMs: Math.max(0, lease.expiresMs - now),
    };
  }

  /** The current lease of a chunk, granting one (with a version bump) if none is current. */
  async getLease(handle: string): Promise<LeaseInfo__Output> {
    checkHandle(handle);
    return this.chunkLocks.run(handle, async () => {
      const c = this.chunks.get(handle);
      if (!c) throw new GfsError("ESTALE", `no chunk ${handle} (deleted or never allocated)`);
      const now = this.clock();
      const current = this.leases.current(handle, now);
      if (current) return this.leaseInfo(current, now);

      // Only chunks that existed before the restart can have a lease the master forgot.
      const pauseUntil = this.options.leaseGrantsFromMs ?? 0;
      if (now < pauseUntil && !this.createdSinceStart.has(handle)) {
        throw new GfsError("EAGAIN", `master restarted recently: no new lease for ${pauseUntil - now} ms, until any lease it forgot has expired`);
      }
      const replicas = this.chunks.goodReplicas(handle, this.isAlive);
      const need = this.settings.replication;
      if (replicas.length < need) {
        throw new GfsError("EAGAIN", `chunk ${handle} has ${replicas.length} of ${need} replicas reachable`);
      }
      const decision = this.leases.decide(handle, c.version,
        replicas.map((id) => ({ serverId: id, load: this.liveness.get(id)?.load ?? 0 })), now);
      if (decision?.kind !== "grant") throw new Error(`invariant: no lease decision for ${handle}`);
      const { version, primaryId } = decision;
      const results = await Promise.allSettled(replicas.map((id) =>
        this.pool.get(this.address(id).address).api.SetChunkVersion(
          { handle, version, create: false, leaseMs: id === primaryId ? this.settings.lease_ms : 0 },
          { timeoutMs: this.callTimeoutMs })));
      // The primary counted its lease from receipt; the master counts from now, later, so it never
      // believes a lease over before the primary does.
      const after = this.clock();
      const acked = replicas.filter((_, i) => results[i].status === "fulfilled");
      results.forEach((r, i) => {
        if (r.status === "rejected") {
          this.log.warn("replica missed a version bump", { handle, version, serverId: replicas[i], error: (r.reason as Error).message });
          this.replication.noteChange();
        }
      });
      if (acked.length === 0) {
        // Nobody holds the new version and no mutation happened under it: nothing to record.
        throw new GfsError("EAGAIN", `chunk ${handle} has 0 of ${need} replicas reachable`);
      }
      if (!this.chunks.get(handle)) throw new GfsError("ESTALE", `chunk ${handle} was deleted`);
      // Logged before the grant is returned; a crash before this point is repaired at
      // re-registration, where the replicas' higher version is adopted.
      await this.commit({ op: "bumpVersion", handle, version });
      results.forEach((r, i) => {
        if (r.status === "fulfilled") this.chunks.confirmReplica(replicas[i], handle, version, r.value.chunkLength);
      });
      if (acked.length < need || !acked.includes(primaryId)) {
        throw new GfsError("EAGAIN", `chunk ${handle} has ${acked.length} of ${need} replicas reachable`
          + (acked.includes(primaryId) ? "" : " (the chosen primary did not answer)"));
      }
      const lease = this.leases.grant(handle, primaryId, version, after);
      this.log.info("lease granted", { handle, version, primary: primaryId, replicas: acked });
      return this.leaseInfo(lease, after);
    });
  }

  releaseLease(handle: string, serverId: string, version: number): boolean {
    checkHandle(handle);
    const released = this.leases.release(handle, serverId, version);
    if (released) this.log.info("lease released", { handle, serverId, version });
    return released;
  }

  reportBadReplica(handle: string, serverId: string, reason: string): void {
    checkHandle(handle);
    const known = this.chunks.markCorrupt(serverId, handle, this.isAlive);
    this.replication.noteChange();
    this.log.warn("bad replica reported", { handle, serverId, reason, known });
  }

  // -------------------------------------------------------------------------
  // Chunkserver reports
  // -------------------------------------------------------------------------

  /** Records reported replicas; a version above the master's is adopted through the log. */
  private async recordReplicas(serverId: string, reports: ChunkReport__Output[]): Promise<void> {
    for (const r of reports) {
      if (!isHandle(r.handle)) {
        this.log.warn("chunkserver reported a malformed handle", { serverId, handle: r.handle });
        continue;
      }
      this.replication.onReplicaReported(serverId, r.handle);
      if (this.chunks.recordReplica(serverId, r) !== "newer") continue;
      await this.chunkLocks.run(r.handle, async () => {
        const c = this.chunks.get(r.handle);
        if (c && r.version > c.version) {
          this.log.warn("adopting a higher chunk version reported by a replica", { handle: r.handle, serverId, from: c.version, to: r.version });
          await this.commit({ op: "bumpVersion", handle: r.handle, version: r.version });
        }
        this.chunks.recordReplica(serverId, r);
      });
    }
  }

  async register(req: { serverId: string; address: string; rack: string; capacityBytes: number; usedBytes: number; chunks: ChunkReport__Output[];
    freeBytes?: number; diskId?: string }) {
    if (!req.serverId) throw new GfsError("EINVAL", "register without a server id");
    if (!req.address) throw new GfsError("EINVAL", "register without an address");
    const ev = this.liveness.register({
      serverId: req.serverId, address: req.address, rack: req.rack,
      capacityBytes: req.capacityBytes, usedBytes: req.usedBytes, chunkCount: req.chunks.length, load: 0,
      freeBytes: req.freeBytes, diskId: req.diskId,
    }, this.clock());
    this.chunks.forgetServer(req.serverId);
    for (const s of this.spares.dropServer(req.serverId)) this.discardSpare(s, "a replica's server registered again");
    this.replication.noteChange(); // its report replaces what it held before, and it is a new copy target
    await this.recordReplicas(req.serverId, req.chunks);
    const deleteChunks = this.chunks.takeDeletes(req.serverId);
    this.log.info("chunkserver registered", { serverId: req.serverId, address: req.address, rack: req.rack, chunks: req.chunks.length, deletes: deleteChunks.length, wasDead: !!ev });
    return { heartbeatIntervalMs: this.settings.heartbeat_interval_ms, chunkSizeBytes: this.settings.chunk_size_bytes, deleteChunks };
  }

  async heartbeat(req: {
    serverId: string; capacityBytes: number; usedBytes: number; chunkCount: number; load: number;
    leaseExtensionHandles: string[]; addedChunks: ChunkReport__Output[]; removedChunks: string[]; corruptChunks: string[];
    freeBytes?: number; diskId?: string;
  }) {
    const { known, event } = this.liveness.heartbeat(req.serverId, {
      capacityBytes: req.capacityBytes, usedBytes: req.usedBytes, chunkCount: req.chunkCount, load: req.load,
      freeBytes: req.freeBytes, diskId: req.diskId,
    }, this.clock());
    if (!known) return { reregister: true, deleteChunks: [], replicationOrders: [], extendedLeases: [] };
    if (event) {
      this.log.info("chunkserver alive again", { serverId: req.serverId });
      this.replication.noteChange();
    }
    this.suspects.delete(req.serverId);
    await this.recordReplicas(req.serverId, req.addedChunks);
    if (req.addedChunks.length || req.removedChunks.length || req.corruptChunks.length) this.replication.noteChange();
    for (const h of req.removedChunks) if (isHandle(h)) this.chunks.removeReplica(req.serverId, h);
    for (const h of req.corruptChunks) {
      if (isHandle(h) && this.chunks.markCorrupt(req.serverId, h, this.isAlive)) this.log.warn("chunkserver reports a corrupt replica", { serverId: req.serverId, handle: h });
    }
    // Counted from now, after the primary sent the heartbeat, so the primary's view expires first.
    const now = this.clock();
    const extendedLeases = req.leaseExtensionHandles.filter(isHandle).flatMap((handle) => {
      const c = this.chunks.get(handle);
      // A chunk short of replicas is not kept leased: its lease runs out so the copy can be made.
      const lease = c && !this.replication.needsCopy(handle) && this.leases.extend(handle, req.serverId, c.version, now);
      return lease ? [{ handle, version: lease.version, leaseMs: this.settings.lease_ms }] : [];
    });
    const replicationOrders = this.replication.takeOrders(req.serverId).map((o) => ({
      handle: o.handle, version: o.version, source: this.address(o.sourceId),
    }));
    return { reregister: false, deleteChunks: this.chunks.takeDeletes(req.serverId), replicationOrders, extendedLeases };
  }

  // -------------------------------------------------------------------------
  // Operations
  // -------------------------------------------------------------------------

  fsck(path: string): FsckResponse__Output {
    let healthy = 0;
    let unhealthy = 0;
    const files = this.namespace.files(path).map((f) => ({
      path: f.path, size: f.info.size,
      chunks: f.chunks.flatMap((handle, index) => {
        const c = handle ? this.chunks.get(handle) : undefined;
        if (!c) return [];
        const h = chunkHealth(c, this.settings.replication, this.isAlive);
        if (h.state === "CHUNK_STATE_HEALTHY") healthy++; else unhealthy++;
        return [{
          index, handle, version: c.version, state: h.state,
          replicas: h.replicas.map((r) => ({ ...r, address: this.address(r.serverId).address })),
        }];
      }),
    }));
    return { files, healthyChunks: healthy, unhealthyChunks: unhealthy };
  }

  statFs(): StatFsResponse__Output {
    const { capacity, free } = clusterSpace(this.liveness.alive());
    return {
      capacityBytes: capacity, freeBytes: free, fileCount: this.namespace.counts().files,
      replication: this.settings.replication, chunkSizeBytes: this.settings.chunk_size_bytes,
    };
  }

  status(): StatusResponse__Output {
    const now = this.clock();
    let under = 0;
    for (const c of this.chunks.entries()) {
      if (chunkHealth(c, this.settings.replication, this.isAlive).state !== "CHUNK_STATE_HEALTHY") under++;
    }
    return {
      chunkservers: this.liveness.all().map((s) => ({
        serverId: s.serverId, address: s.address, rack: s.rack,
        capacityBytes: s.capacityBytes, usedBytes: s.usedBytes, chunkCount: s.chunkCount,
        alive: s.alive, lastHeartbeatAgeMs: Math.max(0, now - s.lastHeartbeatMs), load: s.load,
      })),
      fileCount: this.namespace.counts().files,
      chunkCount: this.chunks.size,
      underReplicatedChunks: under,
      chunkSizeBytes: this.settings.chunk_size_bytes,
      replication: this.settings.replication,
      opLogCommits: this.journal?.stats.commits ?? 0,
      opLogRecords: this.journal?.stats.records ?? 0,
    };
  }
}

export function checkUint(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new GfsError("EINVAL", `bad ${what} ${n}`);
  return n;
}
