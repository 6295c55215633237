// Issue 20 (trash lane): the trash (GFS 4.4). Stub until the lane lands.
import { GfsError } from "@gfs/common";
import type { Metadata, TrashOp } from "./metadata";
import type { OpResult } from "./namespace";

export class TrashTable {}

/** Checks `op` against `m` and returns what applies it (throws, changing nothing, if it cannot apply). */
export function planTrashOp(_m: Metadata, op: TrashOp): () => OpResult {
  throw new GfsError("ENOSYS", `${op.op}: the trash is not built yet`);
}
