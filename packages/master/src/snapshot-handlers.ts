// Issue 20 (snapshot lane): the master's Snapshot call (GFS 3.4). The handler checks permissions,
// walks the source (at most snapshot_nodes_max nodes), fences its chunks against new leases,
// revokes the leases outstanding on them (lease-revocation.ts), and once none is left commits one
// `snapshot` record in the same turn as its last look, so no write can reach a chunk between the
// revocation and the record. Writes after it copy the chunk they touch (copy-on-write.ts).
import { setTimeout as sleep } from "node:timers/promises";
import { GfsError, defaults, unary, type CallerIdentity, type MasterHandlers } from "@gfs/common";
import { checkCreate, checkLookup } from "./access";
import { callerOf } from "./caller";
import type { MasterState } from "./master-state";
import { isRoot } from "./permissions";
import { inTrash } from "./trash-table";

type SnapshotHandlers = Pick<MasterHandlers, "Snapshot">;

export function snapshotHandlers(state: MasterState): SnapshotHandlers {
  return {
    Snapshot: unary(async (req, call) => {
      const started = process.hrtime.bigint();
      state.checkWritable(`snapshot ${req.from}`);
      const c = callerOf(call);
      const fenced = new Set<string>();
      let leasesRevoked = 0;
      try {
        for (let round = 1; ; round++) {
          const src = checkSnapshot(state, c, req.from, req.to);
          const fresh = src.handles.filter((h) => !fenced.has(h));
          state.snapshotFence.add(fresh);
          for (const h of fresh) fenced.add(h);
          const busy = [...new Set(src.handles.filter((h) => state.leaseBusy(h)))];
          if (busy.length === 0) {
            // The last look and the commit's apply in one turn: the tree copied is the tree looked at.
            const [firstId] = state.allocIds(src.nodes);
            const res = await state.commit({ op: "snapshot", from: req.from, to: req.to, firstId: firstId!, nodes: src.nodes, timeMs: state.clock() });
            const durationUs = Number((process.hrtime.bigint() - started) / 1000n);
            state.log.info("snapshot", { from: req.from, to: req.to, nodes: src.nodes, chunks: src.handles.length, leasesRevoked, durationUs });
            return { info: res.info!, nodes: src.nodes, chunks: src.handles.length, leasesRevoked, durationUs };
          }
          if (round >= defaults.snapshot_quiesce_rounds_max) {
            throw new GfsError("EAGAIN", `snapshot of ${req.from}: ${busy.length} of its chunks still leased after ${round} rounds of revocation (a primary not answering keeps its lease until it expires); try again`);
          }
          const gone = await Promise.all(busy.map((h) => state.revokeLease(h)));
          leasesRevoked += gone.filter(Boolean).length;
          if (gone.some((g) => !g) || busy.some((h) => state.leaseBusy(h))) await sleep(defaults.snapshot_quiesce_pause_ms);
        }
      } finally {
        state.snapshotFence.release(fenced);
      }
    }),
  };
}

/**
 * The checks of a snapshot by `c` (before anything is revoked, and again at the commit): search to
 * reach the source; write and search on the destination's parent (as a create; EEXIST if it exists);
 * the source's every node owned by `c` unless `c` is root (an admin certificate speaks as root).
 */
function checkSnapshot(state: MasterState, c: CallerIdentity, from: string, to: string): { nodes: number; handles: string[] } {
  if (inTrash(from) || inTrash(to)) throw new GfsError("EROFS", `snapshot: ${inTrash(from) ? from : to} is in the trash (read-only)`);
  const ns = state.namespace;
  checkLookup(ns, c, from);
  const { existing } = checkCreate(ns, c, to);
  if (existing) throw new GfsError("EEXIST", `snapshot: ${to} exists`);
  const src = ns.snapshotSource(from, defaults.snapshot_nodes_max);
  if (!isRoot(c) && src.owner !== c.uid) throw new GfsError("EACCES", `permission denied: snapshot of ${from}: uid ${c.uid} does not own every node of it (only root may snapshot others' files)`);
  // What the record would meet (DST inside SRC, missing parent, ...), so nothing is revoked for a snapshot that cannot be.
  ns.planCopyTree(from, to, state.namespace.maxId + 1, 0);
  return src;
}
