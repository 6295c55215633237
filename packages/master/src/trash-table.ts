// Issue 20 (trash lane): the trash (GFS 4.4). Stub until the lane lands; the interface below is
// the contract the quota lane codes against (it charges an entry to the quotas above `path`).
import { GfsError } from "@gfs/common";
import type { Metadata, TrashOp } from "./metadata";
import type { OpResult } from "./namespace";

/** Where the trash lives in the namespace: a root-owned directory, hidden from listings of the root. */
export const TRASH_DIR = "/.trash";

/** One entry: the node now at `${TRASH_DIR}/${name}` (inode id `id`) was deleted from `path` at `deletedMs`. */
export interface TrashRecord {
  readonly id: number;
  readonly name: string;
  readonly path: string;
  readonly deletedMs: number;
}

export class TrashTable {
  get size(): number { return 0; }
  get(_id: number): TrashRecord | undefined { return undefined; }
  /** Every entry, oldest first. */
  entries(): IterableIterator<TrashRecord> { return ([] as TrashRecord[])[Symbol.iterator](); }
}

/** Checks `op` against `m` and returns what applies it (throws, changing nothing, if it cannot apply). */
export function planTrashOp(_m: Metadata, op: TrashOp): () => OpResult {
  throw new GfsError("ENOSYS", `${op.op}: the trash is not built yet`);
}
