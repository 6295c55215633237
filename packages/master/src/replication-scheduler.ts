// Drives re-replication: plans copies (re-replication.ts) on the master's
// tick, hands each order to its target chunkserver on that server's next
// heartbeat, and tracks copies until the target reports the chunk at the
// current version (verified by the target before it reports), or gives up on
// them after a timeout so they are planned again.
import { goodReplicaIds, type ChunkEntry, type ChunkTable } from "./chunk-table";
import type { Liveness } from "./liveness";
import { replicationMetrics } from "./master-metrics";
import { planReplication, type CopyInFlight, type CopyOrder } from "./re-replication";

export interface SchedulerSettings {
  replication: number;
  replication_copies_per_server_max: number;
  replication_copy_timeout_ms: number;
  /** A copy target needs this much free on its disk (0 or absent: no check). */
  chunk_size_bytes?: number;
}

/**
 * A round of re-replication, for the status page's events: "started" when copies are
 * ordered while none were under way; "finished" once none are left (confirmed, or
 * given up on after the timeout: those are planned again and start a new round).
 */
export type ReplicationRound =
  | { kind: "started"; copies: number }
  | { kind: "finished"; ordered: number; confirmed: number; abandoned: number; ms: number };

export interface OrderForServer {
  handle: string;
  version: number;
  sourceId: string;
}

export class ReplicationScheduler {
  /** handle -> copies ordered and not yet confirmed or abandoned. */
  private readonly inFlight = new Map<string, CopyInFlight[]>();
  /** target serverId -> orders not yet handed out. */
  private readonly outbox = new Map<string, OrderForServer[]>();
  /** Every order issued, in order (for logs and tests of priority). */
  readonly issued: CopyOrder[] = [];
  /** Issue 18: replicas wanted of a chunk (its file's goal); the master sets it. */
  goalOf: (c: ChunkEntry) => number = () => this.settings.replication;

  constructor(
    private readonly settings: SchedulerSettings,
    private readonly chunks: ChunkTable,
    private readonly liveness: Liveness,
    private readonly hasLease: (handle: string) => boolean,
    /**
     * No copies before this time: after a (re)start the master knows replicas only from servers
     * that registered so far, and would copy chunks whose replicas simply have not reported yet.
     */
    private readonly planFromMs = 0,
    private readonly onRound: (r: ReplicationRound) => void = () => {},
  ) {}

  /** The round under way (copies ordered, confirmed, abandoned since it started), if any. */
  private round: { startMs: number; ordered: number; confirmed: number; abandoned: number } | undefined;

  /**
   * A round ends at the first plan that finds nothing more to copy once its copies are
   * confirmed or abandoned (not as soon as the last one is: copies limited per server
   * come in waves, and each wave is not a round of its own).
   */
  private endRoundIfIdle(nowMs: number): void {
    if (!this.round || this.inFlight.size > 0 || this.leaseBlocked.length > 0) return;
    const r = this.round;
    this.round = undefined;
    this.onRound({ kind: "finished", ordered: r.ordered, confirmed: r.confirmed, abandoned: r.abandoned, ms: Math.max(0, nowMs - r.startMs) });
  }

  /** Chunks the last plan could not copy because of a live lease (the master revokes those leases). */
  leaseBlocked: string[] = [];

  /**
   * Whether a chunk may have lost a good replica since the last plan. Planning
   * scans every chunk, so an idle master skips it until something changes (or
   * copies are under way, or leases held copies back).
   */
  private changed = true;

  /** A replica may have been lost: a server died or (re)registered, a replica went missing, stale or corrupt. */
  noteChange(): void {
    this.changed = true;
  }

  /** Issue 18: draining servers (server-states.ts): their replicas do not count toward goals; never copy targets. */
  retiringIds: () => ReadonlySet<string> = () => new Set();

  /** Chunks the last plan found short of their goal (a backlog the balancer waits for). */
  lastPlanNeeded = 0;

  /** Plans new copies; returns the orders issued this time. */
  plan(nowMs: number): CopyOrder[] {
    if (nowMs < this.planFromMs) return [];
    this.expire(nowMs);
    if (!this.changed && this.inFlight.size === 0 && this.leaseBlocked.length === 0) {
      this.endRoundIfIdle(nowMs);
      return [];
    }
    this.changed = false;
    this.leaseBlocked = [];
    const orders = planReplication({
      chunks: this.chunks.entries(),
      replication: this.settings.replication,
      goalOf: this.goalOf,
      liveServers: this.liveness.alive(),
      inFlight: [...this.inFlight.values()].flat(),
      hasLease: this.hasLease,
      copiesPerServerMax: this.settings.replication_copies_per_server_max,
      onLeased: (handle) => this.leaseBlocked.push(handle),
      chunkSizeBytes: this.settings.chunk_size_bytes,
      retiringIds: this.retiringIds(),
    });
    this.lastPlanNeeded = orders.length + this.leaseBlocked.length;
    this.enqueue(orders, nowMs);
    return orders;
  }

  /**
   * Issue 18: the balancer's moves, as copies like re-replication's (tracked, handed out, confirmed or abandoned
   * the same way); the source replica goes later as an excess one.
   */
  orderMoves(moves: readonly CopyOrder[], nowMs: number): void {
    this.enqueue(moves, nowMs);
  }

  private enqueue(orders: readonly CopyOrder[], nowMs: number): void {
    for (const o of orders) {
      const list = this.inFlight.get(o.handle) ?? [];
      list.push({ handle: o.handle, version: o.version, sourceId: o.sourceId, targetId: o.targetId, issuedMs: nowMs });
      this.inFlight.set(o.handle, list);
      const box = this.outbox.get(o.targetId) ?? [];
      box.push({ handle: o.handle, version: o.version, sourceId: o.sourceId });
      this.outbox.set(o.targetId, box);
      this.issued.push(o);
    }
    if (orders.length) {
      if (!this.round) {
        this.round = { startMs: nowMs, ordered: 0, confirmed: 0, abandoned: 0 };
        this.onRound({ kind: "started", copies: orders.length });
      }
      this.round.ordered += orders.length;
    } else {
      this.endRoundIfIdle(nowMs);
    }
    replicationMetrics.ordered(orders.length);
  }

  /** A forgotten server: orders waiting for its next heartbeat go (it will not ask for them). */
  forgetServer(serverId: string): void {
    this.outbox.delete(serverId);
  }

  /** Orders for this server's heartbeat reply, handed out once. */
  takeOrders(serverId: string): OrderForServer[] {
    const box = this.outbox.get(serverId) ?? [];
    this.outbox.delete(serverId);
    return box;
  }

  /** A server reported holding a chunk: a copy to it is complete (or moot). */
  onReplicaReported(serverId: string, handle: string): void {
    const list = this.inFlight.get(handle);
    if (!list) return;
    const rest = list.filter((f) => f.targetId !== serverId);
    if (this.round) this.round.confirmed += list.length - rest.length;
    replicationMetrics.done(list.length - rest.length);
    if (rest.length) this.inFlight.set(handle, rest); else this.inFlight.delete(handle);
  }

  /** True when the chunk lacks good replicas and could be copied: its lease must not be extended. */
  needsCopy(handle: string): boolean {
    const c = this.chunks.get(handle);
    if (!c) return false;
    const all = goodReplicaIds(c, (id) => this.liveness.isAlive(id));
    const retiring = this.retiringIds();
    const good = retiring.size ? all.filter((id) => !retiring.has(id)).length : all.length;
    return all.length > 0 && good < this.goalOf(c);
  }

  /** Copies under way (excess removal leaves their chunks alone). */
  copiesUnderWay(): CopyInFlight[] {
    return [...this.inFlight.values()].flat();
  }

  /** Copies under way (replication backlog in flight). */
  get copiesInFlight(): number {
    let n = 0;
    for (const l of this.inFlight.values()) n += l.length;
    return n;
  }

  private expire(nowMs: number): void {
    for (const [handle, list] of this.inFlight) {
      const c = this.chunks.get(handle);
      const keep = list.filter((f) => c && c.version === f.version && nowMs - f.issuedMs < this.settings.replication_copy_timeout_ms
        && this.liveness.isAlive(f.targetId) && this.liveness.isAlive(f.sourceId));
      if (keep.length < list.length) this.changed = true;
      if (this.round) this.round.abandoned += list.length - keep.length;
      replicationMetrics.abandoned(list.length - keep.length);
      if (keep.length) this.inFlight.set(handle, keep); else this.inFlight.delete(handle);
    }
  }
}
