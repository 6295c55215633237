// Issue 20 (snapshot lane): snapshots as metadata ops, pure: the copy of a tree, reference counts of
// shared chunks, copy-on-write records, the garbage path, checkpoints and replay.
import { describe, expect, it } from "vitest";
import { Metadata, type MetadataOp } from "../src/metadata";
import { SnapshotFence, cowOutcome, planCow } from "../src/copy-on-write";
import { ChunkServerPool, createLogger } from "@gfs/common";
import { MasterState } from "../src/master-state";
import { defaultMasterSettings } from "../src/settings";
import { trashName } from "../src/trash-table";

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

describe("snapshot op, checked before it applies", () => {
  it("a chunk handle the table does not know refuses the whole snapshot: the namespace is left as it was", () => {
    const m = built();
    m.namespace.apply({ op: "create", path: "/src/x", mode: 0o600, uid: 7, gid: 8, exclusive: true, id: 9, timeMs: 20 });
    m.namespace.apply({ op: "setChunk", path: "/src/x", index: 0, handle: h(0x44) }); // in a file, not in the chunk table
    const before = JSON.stringify(m.snapshot());
    expect(() => m.apply({ ...snap, nodes: 7 } as MetadataOp)).toThrow(/invariant: .* not in the chunk table/);
    expect(JSON.stringify(m.snapshot())).toBe(before);
    expect(() => m.namespace.stat("/other/copy")).toThrow(/ENOENT/);
  });
});

describe("trash purge of a file a snapshot shares", () => {
  it("purgeTrash drops only references: the chunks stay in the table until the last reference goes", () => {
    const m = built([...setup, snap]);
    m.apply({ op: "trash", path: "/src", name: trashName(2, "/src"), trashDirId: 100, timeMs: 60 });
    const purge = m.apply({ op: "purgeTrash", ids: [2], timeMs: 61 });
    expect(purge.garbage).toEqual([]);
    for (const n of [1, 2, 3]) {
      expect(m.chunks.get(h(n))).toBeDefined();
      expect(m.chunks.refCount(h(n))).toBe(1);
    }
    const last = m.apply({ op: "delete", path: "/other/copy", recursive: true, directoryOnly: false, fileOnly: false, timeMs: 62 });
    expect(last.garbage.sort()).toEqual([h(1), h(2), h(3)]);
    expect(m.chunks.size).toBe(0);
  });
});

describe("the files a shared chunk belongs to (its replication goal)", () => {
  /** A master whose metadata holds /src and its snapshot /other/copy; `goal()`: chunk `handle`'s goal. */
  const goalOf = (handle: string) => {
    const state = new MasterState(defaultMasterSettings(), () => 0, createLogger("test", "error"));
    for (const op of [...setup, snap]) state.metadata.apply(op);
    return { state, goal: () => state.goalOf(state.chunks.get(handle)!) };
  };

  it("a shared chunk wants the highest goal of the files referencing it: setrep on the snapshot raises it", () => {
    const { state, goal } = goalOf(h(1));
    const base = goal();
    state.metadata.apply({ op: "setGoal", path: "/other/copy", goal: base + 2, recursive: true, timeMs: 60 });
    expect(goal()).toBe(base + 2);
    state.metadata.apply({ op: "setGoal", path: "/src/a", goal: base + 3, recursive: false, timeMs: 61 });
    expect(goal()).toBe(base + 3);
  });

  it("after a copy-on-write or the source's deletion, the chunk's file is one that still references it (its goal, not the default)", () => {
    const { state, goal } = goalOf(h(1));
    const copyA = state.namespace.idOf("/other/copy/a");
    state.metadata.apply({ op: "setGoal", path: "/other/copy", goal: 5, recursive: true, timeMs: 60 });
    state.metadata.apply({ op: "cowChunk", path: "/src/a", index: 0, from: h(1), handle: h(99), version: 1, replicas: ["cs1"] });
    expect(state.chunks.get(h(1))!.fileId).toBe(copyA);
    expect(state.chunks.sharers(h(1))).toBeUndefined();
    expect(goal()).toBe(5);
    state.metadata.apply({ op: "delete", path: "/src", recursive: true, directoryOnly: false, fileOnly: false, timeMs: 61 });
    expect(state.chunks.get(h(2))!.fileId).toBe(copyA);
    expect(state.goalOf(state.chunks.get(h(2))!)).toBe(5);
  });

  it("replay, a checkpoint load and restore() rebuild the same sharers and file of every chunk", () => {
    const ops: MetadataOp[] = [...setup, snap, { op: "snapshot", from: "/src", to: "/other/c2", firstId: 40, nodes: 6, timeMs: 51 },
      { op: "cowChunk", path: "/src/a", index: 0, from: h(1), handle: h(99), version: 1, replicas: ["cs1"] },
      { op: "delete", path: "/other/copy/b", recursive: false, directoryOnly: false, fileOnly: true, timeMs: 52 }];
    const a = built(ops);
    const view = (m: Metadata) => [1, 2, 3, 99].map((n) => [m.chunks.get(h(n))!.fileId, m.chunks.sharers(h(n)) ?? null]);
    expect(view(a)[0]).toEqual([a.namespace.idOf("/other/copy/a"), [a.namespace.idOf("/other/copy/a"), a.namespace.idOf("/other/c2/a")]]);
    expect(view(built(JSON.parse(JSON.stringify(ops)) as MetadataOp[]))).toEqual(view(a));
    for (const perPart of [1, 3, 512]) expect(view(Metadata.fromCheckpoint(a.checkpointParts(perPart)))).toEqual(view(a));
    expect(view(Metadata.restore(a.snapshot()))).toEqual(view(a));
  });
});

describe("copy-on-write at lease grant (MasterState, fake chunkservers)", () => {
  const H = h(0xaa);
  const settings = { ...defaultMasterSettings(), chunk_size_bytes: 1000, replication: 3, heartbeat_interval_ms: 1000, heartbeat_misses_dead: 3, lease_ms: 60_000, chunk_spares: 0 };

  /** /d/f holding H on a, b, c; /d snapshotted to /s; `onCopy` runs while each CopyChunkLocal is in flight. */
  async function sharedCluster(onCopy: (state: MasterState) => Promise<void> = async () => {}, o: { beforeSnapshot?: (state: MasterState) => Promise<void> } = {}) {
    const copies: string[] = [];
    let state!: MasterState;
    const pool = {
      get: (s: { serverId?: string }) => ({
        api: {
          SetChunkVersion: async () => ({ chunkLength: 10 }),
          CopyChunkLocal: async (req: { newHandle: string }) => {
            copies.push(`${s.serverId}:${req.newHandle}`);
            await onCopy(state);
            return { chunkLength: 10 };
          },
          RevokeLease: async () => ({}),
        },
      }),
    } as unknown as ChunkServerPool;
    state = new MasterState(settings, () => 10_000, createLogger("test", "error"), { pool });
    await state.commit({ op: "mkdir", path: "/d", mode: 0o755, uid: 0, gid: 0, parents: false, ids: state.allocIds(1), timeMs: 1 });
    await state.commit({ op: "create", path: "/d/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0]!, timeMs: 1 });
    await state.commit({ op: "addChunk", path: "/d/f", index: 0, handle: H, version: 1, replicas: ["a", "b", "c"] });
    for (const [i, id] of ["a", "b", "c"].entries()) {
      await state.register({ serverId: id, address: `127.0.0.1:${1100 + i}`, rack: "", capacityBytes: 1e9, usedBytes: 0, freeBytes: 1e9, chunks: [{ handle: H, version: 1, length: 10 }] });
    }
    await o.beforeSnapshot?.(state);
    await state.commit({ op: "snapshot", from: "/d", to: "/s", firstId: state.allocIds(2)[0]!, nodes: 2, timeMs: 2 });
    expect(state.chunks.refCount(H)).toBe(2);
    return { state, copies };
  }

  it("two writers of a shared chunk at once: the second, which waited for the first's copy, gets ESTALE, never a lease on the snapshot's chunk", async () => {
    const { state } = await sharedCluster();
    const [first, second] = await Promise.allSettled([state.getLease(H, "/d/f"), state.getLease(H, "/d/f")]);
    if (first.status !== "fulfilled") throw first.reason;
    expect(first.value.handle).not.toBe(H);
    expect(second).toMatchObject({ status: "rejected", reason: { errno: "ESTALE" } });
    expect(state.leases.current(H, 10_000)).toBeUndefined();
    expect(state.namespace.file("/s/f").chunks).toEqual([H]);
    expect(state.namespace.file("/d/f").chunks).toEqual([first.value.handle]);
    // The second writer asks again with the file's new handle: a lease on the copy.
    expect((await state.getLease(first.value.handle, "/d/f")).handle).toBe(first.value.handle);
  });

  it("the snapshot's reference dropped while the copy is made: the writer gets a lease on the chunk in place (no EINVAL), the copy is abandoned", async () => {
    let removed = false;
    const { state, copies } = await sharedCluster(async (s) => {
      if (removed) return;
      removed = true;
      await s.commit({ op: "delete", path: "/s", recursive: true, directoryOnly: false, fileOnly: false, timeMs: 3 });
    });
    const lease = await state.getLease(H, "/d/f");
    expect(copies.length).toBe(3);
    expect(lease.handle).toBe(H);
    expect(state.namespace.file("/d/f").chunks).toEqual([H]);
    expect(state.chunks.refCount(H)).toBe(1);
    const copy = copies[0]!.split(":")[1]!;
    expect(state.chunks.has(copy)).toBe(false);
  });

  it("a snapshot's lease revocation is logged as for a snapshot, not as a copy to re-replicate", async () => {
    const lines: string[] = [];
    await sharedCluster(undefined, {
      beforeSnapshot: async (state) => {
        await state.getLease(H, "/d/f");
        const info = state.log.info.bind(state.log);
        state.log.info = (msg: string, fields?: Record<string, unknown>) => { lines.push(msg); info(msg, fields); };
        expect(await state.revokeLease(H)).toBe(true);
      },
    });
    expect(lines).toContain("lease revoked to snapshot its chunk");
    expect(lines.join("\n")).not.toMatch(/re-replicate/);
  });
});
