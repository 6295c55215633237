// The replicated master (issue 16, GFS §5.1.3): the life of one gfs-master
// started with --etcd. It serves on one port for its whole life and takes
// roles in turn:
//
//   shadow  follows the active's op log (LogFollower) into its own log and
//           state, serves reads, and campaigns in the etcd election while it
//           is in the in-sync set (the only masters that hold every record
//           ever acknowledged);
//   active  once elected: its epoch is the election's revision. It rebuilds
//           its state from its own log (as a restarted master does, so the
//           leases chunkservers report are honoured), records itself as the
//           in-sync set, ships every batch to the shadows (LogShipper) and
//           acknowledges a client only once the record is durable here and
//           on every in-sync shadow, and only while its etcd lease is
//           surely alive (the step-down timer, shorter than the lease TTL);
//   and back to shadow when it steps down (lease not renewed in time, or its
//           log failed): its unacknowledged tail is dropped when it catches
//           up from the new active.
//
// Each role is a MasterPhase built from what is durable: nothing of one
// role's memory carries into the next.
import {
  GfsError, defaults, failStream, masterDefinition, toServiceError, startServer, stopServer, type CallStreamServer, type Logger, type MasterHandlers,
  type MasterStatus__Output, type Readiness, type TransportSecurity,
} from "@gfs/common";
import { EtcdCoordinator, type LeaderInfo } from "./coordinator";
import { LogFollower } from "./log-follower";
import { LogShipper } from "./log-shipper";
import { MasterPhase, type PhaseOptions } from "./master-phase";
import type { MasterState } from "./master-state";
import { ReplicatedJournal } from "./replicated-journal";

export interface ReplicatedMasterOptions {
  id: string;
  listen: string;
  etcd: { endpoints: string[]; prefix: string; ttlMs: number; stepDownAfterMs: number };
  security: TransportSecurity;
  log: Logger;
  phase: Omit<PhaseOptions, "role" | "epoch" | "journal" | "onJournalFailure" | "shipLog">;
  streams: CallStreamServer;
}

/** One role's running parts (a shadow's phase is replaced when it starts over from a checkpoint). */
interface Role {
  phase: MasterPhase;
  close(): Promise<void>;
}

/**
 * Connects to etcd, trying again for up to etcd_connect_wait_ms: masters and
 * etcd started together (a boot, a test) need not come up in order. Then a
 * one-line error naming the endpoints.
 */
async function connectWaiting(o: ReplicatedMasterOptions): Promise<EtcdCoordinator> {
  const deadline = Date.now() + defaults.etcd_connect_wait_ms;
  for (let attempt = 1; ; attempt++) {
    try {
      return await EtcdCoordinator.connect({
        endpoints: o.etcd.endpoints, prefix: o.etcd.prefix, ttlMs: o.etcd.ttlMs, stepDownAfterMs: o.etcd.stepDownAfterMs, log: o.log,
      });
    } catch (e) {
      if (Date.now() >= deadline) throw e;
      if (attempt === 1) o.log.warn("etcd does not answer yet; trying again", { endpoints: o.etcd.endpoints, error: (e as Error).message });
      await new Promise((r) => setTimeout(r, defaults.election_retry_ms));
    }
  }
}

export class ReplicatedMaster {
  private current: Role | undefined;
  private leader: LeaderInfo | undefined;
  private stopping = false;
  private stepDown: ((why: string) => void) | undefined;
  private follower: LogFollower | undefined;
  private shipper: LogShipper | undefined;
  address = "";

  private constructor(private readonly o: ReplicatedMasterOptions, private readonly coordinator: EtcdCoordinator) {}

  /** Connects to etcd, starts serving (as a shadow) and runs the roles until stop(). */
  static async start(o: ReplicatedMasterOptions): Promise<{ stop: () => Promise<void>; master: ReplicatedMaster }> {
    const coordinator = await connectWaiting(o);
    const m = new ReplicatedMaster(o, coordinator);
    // The port is served through every role: the handlers of whichever role is current answer.
    const dispatch: Record<string, unknown> = {};
    for (const name of Object.keys(masterDefinition())) {
      dispatch[name] = (call: unknown, callback: unknown) => {
        const h = m.current?.phase.handlers[name as keyof MasterHandlers] as ((c: unknown, cb: unknown) => void) | undefined;
        if (h) return h(call, callback);
        // Only between binding the port and recovering the first role: "try again".
        const e = new GfsError("EAGAIN", "the master is starting");
        if (typeof callback === "function") (callback as (e: unknown) => void)(toServiceError(e));
        else failStream(call as { emit(event: "error", e: unknown): boolean }, e);
      };
    }
    const { server, port } = await startServer(o.listen, [{ definition: masterDefinition(), handlers: dispatch as never }]);
    m.address = `${o.listen.replace(/:\d+$/, "")}:${port}`;
    await m.openShadow(); // after binding: the shadow tells the active where it serves
    o.log.info("master listening", { address: m.address, id: o.id, role: "shadow", data: o.phase.dataDir, ...o.phase.settings });
    coordinator.onStepDown((why) => {
      // The journal already refuses to acknowledge (canAcknowledge is false). At once, before the role is closed
      // (which waits for a checkpoint): no heartbeat answered as active, no command sent, nothing committed.
      const state = m.current?.phase.state;
      if (state?.role === "active") {
        state.depose();
        o.log.warn("stopped acknowledging", { id: o.id, why });
      }
      m.stepDown?.(why);
    });
    const unwatch = coordinator.watchLeader((l) => m.onLeader(l));
    // The watch can miss a change for a while (it reconnects with backoff after etcd was unreachable): a shadow also
    // asks now and then, so one cut off from etcd finds the new active soon after it can reach etcd again.
    const poll = setInterval(() => void coordinator.leader().then((l) => m.onLeader(l), () => {}), defaults.leader_poll_ms);
    // A role that cannot be taken (a data dir that no longer opens) is fatal: one line, exit 1, not an unhandled rejection.
    void m.run().catch((e: Error) => {
      o.log.error("the master cannot go on", { error: e.message });
      process.exit(1);
    });
    return {
      master: m,
      stop: async () => {
        m.stopping = true;
        clearInterval(poll);
        unwatch();
        m.stepDown?.("shutting down");
        o.streams.close();
        await stopServer(server);
        await m.current?.close();
        await coordinator.resign().catch(() => {});
        await coordinator.close();
      },
    };
  }

  private onLeader(l: LeaderInfo | undefined): void {
    const same = !!l && !!this.leader && l.id === this.leader.id && l.address === this.leader.address && l.epoch === this.leader.epoch;
    this.leader = l;
    const state = this.current?.phase.state;
    if (state?.role === "shadow") state.activeAddress = l?.id === this.o.id ? undefined : l?.address;
    // Told again of the leader it follows (the poll): the follower reconnects by itself; a new leader is followed now.
    if (!l || l.id === this.o.id || (same && this.followed === l.address)) return;
    try {
      this.follower?.follow(l.address, l.epoch);
      this.followed = l.address;
    } catch (e) {
      this.o.log.warn("not following the leader etcd names", { leader: l.id, epoch: l.epoch, error: (e as Error).message });
    }
  }

  /** The state of the role this master holds now (none between roles): the status page's. */
  get state(): MasterState | undefined {
    return this.current?.phase.state;
  }

  /**
   * /readyz: ready while it serves its role: an active that has recovered and may
   * acknowledge, a shadow that follows an active. Not while recovering or between roles.
   */
  readiness(): Readiness {
    const state = this.current?.phase.state;
    if (!state) return { ready: false, reason: this.stopping ? "shutting down" : "recovering: no role taken yet" };
    if (state.role === "active") {
      if (state.actsAsShadow) return { ready: false, reason: "stepping down from active" };
      return this.coordinator.canAcknowledge() ? { ready: true } : { ready: false, reason: "active, but its etcd lease is not renewed" };
    }
    const f = this.follower?.status();
    if (!this.leader || this.leader.id === this.o.id) return { ready: false, reason: "shadow: no active master known to follow" };
    if (!f?.connected) return { ready: false, reason: `shadow: not connected to the active ${this.leader.id} (${this.leader.address})` };
    return { ready: true };
  }

  /** The address the follower was last told to follow. */
  private followed: string | undefined;

  /** Shadow, campaign, active, step down, shadow again... until stopped. */
  private async run(): Promise<void> {
    while (!this.stopping) {
      let epoch: number;
      try {
        ({ epoch } = await this.coordinator.campaign({ id: this.o.id, address: this.address }, () => this.eligible()));
      } catch (e) {
        if (this.stopping) return;
        this.o.log.warn("campaign failed; trying again", { error: (e as Error).message });
        await new Promise((r) => setTimeout(r, defaults.election_retry_ms));
        continue;
      }
      if (this.stopping) return;
      await this.current?.close();
      const ended = await this.openActive(epoch).catch(async (e: Error) => {
        this.o.log.error("could not take the active role; stepping down", { epoch, error: e.message });
        return e.message;
      });
      const why = await ended;
      this.o.log.warn("stepped down", { epoch, why });
      this.o.phase.events?.add("role-changed", `master ${this.o.id} stepped down from active (epoch ${epoch}): ${why}`, "warn");
      await this.current?.close();
      this.current = undefined;
      // Unreachable etcd: the lease runs out by itself (the step-down came first).
      await Promise.race([this.coordinator.resign().catch(() => {}), new Promise((r) => setTimeout(r, defaults.etcd_call_timeout_ms))]);
      if (!this.stopping) await this.openShadow();
    }
  }

  /** Only a master in the in-sync set holds every acknowledged record (a new cluster has no set yet). */
  private async eligible(): Promise<boolean> {
    const set = await this.coordinator.readInSync();
    return !set || set.members.includes(this.o.id);
  }

  private async openShadow(): Promise<void> {
    const epoch = this.leader?.epoch ?? 0;
    const phase = MasterPhase.open({ ...this.o.phase, role: "shadow", epoch, onJournalFailure: () => {} });
    phase.state.activeAddress = this.leader && this.leader.id !== this.o.id ? this.leader.address : undefined;
    phase.state.mastersStatus = () => this.shadowStatus();
    const follower = new LogFollower({
      oplog: phase.oplog, selfId: this.o.id, selfAddress: this.address, security: this.o.security, log: this.o.log,
      appliedSeq: phase.state.appliedSeq,
      onCommitted: (ops) => this.current?.phase.state.applyReplicated(ops),
      // The log now starts from the active's checkpoint: the state is rebuilt from it.
      onReset: async () => { await this.reloadShadow(); },
    });
    this.follower = follower;
    this.followed = undefined;
    const role: Role = {
      phase,
      // The follower first (it may be installing a checkpoint into the log): only then the phase, and its log.
      // role.phase, not phase: a reset replaces it (reloadShadow).
      close: async () => {
        await follower.close();
        if (this.follower === follower) this.follower = undefined;
        await role.phase.close();
      },
    };
    this.current = role;
    this.o.phase.events?.add("role-changed", `master ${this.o.id} is a shadow`
      + (this.leader && this.leader.id !== this.o.id ? `, following ${this.leader.id} (epoch ${epoch})` : ""));
    if (this.leader) this.onLeader(this.leader);
  }

  /** After a checkpoint install: a fresh shadow state over the same log (chunkservers re-register when asked). */
  private async reloadShadow(): Promise<void> {
    const old = this.current;
    if (!old || old.phase.state.role !== "shadow") return;
    const previous = old.phase;
    const phase = await previous.reopen(); // hands the log over: closing `previous` no longer closes it
    phase.state.activeAddress = previous.state.activeAddress;
    phase.state.mastersStatus = () => this.shadowStatus();
    old.phase = phase; // the role's close closes this one (and the log), even if the role ended meanwhile
  }

  private async openActive(epoch: number): Promise<string> {
    // Before anything is acknowledged in this epoch: the in-sync set is this master alone (shadows join as they catch up).
    await this.coordinator.writeInSync([this.o.id]);
    let shipper: LogShipper | undefined;
    let opened: MasterPhase | undefined;
    const ended = new Promise<string>((resolve) => { this.stepDown = resolve; });
    const phase = MasterPhase.open({
      ...this.o.phase, role: "active", epoch,
      journal: (oplog) => {
        shipper = new LogShipper({
          oplog, epoch, selfId: this.o.id, log: this.o.log, clock: Date.now,
          inSync: { write: (members) => this.coordinator.writeInSync(members) },
          // A shadow whose log diverges starts over from a checkpoint; a log without one yet takes one now.
          checkpoint: async () => { if (opened) await opened.checkpointer.run(); },
        });
        return new ReplicatedJournal(oplog, shipper, { canAcknowledge: () => this.coordinator.canAcknowledge() });
      },
      // A log that cannot be written here: stop acknowledging, step down; a shadow that holds every acknowledged record takes over.
      onJournalFailure: (e) => this.stepDown?.(`op log failed: ${e.message}`),
      shipLog: (call) => shipper!.handler(call),
    });
    opened = phase;
    this.shipper = shipper;
    phase.state.mastersStatus = () => this.activeStatus(phase);
    this.current = {
      phase,
      close: async () => { shipper?.close(); this.shipper = undefined; await phase.close(); },
    };
    this.o.log.info("master is active", { id: this.o.id, epoch, address: this.address, lastSeq: phase.oplog.lastSeq });
    this.o.phase.events?.add("role-changed", `master ${this.o.id} is active (epoch ${epoch})`);
    if (!this.coordinator.canAcknowledge()) this.stepDown?.("etcd lease not renewed in time");
    return ended;
  }

  private activeStatus(phase: MasterPhase): MasterStatus__Output[] {
    const self: MasterStatus__Output = {
      id: this.o.id, address: this.address, role: "MASTER_ROLE_ACTIVE", epoch: phase.state.epoch, lastSeq: phase.oplog.lastSeq,
      appliedSeq: phase.state.appliedSeq, lagRecords: 0, lagMs: 0, inSync: true, reachable: true,
    };
    return [self, ...((this.shipper?.shadows() ?? []) as MasterStatus__Output[])];
  }

  private shadowStatus(): MasterStatus__Output[] {
    const f = this.follower?.status();
    const phase = this.current?.phase;
    const self: MasterStatus__Output = {
      id: this.o.id, address: this.address, role: "MASTER_ROLE_SHADOW", epoch: this.leader?.epoch ?? 0,
      lastSeq: f?.lastSeq ?? phase?.oplog.lastSeq ?? 0, appliedSeq: f?.appliedSeq ?? phase?.state.appliedSeq ?? 0,
      lagRecords: f?.lagRecords ?? 0, lagMs: f?.lagMs ?? 0, inSync: false, reachable: true,
    };
    const leader: MasterStatus__Output[] = this.leader && this.leader.id !== this.o.id ? [{
      id: this.leader.id, address: this.leader.address, role: "MASTER_ROLE_ACTIVE", epoch: this.leader.epoch,
      lastSeq: 0, appliedSeq: 0, lagRecords: 0, lagMs: 0, inSync: true, reachable: !!f?.connected,
    }] : [];
    return [self, ...leader];
  }
}
