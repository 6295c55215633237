// Issue 20 (snapshot lane): snapshots (GFS 3.4) as metadata operations. A snapshot copies a tree's
// metadata only: the copy's files reference the same chunk handles, each chunk counting its
// references (chunk-table.ts). The first write to a shared chunk copies it on its chunkservers
// (copy-on-write.ts) and logs `cowChunk`: the writer's file gets the copy, the shared chunk loses
// one reference. Deleting either tree drops references; a chunk goes when none is left.
import { GfsError, isHandle } from "@gfs/common";
import { inTrash } from "./trash-table";
import type { Metadata, SnapshotOp } from "./metadata";
import { parsePath, type OpResult } from "./namespace";

/** Checks `op` against `m` and returns what applies it (throws, changing nothing, if it cannot apply). */
export function planSnapshotOp(m: Metadata, op: SnapshotOp): () => OpResult {
  return op.op === "snapshot" ? planSnapshot(m, op) : planCow(m, op);
}

function planSnapshot(m: Metadata, op: Extract<SnapshotOp, { op: "snapshot" }>): () => OpResult {
  const from = "/" + parsePath(op.from).join("/");
  const to = "/" + parsePath(op.to).join("/");
  if (inTrash(from) || inTrash(to)) throw new GfsError("EROFS", `snapshot: ${inTrash(from) ? from : to} is in the trash (read-only)`);
  if (!Number.isSafeInteger(op.timeMs) || op.timeMs < 0) throw new GfsError("EINVAL", `snapshot: bad time ${op.timeMs}`);
  const plan = m.namespace.planCopyTree(from, to, op.firstId, op.timeMs);
  // The record names how many ids it took: a tree that differs at replay is a log that does not match its state.
  if (plan.nodes !== op.nodes) throw new GfsError("EIO", `snapshot of ${from}: the tree has ${plan.nodes} nodes, the record says ${op.nodes}`);
  // Checked before anything changes: a handle the table does not know would leave a half-applied snapshot.
  for (const h of plan.handles) {
    if (!m.chunks.get(h)) throw new Error(`invariant: snapshot of ${from} shares chunk ${h}, not in the chunk table`);
  }
  return () => {
    const res = plan.apply();
    res.handles.forEach((h, i) => m.chunks.addRef(h, res.fileIds[i]!));
    return { info: res.info!, id: res.id!, garbage: [] };
  };
}

/** Copy-on-write: slot `index` of `path` moves from the shared chunk `from` to its own copy `handle`. */
function planCow(m: Metadata, op: Extract<SnapshotOp, { op: "cowChunk" }>): () => OpResult {
  if (!isHandle(op.handle) || !isHandle(op.from)) throw new GfsError("EINVAL", `copy-on-write: bad chunk handle`);
  if (m.chunks.has(op.handle)) {
    // A reserved handle is fine (the copy being made); one already in the table is not.
    if (m.chunks.get(op.handle)) throw new GfsError("EIO", `copy-on-write: chunk handle ${op.handle} already in use`);
  }
  if (!Number.isSafeInteger(op.version) || op.version < 1) throw new GfsError("EINVAL", `copy-on-write: bad version ${op.version}`);
  if (!Array.isArray(op.replicas) || op.replicas.length === 0 || !op.replicas.every((id) => typeof id === "string" && id)) {
    throw new GfsError("EINVAL", `copy-on-write of ${op.from}: no replicas`);
  }
  const old = m.chunks.get(op.from);
  if (!old) throw new GfsError("ESTALE", `copy-on-write: no chunk ${op.from}`);
  if (old.index !== op.index) throw new GfsError("EINVAL", `copy-on-write: chunk ${op.from} is at index ${old.index}, not ${op.index}`);
  // Only a shared chunk is copied: a chunk with one reference is the writer's alone (its grant bumps it in place).
  if (m.chunks.refCount(op.from) < 2) throw new GfsError("EINVAL", `copy-on-write: chunk ${op.from} is not shared`);
  const replace = m.namespace.planReplaceChunk(op.path, op.index, op.from, op.handle);
  return () => {
    const res = replace();
    m.chunks.add(op.handle, op.version, res.id!, op.index, op.replicas);
    if (m.chunks.unref(op.from, res.id!)) throw new Error(`invariant: copy-on-write dropped the last reference to ${op.from}`);
    return res;
  };
}
