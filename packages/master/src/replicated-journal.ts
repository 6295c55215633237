// The journal of an active master with shadows (issue 16): a record is
// acknowledged (its append resolves, so MasterState answers the client) only
// once it is durable in the local op log AND on every shadow of the in-sync
// set AND the step-down timer still allows acknowledging. Shipping runs in
// parallel with the local commit (the op log hands each batch to the shipper
// as it goes to disk), so the two waits overlap.
import { GfsError } from "@gfs/common";
import type { LogShipper } from "./log-shipper";
import type { Journal } from "./master-state";
import type { MetadataOp } from "./metadata";
import type { OpLog } from "./op-log";

export interface ReplicatedJournalOptions {
  /** False once this master may no longer acknowledge (its etcd lease was not renewed in time). */
  canAcknowledge: () => boolean;
}

export class ReplicatedJournal implements Journal {
  constructor(private readonly oplog: OpLog<MetadataOp>, private readonly shipper: LogShipper,
    private readonly options: ReplicatedJournalOptions) {}

  async append(op: MetadataOp): Promise<void> {
    const seq = await this.oplog.appendSeq(op);
    await this.shipper.replicated(seq);
    // A master past its step-down time may have a successor: what it answers now could be lost there.
    if (!this.options.canAcknowledge()) {
      throw new GfsError("EIO", `record ${seq} is durable but not acknowledged: this master may no longer acknowledge (its etcd lease was not renewed in time)`);
    }
    this.shipper.acknowledged(seq);
    this.oplog.noteAcknowledged(seq); // stored with a later commit: if this master restarts as a shadow, it serves up to here
  }

  get stats(): { readonly records: number; readonly commits: number } {
    return this.oplog.stats;
  }
}
