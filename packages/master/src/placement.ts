// Where a new chunk's replicas go: distinct live chunkservers with the most
// free space, spread across racks when servers carry rack labels (so losing a
// rack never loses every copy), ties broken by least load, then by id.
// Free space is what the server's disk reports (statfs), when it reports it.
// A new chunk avoids servers without room for one chunk; if fewer than
// `replication` have room, the answer is ENOSPC (the cluster is full), not a
// chunk whose first write would fail on a full disk.
import { GfsError } from "@gfs/common";

export interface PlacementCandidate {
  serverId: string;
  rack: string;
  capacityBytes: number;
  usedBytes: number;
  load: number;
  /** Free bytes its disk reported; without it, capacity minus the bytes its chunks use. */
  freeBytes?: number;
  /** Which disk (empty or absent: the server reported no free space of its own). */
  diskId?: string;
}

const reportsFree = (c: PlacementCandidate): boolean => c.freeBytes !== undefined && !!c.diskId;

/** Free bytes of a candidate: its disk's report, else capacity minus used. */
export const freeBytesOf = (c: PlacementCandidate): number =>
  reportsFree(c) ? c.freeBytes! : Math.max(0, c.capacityBytes - c.usedBytes);

const free = freeBytesOf;

function better(a: PlacementCandidate, b: PlacementCandidate): number {
  return free(b) - free(a) || a.load - b.load || (a.serverId < b.serverId ? -1 : a.serverId > b.serverId ? 1 : 0);
}

/**
 * Picks `replication` servers from `live` (all assumed alive); EAGAIN if there
 * are too few. With `roomBytes`, only servers whose disk reported at least that
 * much free (or reported nothing) are taken; ENOSPC if too few have room.
 */
export function placeReplicas<T extends PlacementCandidate>(live: T[], replication: number, exclude: ReadonlySet<string> = new Set(),
  roomBytes = 0): T[] {
  const reachable = live.filter((c) => !exclude.has(c.serverId));
  const pool = reachable.filter((c) => !reportsFree(c) || c.freeBytes! >= roomBytes).sort(better);
  if (reachable.length < replication) {
    throw new GfsError("EAGAIN", `need ${replication} live chunkservers, have ${reachable.length}`);
  }
  if (pool.length < replication) {
    throw new GfsError("ENOSPC", `no room for a new chunk: ${pool.length} of ${reachable.length} live chunkservers have ${roomBytes} bytes free, ${replication} needed`);
  }
  const chosen: T[] = [];
  const racksUsed = new Set<string>();
  while (chosen.length < replication) {
    // The best server on a rack not used yet; an unlabelled server counts as a rack of its own.
    let i = pool.findIndex((c) => c.rack === "" || !racksUsed.has(c.rack));
    if (i < 0) i = 0;
    const [c] = pool.splice(i, 1);
    chosen.push(c);
    if (c.rack !== "") racksUsed.add(c.rack);
  }
  return chosen;
}

/**
 * Capacity and free bytes of the cluster for statfs: each disk counted once
 * (chunkservers sharing a disk all report the same free space), from what the
 * disks reported; servers that reported nothing count capacity minus used.
 */
export function clusterSpace(live: PlacementCandidate[]): { capacity: number; free: number } {
  let capacity = 0;
  let free = 0;
  const disks = new Set<string>();
  for (const s of live) {
    if (reportsFree(s)) {
      if (disks.has(s.diskId!)) continue;
      disks.add(s.diskId!);
    }
    capacity += s.capacityBytes;
    free += freeBytesOf(s);
  }
  return { capacity, free };
}
