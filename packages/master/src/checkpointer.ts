// When and how the master checkpoints (GFS §2.6.3): once enough records have
// piled up, or after a while with any at all. The snapshot is taken in one
// synchronous pass (so it is exactly the state after a known record), then
// written in short transactions while service goes on.
import type { Logger } from "@gfs/common";
import type { MasterState, Clock } from "./master-state";
import type { MetadataOp } from "./metadata";
import type { OpLog } from "./op-log";

export interface CheckpointSettings {
  checkpoint_every_records: number;
  checkpoint_interval_ms: number;
}

/** Pure rule: is a checkpoint due? */
export function checkpointDue(recordsSince: number, msSince: number, s: CheckpointSettings): boolean {
  if (recordsSince <= 0) return false;
  return recordsSince >= s.checkpoint_every_records || msSince >= s.checkpoint_interval_ms;
}

export class Checkpointer {
  private lastMs: number;
  private running: Promise<void> | undefined;

  constructor(private readonly state: MasterState, private readonly oplog: OpLog<MetadataOp>,
    private readonly settings: CheckpointSettings, private readonly clock: Clock, private readonly log: Logger,
    private lastCheckpointSeq: number) {
    this.lastMs = clock();
  }

  /** Starts a checkpoint if one is due and none is running. */
  maybeRun(): void {
    if (this.running) return;
    if (!checkpointDue(this.state.appliedSeq - this.lastCheckpointSeq, this.clock() - this.lastMs, this.settings)) return;
    this.running = this.write().catch((e: Error) => {
      // The log still holds every record, so a failed checkpoint loses nothing; it is retried later.
      this.log.error("checkpoint failed", { error: e.message });
    }).finally(() => { this.running = undefined; });
  }

  /** Takes a checkpoint now (after one already running). */
  async run(): Promise<void> {
    while (this.running) await this.running;
    const p = this.write();
    this.running = p.catch(() => {}).finally(() => { this.running = undefined; });
    await p;
  }

  private async write(): Promise<void> {
    const t0 = performance.now();
    const seq = this.state.appliedSeq;
    const parts = this.state.metadata.checkpointParts(); // synchronous: the state after record `seq`
    const snapshotMs = performance.now() - t0;
    this.lastMs = this.clock();
    await this.state.durable(); // covers `seq`: the checkpoint never includes a record that is not durable
    await this.oplog.checkpoint(parts, seq, Date.now());
    this.lastCheckpointSeq = seq;
    this.log.info("checkpoint written", {
      lastSeq: seq, parts: parts.length, bytes: parts.reduce((n, p) => n + p.length, 0),
      snapshotMs: Math.round(snapshotMs), totalMs: Math.round(performance.now() - t0),
    });
  }

  async idle(): Promise<void> {
    await this.running;
  }
}
