// Issue 20 (trash lane): the master's trash calls. Stubs until the lane lands.
import { GfsError, unary, type MasterHandlers } from "@gfs/common";
import type { MasterState } from "./master-state";

type TrashHandlers = Pick<MasterHandlers, "ListTrash" | "RestoreTrash" | "PurgeTrash">;

export function trashHandlers(_state: MasterState): TrashHandlers {
  const notYet = unary(async () => { throw new GfsError("ENOSYS", "the trash is not built yet"); });
  return { ListTrash: notYet, RestoreTrash: notYet, PurgeTrash: notYet };
}
