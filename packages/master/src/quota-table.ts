// Issue 20 (quota lane): directory quotas. Stub until the lane lands.
import { GfsError } from "@gfs/common";
import type { Metadata, QuotaOp } from "./metadata";
import type { OpResult } from "./namespace";

export class QuotaTable {}

/** Checks `op` against `m` and returns what applies it (throws, changing nothing, if it cannot apply). */
export function planQuotaOp(_m: Metadata, op: QuotaOp): () => OpResult {
  throw new GfsError("ENOSYS", `${op.op}: quotas are not built yet`);
}
