// Issue 20 (quota lane): how each op changes the usage of the quota directories above what it
// touches, computed before the op applies (O(depth) for most ops: the directories above a name are
// walked up, never scanned), and the refusal of an op that would take one past its limit. Pure: it
// reads a Metadata and returns deltas; Metadata.apply adds them, MasterState.commit checks them.
import { GfsError } from "@gfs/common";
import type { Metadata, MetadataOp } from "./metadata";
import { overSoftOf, trashDirId, type Quota, type Usage } from "./quota-table";
import { noEntry, trashPathOf } from "./trash-table";

/** What an op does to the quotas: usage deltas by quota directory, and the trash charges it makes or ends. */
export interface UsagePlan {
  deltas: Map<number, Usage>;
  /** trash: the entry (inode id) and the quota directories it stays charged to. */
  charge?: { entryId: number; dirIds: number[] };
  /** restoreTrash, purgeTrash: entries whose charges end. */
  uncharge?: number[];
}

/** Ops that may add usage (the others only take it away or leave it): the ones commit checks. */
const GROWING = new Set<MetadataOp["op"]>(["create", "createWithChunk", "mkdir", "symlink", "mknod", "link", "rename", "truncate", "extendFile", "snapshot", "restoreTrash"]);

/** The usage plan of `op` on `m` (which has quotas). Throws what the op's own checks would (a bad path...). */
export function planUsage(m: Metadata, op: MetadataOp): UsagePlan {
  const plan: UsagePlan = { deltas: new Map() };
  const ns = m.namespace;
  // `u` may be a function: a subtree's usage (O(nodes below)) is counted only when some quota is above it.
  const add = (dirs: number[], usage: Usage | (() => Usage), sign = 1) => {
    if (dirs.length === 0) return;
    const u = typeof usage === "function" ? usage() : usage;
    for (const d of dirs) {
      const cur = plan.deltas.get(d) ?? { bytes: 0, entries: 0 };
      plan.deltas.set(d, { bytes: cur.bytes + sign * u.bytes, entries: cur.entries + sign * u.entries });
    }
  };
  const newName = (path: string, u: Usage | (() => Usage)) => add(quotaDirs(m, -1, ns.dirIdsAboveNew(path)), u);
  switch (op.op) {
    case "create": case "createWithChunk":
      if (!ns.exists(op.path)) newName(op.path, { bytes: 0, entries: 1 });
      break;
    case "symlink": case "mknod":
      newName(op.path, { bytes: 0, entries: 1 });
      break;
    case "mkdir":
      newName(op.path, { bytes: 0, entries: ns.missingDirectories(op.path, op.parents) });
      break;
    case "link":
      newName(op.to, { bytes: fileBytes(m, op.from), entries: 1 });
      break;
    case "delete":
      add(nameDirs(m, op.path), () => ns.subtreeUsage(op.path, true), -1);
      break;
    case "rename":
      planRename(m, op, add);
      break;
    case "truncate":
      sizeChange(m, op.path, op.size - ns.stat(op.path).size, add);
      break;
    case "extendFile":
      sizeChange(m, op.path, Math.max(0, op.endOffset - ns.stat(op.path).size), add);
      break;
    case "snapshot":
      newName(op.to, () => ns.subtreeUsage(op.from, true));
      break;
    case "trash": {
      const entryId = ns.idOf(op.path);
      plan.charge = { entryId, dirIds: nameDirs(m, op.path) };
      break;
    }
    case "restoreTrash": {
      const rec = m.trash.get(op.id) ?? noEntry(`restore of trash entry ${op.id}: no such entry`);
      let counted: Usage | undefined;
      const u = () => (counted ??= ns.subtreeUsage(trashPathOf(rec), true));
      add(m.quotas.chargedTo(op.id), u, -1);
      newName(op.to, () => ({ bytes: u().bytes, entries: u().entries + op.parentIds.length }));
      plan.uncharge = [op.id];
      break;
    }
    case "purgeTrash":
      for (const id of op.ids) {
        const rec = m.trash.get(id) ?? noEntry(`purge of trash entry ${id}: no such entry`);
        add(m.quotas.chargedTo(id), () => ns.subtreeUsage(trashPathOf(rec), true), -1);
      }
      plan.uncharge = [...op.ids];
      break;
    default: // setAttributes, chunks, versions, goals, xattrs, reclaim (orphans have no name: counted nowhere), setQuota
  }
  for (const [d, u] of plan.deltas) if (u.bytes === 0 && u.entries === 0) plan.deltas.delete(d);
  return plan;
}

/** Adds `plan` to `m`'s quotas (after the op applied) and drops the quotas of directories the op removed. */
export function applyUsage(m: Metadata, plan: UsagePlan, op: MetadataOp): void {
  const timeMs = "timeMs" in op ? op.timeMs : 0;
  for (const [d, u] of plan.deltas) m.quotas.add(d, u, timeMs);
  for (const id of plan.uncharge ?? []) m.quotas.uncharge(id);
  if (plan.charge) m.quotas.charge(plan.charge.entryId, plan.charge.dirIds);
  if (op.op === "delete" || op.op === "rename" || op.op === "purgeTrash") m.quotas.dropMissing((id) => m.namespace.hasInode(id));
}

/**
 * EDQUOT if `op` would take a quota directory past its hard limit, or past its soft limit once the
 * grace period (`graceMs` from when usage of that kind, bytes or entries, first went over it) has
 * run out at `nowMs`. Only what
 * grows is checked: an op that shrinks usage (or leaves it) is always allowed. Returns the op's
 * usage plan (undefined: no quotas, or it could not be made), for Metadata.apply to add as it is:
 * the committing master plans once (replay and shadows plan in apply).
 */
export function checkQuotas(m: Metadata, op: MetadataOp, graceMs: number, nowMs: number): UsagePlan | undefined {
  if (m.quotas.size === 0) return undefined;
  let plan: UsagePlan;
  try {
    plan = planUsage(m, op);
  } catch {
    return undefined; // a bad op: the apply refuses it with its own error
  }
  if (!GROWING.has(op.op)) return plan;
  for (const [d, u] of plan.deltas) {
    const q = m.quotas.get(d);
    if (!q) continue;
    if (u.bytes > 0) checkOne(m, q, "bytes", q.bytes + u.bytes, graceMs, nowMs, op);
    if (u.entries > 0) checkOne(m, q, "entries", q.entries + u.entries, graceMs, nowMs, op);
  }
  return plan;
}

function checkOne(m: Metadata, q: Quota, what: "bytes" | "entries", after: number, graceMs: number, nowMs: number, op: MetadataOp): void {
  const hard = what === "bytes" ? q.bytesHard : q.entriesHard;
  const soft = what === "bytes" ? q.bytesSoft : q.entriesSoft;
  const since = q.softSinceMs[what]; // this kind's own clock: the other kind's grace is not this one's
  const graceOver = since !== undefined && overSoftOf(q, what) && nowMs - since >= graceMs;
  const dir = m.namespace.dirPathOfId(q.dirId);
  const target = "path" in op ? op.path : "to" in op ? op.to : "";
  if (hard > 0 && after > hard) throw new GfsError("EDQUOT", `${target}: the quota of ${dir} allows ${hard} ${what}; this would make ${after}`);
  if (soft > 0 && after > soft && graceOver) {
    throw new GfsError("EDQUOT", `${target}: ${dir} has been over its soft quota (${soft} ${what}) longer than the grace period (${graceMs} ms)`);
  }
}

/**
 * The quota directories a node at the end of `chain` (ids above it, nearest first) is charged to:
 * those in the chain, except that a node in the trash is charged, from its trash entry up, to the
 * quota directories its entry was deleted from under (never to /.trash's own ancestors).
 */
function quotaDirs(m: Metadata, selfId: number, chain: number[]): number[] {
  const trash = m.trash.size > 0 ? trashDirId(m) : undefined;
  const out: number[] = [];
  let below = selfId;
  for (const id of chain) {
    if (id === trash) return out.concat(m.quotas.chargedTo(below));
    if (m.quotas.has(id)) out.push(id);
    below = id;
  }
  return out;
}

/** Quota directories above the name `path` (a name path). */
function nameDirs(m: Metadata, path: string): number[] {
  return quotaDirs(m, m.namespace.idOf(path), m.namespace.dirIdsAbove(path)!);
}

function planRename(m: Metadata, op: Extract<MetadataOp, { op: "rename" }>, add: (dirs: number[], u: Usage | (() => Usage), sign?: number) => void): void {
  const ns = m.namespace;
  if (op.from === op.to) return;
  const replaced = ns.exists(op.to);
  if (replaced && ns.idOf(op.to) === ns.idOf(op.from)) return; // two names of one inode: rename(2) does nothing
  if (replaced) add(nameDirs(m, op.to), () => ns.subtreeUsage(op.to, true), -1);
  const from = nameDirs(m, op.from);
  const to = quotaDirs(m, -1, ns.dirIdsAboveNew(op.to));
  if (from.length === to.length && from.every((d, i) => d === to[i])) return; // same quotas above: nothing moves
  let counted: Usage | undefined;
  const u = () => (counted ??= ns.subtreeUsage(op.from, true));
  add(from, u, -1);
  add(to, u);
}

/**
 * A file's size changes by `delta`: each of its names counts, so every quota directory above each
 * name changes. One name (the common case): O(depth). Several (hard links): each name's directories
 * are walked up from its slot (the namespace keeps an inode's LINK slots): O(names x depth).
 */
function sizeChange(m: Metadata, path: string, delta: number, add: (dirs: number[], u: Usage) => void): void {
  if (delta === 0) return;
  const ns = m.namespace;
  const id = ns.idOf(path);
  const chain = ns.stat(path).nlink <= 1 ? ns.dirIdsAbove(path) : undefined;
  if (chain !== undefined) return add(quotaDirs(m, id, chain), { bytes: delta, entries: 0 });
  for (const names of ns.dirIdsAboveNames(id)) add(quotaDirs(m, id, names), { bytes: delta, entries: 0 });
}

function fileBytes(m: Metadata, path: string): number {
  const st = m.namespace.stat(path);
  return st.type === "FILE_TYPE_FILE" ? Number(st.size) : 0;
}

