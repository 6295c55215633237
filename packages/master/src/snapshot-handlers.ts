// Issue 20 (snapshot lane): the master's Snapshot call. Stub until the lane lands.
import { GfsError, unary, type MasterHandlers } from "@gfs/common";
import type { MasterState } from "./master-state";

type SnapshotHandlers = Pick<MasterHandlers, "Snapshot">;

export function snapshotHandlers(_state: MasterState): SnapshotHandlers {
  return {
    Snapshot: unary(async () => { throw new GfsError("ENOSYS", "snapshots are not built yet"); }),
  };
}
