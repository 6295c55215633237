// Issue 20 (snapshot lane): snapshots as metadata ops, pure: the copy of a tree, reference counts of
// shared chunks, copy-on-write records, the garbage path, checkpoints and replay.
import { describe, expect, it } from "vitest";
import { Metadata, type MetadataOp } from "../src/metadata";
import { SnapshotFence, cowOutcome, planCow } from "../src/copy-on-write";

const h = (n: number) => n.toString(16).padStart(16, "0");

/** /src: a (2 chunks), b (1 chunk), d/c (hard link of a as d/a2), a symlink, a fifo; /other. */
const setup: MetadataOp[] = [
  { op: "mkdir", path: "/src", mode: 0o750, uid: 7, gid: 8, parents: false, ids: [2], timeMs: 1 },
  { op: "create", path: "/src/a", mode: 0o640, uid: 7, gid: 8, exclusive: true, id: 3, timeMs: 2 },
  { op: "addChunk", path: "/src/a", index: 0, handle: h(1), version: 3 },
  { op: "addChunk", path: "/src/a", index: 1, handle: h(2), version: 1 },
  { op: "extendFile", path: "/src/a", endOffset: 1500, mtimeMs: 3, timeMs: 3 },
  { op: "createWithChunk", path: "/src/b", mode: 0o600, uid: 7, gid: 8, exclusive: true, id: 4, timeMs: 4, chunk: { handle: h(3), version: 1, replicas: ["cs1"] } },
  { op: "mkdir", path: "/src/d", mode: 0o700, uid: 7, gid: 8, parents: false, ids: [5], timeMs: 5 },
  { op: "link", from: "/src/a", to: "/src/d/a2", timeMs: 6 },
  { op: "symlink", path: "/src/l", target: "a", uid: 7, gid: 8, id: 6, timeMs: 7 },
  { op: "mknod", path: "/src/d/p", type: "fifo", mode: 0o600, rdev: 0, uid: 7, gid: 8, id: 7, timeMs: 8 },
  { op: "setXattr", path: "/src/b", name: "user.k", value: Buffer.from("v").toString("base64"), flags: 0, timeMs: 9 },
  { op: "mkdir", path: "/other", mode: 0o755, uid: 0, gid: 0, parents: false, ids: [8], timeMs: 10 },
];
const snap: MetadataOp = { op: "snapshot", from: "/src", to: "/other/copy", firstId: 20, nodes: 6, timeMs: 50 };

function built(ops: MetadataOp[] = setup): Metadata {
  const m = new Metadata();
  for (const op of ops) m.apply(op);
  return m;
}

describe("snapshot op", () => {
  it("copies type, mode, owner, times, sizes, xattrs, symlink targets and chunk lists under new ids; hard links stay linked inside the copy", () => {
    const m = built([...setup, snap]);
    const ns = m.namespace;
    const a = ns.stat("/other/copy/a");
    expect(a).toMatchObject({ mode: 0o640, uid: 7, gid: 8, size: 1500, mtimeMs: 3, nlink: 2, chunkCount: 2 });
    expect(a.id).toBeGreaterThanOrEqual(20);
    expect(ns.stat("/other/copy/d/a2").id).toBe(a.id);
    expect(ns.file("/other/copy/a").chunks).toEqual([h(1), h(2)]);
    expect(ns.stat("/other/copy/l").symlinkTarget).toBe("a");
    expect(ns.stat("/other/copy/d/p").type).toBe("FILE_TYPE_FIFO");
    expect(ns.xattrs.rowOf(ns.idOf("/other/copy/b"))).toEqual([["user.k", Buffer.from("v").toString("base64")]]);
    expect(ns.stat("/other/copy").mode).toBe(0o750);
    expect(ns.stat("/other").mtimeMs).toBe(50); // the parent changes as for a create
    const ids = ["", "/a", "/b", "/d", "/l", "/d/p"].map((p) => ns.idOf("/other/copy" + p)).sort((x, y) => x - y);
    expect(ids).toEqual([20, 21, 22, 23, 24, 25]);
  });

  it("every copied chunk gains a reference (once per file inode, not per name)", () => {
    const m = built([...setup, snap]);
    for (const n of [1, 2, 3]) expect(m.chunks.refCount(h(n))).toBe(2);
    expect(m.chunks.sharedCount).toBe(3);
  });

  it("refuses DST existing (EEXIST), missing parent (ENOENT), DST inside SRC (EINVAL), a node count that differs (EIO), changing nothing", () => {
    const m = built();
    const before = JSON.stringify(m.snapshot());
    expect(() => m.apply({ ...snap, to: "/other" } as MetadataOp)).toThrow(/EEXIST/);
    expect(() => m.apply({ ...snap, to: "/nope/copy" } as MetadataOp)).toThrow(/ENOENT/);
    expect(() => m.apply({ ...snap, to: "/src/d/copy" } as MetadataOp)).toThrow(/EINVAL/);
    expect(() => m.apply({ ...snap, nodes: 5 } as MetadataOp)).toThrow(/EIO/);
    expect(() => m.apply({ ...snap, to: "/.trash/x" } as MetadataOp)).toThrow(/EROFS/);
    expect(JSON.stringify(m.snapshot())).toBe(before);
  });

  it("deleting one tree drops references only; deleting both drops every chunk", () => {
    const m = built([...setup, snap]);
    const first = m.apply({ op: "delete", path: "/src", recursive: true, directoryOnly: false, fileOnly: false, timeMs: 60 });
    expect(first.garbage).toEqual([]);
    for (const n of [1, 2, 3]) expect(m.chunks.refCount(h(n))).toBe(1);
    const second = m.apply({ op: "delete", path: "/other/copy", recursive: true, directoryOnly: false, fileOnly: false, timeMs: 61 });
    expect(second.garbage.sort()).toEqual([h(1), h(2), h(3)]);
    expect(m.chunks.size).toBe(0);
  });

  it("truncate of a shared file drops its reference, not the chunk", () => {
    const m = built([...setup, snap]);
    const res = m.apply({ op: "truncate", path: "/src/a", size: 0, chunkSizeBytes: 1000, timeMs: 60 });
    expect(res.garbage).toEqual([]);
    expect(m.namespace.file("/other/copy/a").chunks).toEqual([h(1), h(2)]);
    expect(m.chunks.refCount(h(1))).toBe(1);
  });
});

describe("the handler's walk of the source (Namespace.snapshotSource)", () => {
  it("counts inodes once (hard links), lists each file inode's chunks, names the single owner; EINVAL past the node limit", () => {
    const m = built();
    expect(m.namespace.snapshotSource("/src", 100)).toEqual({ nodes: 6, handles: expect.arrayContaining([h(1), h(2), h(3)]), owner: 7 });
    expect(m.namespace.snapshotSource("/src", 100).handles).toHaveLength(3);
    expect(m.namespace.snapshotSource("/", 100).owner).toBe(-1); // root's and uid 7's nodes
    expect(() => m.namespace.snapshotSource("/src", 5)).toThrow(/EINVAL.*more than 5 nodes/);
  });
});

describe("cowChunk op", () => {
  const cow: MetadataOp = { op: "cowChunk", path: "/src/a", index: 0, from: h(1), handle: h(99), version: 1, replicas: ["cs1", "cs2"] };

  it("moves the writer's slot to the copy; the shared chunk loses a reference and stays in the other tree", () => {
    const m = built([...setup, snap, cow]);
    expect(m.namespace.file("/src/a").chunks).toEqual([h(99), h(2)]);
    expect(m.namespace.file("/other/copy/a").chunks).toEqual([h(1), h(2)]);
    expect(m.chunks.refCount(h(1))).toBe(1);
    expect(m.chunks.get(h(99))).toMatchObject({ version: 1, index: 0, grantSet: ["cs1", "cs2"] });
  });

  it("refuses an unshared chunk (EINVAL) and a slot that no longer holds it (ESTALE)", () => {
    const m = built([...setup, snap, cow]);
    expect(() => m.apply({ ...cow, handle: h(98) } as MetadataOp)).toThrow(/ESTALE|not shared/);
    expect(() => m.apply({ ...cow, path: "/other/copy/a", handle: h(98) } as MetadataOp)).toThrow(/not shared/);
    const n = built([...setup, snap]);
    expect(() => n.apply({ ...cow, path: "/src/b" } as MetadataOp)).toThrow(/ESTALE/);
  });
});

describe("persistence", () => {
  const all: MetadataOp[] = [...setup, snap,
    { op: "cowChunk", path: "/other/copy/a", index: 1, from: h(2), handle: h(77), version: 1, replicas: ["cs3"] }];

  it("replay of the recorded ops gives the same state and reference counts", () => {
    const a = built(all);
    const b = built(JSON.parse(JSON.stringify(all)) as MetadataOp[]);
    expect(b.snapshot()).toEqual(a.snapshot());
    for (const n of [1, 2, 3, 0x77]) expect(b.chunks.refCount(h(n))).toBe(a.chunks.refCount(h(n)));
  });

  it("a format 5 checkpoint counts repeated handles; restore() of a snapshot counts them too", () => {
    const a = built(all);
    for (const perPart of [1, 3, 512]) {
      const back = Metadata.fromCheckpoint(a.checkpointParts(perPart));
      expect(back.snapshot()).toEqual(a.snapshot());
      expect([1, 2, 3].map((n) => back.chunks.refCount(h(n)))).toEqual([2, 1, 2]);
    }
    const restored = Metadata.restore(a.snapshot());
    expect([1, 2, 3].map((n) => restored.chunks.refCount(h(n)))).toEqual([2, 1, 2]);
  });

  it("a format 4 checkpoint with a handle in two files is refused as corrupt", () => {
    const parts = built(all).checkpointParts().map((p) => JSON.parse(p) as Record<string, unknown>);
    parts[0]!.format = 4;
    expect(() => Metadata.fromCheckpoint(parts.map((p) => JSON.stringify(p)))).toThrow(/corrupt: chunk .* in two files in format 4/);
  });
});

describe("copy-on-write plan", () => {
  const core = (m: Metadata, leased = false) => ({
    chunks: m.chunks, safeMode: { active: false }, leaseGrantsFromMs: 0, registeredSinceStart: new Set<string>(),
    leases: { current: () => (leased ? {} : undefined), everGranted: () => true },
    liveness: { isAlive: () => true, get: () => undefined },
  }) as never;

  it("asks every good current replica for a local copy; only the servers that copied are in the record; none: EAGAIN", () => {
    const m = built([...setup, snap]);
    for (const id of ["cs1", "cs2"]) m.chunks.recordReplica(id, { handle: h(1), version: 3, length: 10 });
    m.chunks.recordReplica("cs3", { handle: h(1), version: 2, length: 10 }); // stale: not asked
    const plan = planCow(core(m), h(1), "/src/a", h(1), h(50), 0);
    if (plan.kind !== "copy") throw new Error(plan.message);
    expect(plan.messages.map((x) => [x.to, x.rpc, x.request])).toEqual([
      ["cs1", "CopyChunkLocal", { handle: h(1), version: 3, newHandle: h(50), newVersion: 1 }],
      ["cs2", "CopyChunkLocal", { handle: h(1), version: 3, newHandle: h(50), newVersion: 1 }],
    ]);
    const some = cowOutcome(plan, "/src/a", [{ ok: false, error: "ENOSPC" }, { ok: true, value: { chunkLength: 10 } }]);
    expect(some).toMatchObject({ kind: "commit", record: { op: "cowChunk", replicas: ["cs2"], from: h(1), handle: h(50), index: 0 } });
    expect(cowOutcome(plan, "/src/a", [{ ok: false, error: "x" }, { ok: false, error: "y" }])).toMatchObject({ kind: "refuse", errno: "EAGAIN" });
  });

  it("refuses a slot that holds another handle (ESTALE) and a chunk still leased (EAGAIN)", () => {
    const m = built([...setup, snap]);
    expect(planCow(core(m), h(1), "/src/a", h(9), h(50), 0)).toMatchObject({ kind: "refuse", errno: "ESTALE" });
    expect(planCow(core(m, true), h(1), "/src/a", h(1), h(50), 0)).toMatchObject({ kind: "refuse", errno: "EAGAIN" });
  });

  it("the fence holds a handle until every snapshot that fenced it released it", () => {
    const f = new SnapshotFence();
    f.add([h(1), h(2)]);
    f.add([h(1)]);
    f.release([h(1), h(2)]);
    expect([f.has(h(1)), f.has(h(2))]).toEqual([true, false]);
    f.release([h(1)]);
    expect(f.has(h(1))).toBe(false);
  });
});
