// Recovery on start (GFS §2.6.3): the newest complete checkpoint, then every
// record after it replayed in order. Only operations that applied cleanly were
// ever logged, so a record that does not apply means the log and checkpoint
// disagree: refuse to start rather than serve a state nobody acknowledged.
import { Metadata, type MetadataOp } from "./metadata";
import { OpLogError, type Recovered } from "./op-log";

export interface RecoveryResult {
  metadata: Metadata;
  /** Sequence number the checkpoint ended at (0 without one). */
  checkpointSeq: number;
  replayedRecords: number;
  lastSeq: number;
}

export function recoverMetadata(recovered: Recovered<MetadataOp>): RecoveryResult {
  const checkpointSeq = recovered.checkpoint?.lastSeq ?? 0;
  let metadata: Metadata;
  try {
    metadata = recovered.checkpoint ? Metadata.fromCheckpoint(recovered.checkpoint.parts()) : new Metadata();
  } catch (e) {
    if (e instanceof OpLogError) throw e;
    throw new OpLogError(`checkpoint up to record ${checkpointSeq} cannot be read: ${(e as Error).message}`);
  }
  let seq = checkpointSeq;
  for (const op of recovered.records) {
    seq++;
    try {
      metadata.apply(op);
    } catch (e) {
      throw new OpLogError(`record ${seq} (${String((op as { op?: unknown }).op)}) does not apply to the recovered state: ${(e as Error).message}; refusing to guess`);
    }
  }
  if (seq !== recovered.lastSeq) throw new OpLogError(`replayed up to record ${seq} but the log ends at ${recovered.lastSeq}`);
  return { metadata, checkpointSeq, replayedRecords: recovered.records.length, lastSeq: seq };
}
