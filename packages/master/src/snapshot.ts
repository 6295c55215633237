// Issue 20 (snapshot lane): snapshots (GFS 3.4) as metadata operations. Stub until the lane lands.
import { GfsError } from "@gfs/common";
import type { Metadata, SnapshotOp } from "./metadata";
import type { OpResult } from "./namespace";

/** Checks `op` against `m` and returns what applies it (throws, changing nothing, if it cannot apply). */
export function planSnapshotOp(_m: Metadata, op: SnapshotOp): () => OpResult {
  throw new GfsError("ENOSYS", `${op.op}: snapshots are not built yet`);
}
