// Worker thread that writes a checkpoint: it rebuilds the state after record
// `upToSeq` from the newest checkpoint and the log (the same replay recovery
// uses), serializes it and writes it to its own file. The master's event loop
// never pauses for it; the price is a second copy of the metadata in memory
// while it runs.
import { parentPort, workerData } from "node:worker_threads";
import { writeCheckpointFile } from "./checkpoint-file";
import type { MetadataOp } from "./metadata";
import { OpLog } from "./op-log";
import { recoverMetadata } from "./recovery";

export interface CheckpointJob { dir: string; upToSeq: number; nowMs: number }
export type CheckpointJobResult =
  | { file: string; partCount: number; bytes: number; rebuildMs: number; serializeMs: number; writeMs: number }
  | { error: string };

function run(job: CheckpointJob): CheckpointJobResult {
  const t0 = performance.now();
  const { metadata, lastSeq } = recoverMetadata(OpLog.readUpTo<MetadataOp>(job.dir, job.upToSeq));
  if (lastSeq !== job.upToSeq) throw new Error(`the log ends at record ${lastSeq}, before ${job.upToSeq}`);
  const t1 = performance.now();
  const parts = metadata.checkpointParts();
  const t2 = performance.now();
  const written = writeCheckpointFile(job.dir, parts, job.upToSeq, job.nowMs);
  return { ...written, rebuildMs: t1 - t0, serializeMs: t2 - t1, writeMs: performance.now() - t2 };
}

if (parentPort) {
  let result: CheckpointJobResult;
  try {
    result = run(workerData as CheckpointJob);
  } catch (e) {
    result = { error: (e as Error).message };
  }
  parentPort.postMessage(result);
}
