// When and how the master checkpoints (GFS §2.6.3): once enough records have
// piled up, or after a while with any at all. A worker thread rebuilds the
// state after the last durable record from the previous checkpoint and the
// log, and writes it to its own file; the master then points the log at it in
// one small transaction. Service never pauses for the serialization.
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { Logger } from "@gfs/common";
import type { CheckpointJob, CheckpointJobResult } from "./checkpoint-worker";
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
  private retryAfterMs = 0;

  constructor(private readonly state: MasterState, private readonly oplog: OpLog<MetadataOp>,
    private readonly settings: CheckpointSettings, private readonly clock: Clock, private readonly log: Logger,
    private lastCheckpointSeq: number) {
    this.lastMs = clock();
  }

  /** Starts a checkpoint if one is due and none is running. */
  maybeRun(): void {
    if (this.running) return;
    const now = this.clock();
    if (now < this.retryAfterMs) return;
    if (!checkpointDue(this.state.appliedSeq - this.lastCheckpointSeq, now - this.lastMs, this.settings)) return;
    this.running = this.write().catch((e: Error) => {
      // The log still holds every record, so a failed checkpoint loses nothing. Retry at the
      // time-based cadence, not on every commit (a full disk would otherwise spawn a worker per commit).
      this.retryAfterMs = this.clock() + this.settings.checkpoint_interval_ms;
      this.log.error("checkpoint failed", { error: e.message, retryInMs: this.settings.checkpoint_interval_ms });
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
    const seq = await this.state.durable(); // everything applied so far is durable: the log holds records 1..seq
    if (seq <= this.lastCheckpointSeq) return; // nothing new (and never rewrite the file recovery would start from)
    this.lastMs = this.clock();
    const now = Date.now();
    const resets = this.oplog.resets; // a shadow's log replaced meanwhile (issue 16) makes this checkpoint stale
    const r = await runCheckpointWorker({ dir: this.oplog.dir, upToSeq: seq, nowMs: now });
    if ("error" in r) throw new Error(r.error);
    await this.oplog.registerCheckpoint(seq, r.file, now, resets);
    this.lastCheckpointSeq = seq;
    this.log.info("checkpoint written", {
      lastSeq: seq, file: r.file, parts: r.partCount, bytes: r.bytes,
      rebuildMs: Math.round(r.rebuildMs), serializeMs: Math.round(r.serializeMs), writeMs: Math.round(r.writeMs),
      totalMs: Math.round(performance.now() - t0),
    });
  }

  async idle(): Promise<void> {
    await this.running;
  }
}

/**
 * Runs the checkpoint worker. It is loaded from dist/ even when this module
 * runs from src/ (tests): a worker thread needs plain JavaScript.
 */
function runCheckpointWorker(job: CheckpointJob): Promise<CheckpointJobResult> {
  const script = join(__dirname, "..", "dist", "checkpoint-worker.js");
  return new Promise((resolve, reject) => {
    const w = new Worker(script, { workerData: job });
    let result: CheckpointJobResult | undefined;
    w.once("message", (m: CheckpointJobResult) => { result = m; });
    w.once("error", reject);
    w.once("exit", (code) => result ? resolve(result) : reject(new Error(`checkpoint worker exited (${code}) without a result`)));
  });
}
