// Issue 20 (quota lane): the incremental usage of directory quotas, op by op, against a count from
// scratch; enforcement (hard, soft + grace); checkpoints. Pure: a Metadata, no processes.
import { describe, expect, it } from "vitest";
import { inodePath } from "@gfs/common";
import { Metadata, type MetadataOp } from "../src/metadata";
import { checkQuotas } from "../src/quota-accounting";
import { countUsage } from "../src/quota-table";
import { trashName } from "../src/trash-table";

const h = (n: number) => n.toString(16).padStart(16, "0");
let nextId = 100;
const mkdir = (path: string, t = 1): MetadataOp => ({ op: "mkdir", path, mode: 0o755, uid: 0, gid: 0, parents: true, ids: [nextId++, nextId++, nextId++].slice(0, 1), timeMs: t });
const create = (path: string, t = 1): MetadataOp => ({ op: "create", path, mode: 0o644, uid: 0, gid: 0, exclusive: true, id: nextId++, timeMs: t });
const extend = (path: string, endOffset: number, t = 1): MetadataOp => ({ op: "extendFile", path, endOffset, mtimeMs: t, timeMs: t });
const quota = (path: string, l: Partial<{ bytesSoft: number; bytesHard: number; entriesSoft: number; entriesHard: number }>, t = 1): MetadataOp =>
  ({ op: "setQuota", path, bytesSoft: 0, bytesHard: 0, entriesSoft: 0, entriesHard: 0, ...l, timeMs: t });

/** Applies `op`, then checks every quota's kept usage equals a count from scratch. */
function step(m: Metadata, op: MetadataOp): void {
  m.apply(op);
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
    expect(back.quotas.get(m.namespace.idOf("/a/b"))!.softSinceMs).toBe(42);
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
    expect(m.quotas.all()[0]).toMatchObject({ bytes: 50, entries: 1, softSinceMs: 9 }); // left at 8, back over at 9
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
    expect(q.softSinceMs).toBe(100);
    checkQuotas(m, extend("/a/b/f", 3000, 150), 100, 150);
    expect(() => checkQuotas(m, extend("/a/b/f", 3000, 200), 100, 200)).toThrow(/EDQUOT.*grace/);
    step(m, { op: "truncate", path: "/a/b/f", size: 10, chunkSizeBytes: 1 << 20, timeMs: 300 });
    expect(q.softSinceMs).toBeUndefined();
    checkQuotas(m, extend("/a/b/f", 1400, 400), 100, 400);
  });
});
