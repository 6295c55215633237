// The master's state and the driver of its decisions. The decisions live in
// pure modules (namespace, chunk table, placement, lease manager, liveness,
// and the core of core.ts: lease-grant, chunk-creation, lease-revocation,
// reported-leases, replica-reports, version-announce) that take the state,
// the time and their inputs and return effects. This class does the I/O:
// it commits their records through the journal, sends their messages through
// the pool, feeds the answers back, and writes their log lines. Time, timers
// and random values come from an Env (the simulator gives its own).
import {
  ChunkServerPool, GfsError, checkHandle, defaults, isHandle, notActiveError, parseHostPort, randomHandle, realEnv, sleep,
  type ChunkLocation__Output, type ChunkReport__Output, type FileInfo__Output, type Env, type HeldLease__Output, type FsckResponse__Output, type LeaseInfo__Output,
  type Logger, type MasterStatus__Output, type ServerAddress__Output, type StatFsResponse__Output, type StatusResponse__Output,
} from "@gfs/common";
import { chunkHealth } from "./chunk-health";
import { ClusterEvents, livenessEvents, replicationEvents, safeModeEvents } from "./cluster-events";
import { creationOutcome, planCreation } from "./chunk-creation";
import { decideFence, fenceMessages, fenceOutcome, fenceViewOf, type Fence } from "./fencing";
import { isBehind, type ChunkEntry } from "./chunk-table";
import { planRemovals } from "./excess-replicas";
import { addressOf, type LogEvent, type MasterCore, type Message, type Result } from "./core";
import { extendLeases, grantOutcome, leaseInfo, planGrant, type Refusal } from "./lease-grant";
import { planRevoke, revokeOutcome, type RevokePlan } from "./lease-revocation";
import { cowOutcome, planCow, SnapshotFence } from "./copy-on-write";
import { tickDecisions } from "./tick";
import { forgottenLease, honourLeases } from "./reported-leases";
import { recordReports } from "./replica-reports";
import { announceOutcome, planAnnounce } from "./version-announce";
import { chunkAt, chunkEntries, slotCount } from "./chunk-list";
import { unknownChunksAlarm, unknownChunksWithData } from "./garbage-policy";
import { KeyLock } from "./key-lock";
import { LeaseManager } from "./lease-manager";
import { Liveness } from "./liveness";
import { checkOpLimits, Metadata, type MetadataOp } from "./metadata";
import { checkQuotas } from "./quota-accounting";
import { quotaInfos } from "./quota-handlers";
import { quotaGraceMs } from "./quota-table";
import { checkChunkIndex, type OpResult } from "./namespace";
import { clusterSpace, placeReplicas } from "./placement";
import { ReplicationScheduler } from "./replication-scheduler";
import { ServerLifecycle } from "./server-lifecycle";
import { SafeMode } from "./safe-mode";
import { SessionKeeping } from "./session-keeping";
import { TrashExpiry } from "./trash-expiry";
import { checkTrashReadOnly, inodeInTrash, trashUsage } from "./trash-table";
import { UnverifiedReplicas, type ReplicaVerdict } from "./unverified-replicas";
import { VerifyQueue } from "./replica-verification";
import { SpareChunks, type SpareChunk } from "./spare-chunks";
import type { MasterSettings } from "./settings";

/** A replica report; the corrupt/unverified/crcDigest fields (issue 12) may be absent, as from older chunkservers. */
type ReportedChunk = Omit<ChunkReport__Output, "corrupt" | "unverified" | "crcDigest"> & { corrupt?: boolean; unverified?: boolean; crcDigest?: number };

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
   * Until this time (start + one lease length) an old primary may still hold a
   * lease the master forgot. Chunkservers report the leases they hold when they
   * register, so a pre-existing chunk waits only while some member of its last
   * logged grant set has not registered since the start (see forgottenLease).
   */
  leaseGrantsFromMs?: number;
  /** Deadline of each SetChunkVersion call to a chunkserver. */
  chunkserverCallTimeoutMs?: number;
  /**
   * Timers and random values (chunk handles, lease tokens); realEnv by
   * default. The clock stays the constructor's `clock`.
   */
  env?: Env;
  /**
   * Issue 16: "single" (no etcd: as before), "active" (elected; its epoch
   * goes on every command to a chunkserver) or "shadow" (follows the active's
   * log through applyReplicated: commits nothing, sends nothing, plans
   * nothing; it serves reads and keeps chunkserver reports for locations).
   */
  role?: MasterRole;
  /** The epoch this master serves (active) or follows (shadow); 0 for a single master. */
  epoch?: number;
  /** Where changes the status page shows go (kept across a replicated master's roles); a fresh ring by default. */
  events?: ClusterEvents;
}

export type MasterRole = "single" | "active" | "shadow";

export { keepReplicas } from "./lease-grant";

export class MasterState implements MasterCore {
  readonly liveness: Liveness;
  readonly metadata: Metadata;
  readonly leases: LeaseManager;
  readonly replication: ReplicationScheduler;
  /** Issue 18: leave, drain, forget, excess removal and the balancer (server-lifecycle.ts). */
  readonly lifecycle: ServerLifecycle;
  /** Read-only, delete-nothing mode until an operator confirms (see safe-mode.ts). */
  readonly safeMode: SafeMode;
  /** Mount sessions and the files they hold open (issue 19: unlinked files live on until their last close). */
  readonly sessions: SessionKeeping;
  /** Recent cluster events (status page, `gfs status --json`). */
  readonly events: ClusterEvents;
  /** Issue 20, trash lane: reclaims trash entries whose retention ran out (trash-expiry.ts). */
  readonly trashExpiry: TrashExpiry = new TrashExpiry(this);
  /** Servers that registered since this master started: they reported every lease they hold. */
  readonly registeredSinceStart = new Set<string>();
  /** serverId -> until when new chunks avoid it (it failed a chunk creation). */
  readonly suspects = new Map<string, number>();
  /** Replicas reported corrupt or unverified by their own server (see unverified-replicas.ts). */
  private readonly unverifiedReplicas = new UnverifiedReplicas();
  /** Replicas clients reported bad, to be verified by their own servers (see replica-verification.ts). */
  private readonly verifyQueue = new VerifyQueue(defaults);
  readonly pool: ChunkServerPool;
  private readonly spares: SpareChunks;
  private readonly chunkLocks = new KeyLock();
  /** Chunks whose lease grant is under way (version bumped, replicas being told): not to be copied yet. */
  private readonly granting = new Set<string>();
  /** handle -> grant-set members one behind that are being told the logged version (reannounce): verified holders meanwhile. */
  private readonly announcing = new Map<string, Set<string>>();
  /**
   * New chunks (a spare or one just created) being added to a file: their first lease was granted on the
   * chunkservers when they were created, but this master records it only once the addition is durable
   * (placed). Until then they count as leased for re-replication: the addition is applied in memory before
   * the op log is durable, and a copy planned in that window (no lease known, grant set not yet confirmed)
   * was made of the empty chunk while its primary ordered appends under that first lease to the other
   * replicas; at the next grant the copy, at the same version, joined the grant set and served zeros where
   * acknowledged records were (record-append.test.ts, a secondary killed mid-run).
   */
  private readonly placing = new Set<string>();
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
  private readonly env: Env;
  readonly role: MasterRole;
  readonly epoch: number;
  /** An active master that stepped down (issue 16): from then on it acts as a shadow until its role is closed. */
  private deposed = false;

  /** Stops acting as the active master at once: nothing more is committed, sent or answered as active. */
  depose(): void {
    this.deposed = true;
  }

  /** A shadow, or a deposed active: commits nothing, sends nothing, plans nothing, answers chunkservers as a shadow. */
  get actsAsShadow(): boolean {
    return this.role === "shadow" || this.deposed;
  }

  /** A shadow's view of where the active master is (for the ENOTACTIVE hint). */
  activeAddress: string | undefined;
  /** The masters of a replicated set as this one knows them, itself first (issue 16; Status). */
  mastersStatus: () => MasterStatus__Output[] = () => [];

  constructor(readonly settings: MasterSettings, readonly clock: Clock, readonly log: Logger, options: MasterStateOptions = {}) {
    this.events = options.events ?? new ClusterEvents(defaults.status_events_max, clock);
    this.liveness = new Liveness(settings, livenessEvents(this.events));
    this.safeMode = new SafeMode(safeModeEvents(this.events));
    this.metadata = options.metadata ?? new Metadata();
    this.metadata.chunks.isAlive = (id) => this.liveness.isAlive(id); // stale replicas go only once a live current one exists
    this.leases = new LeaseManager(settings.lease_ms);
    this.metadata.namespace.defaultGoal = settings.replication; // FileInfo.goal of a node without one of its own
    this.replication = new ReplicationScheduler(settings, this.metadata.chunks, this.liveness,
      // A grant in flight counts as a lease: its version is logged and its replicas are being told, so a copy
      // of that version made now would miss the mutations the lease is about to order (simulator seed 5).
      (handle) => this.leasedOrGranting(handle),
      clock() + settings.heartbeat_interval_ms * settings.heartbeat_misses_dead, replicationEvents(this.events));
    this.replication.goalOf = (c) => this.goalOf(c);
    this.replication.retiringIds = () => this.retiringIds;
    this.lifecycle = new ServerLifecycle(this);
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
    this.env = options.env ?? realEnv;
    this.role = options.role ?? "single";
    this.epoch = options.epoch ?? 0;
    if (this.role === "single" && this.epoch !== 0) throw new Error("invariant: a single master has epoch 0");
    this.reportsDueByMs = clock() + settings.heartbeat_interval_ms * settings.heartbeat_misses_dead;
    this.sessions = new SessionKeeping(this, {
      leaseMs: settings.session_lease_ms ?? defaults.session_lease_ms,
      sessionsMax: defaults.sessions_max,
      openPerSessionMax: defaults.session_open_files_max,
      sessionsPerPeerMax: defaults.sessions_per_peer_max,
      holdsMax: defaults.session_holds_max,
    });
  }

  /** A lease, or a grant or placement under way (the balancer plans no move of such a chunk). */
  readonly hasLeaseOrGrant = (handle: string): boolean => this.leasedOrGranting(handle);

  /**
   * Issue 18: drained chunkservers (see server-states.ts): the one source every rule reads (placement, grants,
   * re-replication, excess removal, the balancer, status), from the logged drain list.
   */
  get retiringIds(): ReadonlySet<string> {
    return this.metadata.draining;
  }

  /** A lease, or a grant or placement under way: the chunk's replicas are neither copied nor removed now. */
  private leasedOrGranting(handle: string): boolean {
    return this.leases.current(handle, this.clock()) !== undefined || this.granting.has(handle) || this.placing.has(handle);
  }

  /**
   * Issue 18: replicas wanted of a chunk: its file's goal, or the cluster's default (--replication). Issue 20:
   * a chunk a snapshot shares wants the highest goal of the files referencing it.
   */
  goalOf(c: ChunkEntry): number {
    const sharers = this.chunks.sharers(c.handle);
    if (!sharers) return this.namespace.goalOfId(c.fileId) || this.settings.replication;
    return Math.max(...sharers.map((id) => this.namespace.goalOfId(id) || this.settings.replication));
  }

  /** The effective goal of the entry at `path` (a new entry: its directory's). */
  private goalAt(path: string): number {
    return this.namespace.stat(path).goal || this.settings.replication;
  }

  /** Some chunk may be above its goal (a goal lowered, a replica reported, a copy done): check on the next tick. */
  private excessCheckDue = true;

  /** Asks for an excess-replica check on the next tick (a server started draining, a balancer move landed). */
  requestExcessCheck(): void {
    this.excessCheckDue = true;
  }

  /**
   * What excess removal is told besides the chunks and the drained servers (excess-replicas.ts RemovalInput):
   * the balancer's move sources. Set by the chunkserver lifecycle; none by default.
   */
  removalHints: { preferredVictim?(handle: string): string | undefined } = {};

  /**
   * Issue 18: excess replicas (excess-replicas.ts), ordered deleted on their holders' next replies and
   * forgotten at once. Checked while something may have changed, and again while a chunk above its goal
   * is held back by a lease or a copy (those end without an event), at a bounded rate per tick.
   */
  private removeExcess(): void {
    if (!this.excessCheckDue || this.safeMode.active) return;
    // After a start or promotion, the servers not heard from yet may hold replicas a forgotten lease's primary
    // still writes to: nothing is removed until every live server has reported (as re-replication waits).
    const now = this.clock();
    if (now < this.reportsDueByMs) return;
    let heldBack = false;
    const inFlight = this.replication.copiesUnderWay();
    const orders = planRemovals({
      chunks: this.chunks.entries(), goalOf: (c) => this.goalOf(c), liveServers: this.liveness.alive(), inFlight,
      // A chunk whose replicas are being verified after a crash keeps them all until that is settled, and one
      // whose lease this master may have forgotten (it restarted) keeps them until that lease has run out.
      hasLease: (h) => {
        const l = this.leasedOrGranting(h) || this.hasUnverifiedReplica(h) || forgottenLease(this, h, now) !== undefined;
        heldBack ||= l;
        return l;
      },
      removalsMax: defaults.replication_removals_per_tick_max, safeMode: this.safeMode.active,
      retiringIds: this.retiringIds,
      preferredVictim: this.removalHints.preferredVictim && ((h) => this.removalHints.preferredVictim!(h)),
    });
    this.excessCheckDue = heldBack || inFlight.length > 0 || orders.length >= defaults.replication_removals_per_tick_max;
    for (const o of orders) {
      this.chunks.removeExcessReplica(o.serverId, o.handle);
      this.log.info("excess replica removed", { handle: o.handle, version: o.version, serverId: o.serverId });
    }
  }

  /**
   * Issue 18: sets the goal of `path` (and, `recursive`, of everything under it): logged, then the
   * scheduler copies chunks now below their goal and the next tick removes replicas above it.
   */
  async setReplication(path: string, goal: number, recursive: boolean): Promise<{ changed: number; info: FileInfo__Output }> {
    const res = await this.commit({ op: "setGoal", path, goal, recursive, timeMs: this.clock() });
    this.replication.noteChange();
    this.excessCheckDue = true;
    this.log.info("replication goal set", { path, goal, recursive, changed: res.changed ?? 0 });
    return { changed: res.changed ?? 0, info: res.info! };
  }

  /** What the master knows of `serverId`'s replicas goes: it registers again (a new report follows) or is forgotten. */
  private forgetReplicasOf(serverId: string, why: string): void {
    this.chunks.forgetServer(serverId);
    for (const s of this.spares.dropServer(serverId)) this.discardSpare(s, why);
  }

  /** Its replicas' verifications go; `registering`: see UnverifiedReplicas.forgetServer (a new report is judged next). */
  private forgetVerificationsOf(serverId: string, registering: boolean): void {
    this.unverifiedReplicas.forgetServer(serverId, registering);
    this.verifyQueue.forgetServer(serverId);
  }

  /**
   * Issue 18, `gfs chunkserver forget`: a server that is not alive goes from every list, as a registration
   * clears them (no unverified mark left to hold its chunks back from removal or fencing forever), until it
   * registers again. False if it is alive or leaving (then nothing changes).
   */
  forgetServer(serverId: string): boolean {
    const s = this.liveness.get(serverId);
    if (s?.alive || s?.leave === "leaving") return false;
    this.liveness.forget(serverId);
    this.forgetReplicasOf(serverId, "its server was forgotten");
    this.forgetVerificationsOf(serverId, false);
    this.suspects.delete(serverId);
    this.replication.forgetServer(serverId);
    this.replication.noteChange();
    this.excessCheckDue = true;
    return true;
  }

  hasUnverifiedReplica(handle: string): boolean {
    const u = this.unverifiedReplicas;
    return u.heldFor(handle).length + u.releasedFor(handle).length + u.condemnedFor(handle).length > 0;
  }

  isReleasedReplica(handle: string, serverId: string): boolean {
    return this.unverifiedReplicas.releasedFor(handle).includes(serverId);
  }

  get leaseGrantsFromMs(): number {
    return this.options.leaseGrantsFromMs ?? 0;
  }

  /** A lease grant's secret: 16 random bytes, hex. */
  private leaseToken(): string {
    return this.env.randomBytes(16).toString("hex");
  }

  /** Sends one of the core's messages; the answer or the error, as the core takes it back. */
  private async send<T = { chunkLength: number }>(m: Message): Promise<Result<T>> {
    const opts = { timeoutMs: this.callTimeoutMs };
    // A shadow commands nobody (chunkservers would refuse it anyway: see its role in their replies).
    if (this.actsAsShadow) return { ok: false, error: "a shadow master sends no commands" };
    // Fencing (issue 16): a chunkserver refuses a command from an epoch below the highest it has seen.
    (m.request as { masterEpoch?: number }).masterEpoch = this.epoch;
    try {
      const api = this.pool.get(this.address(m.to)).api;
      const value = m.rpc === "SetChunkVersion" ? await api.SetChunkVersion(m.request, opts)
        : m.rpc === "CreateChunks" ? await api.CreateChunks(m.request, opts)
        : m.rpc === "CopyChunkLocal" ? await api.CopyChunkLocal(m.request, opts)
        : await api.RevokeLease(m.request, opts);
      return { ok: true, value: value as T };
    } catch (e) {
      return { ok: false, error: (e as Error).message, errno: (e as { errno?: string }).errno };
    }
  }

  private write(events: LogEvent[]): void {
    for (const e of events) this.log[e.level](e.msg, e.fields);
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
    if (this.actsAsShadow) throw notActiveError(`${op.op}${"path" in op ? ` ${op.path}` : ""}`, this.activeAddress);
    if (this.journalFailure) throw new GfsError("EIO", `the operation log failed; the master is stopping: ${this.journalFailure.message}`);
    let res: OpResult;
    try {
      checkOpLimits(op, this.settings.chunk_size_bytes); // new ops only: replay must accept what older masters logged
      checkTrashReadOnly(op, (p) => inodeInTrash(this.metadata, p)); // issue 20, trash lane: only trash ops change /.trash (EROFS)
      // Issue 20, quota lane: EDQUOT past a quota's limit, new ops only too (a logged op was within its quota when logged).
      const usage = checkQuotas(this.metadata, op, quotaGraceMs(this.settings), "timeMs" in op ? op.timeMs : this.clock());
      res = this.metadata.apply(op, usage); // checks everything first: a refused op changes nothing and is not logged
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

  /**
   * A shadow applies records the active committed (issue 16), in log order.
   * Besides the metadata, what a record implies about replicas is noted so
   * the locations a shadow serves stay current without commands of its own:
   * a new chunk is on the servers it was created on, and a grant's members
   * take its version (as the active told them once the record was durable).
   */
  applyReplicated(ops: readonly MetadataOp[]): void {
    if (this.role !== "shadow") throw new Error(`invariant: only a shadow applies replicated records (this master is ${this.role})`);
    for (const op of ops) {
      const res = this.metadata.apply(op);
      this.appended++;
      for (const h of res.garbage) this.leases.forget(h);
      this.noteReplicasOf(op);
    }
  }

  private noteReplicasOf(op: MetadataOp): void {
    const chunk = op.op === "addChunk" ? { handle: op.handle, version: op.version, replicas: op.replicas }
      : op.op === "createWithChunk" ? op.chunk : op.op === "bumpVersion" ? { handle: op.handle, version: op.version, replicas: op.replicas }
      // Issue 20: a copy-on-write's copy is on the servers that made it.
      : op.op === "cowChunk" ? { handle: op.handle, version: op.version, replicas: op.replicas } : undefined;
    if (!chunk?.replicas) return;
    const c = this.chunks.get(chunk.handle);
    if (!c || c.version !== chunk.version) return;
    for (const id of chunk.replicas) {
      if (!this.liveness.get(id)) continue; // not registered here (yet): its registration reports it
      this.chunks.confirmReplica(id, chunk.handle, chunk.version, c.replicas.get(id)?.length ?? 0);
    }
  }

  /** Fresh inode ids, never reused even if commits are still in flight. */
  allocIds(n: number): number[] {
    const base = Math.max(this.lastIdIssued, this.namespace.maxId);
    this.lastIdIssued = base + n;
    return Array.from({ length: n }, (_, i) => base + 1 + i);
  }

  /** Periodic work (see tick.ts): declare silent chunkservers dead; plan copies of chunks that lack replicas; revoke leases that block them. */
  tick(): void {
    const now = this.clock();
    if (this.actsAsShadow) {
      // A shadow only keeps liveness (for fsck, status and the locations it serves): the active plans and acts.
      for (const ev of this.liveness.sweep(now)) this.log.warn("chunkserver dead", { serverId: ev.serverId });
      return;
    }
    for (const s of this.spares.expire(now)) this.discardSpare(s, "expired");
    const fx = tickDecisions(this, now, this.revoking, this.fencing);
    this.write(fx.events);
    this.removeExcess();
    // A dead primary's lease is fenced (fencing.ts); a live one's is asked back (lease-revocation.ts).
    for (const f of fx.fences) void this.fence(f);
    for (const plan of fx.revokes) void this.revokeForCopy(plan);
    this.lifecycle.tick(now);
    this.sessions.tick();
    this.trashExpiry.tick(); // issue 20, trash lane
  }

  private readonly fencing = new Set<string>();

  /**
   * Fences a dead primary's lease (see fencing.ts): decided again under the
   * chunk's lock (a grant or another fence may have come first), logged, told
   * to the survivors, and the lease dropped.
   */
  private async fence(planned: Fence): Promise<void> {
    const { handle } = planned;
    if (this.fencing.has(handle)) return;
    this.fencing.add(handle);
    let fenced = false;
    try {
      fenced = await this.chunkLocks.run(handle, async () => {
        const f = decideFence(handle, fenceViewOf(this, this.clock()));
        if ("skip" in f) return false;
        this.leases.reserveVersion(handle, f.version);
        await this.commit(f.record);
        const results = await Promise.all(fenceMessages(f).map((m) => this.send(m)));
        const outcome = fenceOutcome(this, f, results);
        this.write(outcome.events);
        for (const id of outcome.behind) void this.reannounce(id, handle); // after this lock: it stays behind (kept) until told
        return true;
      });
    } catch (e) {
      this.log.warn("fencing a dead primary's lease failed; trying again on a later tick", { handle, error: (e as Error).message });
    } finally {
      this.fencing.delete(handle);
    }
    if (fenced) this.tick(); // copy at once: plan now, not at the next tick
  }

  private readonly revoking = new Set<string>();

  /** Sends a revocation tick (or a snapshot, `why`) decided (see lease-revocation.ts) and feeds the answer back. */
  private async revokeForCopy(plan: Extract<RevokePlan, { kind: "revoke" }>, why?: string): Promise<void> {
    const { handle } = plan.lease;
    if (this.revoking.has(handle)) return;
    this.revoking.add(handle);
    try {
      this.write(revokeOutcome(this, plan.lease, await this.send(plan.message), why));
    } finally {
      this.revoking.delete(handle);
    }
  }

  private readonly isAlive = (serverId: string): boolean => this.liveness.isAlive(serverId);
  /**
   * Alive and heard from within 1.5 heartbeat intervals (as fencing counts survivors): the good copies that let
   * an unverified replica condemned for a verified one go. A server not declared dead yet may have crashed
   * (simulator seed 100: cs1, a crashed primary, counted as the second good copy, and cs2's replica went).
   */
  private readonly heardRecently = (serverId: string): boolean => {
    const s = this.liveness.get(serverId);
    return !!s?.alive && this.clock() - s.lastHeartbeatMs <= this.settings.heartbeat_interval_ms * 1.5;
  };

  private address(serverId: string): ServerAddress__Output {
    return addressOf(this, serverId);
  }

  /**
   * Every live chunkserver: the only addresses a chunkserver may forward a
   * push to. Versioned, so heartbeats carry the list only when it changed
   * (a list per heartbeat would cost servers^2 entries per interval).
   */
  private peers(fresh = false): { chunkservers: ServerAddress__Output[]; chunkserversVersion: number } {
    const now = this.clock();
    // Rebuilt at most every 100 ms (heartbeats from many servers share it), and at every registration.
    if (fresh || !this.peerList || now - this.peerList.atMs >= 100) {
      const live = this.liveness.alive().map((s) => this.address(s.serverId));
      const key = live.map((s) => `${s.serverId} ${s.address} ${s.dataAddress}`).join("\n");
      // Versions start at the clock, so a restarted master never reuses one a chunkserver holds.
      const version = key === this.peerList?.key ? this.peerList.version : Math.max(now, (this.peerList?.version ?? 0) + 1);
      this.peerList = { key, version, live, atMs: now };
    }
    return { chunkservers: this.peerList.live, chunkserversVersion: this.peerList.version };
  }

  private peerList: { key: string; version: number; live: ServerAddress__Output[]; atMs: number } | undefined;

  /** Live, current, uncorrupted replicas of a chunk, least loaded first. */
  location(index: number, handle: string): ChunkLocation__Output {
    const c = this.chunks.get(handle);
    if (!c) return { index, handle: "", version: 0, replicas: [], lease: null, token: "" };
    const ids = this.chunks.goodReplicas(handle, this.isAlive)
      .sort((a, b) => (this.liveness.get(a)?.load ?? 0) - (this.liveness.get(b)?.load ?? 0));
    return { index, handle, version: c.version, replicas: ids.map((id) => this.address(id)), lease: null, token: "" };
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
    const slots = slotCount(chunks);
    if (length > 0 && slots > 0) {
      const first = Math.floor(offset / cs);
      const last = Math.min(slots - 1, Math.floor((offset + length - 1) / cs));
      const max = defaults.find_chunks_reply_max;
      if (last - first + 1 > max) throw new GfsError("EINVAL", `FindChunks of ${path} spans ${last - first + 1} chunks; ask for at most ${max} at once`);
      for (let i = first; i <= last; i++) out.push(this.location(i, chunkAt(chunks, i)));
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
    checkChunkIndex(index, this.settings.chunk_size_bytes, `new chunk of ${path}`);
    const fileId = this.namespace.file(path).info.id;
    const answer = this.slotLocks.run(`${fileId}:${index}`, async () => {
      const file = this.namespace.file(path);
      if (file.info.id !== fileId) throw new GfsError("ENOENT", `${path} was replaced`);
      const existing = chunkAt(file.chunks, index);
      if (existing) return this.location(index, existing);

      // Spares have the default's replicas: a file with a goal of its own gets a chunk made for it.
      const goal = this.goalAt(path);
      const spare = goal === this.settings.replication ? this.takeSpare() : undefined;
      const chunk = spare ?? (createIfNoSpare ? await this.createChunkFor(path, index, goal) : undefined);
      if (!chunk) return undefined;
      const { handle, serverIds: created } = chunk;
      this.placing.add(handle);
      try {
        try {
          await this.commit({ op: "addChunk", path, index, handle, version: 1, replicas: created });
        } catch (e) {
          this.chunks.abandon(handle, created); // e.g. the file was deleted while we waited
          throw e;
        }
        return this.placed(index, chunk);
      } finally {
        this.placing.delete(handle);
      }
    });
    this.refillAfter(answer);
    return answer;
  }

  /**
   * A new chunk's record is durable: its replicas (empty, at version 1) are known and its first
   * lease, granted when it was created, becomes current. Its location, with that lease.
   */
  private placed(index: number, chunk: SpareChunk): ChunkLocation__Output {
    const { handle, serverIds: created, primaryId, grantedAtMs, token } = chunk;
    for (const id of created) this.chunks.confirmReplica(id, handle, 1, 0);
    const lease = this.leases.current(handle, this.clock()) ?? this.leases.grant(handle, primaryId, 1, grantedAtMs, { token, replicas: created });
    // Debug, not info: one line per small file was a measurable share of the master's CPU per create.
    this.log.debug("chunk added", { index, handle, replicas: created });
    return { ...this.location(index, handle), lease: leaseInfo(this, lease, this.clock()) };
  }

  /**
   * Spares are topped up once `answer` is on its way (the reply is written in the microtasks
   * that follow; a 0 ms timer comes after them): the creations on chunkservers would otherwise
   * compete with the commit and the reply for the CPU, and the spares left cover the next writers.
   */
  private refillAfter(answer: Promise<unknown>): void {
    answer.finally(() => this.env.setTimer(() => void this.refillSpares(), 0)).catch(() => {});
  }

  /**
   * Creates a file to be written from scratch: `create` (permissions already checked by the caller in
   * this same turn) and, if the file is new and a spare chunk is ready, that spare as its chunk 0, in ONE
   * record (createWithChunk): one commit, and the writer gets the chunk with its lease in the answer.
   * The spare's lease was granted when it was made (its replicas took version 1 with the lease), so no
   * chunkserver is asked anything here. An existing file (a non-exclusive create), or no usable spare:
   * the plain create, then (existing file) its chunk 0 as AddChunk without waiting for chunkservers.
   */
  async createForWriting(create: Extract<MetadataOp, { op: "create" }>): Promise<{ info: FileInfo__Output; firstChunk?: ChunkLocation__Output }> {
    let spare: SpareChunk | undefined;
    // Synchronous up to the commit's apply: nothing can create the name in between.
    if (!this.namespace.exists(create.path)) {
      try {
        this.metadata.validate({ ...create, op: "create", exclusive: true });
        // A new file takes its directory's goal: spares have the default's replicas.
        if (this.goalAt(create.path.slice(0, create.path.lastIndexOf("/")) || "/") === this.settings.replication) spare = this.takeSpare();
      } catch {
        spare = undefined; // the plain create below fails with the right error, after waiting like any refusal
      }
    }
    if (!spare) {
      const created = await this.commit(create);
      const firstChunk = await this.addSpareChunk(create.path, 0).catch((e: Error) => {
        this.log.warn("no first chunk for a new file", { path: create.path, error: e.message });
        return undefined;
      });
      return { info: firstChunk ? this.namespace.file(create.path).info : created.info!, ...(firstChunk ? { firstChunk } : {}) };
    }
    const answer = (async () => {
      let res: OpResult;
      this.placing.add(spare.handle);
      try {
        try {
          res = await this.commit({ ...create, op: "createWithChunk", chunk: { handle: spare.handle, version: 1, replicas: spare.serverIds } });
        } catch (e) {
          this.chunks.abandon(spare.handle, spare.serverIds); // not applied (or the log failed): its replicas go
          throw e;
        }
        return { info: res.info!, firstChunk: this.placed(0, spare) };
      } finally {
        this.placing.delete(spare.handle);
      }
    })();
    this.refillAfter(answer);
    return answer;
  }

  /** Creates `n` empty chunks with their first leases (see chunk-creation.ts). */
  private async createChunks(n: number, goal = this.settings.replication): Promise<{ chunks: SpareChunk[]; failures: string[]; noSpace?: boolean }> {
    const plan = planCreation(this, n, this.clock(), () => randomHandle((k) => this.env.randomBytes(k)), () => this.leaseToken(), goal);
    const results = await Promise.all(plan.messages.map((m) => this.send<unknown>(m)));
    const outcome = creationOutcome(this, plan, results, this.clock()); // after the primaries' receipt: the master's view of the leases ends later
    this.write(outcome.events);
    return outcome;
  }

  /** A chunk for slot `index` of `path`, created now (a few attempts, placing around servers that fail). */
  private async createChunkFor(path: string, index: number, goal = this.settings.replication): Promise<SpareChunk> {
    let full: string | undefined; // a server's disk was full: the writer's answer is ENOSPC, not "try again"
    for (let attempt = 1; ; attempt++) {
      let created: Awaited<ReturnType<MasterState["createChunks"]>>;
      try {
        created = await this.createChunks(1, goal);
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
      return s?.alive && !this.suspects.has(id) && !this.retiringIds.has(id) ? s.lastHeartbeatMs : undefined;
    });
    for (const s of discarded) this.discardSpare(s, "no longer usable");
    return spare;
  }

  /** Tops the spares up in the background, in one batch; a failed batch is retried on the next allocation. */
  private async refillSpares(): Promise<void> {
    if (this.safeMode.active || this.actsAsShadow) return; // read-only: no new chunks
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

  /**
   * The current lease of a chunk, granting one (with a version bump) if none is current (see lease-grant.ts).
   * Issue 20: a chunk a snapshot shares is first copied for the file at `path` (copy-on-write.ts): the lease
   * is then on the copy, whose handle the answer carries.
   */
  async getLease(handle: string, path?: string): Promise<LeaseInfo__Output> {
    checkHandle(handle);
    this.checkWritable(`lease on chunk ${handle}`);
    return this.chunkLocks.run(handle, async () => {
      // ---- issue 20, snapshot lane: no grant on a chunk a snapshot is quiescing; copy a shared one ----
      if (this.snapshotFence.has(handle)) throw new GfsError("EAGAIN", `chunk ${handle} is being snapshotted; try again`);
      // Checked again under the lock: a copy-on-write that ran while this request waited may have moved
      // the file to a copy, leaving `handle` (now with one reference) to the snapshot alone.
      if (path !== undefined) this.checkReferenced(handle, path);
      if (this.chunks.refCount(handle) > 1) {
        if (path === undefined) throw new GfsError("EINVAL", `chunk ${handle} is shared by a snapshot: a lease on it needs its file's path (it is copied for that file)`);
        const copy = await this.copyOnWrite(handle, path);
        if (copy !== handle) return this.getLease(copy, path);
        // The other references went while the copy was made: the chunk is this file's alone, granted in place.
      }
      const now = this.clock();
      const plan = planGrant(this, handle, now, this.leaseToken());
      if (plan.kind === "refuse") throw refusal(plan);
      if (plan.kind === "current") return leaseInfo(this, plan.lease, now);
      // The bump is durable BEFORE any replica hears of it (a failed commit leaves the version reserved, never reused).
      // A grant under way counts as a lease for re-replication (see the scheduler's hasLease above).
      this.granting.add(handle);
      let results: Array<Result<{ chunkLength: number }>>;
      try {
        await this.commit(plan.record);
        results = await Promise.all(plan.messages.map((m) => this.send(m)));
      } finally {
        this.granting.delete(handle);
      }
      const after = this.clock();
      const outcome = grantOutcome(this, plan, results, after);
      this.write(outcome.events);
      // The live members that missed a failed grant's bump are behind: as good as current, and told the logged version
      // (after this lock), as after a fence. Left behind until some later grant, they were no verified holders (seed 359)
      // while a released unverified replica that took the bump, short since its crash, was copied and served (seed 549
      // with the trash on: cs2 held every acknowledged write of 29b83297 and stayed at v1; cs1's empty replica was used).
      if (outcome.kind === "refuse") for (const [i, r] of results.entries()) if (!r.ok) void this.reannounce(plan.replicas[i]!, handle);
      if (outcome.kind === "refuse") throw refusal(outcome);
      return leaseInfo(this, outcome.lease, after);
    });
  }

  // ---- issue 20, snapshot lane: copy-on-write and lease revocation for snapshots ----

  /** Chunks a snapshot is quiescing: no lease is granted on them (copy-on-write.ts). */
  readonly snapshotFence = new SnapshotFence();

  /**
   * Copies shared chunk `handle` for the file at `path` on its replicas' own disks and logs it
   * (copy-on-write.ts); the copy's handle. Runs under the shared chunk's lock (getLease).
   */
  private async copyOnWrite(handle: string, path: string): Promise<string> {
    const index = this.chunks.get(handle)?.index ?? 0;
    const slot = chunkAt(this.namespace.file(path).chunks, index);
    const plan = planCow(this, handle, path, slot, randomHandle((k) => this.env.randomBytes(k)), this.clock());
    if (plan.kind === "refuse") throw refusal(plan);
    this.chunks.reserve(plan.handle); // reports of the copy are neither orphans nor garbage meanwhile
    const results = await Promise.all(plan.messages.map((m) => this.send<{ chunkLength: number | string }>(m)));
    const outcome = cowOutcome(plan, path, results);
    const made = plan.servers.filter((_, i) => results[i]!.ok);
    if (outcome.kind === "refuse") {
      this.chunks.abandon(plan.handle, made);
      throw refusal(outcome);
    }
    if (outcome.failed.length) this.log.warn("copy-on-write failed on some replicas", { handle, copy: plan.handle, failed: outcome.failed });
    try {
      if (this.chunks.refCount(handle) <= 1) throw new GfsError("ESTALE", `chunk ${handle} is no longer shared`);
      await this.commit(outcome.record);
    } catch (e) {
      this.chunks.abandon(plan.handle, made); // e.g. the file was deleted or truncated meanwhile
      // The other trees' references went meanwhile (rm -r, a trash purge): the writer's file holds the chunk
      // alone, so it is written in place and the copy's replicas are garbage; the writer never sees EINVAL.
      if (this.chunks.refCount(handle) === 1 && this.referencedBy(handle, path)) {
        this.log.info("copy-on-write abandoned: the chunk is no longer shared", { handle, copy: plan.handle, path });
        return handle;
      }
      throw e;
    }
    for (const { serverId, length } of outcome.copied) this.chunks.confirmReplica(serverId, plan.handle, plan.version, length);
    this.replication.noteChange(); // a copy short of its goal is re-replicated
    this.log.info("chunk copied on write", { handle, copy: plan.handle, path, servers: made });
    return plan.handle;
  }

  /** Whether the file at `path` holds `handle` at the chunk's index (false: no such chunk or file). */
  private referencedBy(handle: string, path: string): boolean {
    const c = this.chunks.get(handle);
    if (!c) return false;
    try {
      return chunkAt(this.namespace.file(path).chunks, c.index) === handle;
    } catch {
      return false;
    }
  }

  /** ESTALE unless the file at `path` still holds `handle` (an unknown chunk is left to the grant's own refusal). */
  private checkReferenced(handle: string, path: string): void {
    const c = this.chunks.get(handle);
    if (c && !this.referencedBy(handle, path)) {
      throw new GfsError("ESTALE", `chunk ${handle} is not chunk ${c.index} of ${path} (any more): ask for its chunks again`);
    }
  }

  /** A lease, or a grant or placement under way, on `handle` (a snapshot waits for none to be left). */
  leaseBusy(handle: string): boolean {
    return this.leasedOrGranting(handle);
  }

  /** Revokes `handle`'s current lease (a snapshot's source); whether none is current any more. */
  async revokeLease(handle: string): Promise<boolean> {
    const plan = planRevoke(this, handle, this.clock(), this.revoking);
    if (plan.kind === "revoke") await this.revokeForCopy(plan, "snapshot its chunk");
    return this.leases.current(handle, this.clock()) === undefined;
  }

  releaseLease(handle: string, serverId: string, version: number): boolean {
    checkHandle(handle);
    const released = this.leases.release(handle, serverId, version);
    if (released) this.log.info("lease released", { handle, serverId, version });
    return released;
  }

  /**
   * A client says a replica is bad. A claim, not a fact (a reader may be buggy
   * or hostile): nothing is marked or deleted here. The replica's own server is
   * asked to verify it (with its next heartbeat answer) and reports it corrupt
   * on its own path only if it is (see replica-verification.ts).
   */
  reportBadReplica(handle: string, serverId: string, reason: string, reporter = ""): void {
    checkHandle(handle);
    const r = this.chunks.get(handle)?.replicas.get(serverId);
    const verify = !r ? "no such replica" : r.corrupt ? "already corrupt" : !this.isAlive(serverId) ? "server not alive"
      : this.verifyQueue.request(serverId, handle, this.clock());
    this.log.warn("bad replica reported", { handle, serverId, reason, reporter, verify });
  }

  // -------------------------------------------------------------------------
  // Chunkserver reports
  // -------------------------------------------------------------------------

  /** Records reported replicas and acts on the verdicts (see replica-reports.ts). */
  private recordReplicas(serverId: string, reports: ReportedChunk[]): void {
    const fx = recordReports(this, serverId, reports);
    this.write(fx.events);
    for (const why of fx.safeMode) this.enterSafeMode(why);
    for (const a of fx.announce) void this.reannounce(a.serverId, a.handle);
  }

  /** Tells a replica the logged version (see version-announce.ts). */
  private async reannounce(serverId: string, handle: string, released = false): Promise<void> {
    if (this.actsAsShadow) return; // the active tells replicas their versions
    if (released) return this.tellVersion(serverId, handle, true);
    // Until told (or given up on), a member one behind is a verified holder (see replicaView.behindHolders).
    const telling = this.announcing.get(handle) ?? new Set<string>();
    this.announcing.set(handle, telling);
    const mine = !telling.has(serverId);
    telling.add(serverId);
    try {
      await this.tellVersion(serverId, handle, false);
    } finally {
      if (mine) {
        telling.delete(serverId);
        if (telling.size === 0 && this.announcing.get(handle) === telling) this.announcing.delete(handle);
      }
    }
  }

  private async tellVersion(serverId: string, handle: string, released: boolean): Promise<void> {
    // A server that just restarted may not be reachable on the master's old channel at once
    // (connection backoff): a few tries, outside the chunk's lock between them.
    for (let attempt = 1; attempt <= 5; attempt++) {
      const retry = await this.chunkLocks.run(handle, async () => {
        const plan = planAnnounce(this, serverId, handle, released, this.clock());
        if (!plan) return false;
        const outcome = announceOutcome(this, plan, await this.send(plan.message));
        this.write(outcome.events);
        return outcome.retry;
      });
      if (!retry) return;
      await sleep(this.env, 100 * 2 ** attempt);
    }
    this.log.error("cannot tell a replica its version; it stays unusable on its server until it registers again", { handle, serverId, released });
  }

  /** Applies the verdicts on replicas their own server reports as corrupt or unverified (see unverified-replicas.ts). */
  private judgeReportedReplicas(serverId: string, reports: ReportedChunk[], registering = false): void {
    this.applyReplicaVerdicts(this.unverifiedReplicas.onReports(serverId, reports.filter((r) => isHandle(r.handle)), this.replicaView, registering));
    // A good replica reported: corrupt ones kept for want of a good copy can go now (and their servers take a fresh copy).
    for (const r of reports) {
      if (r.corrupt || r.unverified || !isHandle(r.handle)) continue;
      const c = this.chunks.get(r.handle);
      const mine = c?.replicas.get(serverId);
      if (!c || !mine || mine.version !== c.version || mine.corrupt) continue;
      for (const [id, x] of [...c.replicas]) {
        // An unverified replica condemned for a verified one goes only once a second good copy exists (see unverified-replicas.ts).
        const keep = this.unverifiedReplicas.isCondemned(r.handle, id);
        if (id !== serverId && x.corrupt && this.chunks.markCorrupt(id, r.handle, keep ? this.heardRecently : this.isAlive, keep ? 2 : 1)) this.replication.noteChange();
      }
    }
  }

  /** Until then a member of a chunk's grant set may not have registered with this master yet (if it is alive). */
  private reportsDueByMs = 0;

  private readonly replicaView = {
    goodHolders: (handle: string) => this.chunks.goodReplicas(handle, this.isAlive),
    // While a grant is under way, its members that have not confirmed the bump yet still hold every acknowledged
    // write (seed 487). Only then: after a failed grant a member stays behind until the next grant, which the held
    // replicas may keep from happening (seed 359: the behind one was then all that could stop their release).
    // So too a member being told the logged version (reannounce): after a failed grant, or at its registration.
    behindHolders: (handle: string) => {
      const granting = this.granting.has(handle), telling = this.announcing.get(handle);
      const c = granting || telling ? this.chunks.get(handle) : undefined;
      if (!c) return [];
      return [...c.replicas].filter(([id, r]) => (granting || !!telling?.has(id)) && !r.corrupt && !r.suspect && isBehind(c, id, r.version)
        && this.isAlive(id)).map(([id]) => id).sort();
    },
    // A restarted master that has not heard from every server must not take "no verified replica known" for
    // "none left": the simulator (seed 30) saw an unverified short replica released while the one verified
    // replica holding an acknowledged append had not registered yet; the next appends overwrote the record.
    reportsPending: (handle: string) => this.clock() < this.reportsDueByMs
      && (this.chunks.get(handle)?.grantSet ?? []).some((id) => !this.registeredSinceStart.has(id)),
    // A grant-set member one behind counts as current (see chunk-table.ts), so its report is judged too.
    isCurrent: (serverId: string, handle: string) => {
      const c = this.chunks.get(handle);
      const r = c?.replicas.get(serverId);
      return !!c && !!r && (r.version === c.version || isBehind(c, serverId, r.version));
    },
  };

  private applyReplicaVerdicts(verdicts: ReplicaVerdict[]): void {
    // Replicas condemned together are none of them a good copy that lets another go.
    for (const v of verdicts) {
      const r = v.kind === "corrupt" && v.keep ? this.chunks.get(v.handle)?.replicas.get(v.serverId) : undefined;
      if (r) r.corrupt = true;
    }
    for (const v of verdicts) {
      const r = this.chunks.get(v.handle)?.replicas.get(v.serverId);
      if (v.kind === "corrupt") {
        if (this.chunks.markCorrupt(v.serverId, v.handle, v.keep ? this.heardRecently : this.isAlive, v.keep ? 2 : 1)) {
          this.log.error("replica is corrupt: never handed out, deleted once a good copy exists", { handle: v.handle, serverId: v.serverId, why: v.why });
        }
      } else if (v.kind === "hold") {
        if (r) r.corrupt = true; // not handed out, not a copy source; not deleted (no queueDelete)
        this.log.warn("replica written before a crash is unverified: held back until a verified replica is heard from", { handle: v.handle, serverId: v.serverId });
      } else {
        if (r) r.corrupt = false;
        this.log.error("no verified replica is left of a chunk: using its unverified replica as the best left", { handle: v.handle, serverId: v.serverId });
        void this.reannounce(v.serverId, v.handle, true); // its server serves it only once told
      }
      this.replication.noteChange();
    }
  }

  async register(req: {
    serverId: string; address: string; dataAddress?: string; rack: string; capacityBytes: number; usedBytes: number; chunks: ReportedChunk[];
    quarantinedChunks?: ReportedChunk[]; heldLeases?: HeldLease__Output[]; freeBytes?: number; diskId?: string;
  }) {
    if (!req.serverId) throw new GfsError("EINVAL", "register without a server id");
    if (!req.address) throw new GfsError("EINVAL", "register without an address");
    if (req.dataAddress) parseHostPort(req.dataAddress, "data address"); // peers will connect there: refuse junk at the door
    const ev = this.liveness.register({
      serverId: req.serverId, address: req.address, dataAddress: req.dataAddress ?? "", rack: req.rack,
      capacityBytes: req.capacityBytes, usedBytes: req.usedBytes, chunkCount: req.chunks.length, load: 0,
      freeBytes: req.freeBytes, diskId: req.diskId,
    }, this.clock());
    this.forgetReplicasOf(req.serverId, "a replica's server registered again");
    this.replication.noteChange(); // its report replaces what it held before, and it is a new copy target
    this.recordReplicas(req.serverId, req.chunks);
    this.forgetVerificationsOf(req.serverId, true); // released and condemned ones stay so (see there)
    this.judgeReportedReplicas(req.serverId, req.chunks, true);
    this.write(honourLeases(this, req.serverId, req.heldLeases ?? [], this.clock())); // after judging: no lease on a replica held back
    this.registeredSinceStart.add(req.serverId);
    this.excessCheckDue = true; // it may bring back replicas copied elsewhere meanwhile
    // Many unknown chunks holding data: the metadata, not the chunkserver, is probably what is missing something.
    const orphans = new Set(this.chunks.pendingQuarantines(req.serverId));
    const unknown = unknownChunksWithData(req.chunks, (h) => orphans.has(h));
    const alarm = unknownChunksAlarm(unknown, req.chunks.length, this.settings);
    if (alarm) this.enterSafeMode(`chunkserver ${req.serverId} (${req.address}) registered: ${alarm}`);
    // Quarantined chunks the master knows again at that version (older metadata restored): bring them back.
    // Not when the server holds a live copy too (it could not put the quarantined one back).
    const live = new Set(req.chunks.map((c) => c.handle));
    const restoreChunks = (req.quarantinedChunks ?? [])
      .filter((q) => {
        const c = isHandle(q.handle) && !live.has(q.handle) ? this.chunks.get(q.handle) : undefined;
        // At the logged version, or a grant-set member one behind it (it is then re-announced like any such replica).
        return !!c && (c.version === q.version || isBehind(c, req.serverId, q.version));
      })
      .map((q) => ({ handle: q.handle, version: q.version, length: q.length }));
    const { deleteChunks, quarantineChunks } = this.takeGarbage(req.serverId);
    this.log.info("chunkserver registered", {
      serverId: req.serverId, address: req.address, rack: req.rack, chunks: req.chunks.length, deletes: deleteChunks.length,
      quarantines: quarantineChunks.length, restores: restoreChunks.length, quarantined: req.quarantinedChunks?.length ?? 0,
      unknownWithData: unknown, wasDead: !!ev,
    });
    return {
      heartbeatIntervalMs: this.settings.heartbeat_interval_ms, chunkSizeBytes: this.settings.chunk_size_bytes,
      deleteChunks, quarantineChunks, restoreChunks, ...this.peers(true),
      // The most replicas a chunk may have, which bounds push chains: a file's goal may be above the default.
      replication: Math.max(this.settings.replication, defaults.replication_goal_max),
    };
  }

  /**
   * What a server may delete and quarantine now: nothing in safe mode (it
   * stays queued, or is recomputed from the server's next registration).
   */
  private takeGarbage(serverId: string): { deleteChunks: string[]; quarantineChunks: string[] } {
    if (this.safeMode.active) return { deleteChunks: [], quarantineChunks: [] };
    return { deleteChunks: this.chunks.takeDeletes(serverId), quarantineChunks: this.chunks.takeQuarantines(serverId) };
  }

  /** Enters safe mode (see safe-mode.ts) for `why`, logged at error level: an operator must look. */
  enterSafeMode(why: string): void {
    const known = this.safeMode.reasons.some((r) => r.why === why);
    this.safeMode.enter(why, this.clock());
    if (!known) {
      this.log.error("master in safe mode: deleting nothing, refusing mutations until an operator runs 'gfs gc --confirm'", { why });
    }
  }

  /** Mutations are refused in safe mode, with the reasons, so the caller knows why and what to do. */
  checkWritable(what: string): void {
    if (!this.safeMode.active) return;
    const why = this.safeMode.reasons.map((r) => r.why).join("; ");
    throw new GfsError("EROFS", `${what} refused: the master is in safe mode (read-only) because ${why}; `
      + "check the metadata, then 'gfs gc --confirm' resumes mutations and garbage collection");
  }

  /** The operator confirmed the metadata: leave safe mode; garbage held back goes out on the next replies. */
  confirmGc() {
    const pending = this.chunks.pendingGarbage();
    const confirmed = this.safeMode.leave();
    this.excessCheckDue = true; // excess replicas were left alone in safe mode
    if (confirmed.length) {
      this.log.warn("safe mode left: the operator confirmed the metadata; garbage collection and mutations resume", {
        reasons: confirmed.map((r) => r.why), deletesPending: pending.deletes, quarantinesPending: pending.quarantines,
      });
    }
    return {
      wasInSafeMode: confirmed.length > 0, confirmed: confirmed.map((r) => ({ atMs: r.atMs, why: r.why })),
      chunkDeletesPending: pending.deletes, chunkQuarantinesPending: pending.quarantines,
    };
  }

  async heartbeat(req: {
    serverId: string; capacityBytes: number; usedBytes: number; chunkCount: number; load: number;
    leaseExtensionHandles: string[]; addedChunks: ReportedChunk[]; removedChunks: string[]; corruptChunks: string[];
    chunkserversVersion?: number; freeBytes?: number; diskId?: string;
  }) {
    const { known, event } = this.liveness.heartbeat(req.serverId, {
      capacityBytes: req.capacityBytes, usedBytes: req.usedBytes, chunkCount: req.chunkCount, load: req.load,
      freeBytes: req.freeBytes, diskId: req.diskId,
    }, this.clock());
    if (!known) return { reregister: true, deleteChunks: [], quarantineChunks: [], replicationOrders: [], extendedLeases: [], chunkservers: [], chunkserversVersion: 0, verifyChunks: [] };
    if (event) {
      this.log.info("chunkserver alive again", { serverId: req.serverId });
      this.replication.noteChange();
      this.excessCheckDue = true; // its replicas count again: chunks copied elsewhere meanwhile may be above their goal
    }
    this.suspects.delete(req.serverId);
    this.recordReplicas(req.serverId, req.addedChunks);
    if (req.addedChunks.length || req.removedChunks.length || req.corruptChunks.length) this.replication.noteChange();
    if (req.addedChunks.length) this.excessCheckDue = true; // a copy done, or a replica back: maybe one too many
    // Removed and corrupt replicas first: a heartbeat is evidence that its server's good replicas are verified
    // (onHeartbeat), and one reporting its replica corrupt is no such evidence. The other way round (seed 90),
    // the heartbeat that reported the one verified replica of d63592 corrupt first condemned (and queued for
    // deletion) the intact unverified one it was evidence against: no replica was left.
    for (const h of req.removedChunks) {
      if (!isHandle(h)) continue;
      this.chunks.removeReplica(req.serverId, h);
      this.unverifiedReplicas.forgetReplica(req.serverId, h); // a condemned one deleted at last (see unverified-replicas.ts)
    }
    for (const h of req.corruptChunks) {
      if (isHandle(h)) this.unverifiedReplicas.forgetReplica(req.serverId, h); // found bad by its own server: never the best left
      if (isHandle(h) && this.chunks.markCorrupt(req.serverId, h, this.isAlive)) this.log.warn("chunkserver reports a corrupt replica", { serverId: req.serverId, handle: h });
    }
    // (Simulator seed 26 found the same through a heartbeat's corrupt list.)
    this.judgeReportedReplicas(req.serverId, req.addedChunks);
    this.applyReplicaVerdicts(this.unverifiedReplicas.onHeartbeat(req.serverId, this.replicaView, !!event));
    // Counted from now, after the primary sent the heartbeat, so the primary's view expires first.
    const now = this.clock();
    const extendedLeases = extendLeases(this, req.serverId, req.leaseExtensionHandles.filter(isHandle), now);
    const replicationOrders = this.replication.takeOrders(req.serverId).map((o) => ({
      handle: o.handle, version: o.version, source: this.address(o.sourceId),
    }));
    const peers = this.peers();
    return {
      reregister: false, ...this.takeGarbage(req.serverId), replicationOrders, extendedLeases,
      verifyChunks: this.verifyQueue.take(req.serverId, now),
      chunkservers: req.chunkserversVersion === peers.chunkserversVersion ? [] : peers.chunkservers, chunkserversVersion: peers.chunkserversVersion,
    };
  }

  // -------------------------------------------------------------------------
  // Operations
  // -------------------------------------------------------------------------

  fsck(path: string): FsckResponse__Output {
    let healthy = 0;
    let unhealthy = 0;
    const files = this.namespace.files(path).map((f) => ({
      path: f.path, size: f.info.size, goal: f.info.goal || this.settings.replication,
      chunks: [...chunkEntries(f.chunks)].flatMap(([index, handle]) => {
        const c = this.chunks.get(handle);
        if (!c) return [];
        const h = chunkHealth(c, this.goalOf(c), this.isAlive); // issue 18: against the file's goal
        if (h.state === "CHUNK_STATE_HEALTHY") healthy++; else unhealthy++;
        return [{
          index, handle, version: c.version, state: h.state, good: h.good,
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
    const garbage = this.chunks.pendingGarbage();
    const states = { healthy: 0, underReplicated: 0, stale: 0, corrupt: 0, missing: 0, suspect: 0 };
    for (const c of this.chunks.entries()) states[stateCountKey[chunkHealth(c, this.goalOf(c), this.isAlive).state]]++;
    const alive = this.liveness.alive();
    return {
      chunkservers: this.liveness.all().map((s) => ({
        serverId: s.serverId, address: s.address, rack: s.rack,
        capacityBytes: s.capacityBytes, usedBytes: s.usedBytes, chunkCount: s.chunkCount,
        alive: s.alive, lastHeartbeatAgeMs: Math.max(0, now - s.lastHeartbeatMs), load: s.load, state: this.lifecycle.stateOf(s),
      })),
      fileCount: this.namespace.counts().files,
      // Issue 20, trash lane: what the trash holds.
      ...trashUsage(this.metadata),
      chunkCount: this.chunks.size,
      underReplicatedChunks: this.chunks.size - states.healthy,
      chunkSizeBytes: this.settings.chunk_size_bytes,
      replication: this.settings.replication,
      opLogCommits: this.journal?.stats.commits ?? 0,
      opLogRecords: this.journal?.stats.records ?? 0,
      safeMode: this.safeMode.active,
      safeModeReasons: this.safeMode.reasons.map((r) => ({ atMs: r.atMs, why: r.why })),
      chunkDeletesPending: garbage.deletes,
      chunkQuarantinesPending: garbage.quarantines,
      masters: this.mastersStatus(),
      capacityBytes: alive.reduce((n, s) => n + s.capacityBytes, 0),
      usedBytes: alive.reduce((n, s) => n + s.usedBytes, 0),
      chunkStates: states,
      replicationCopiesInFlight: this.replication.copiesInFlight,
      events: this.events.recent(),
      // Issue 20, quota lane: every directory quota with its usage.
      quotas: quotaInfos(this, () => true),
    };
  }
}

/** ChunkStateCounts' field for each fsck state (UNSPECIFIED never comes out of chunkHealth). */
const stateCountKey: Record<string, "healthy" | "underReplicated" | "stale" | "corrupt" | "missing" | "suspect"> = {
  CHUNK_STATE_HEALTHY: "healthy", CHUNK_STATE_UNDER_REPLICATED: "underReplicated", CHUNK_STATE_STALE: "stale",
  CHUNK_STATE_CORRUPT: "corrupt", CHUNK_STATE_MISSING: "missing", CHUNK_STATE_SUSPECT: "suspect", CHUNK_STATE_UNSPECIFIED: "missing",
};

/** A core refusal as the error the caller gets. */
function refusal(r: Refusal): GfsError {
  return new GfsError(r.errno, r.message);
}

export function checkUint(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new GfsError("EINVAL", `bad ${what} ${n}`);
  return n;
}
