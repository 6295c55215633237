// Where a new chunk's replicas go: distinct live chunkservers with the most
// free space, spread across racks when servers carry rack labels (so losing a
// rack never loses every copy), ties broken by least load, then by id.
import { GfsError } from "@gfs/common";

export interface PlacementCandidate {
  serverId: string;
  rack: string;
  capacityBytes: number;
  usedBytes: number;
  load: number;
}

const free = (c: PlacementCandidate): number => Math.max(0, c.capacityBytes - c.usedBytes);

function better(a: PlacementCandidate, b: PlacementCandidate): number {
  return free(b) - free(a) || a.load - b.load || (a.serverId < b.serverId ? -1 : a.serverId > b.serverId ? 1 : 0);
}

/** Picks `replication` servers from `live` (all assumed alive); EAGAIN if there are too few. */
export function placeReplicas<T extends PlacementCandidate>(live: T[], replication: number, exclude: ReadonlySet<string> = new Set()):
  T[] {
  const pool = live.filter((c) => !exclude.has(c.serverId)).sort(better);
  if (pool.length < replication) {
    throw new GfsError("EAGAIN", `need ${replication} live chunkservers, have ${pool.length}`);
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
