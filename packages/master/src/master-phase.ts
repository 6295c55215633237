// One incarnation of the master's state over its data dir: recovery (newest
// checkpoint + replay), the MasterState, its checkpoints and its periodic
// sweep. A single master runs one for its whole life. A replicated master
// (issue 16) runs one per role it takes: a shadow's, rebuilt after it starts
// over from the active's checkpoint, and an active's, built fresh from the
// log when it is elected (the path a restarted master takes, which already
// honours the leases chunkservers report). Nothing of a former role's memory
// survives into the next: only what is durable in the log does.
import type { CallStreamServer, Logger, MasterHandlers } from "@gfs/common";
import { Checkpointer, type CheckpointSettings } from "./checkpointer";
import type { ClusterEvents } from "./cluster-events";
import type { ChunkTokenKeys } from "./chunk-token-keys";
import { unwatchMaster, watchMaster } from "./master-metrics";
import { masterHandlers } from "./master-service";
import { MasterState, type Journal, type MasterRole } from "./master-state";
import type { MetadataOp } from "./metadata";
import { OpLog, type Recovered } from "./op-log";
import { recoverMetadata } from "./recovery";
import type { MasterSettings } from "./settings";

export interface PhaseOptions {
  dataDir: string;
  settings: MasterSettings;
  checkpoints: CheckpointSettings;
  role: MasterRole;
  epoch: number;
  log: Logger;
  tokens: ChunkTokenKeys;
  streams: CallStreamServer;
  /** The journal the state commits through (default: the op log itself). */
  journal?: (oplog: OpLog<MetadataOp>) => Journal;
  /** The journal failed: memory is ahead of the disk (a single master exits; a replicated one steps down). */
  onJournalFailure: (e: Error) => void;
  /** ShipLog handler (an active master's log shipper). */
  shipLog?: MasterHandlers["ShipLog"];
  /** Recent cluster events (status page): one ring for the process, kept across a replicated master's roles. */
  events?: ClusterEvents;
}

/** The recovered log cut at its last acknowledged record (all of it when that was never stored). */
function acknowledgedPart(r: Recovered<MetadataOp>): Recovered<MetadataOp> {
  const from = r.checkpoint?.lastSeq ?? 0;
  const upTo = Math.max(from, Math.min(r.acknowledgedSeq ?? r.lastSeq, r.lastSeq));
  return upTo === r.lastSeq ? r : { ...r, records: r.records.slice(0, upTo - from), lastSeq: upTo };
}

export class MasterPhase {
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  handlers!: MasterHandlers;

  private constructor(readonly oplog: OpLog<MetadataOp>, readonly state: MasterState, readonly checkpointer: Checkpointer,
    private readonly options: PhaseOptions) {}

  /** Recovers the state from `dataDir` and starts its timers. Refuses (OpLogError) a dir it cannot read safely. */
  static open(o: PhaseOptions): MasterPhase {
    const { log: oplog, recovered } = OpLog.open<MetadataOp>(o.dataDir);
    return MasterPhase.build(o, oplog, recovered);
  }

  /**
   * A fresh state over the same log, from what it holds now (a shadow whose log was
   * started over from the active's checkpoint). This phase's timers stop; its log lives on.
   */
  async reopen(): Promise<MasterPhase> {
    this.stopTimers();
    await this.checkpointer.idle();
    this.closed = true; // the log now belongs to the new phase: closing this one closes nothing
    return MasterPhase.build(this.options, this.oplog, OpLog.readUpTo<MetadataOp>(this.oplog.dir, this.oplog.lastSeq));
  }

  private static build(o: PhaseOptions, oplog: OpLog<MetadataOp>, all: Recovered<MetadataOp>): MasterPhase {
    const t0 = performance.now();
    oplog.epoch = o.epoch;
    // A shadow serves only what clients were told succeeded: the records after the last one known acknowledged
    // stay in its log, unapplied, until its active says they are (or a reset drops them). See LogFollower.
    const recovered = o.role === "shadow" ? acknowledgedPart(all) : all;
    const { metadata, checkpointSeq, replayedRecords, lastSeq } = recoverMetadata(recovered);
    const counts = metadata.namespace.counts();
    o.log.info("master recovered", {
      data: o.dataDir, role: o.role, epoch: o.epoch, checkpointSeq, replayedRecords, lastSeq, files: counts.files,
      directories: counts.directories, chunks: metadata.chunks.size, ms: Math.round(performance.now() - t0),
    });
    let checkpointer: Checkpointer | undefined;
    const state = new MasterState(o.role === "shadow" ? { ...o.settings, chunk_spares: 0 } : o.settings, Date.now, o.log, {
      metadata, journalSeq: lastSeq,
      // A shadow commits nothing itself: its records arrive from the active through applyReplicated.
      ...(o.role === "shadow" ? {} : { journal: o.journal?.(oplog) ?? oplog }),
      onJournalFailure: o.onJournalFailure,
      afterCommit: () => checkpointer?.maybeRun(),
      // A primary may still hold a lease granted before this start: until then, a chunk waits for a grant
      // while a member of its last grant set has not registered (registering servers report their leases).
      leaseGrantsFromMs: Date.now() + o.settings.lease_ms,
      role: o.role, epoch: o.epoch, events: o.events,
    });
    checkpointer = new Checkpointer(state, oplog, o.checkpoints, Date.now, o.log, checkpointSeq);
    const phase = new MasterPhase(oplog, state, checkpointer, o);
    phase.handlers = masterHandlers(state, o.tokens, o.streams, o.shipLog);
    // /metrics reads the newest phase's tables (issue 17).
    watchMaster({ state, oplog, streams: o.streams });
    phase.timers.push(setInterval(() => checkpointer?.maybeRun(), Math.min(1_000, o.checkpoints.checkpoint_interval_ms)));
    phase.timers.push(setInterval(() => state.tick(), Math.max(10, Math.floor(o.settings.heartbeat_interval_ms / 2))));
    return phase;
  }

  /** Stops the timers, waits for a running checkpoint and closes the log (what is durable stays). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTimers();
    unwatchMaster(this.state);
    await this.checkpointer.idle();
    await this.oplog.close();
  }

  private stopTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
  }
}
