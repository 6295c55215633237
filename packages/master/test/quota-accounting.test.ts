// Issue 20 (quota lane): the incremental usage of directory quotas, op by op, against a count from
// scratch; enforcement (hard, soft + grace); checkpoints. Pure: a Metadata, no processes.
import { describe, expect, it, vi } from "vitest";
import { createLogger, defaults } from "@gfs/common";
import { inodePath } from "@gfs/common";
import { Metadata, type MetadataOp } from "../src/metadata";
import { checkQuotas, planUsage, type UsagePlan } from "../src/quota-accounting";
import { countUsage, quotaGraceMs } from "../src/quota-table";
import { MasterState } from "../src/master-state";
import { mergeLimits, quotaInfos } from "../src/quota-handlers";
import { defaultMasterSettings } from "../src/settings";
import { trashName } from "../src/trash-table";

const h = (n: number) => n.toString(16).padStart(16, "0");
let nextId = 100;
const mkdir = (path: string, t = 1): MetadataOp => ({ op: "mkdir", path, mode: 0o755, uid: 0, gid: 0, parents: true, ids: [nextId++, nextId++, nextId++].slice(0, 1), timeMs: t });
const create = (path: string, t = 1): MetadataOp => ({ op: "create", path, mode: 0o644, uid: 0, gid: 0, exclusive: true, id: nextId++, timeMs: t });
const extend = (path: string, endOffset: number, t = 1): MetadataOp => ({ op: "extendFile", path, endOffset, mtimeMs: t, timeMs: t });
const quota = (path: string, l: Partial<{ bytesSoft: number; bytesHard: number; entriesSoft: number; entriesHard: number }>, t = 1): MetadataOp =>
  ({ op: "setQuota", path, bytesSoft: 0, bytesHard: 0, entriesSoft: 0, entriesHard: 0, ...l, timeMs: t });

/**
 * Applies `op` as the committing master does (the plan made once, by the commit's check, handed to
 * apply), then checks every quota's kept usage equals a count from scratch.
 */
function step(m: Metadata, op: MetadataOp): void {
  let planned: UsagePlan | undefined;
  try {
    planned = checkQuotas(m, op, Number.MAX_SAFE_INTEGER, 0);
  } catch {
    planned = undefined; // past a limit: replay accepts what was logged, planning in apply
  }
  m.apply(op, planned);
  for (const q of m.quotas.all()) expect({ dir: q.dirId, bytes: q.bytes, entries: q.entries }).toEqual({ dir: q.dirId, ...countUsage(m, q.dirId) });
}
const usageOf = (m: Metadata, path: string) => {
  const q = m.quotas.get(m.namespace.idOf(path))!;
  return { bytes: q.bytes, entries: q.entries };
};

function tree(): Metadata {
  const m = new Metadata();
  step(m, mkdir("/a"));
  step(m, mkdir("/a/b"));
  step(m, mkdir("/c"));
  step(m, create("/a/b/f"));
  step(m, extend("/a/b/f", 1000));
  step(m, quota("/a", { bytesHard: 10_000, entriesHard: 10 }));
  step(m, quota("/a/b", { bytesSoft: 1500, entriesHard: 5 }));
  step(m, quota("/", { entriesHard: 100 }));
  return m;
}

describe("quota usage is kept op by op and equals a count from scratch", () => {
  it("setQuota counts the existing subtree: logical bytes and entries below (not the directory itself)", () => {
    const m = tree();
    expect(usageOf(m, "/a")).toEqual({ bytes: 1000, entries: 2 });
    expect(usageOf(m, "/a/b")).toEqual({ bytes: 1000, entries: 1 });
    expect(usageOf(m, "/")).toEqual({ bytes: 1000, entries: 4 });
  });

  it("every namespace op type moves usage exactly (create, mkdir -p, symlink, mknod, link, truncate, extend, rename, delete)", () => {
    const m = tree();
    step(m, create("/a/b/g"));
    step(m, { ...mkdir("/a/b/x/y"), ids: [nextId++, nextId++] } as MetadataOp);
    expect(usageOf(m, "/a/b")).toEqual({ bytes: 1000, entries: 4 });
    step(m, { op: "symlink", path: "/a/s", target: "/x", uid: 0, gid: 0, id: nextId++, timeMs: 2 });
    step(m, { op: "mknod", path: "/a/b/p", type: "fifo", mode: 0o644, rdev: 0, uid: 0, gid: 0, id: nextId++, timeMs: 2 });
    step(m, { op: "addChunk", path: "/a/b/g", index: 0, handle: h(1), version: 1 });
    step(m, extend("/a/b/g", 300));
    step(m, { op: "truncate", path: "/a/b/f", size: 400, chunkSizeBytes: 1 << 20, timeMs: 3 });
    expect(usageOf(m, "/a/b")).toEqual({ bytes: 700, entries: 5 });
    step(m, { op: "link", from: "/a/b/f", to: "/c/f2", timeMs: 3 }); // a second name outside both quotas
    expect(usageOf(m, "/")).toEqual({ bytes: 1100, entries: 10 });
    step(m, extend("/c/f2", 900)); // grows a file with two names: each quota above either name grows
    expect(usageOf(m, "/a/b").bytes).toBe(1200);
    expect(usageOf(m, "/").bytes).toBe(2100);
    step(m, { op: "rename", from: "/a/b/g", to: "/c/g", noReplace: false, timeMs: 4 });
    expect(usageOf(m, "/a/b")).toEqual({ bytes: 900, entries: 4 });
    step(m, { op: "rename", from: "/c", to: "/a/c", noReplace: false, timeMs: 4 }); // a tree moves into /a
    expect(usageOf(m, "/a").bytes).toBe(900 + 900 + 300);
    step(m, { op: "delete", path: "/a/b/f", recursive: false, directoryOnly: false, fileOnly: true, timeMs: 5 });
    expect(usageOf(m, "/a/b")).toEqual({ bytes: 0, entries: 3 });
    step(m, { op: "delete", path: "/a", recursive: true, directoryOnly: false, fileOnly: false, timeMs: 6 });
    expect(m.quotas.size).toBe(1); // the quotas of /a and /a/b went with their directories
    expect(usageOf(m, "/")).toEqual({ bytes: 0, entries: 0 });
  });

  it("a snapshot adds its copy's usage to the quotas above the copy, and is refused past a hard limit", () => {
    const m = tree();
    const nodes = m.namespace.subtreeUsage("/a", true).entries;
    const snapshot = (to: string): MetadataOp => ({ op: "snapshot", from: "/a", to, firstId: (nextId += nodes) - nodes, nodes, timeMs: 8 });
    step(m, quota("/c", { entriesHard: 2 }));
    expect(() => checkQuotas(m, snapshot("/c/copy"), 0, 8)).toThrow(/EDQUOT.*entries/); // /a, /a/b, /a/b/f: 3 entries
    step(m, quota("/c", { entriesHard: 10, bytesHard: 5000 }));
    step(m, snapshot("/c/copy"));
    expect(usageOf(m, "/c")).toEqual({ bytes: 1000, entries: 3 });
    expect(usageOf(m, "/")).toEqual({ bytes: 2000, entries: 7 });
  });

  it("a write by inode path (a mount session's open file) is charged to the quotas above its name", () => {
    const m = tree();
    const id = m.namespace.idOf("/a/b/f");
    step(m, extend(inodePath(id), 5000));
    expect(usageOf(m, "/a").bytes).toBe(5000);
  });

  it("a rename over a file takes the replaced file's usage away", () => {
    const m = tree();
    step(m, create("/c/z"));
    step(m, extend("/c/z", 50));
    step(m, { op: "rename", from: "/c/z", to: "/a/b/f", noReplace: false, timeMs: 7 });
    expect(usageOf(m, "/a/b")).toEqual({ bytes: 50, entries: 1 });
  });

  it("checkpoints keep the limits and the grace start; usage is recounted on load and equals the live one", () => {
    const m = tree();
    step(m, extend("/a/b/f", 2000, 42)); // over /a/b's soft limit from t=42
    const back = Metadata.fromCheckpoint(m.checkpointParts());
    expect(back.quotas.rows()).toEqual(m.quotas.rows());
    expect(back.quotas.all()).toEqual(m.quotas.all());
    expect(back.quotas.get(m.namespace.idOf("/a/b"))!.softSinceMs).toEqual({ bytes: 42, entries: undefined });
  });

  it("replaying the same ops on a fresh state gives the same quotas, usage and grace starts (usage is derived, deterministically)", () => {
    const ops: MetadataOp[] = [];
    const m = new Metadata();
    const record = (op: MetadataOp) => { ops.push(op); step(m, op); };
    record(mkdir("/r"));
    record(quota("/r", { bytesSoft: 10, entriesHard: 5 }, 3));
    record(create("/r/f"));
    record(extend("/r/f", 50, 7));
    record({ op: "rename", from: "/r/f", to: "/g", noReplace: false, timeMs: 8 });
    record({ op: "rename", from: "/g", to: "/r/g", noReplace: false, timeMs: 9 });
    const replayed = new Metadata();
    for (const op of JSON.parse(JSON.stringify(ops)) as MetadataOp[]) replayed.apply(op);
    expect(replayed.quotas.all()).toEqual(m.quotas.all());
    expect(m.quotas.all()[0]).toMatchObject({ bytes: 50, entries: 1, softSinceMs: { bytes: 9, entries: undefined } }); // left at 8, back over at 9
  });

  it("a checkpoint whose quota names no directory is refused as corrupt", () => {
    const m = tree();
    const parts = m.checkpointParts();
    const header = JSON.parse(parts[0]!);
    header.quotas[0][0] = m.namespace.idOf("/a/b/f");
    expect(() => Metadata.fromCheckpoint([JSON.stringify(header), ...parts.slice(1)])).toThrow(/EIO: checkpoint is corrupt: a quota on inode/);
  });

  it("a format-4 checkpoint claiming quotas is refused as corrupt", () => {
    const m = tree();
    const parts = m.checkpointParts();
    const header = JSON.parse(parts[0]!);
    header.format = 4;
    expect(() => Metadata.fromCheckpoint([JSON.stringify(header), ...parts.slice(1)])).toThrow(/EIO: checkpoint is corrupt: quotas in format 4/);
  });

  it("removing a quota (all limits 0) drops it; bad limits are refused and change nothing", () => {
    const m = tree();
    expect(() => m.apply(quota("/a", { bytesSoft: 10, bytesHard: 5 }))).toThrow(/EINVAL/);
    expect(() => m.apply(quota("/a/b/f", { bytesHard: 5 }))).toThrow(/ENOTDIR/);
    step(m, quota("/a", {}));
    expect(m.quotas.has(m.namespace.idOf("/a"))).toBe(false);
  });
});

describe("trash entries stay charged to the quotas they were deleted from under", () => {
  const trash = (m: Metadata, path: string, t = 10): number => {
    const id = m.namespace.idOf(path);
    step(m, { op: "trash", path, name: trashName(id, path), trashDirId: 9000, timeMs: t });
    return id;
  };

  it("trash changes no usage (the root's quota does not count /.trash twice); purge takes the entry's usage away exactly", () => {
    const m = tree();
    const f = trash(m, "/a/b/f");
    expect(usageOf(m, "/a/b")).toEqual({ bytes: 1000, entries: 1 });
    expect(usageOf(m, "/")).toEqual({ bytes: 1000, entries: 4 });
    const b = trash(m, "/a/b"); // a quota directory itself goes to the trash, keeping its quota
    expect(m.quotas.get(b)).toMatchObject({ bytes: 1000, entries: 1 }); // still charged with f, deleted from under it
    expect(usageOf(m, "/a")).toEqual({ bytes: 1000, entries: 2 });
    step(m, { op: "purgeTrash", ids: [f], timeMs: 11 });
    expect(usageOf(m, "/a")).toEqual({ bytes: 0, entries: 1 });
    expect(usageOf(m, "/")).toEqual({ bytes: 0, entries: 3 });
    step(m, { op: "purgeTrash", ids: [b], timeMs: 12 });
    expect(m.quotas.has(b)).toBe(false); // /a/b's quota went with it
    expect(usageOf(m, "/a")).toEqual({ bytes: 0, entries: 0 });
  });

  it("restore moves the charge to the quotas above where it goes (its new parents counted); a quota set later counts the trash under it", () => {
    const m = tree();
    const f = trash(m, "/a/b/f");
    step(m, { op: "restoreTrash", id: f, to: "/c/new/f", parentIds: [nextId++], uid: 0, gid: 0, timeMs: 20 });
    expect(usageOf(m, "/a")).toEqual({ bytes: 0, entries: 1 });
    expect(usageOf(m, "/")).toEqual({ bytes: 1000, entries: 5 });
    const g = trash(m, "/c/new/f");
    step(m, quota("/c", { bytesHard: 5000 }));
    expect(usageOf(m, "/c")).toEqual({ bytes: 1000, entries: 2 });
    const back = Metadata.fromCheckpoint(m.checkpointParts());
    expect(back.quotas.all()).toEqual(m.quotas.all());
    expect(back.quotas.chargedTo(g)).toEqual(m.quotas.chargedTo(g));
    expect(() => checkQuotas(m, { op: "restoreTrash", id: g, to: "/a/b/f", parentIds: [], uid: 0, gid: 0, timeMs: 21 }, 0, 21)).not.toThrow();
    step(m, quota("/a/b", { bytesHard: 999 }));
    expect(() => checkQuotas(m, { op: "restoreTrash", id: g, to: "/a/b/f", parentIds: [], uid: 0, gid: 0, timeMs: 21 }, 0, 21)).toThrow(/EDQUOT/);
  });

  it("a write through the descriptor of a file open when it was trashed is charged to its entry's quotas", () => {
    const m = tree();
    const f = trash(m, "/a/b/f");
    step(m, extend(inodePath(f), 4000));
    expect(usageOf(m, "/a/b").bytes).toBe(4000);
  });
});

describe("quota enforcement at commit", () => {
  it("EDQUOT past a hard byte or entry limit; shrinking is always allowed", () => {
    const m = tree();
    expect(() => checkQuotas(m, extend("/a/b/f", 10_001), 0, 0)).toThrow(/EDQUOT/);
    checkQuotas(m, extend("/a/b/f", 10_000), 1e12, 0);
    for (let i = 0; i < 4; i++) step(m, create(`/a/b/n${i}`));
    expect(() => checkQuotas(m, create("/a/b/n9"), 0, 0)).toThrow(/EDQUOT.*entries/);
    expect(() => checkQuotas(m, { op: "rename", from: "/c", to: "/a/b/c", noReplace: false, timeMs: 1 }, 0, 0)).toThrow(/EDQUOT/);
    checkQuotas(m, { op: "delete", path: "/a/b/n0", recursive: false, directoryOnly: false, fileOnly: true, timeMs: 1 }, 0, 0);
    checkQuotas(m, { op: "truncate", path: "/a/b/f", size: 0, chunkSizeBytes: 1 << 20, timeMs: 1 }, 0, 0);
  });

  it("over a soft limit: allowed during the grace period, EDQUOT once it ran out; back under, the grace resets", () => {
    const m = tree();
    step(m, extend("/a/b/f", 2000, 100)); // soft 1500: grace from t=100
    const q = m.quotas.get(m.namespace.idOf("/a/b"))!;
    expect(q.softSinceMs.bytes).toBe(100);
    checkQuotas(m, extend("/a/b/f", 3000, 150), 100, 150);
    expect(() => checkQuotas(m, extend("/a/b/f", 3000, 200), 100, 200)).toThrow(/EDQUOT.*grace/);
    step(m, { op: "truncate", path: "/a/b/f", size: 10, chunkSizeBytes: 1 << 20, timeMs: 300 });
    expect(q.softSinceMs.bytes).toBeUndefined();
    checkQuotas(m, extend("/a/b/f", 1400, 400), 100, 400);
  });

  it("bytes and entries soft limits each have their own grace clock (entries crossing now get their full grace, whatever bytes did)", () => {
    const m = tree();
    step(m, quota("/c", { bytesSoft: 100, entriesSoft: 2 }, 1));
    step(m, create("/c/f", 10));
    step(m, extend("/c/f", 500, 10)); // bytes over soft from t=10
    step(m, create("/c/g", 1000));
    step(m, create("/c/h", 1000)); // entries over soft (3 > 2) from t=1000
    const q = m.quotas.get(m.namespace.idOf("/c"))!;
    expect(q.softSinceMs).toEqual({ bytes: 10, entries: 1000 });
    // Grace 500: bytes' ran out at 510; entries' runs until 1500.
    expect(() => checkQuotas(m, extend("/c/f", 600, 1100), 500, 1100)).toThrow(/EDQUOT.*bytes.*grace/);
    checkQuotas(m, create("/c/i", 1100), 500, 1100);
    expect(() => checkQuotas(m, create("/c/i", 1600), 500, 1600)).toThrow(/EDQUOT.*entries.*grace/);
    const back = Metadata.fromCheckpoint(m.checkpointParts());
    expect(back.quotas.get(q.dirId)!.softSinceMs).toEqual({ bytes: 10, entries: 1000 });
    step(m, { op: "truncate", path: "/c/f", size: 0, chunkSizeBytes: 1 << 20, timeMs: 1700 });
    expect(q.softSinceMs).toEqual({ bytes: undefined, entries: 1000 }); // back under bytes only
  });

  it("a checkpoint row from before the split clocks (one grace start) gives it to each kind over its soft limit", () => {
    const m = tree();
    step(m, extend("/a/b/f", 2000, 42));
    const parts = m.checkpointParts();
    const header = JSON.parse(parts[0]!) as { quotas: unknown[][] };
    header.quotas = header.quotas.map((r) => r.slice(0, 7));
    const back = Metadata.fromCheckpoint([JSON.stringify(header), ...parts.slice(1)]);
    expect(back.quotas.get(m.namespace.idOf("/a/b"))!.softSinceMs).toEqual({ bytes: 42, entries: undefined });
  });
});

describe("quota accounting costs", () => {
  it("a write to a hard-linked file finds its names through its link slots (no subtree scan), under quotas and in the trash", () => {
    const m = tree();
    step(m, quota("/c", { bytesHard: 1e9 }));
    step(m, mkdir("/c/sub"));
    step(m, { op: "link", from: "/a/b/f", to: "/c/sub/f2", timeMs: 3 });
    step(m, { op: "link", from: "/a/b/f", to: "/a/f3", timeMs: 3 });
    step(m, { op: "delete", path: "/a/b/f", recursive: false, directoryOnly: false, fileOnly: true, timeMs: 4 }); // the inode's own name goes
    const scan = vi.spyOn(m.namespace, "namesBelow");
    const subtree = vi.spyOn(m.namespace, "subtreeUsage");
    step(m, extend("/c/sub/f2", 5000));
    expect(usageOf(m, "/a").bytes).toBe(5000);
    expect(usageOf(m, "/c").bytes).toBe(5000);
    expect(usageOf(m, "/").bytes).toBe(10_000);
    const id = m.namespace.idOf("/c/sub");
    step(m, { op: "trash", path: "/c/sub", name: trashName(id, "/c/sub"), trashDirId: 9000, timeMs: 5 }); // a tree holding one name goes to the trash
    scan.mockClear();
    subtree.mockClear();
    step(m, extend("/a/f3", 6000));
    expect(usageOf(m, "/c").bytes).toBe(6000); // the trashed name, still charged to /c
    expect(usageOf(m, "/").bytes).toBe(12_000);
    step(m, { op: "truncate", path: "/a/f3", size: 10, chunkSizeBytes: 1 << 20, timeMs: 6 });
    expect(usageOf(m, "/c").bytes).toBe(10);
    expect(scan).not.toHaveBeenCalled();
    subtree.mockClear(); // step's own counts from scratch use it; the plan of a size change must not
    expect(planUsage(m, extend("/a/f3", 7000)).deltas.get(m.namespace.idOf("/c"))).toEqual({ bytes: 6990, entries: 0 });
    expect(subtree).not.toHaveBeenCalled();
  });

  it("the committing master plans an op's usage once: a snapshot's subtree is counted once, not at the check and again at apply", async () => {
    const state = new MasterState({ ...defaultMasterSettings(), quota_grace_ms: undefined }, () => 1, createLogger("test", "error"));
    for (const op of [mkdir("/q"), mkdir("/q/d"), create("/q/d/f"), quota("/q", { bytesHard: 1e9 })]) await state.commit(op);
    const subtree = vi.spyOn(state.namespace, "subtreeUsage");
    await state.commit({ op: "snapshot", from: "/q/d", to: "/q/e", firstId: 50_000, nodes: 2, timeMs: 2 } as MetadataOp);
    expect(subtree).toHaveBeenCalledTimes(1);
    expect(state.metadata.quotas.get(state.namespace.idOf("/q"))!.entries).toBe(4);
  });
});

describe("one grace period decides, for enforcement and for what is shown", () => {
  it("without a --quota-grace-ms setting, grace_ends_ms is the soft-limit start plus the default enforced at commit", async () => {
    const state = new MasterState({ ...defaultMasterSettings(), quota_grace_ms: undefined }, () => 1, createLogger("test", "error"));
    for (const op of [mkdir("/g"), quota("/g", { entriesSoft: 1 }, 5), create("/g/a", 5), create("/g/b", 7)]) await state.commit(op);
    const [info] = quotaInfos(state, () => true);
    expect(info).toMatchObject({ overSoft: true, softExceededSinceMs: 7, graceEndsMs: 7 + defaults.quota_grace_ms, entriesGraceEndsMs: 7 + defaults.quota_grace_ms, bytesGraceEndsMs: 0 });
    expect(quotaGraceMs({})).toBe(defaults.quota_grace_ms);
  });
});

describe("quota set merges the limits given with the master's own", () => {
  it("limits not in the mask are kept; mask 0 (an older client, or rm) sets all four", () => {
    const cur = { bytesSoft: 1, bytesHard: 10, entriesSoft: 2, entriesHard: 20 };
    expect(mergeLimits(cur, { entriesHard: 100 }, 8)).toEqual({ ...cur, entriesHard: 100 });
    expect(mergeLimits(cur, { bytesSoft: 0, bytesHard: 0 }, 1 | 2)).toEqual({ ...cur, bytesSoft: 0, bytesHard: 0 });
    expect(mergeLimits(cur, { entriesHard: 100 }, 0)).toEqual({ bytesSoft: 0, bytesHard: 0, entriesSoft: 0, entriesHard: 100 });
  });
});
