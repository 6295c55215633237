// The driver of chunkservers' lifecycle (issue 18): graceful leave, drain,
// undrain and forget, excess replica removal and the balancer. The decisions
// are the pure modules' (server-states.ts, excess-replicas.ts, balancer.ts);
// this wires them to the master's state, log and op log.
import { GfsError, type BalanceResponse__Output, type ChunkserverAdminResponse__Output } from "@gfs/common";
import { planBalance } from "./balancer";
import type { ChunkEntry } from "./chunk-table";
import type { ChunkserverState } from "./liveness";
import type { MasterState } from "./master-state";
import { resolveServerId, serverState, type ServerState } from "./server-states";
import { defaults } from "@gfs/common";

export class ServerLifecycle {
  /** handle -> the balancer's move source: removed first once the copy made the chunk go above its goal. */
  private readonly victims = new Map<string, string>();
  private lastBalanceMs: number;

  constructor(private readonly m: MasterState) {
    // Excess removal (the goal lane's, in MasterState) takes the balancer's sources first (drained servers: m.retiringIds).
    m.removalHints = { preferredVictim: (h) => this.victimOf(h) };
    // The first background round waits as re-replication does after a start: until every live server has reported.
    this.lastBalanceMs = m.clock() + m.settings.heartbeat_interval_ms * m.settings.heartbeat_misses_dead;
  }

  /** Drained servers (MasterState.retiringIds): their replicas do not count toward goals, and go once the goal is met elsewhere. */
  private get retiring(): ReadonlySet<string> {
    return this.m.retiringIds;
  }

  /** The chunk's goal: its file's (MasterState.goalOf). */
  goalOf = (c: ChunkEntry): number => this.m.goalOf(c);

  stateOf(s: ChunkserverState): ServerState {
    return serverState(s, this.retiring.has(s.serverId), this.m.chunks.replicaCountOn(s.serverId));
  }

  /**
   * A chunkserver says it is stopping: not alive from now on (no new chunk, lease or read goes there, its
   * replicas stop counting), and re-replication plans at once instead of at the next tick. `done`: its
   * in-flight mutations finished and it orders none, so the leases it holds as primary are over.
   */
  leave(serverId: string, done: boolean): void {
    if (!this.m.liveness.leave(serverId, done, this.m.clock())) throw new GfsError("ENOENT", `chunkserver ${serverId} is not registered`);
    const released = done ? this.m.leases.releaseAllOf(serverId) : [];
    this.m.log.info(done ? "chunkserver left" : "chunkserver leaving", { serverId, leasesReleased: released.length });
    this.m.events.add("chunkserver-left", `chunkserver ${serverId.slice(0, 8)} ${done ? "left" : "is leaving"} (stopped by its operator)`);
    this.m.replication.noteChange();
    this.m.tick();
  }

  /** `gfs chunkserver drain|undrain|forget ID`. */
  async admin(query: string, action: string): Promise<ChunkserverAdminResponse__Output> {
    if (!["drain", "undrain", "forget"].includes(action)) throw new GfsError("EINVAL", `unknown chunkserver action '${action}' (drain, undrain or forget)`);
    let id: string | undefined;
    try {
      // A drained server is both known and on the drain list: one candidate, so its short id is not "ambiguous".
      id = resolveServerId(query, new Set([...this.m.liveness.all().map((s) => s.serverId), ...this.retiring]));
    } catch (e) {
      throw new GfsError("EINVAL", (e as Error).message);
    }
    if (!id) throw new GfsError("ENOENT", `no chunkserver '${query}' is known to this master`);
    const s = this.m.liveness.get(id);
    if (action === "forget") return this.forget(id, s);
    if (this.retiring.has(id) !== (action === "drain")) await this.m.commit({ op: "drainServer", serverId: id, draining: action === "drain" });
    this.m.log.info(action === "drain" ? "chunkserver draining" : "chunkserver undrained", { serverId: id });
    this.m.replication.noteChange();
    this.m.requestExcessCheck();
    this.m.tick();
    return { serverId: id, state: s ? this.stateOf(s) : action === "drain" ? "draining" : "dead", chunkCount: this.m.chunks.replicaCountOn(id) };
  }

  private async forget(id: string, s: ChunkserverState | undefined): Promise<ChunkserverAdminResponse__Output> {
    this.refuseForget(id, s);
    const held = this.m.chunks.replicaCountOn(id);
    // Forgotten before any await: no registration can slip in between the check and the forget.
    if (!this.m.forgetServer(id)) this.refuseForget(id, this.m.liveness.get(id));
    for (const [h, v] of this.victims) if (v === id) this.victims.delete(h);
    if (this.retiring.has(id)) await this.m.commit({ op: "drainServer", serverId: id, draining: false });
    this.m.log.info("chunkserver forgotten", { serverId: id, replicasForgotten: held });
    return { serverId: id, state: "forgotten", chunkCount: held };
  }

  /** Forget is for servers that are gone: not one alive, nor one still finishing its mutations as it leaves. */
  private refuseForget(id: string, s: ChunkserverState | undefined): void {
    if (s?.alive) {
      throw new GfsError("EPERM", `chunkserver ${id} (${s.address}) is alive: stop it first (drain it before, so no chunk falls below its goal)`);
    }
    if (s?.leave === "leaving") {
      throw new GfsError("EPERM", `chunkserver ${id} (${s.address}) is leaving (finishing its mutations): forget it once it has left`);
    }
  }

  /** Periodic work: the background balancer plans a round when due (excess replicas go in MasterState.removeExcess). */
  tick(now: number): void {
    const interval = this.m.settings.balance_interval_ms ?? defaults.balance_interval_ms;
    this.dropAbandonedVictims();
    if (this.m.settings.balance_background !== false && now - this.lastBalanceMs >= interval) this.balance(false, now);
  }

  /**
   * A move whose copy was abandoned (failed, timed out) leaves its chunk at its goal with no copy under way: its
   * source is no victim any more (else, later above its goal for another reason, that replica went first).
   */
  private dropAbandonedVictims(): void {
    if (this.victims.size === 0) return;
    const copying = new Set(this.m.replication.copiesUnderWay().map((f) => f.handle));
    for (const [h, v] of this.victims) {
      const c = this.m.chunks.get(h);
      const above = c !== undefined && this.m.chunks.goodReplicas(h, (id) => this.m.liveness.isAlive(id)).length > this.goalOf(c);
      if (!copying.has(h) && !above) this.victims.delete(h);
      else if (!c?.replicas.has(v)) this.victims.delete(h);
    }
  }

  /** The balancer's move source of a chunk, while it still holds a replica (excess-replicas.ts preferredVictim). */
  private victimOf(handle: string): string | undefined {
    const v = this.victims.get(handle);
    if (v !== undefined && !this.m.chunks.get(handle)?.replicas.has(v)) {
      this.victims.delete(handle);
      return undefined;
    }
    return v;
  }

  /** Plans a balancer round (see balancer.ts) and, unless `dryRun`, orders its moves. */
  balance(dryRun: boolean, now: number): BalanceResponse__Output {
    if (!dryRun) this.lastBalanceMs = now; // a look (--dry-run) does not postpone the background round
    const settings = this.m.settings;
    const inFlight = this.m.replication.copiesUnderWay();
    const plan = planBalance({
      chunks: this.m.chunks.entries(),
      servers: this.m.liveness.alive().filter((s) => !this.retiring.has(s.serverId)),
      inFlight, hasLease: this.m.hasLeaseOrGrant, goalOf: this.goalOf,
      backlog: this.m.replication.lastPlanNeeded > 0,
      toleranceRatio: settings.balance_tolerance_ratio ?? defaults.balance_tolerance_ratio,
      movesMax: settings.balance_moves_per_round_max ?? defaults.balance_moves_per_round_max,
      copiesPerServerMax: settings.replication_copies_per_server_max,
      unknownChunkBytes: settings.chunk_size_bytes,
    });
    let whyNot = plan.whyNot ?? "";
    if (!dryRun && plan.moves.length && this.m.safeMode.active) whyNot = "the master is in safe mode";
    if (!dryRun && plan.moves.length && this.m.actsAsShadow) whyNot = "a shadow master moves nothing";
    const started = !dryRun && plan.moves.length > 0 && whyNot === "";
    if (started) {
      this.m.replication.orderMoves(plan.moves.map((mv) => ({ ...mv, good: this.goalOf(this.m.chunks.get(mv.handle)!) })), now);
      for (const mv of plan.moves) this.victims.set(mv.handle, mv.sourceId);
      this.m.requestExcessCheck();
      this.m.log.info("balancer round started", { moves: plan.moves.length, spread: plan.spread, bytes: plan.moves.reduce((n, mv) => n + mv.bytes, 0) });
    }
    return {
      servers: plan.servers, spread: plan.spread, tolerance: settings.balance_tolerance_ratio ?? defaults.balance_tolerance_ratio,
      moves: plan.moves.map((mv) => ({ handle: mv.handle, sourceId: mv.sourceId, targetId: mv.targetId, bytes: mv.bytes })),
      started, whyNot: dryRun && !whyNot ? "dry run" : whyNot, background: settings.balance_background !== false,
    };
  }
}
