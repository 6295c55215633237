// Issue 19: inodes separate from names. Hard links, special files, orphans kept
// by `keep` and freed by `reclaim`, inode paths, extended attributes through
// the namespace, and checkpoint format 4 (with the upgrade from format 3).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GfsError, inodePath } from "@gfs/common";
import { CHECKPOINT_FORMAT, Metadata, type MetadataOp } from "../src/metadata";
import { Namespace, LINKS_PER_INODE_MAX, type NamespaceOp } from "../src/namespace";
import { checkOpen } from "../src/access";

const h = (n: number) => n.toString(16).padStart(16, "0");

function fixture() {
  const m = new Metadata();
  const ns = m.namespace;
  const log: MetadataOp[] = [];
  let id = 1;
  let t = 1000;
  const apply = (op: MetadataOp) => {
    const r = m.apply(op);
    log.push(op);
    return r;
  };
  return {
    m, ns, log,
    now: () => t,
    apply,
    create: (path: string, uid = 1) => apply({ op: "create", path, mode: 0o644, uid, gid: 2, exclusive: true, id: ++id, timeMs: ++t }),
    mkdir: (path: string) => apply({ op: "mkdir", path, mode: 0o755, uid: 1, gid: 2, parents: false, ids: [++id], timeMs: ++t }),
    chunk: (path: string, index: number, n: number) => apply({ op: "addChunk", path, index, handle: h(n), version: 1, replicas: ["cs1"] }),
    link: (from: string, to: string) => apply({ op: "link", from, to, timeMs: ++t }),
    mknod: (path: string, type: "fifo" | "chr" | "blk" | "sock", rdev = 0) =>
      apply({ op: "mknod", path, type, mode: 0o644, rdev, uid: 1, gid: 2, id: ++id, timeMs: ++t }),
    rename: (from: string, to: string, keep?: number[]) => apply({ op: "rename", from, to, noReplace: false, timeMs: ++t, ...(keep ? { keep } : {}) }),
    del: (path: string, o: { recursive?: boolean; keep?: number[] } = {}) =>
      apply({ op: "delete", path, recursive: !!o.recursive, directoryOnly: false, fileOnly: false, timeMs: ++t, ...(o.keep ? { keep: o.keep } : {}) }),
    reclaim: (ids: number[]) => apply({ op: "reclaim", ids, timeMs: ++t }),
    setXattr: (path: string, name: string, value: string, flags = 0) =>
      apply({ op: "setXattr", path, name, value: Buffer.from(value).toString("base64"), flags, timeMs: ++t }),
  };
}

const errno = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    if (e instanceof GfsError) return e.errno;
    throw e;
  }
  return "no error";
};

/** The state rebuilt three ways: replaying the log, from checkpoint parts, from a JSON snapshot. */
function rebuilt(f: ReturnType<typeof fixture>): Metadata[] {
  const replayed = new Metadata();
  for (const op of f.log) replayed.apply(op);
  return [replayed, Metadata.fromCheckpoint(f.m.checkpointParts(2)), Metadata.restore(JSON.parse(JSON.stringify(f.m.snapshot())))];
}

describe("hard links", () => {
  it("a link is a second name of the same inode: same id, nlink counts both, data shared", () => {
    const f = fixture();
    f.mkdir("/d");
    f.create("/a");
    f.chunk("/a", 0, 1);
    const info = f.link("/a", "/d/b").info!;
    expect(info.nlink).toBe(2);
    expect(f.ns.stat("/d/b").id).toBe(f.ns.stat("/a").id);
    expect(f.ns.stat("/a").nlink).toBe(2);
    expect(f.ns.file("/d/b").chunks).toEqual([h(1)]);
    f.chunk("/d/b", 1, 2); // a chunk added through one name is seen through the other
    expect(f.ns.file("/a").chunks).toEqual([h(1), h(2)]);
    expect(f.m.chunks.get(h(2))!.fileId).toBe(info.id);
  });

  it("link of a directory is EPERM, onto an existing name EEXIST, to a missing source ENOENT", () => {
    const f = fixture();
    f.mkdir("/d");
    f.create("/a");
    f.create("/b");
    expect(errno(() => f.link("/d", "/e"))).toBe("EPERM");
    expect(errno(() => f.link("/a", "/b"))).toBe("EEXIST");
    expect(errno(() => f.link("/a", "/d"))).toBe("EEXIST");
    expect(errno(() => f.link("/nope", "/c"))).toBe("ENOENT");
    expect(errno(() => f.link("/a", "/nodir/c"))).toBe("ENOENT");
  });

  it("a file takes at most links_per_inode_max names (EMLINK beyond)", () => {
    expect(LINKS_PER_INODE_MAX).toBe(65_000);
    const f = fixture();
    f.create("/a");
    // Pretend the file is at the limit: links_per_inode_max - 1 more names.
    for (let i = 1; i < LINKS_PER_INODE_MAX; i++) f.ns.apply({ op: "link", from: "/a", to: `/l${i}`, timeMs: 5 });
    expect(f.ns.stat("/a").nlink).toBe(LINKS_PER_INODE_MAX);
    expect(errno(() => f.link("/a", "/one-more"))).toBe("EMLINK");
  });

  it("unlink of one name leaves the others, their data and the inode's id; the chunks go with the last name", () => {
    const f = fixture();
    f.create("/a");
    f.chunk("/a", 0, 1);
    const id = f.ns.idOf("/a");
    f.link("/a", "/b");
    f.link("/a", "/c");
    expect(f.del("/a").garbage).toEqual([]);
    expect(f.ns.stat("/b")).toMatchObject({ id, nlink: 2 });
    expect(f.del("/c").garbage).toEqual([]);
    expect(f.ns.stat("/b")).toMatchObject({ id, nlink: 1 });
    expect(f.m.chunks.get(h(1))).toBeDefined();
    expect(f.del("/b").garbage).toEqual([h(1)]);
    expect(f.ns.hasInode(id)).toBe(false);
    expect(f.m.chunks.get(h(1))).toBeUndefined();
  });

  it("rename of one name, and rename over one name, leave the other names intact", () => {
    const f = fixture();
    f.mkdir("/d");
    f.create("/a");
    f.chunk("/a", 0, 1);
    const id = f.ns.idOf("/a");
    f.link("/a", "/b");
    f.rename("/b", "/d/b2");
    expect(f.ns.stat("/d/b2")).toMatchObject({ id, nlink: 2 });
    f.create("/x");
    expect(f.rename("/x", "/a").garbage).toEqual([]); // /a was one of two names: nothing freed
    expect(f.ns.stat("/d/b2")).toMatchObject({ id, nlink: 1 });
    expect(f.ns.file("/d/b2").chunks).toEqual([h(1)]);
  });

  it("rename of a name onto another name of the same inode does nothing (rename(2))", () => {
    const f = fixture();
    f.create("/a");
    f.link("/a", "/b");
    f.rename("/a", "/b");
    expect(f.ns.exists("/a")).toBe(true);
    expect(f.ns.stat("/b").nlink).toBe(2);
  });

  it("a recursive delete frees an inode only when all its names are under it", () => {
    const f = fixture();
    f.mkdir("/d");
    f.create("/d/in");
    f.chunk("/d/in", 0, 1);
    f.link("/d/in", "/d/in2");
    f.create("/d/shared");
    f.chunk("/d/shared", 0, 2);
    f.link("/d/shared", "/out");
    const op: NamespaceOp = { op: "delete", path: "/d", recursive: true, directoryOnly: false, fileOnly: false, timeMs: 9 };
    expect(f.ns.unlinkedBy(op)).toEqual([f.ns.idOf("/d/in")]);
    expect(f.del("/d", { recursive: true }).garbage).toEqual([h(1)]);
    expect(f.ns.stat("/out").nlink).toBe(1);
    expect(f.ns.file("/out").chunks).toEqual([h(2)]);
  });

  it("link changes the inode's ctime and the new parent's mtime and ctime; unlink of one of several names changes the inode's ctime", () => {
    const f = fixture();
    f.mkdir("/d");
    f.create("/a");
    f.link("/a", "/d/b");
    const t = f.now();
    expect(f.ns.stat("/a").ctimeMs).toBe(t);
    expect(f.ns.stat("/d")).toMatchObject({ mtimeMs: t, ctimeMs: t });
    f.del("/d/b");
    expect(f.ns.stat("/a").ctimeMs).toBe(f.now());
    expect(f.ns.stat("/d").mtimeMs).toBe(f.now());
  });
});

describe("directory nlink", () => {
  it("is 2 plus its subdirectories, through mkdir, rmdir, rename and recursive delete", () => {
    const f = fixture();
    f.mkdir("/a");
    f.mkdir("/b");
    f.mkdir("/a/x");
    f.mkdir("/a/y");
    f.create("/a/file");
    expect(f.ns.stat("/").nlink).toBe(4);
    expect(f.ns.stat("/a").nlink).toBe(4);
    f.rename("/a/x", "/b/x");
    expect(f.ns.stat("/a").nlink).toBe(3);
    expect(f.ns.stat("/b").nlink).toBe(3);
    f.mkdir("/b/z");
    f.rename("/a/y", "/b/z"); // over an empty directory
    expect(f.ns.stat("/b").nlink).toBe(4);
    expect(f.ns.stat("/a").nlink).toBe(2);
    f.del("/b", { recursive: true });
    expect(f.ns.stat("/").nlink).toBe(3);
    for (const m of rebuilt(f)) expect(m.namespace.stat("/").nlink).toBe(3);
  });
});

describe("special files", () => {
  it("mknod makes FIFOs, device nodes and sockets with their type, mode and rdev; metadata only", () => {
    const f = fixture();
    f.mknod("/p", "fifo");
    f.mknod("/c", "chr", 0x0103);
    f.mknod("/b", "blk", 2 ** 40 + 7);
    f.mknod("/s", "sock");
    expect(f.ns.stat("/p")).toMatchObject({ type: "FILE_TYPE_FIFO", mode: 0o644, rdev: 0, nlink: 1, size: 0 });
    expect(f.ns.stat("/c")).toMatchObject({ type: "FILE_TYPE_CHAR_DEVICE", rdev: 0x0103 });
    expect(f.ns.stat("/b")).toMatchObject({ type: "FILE_TYPE_BLOCK_DEVICE", rdev: 2 ** 40 + 7 });
    expect(f.ns.stat("/s").type).toBe("FILE_TYPE_SOCKET");
    expect(errno(() => f.ns.file("/p"))).toBe("EINVAL");
    expect(errno(() => f.mknod("/p", "fifo"))).toBe("EEXIST");
    expect(errno(() => f.apply({ op: "mknod", path: "/q", type: "file" as never, mode: 0, rdev: 0, uid: 0, gid: 0, id: 99, timeMs: 1 }))).toBe("EINVAL");
    expect(errno(() => f.apply({ op: "create", path: "/p", mode: 0, uid: 0, gid: 0, exclusive: false, id: 98, timeMs: 1 }))).toBe("EEXIST");
    f.link("/p", "/p2");
    expect(f.ns.stat("/p2")).toMatchObject({ type: "FILE_TYPE_FIFO", nlink: 2 });
    for (const m of rebuilt(f)) {
      expect(m.namespace.stat("/b")).toMatchObject({ type: "FILE_TYPE_BLOCK_DEVICE", rdev: 2 ** 40 + 7 });
      expect(m.namespace.stat("/p2").nlink).toBe(2);
    }
  });
});

describe("orphans and inode paths", () => {
  it("unlinkedBy names the inodes a delete or rename would leave nameless", () => {
    const f = fixture();
    f.create("/a");
    f.create("/b");
    f.link("/b", "/b2");
    f.mkdir("/d");
    const del = (path: string): NamespaceOp & { op: "delete" } => ({ op: "delete", path, recursive: false, directoryOnly: false, fileOnly: false, timeMs: 1 });
    expect(f.ns.unlinkedBy(del("/a"))).toEqual([f.ns.idOf("/a")]);
    expect(f.ns.unlinkedBy(del("/b"))).toEqual([]);
    expect(f.ns.unlinkedBy(del("/d"))).toEqual([]);
    expect(f.ns.unlinkedBy({ op: "rename", from: "/b", to: "/a", noReplace: false, timeMs: 1 })).toEqual([f.ns.idOf("/a")]);
    expect(f.ns.unlinkedBy({ op: "rename", from: "/a", to: "/b", noReplace: false, timeMs: 1 })).toEqual([]);
    expect(f.ns.unlinkedBy({ op: "rename", from: "/a", to: "/new", noReplace: false, timeMs: 1 })).toEqual([]);
  });

  it("isOrphan answers for one inode without a scan: true only for a kept, nameless inode", () => {
    const f = fixture();
    f.create("/a");
    f.create("/b");
    f.link("/b", "/b2");
    const a = f.ns.idOf("/a");
    const b = f.ns.idOf("/b");
    expect([f.ns.isOrphan(a), f.ns.isOrphan(b), f.ns.isOrphan(a + 1000), f.ns.isOrphan(1.5)]).toEqual([false, false, false, false]);
    f.del("/a", { keep: [a] });
    f.del("/b"); // one of two names: not an orphan
    expect([f.ns.isOrphan(a), f.ns.isOrphan(b)]).toEqual([true, false]);
  });

  it("a kept inode lives on as an orphan: nlink 0, no name, chunks and attributes kept, reachable only by inode path", () => {
    const f = fixture();
    f.create("/a");
    f.chunk("/a", 0, 1);
    const id = f.ns.idOf("/a");
    f.setXattr("/a", "user.k", "v");
    expect(errno(() => f.del("/a", { keep: [id + 100] }))).toBe("EINVAL"); // not one this delete unlinks
    expect(f.del("/a", { keep: [id] }).garbage).toEqual([]);
    expect(f.ns.exists("/a")).toBe(false);
    expect(f.ns.orphans()).toEqual([id]);
    expect(f.ns.hasInode(id)).toBe(true);
    const p = inodePath(id);
    expect(f.ns.stat(p)).toMatchObject({ id, nlink: 0, path: p, xattrCount: 1 });
    expect(f.ns.idOf(p)).toBe(id);
    // Written through a descriptor: extend, a new chunk, truncate, chmod, all by inode path.
    f.apply({ op: "extendFile", path: p, endOffset: 10, mtimeMs: 0, timeMs: 2000 });
    f.chunk(p, 1, 2);
    expect(f.ns.file(p).chunks).toEqual([h(1), h(2)]);
    f.apply({ op: "setAttributes", path: p, mode: 0o600, timeMs: 2001 });
    expect(f.ns.stat(p)).toMatchObject({ size: 10, mode: 0o600 });
    // Never by a name: creating, linking to, renaming or deleting an inode path is EINVAL.
    expect(errno(() => f.create(p))).toBe("EINVAL");
    expect(errno(() => f.del(p))).toBe("EINVAL");
    expect(errno(() => f.rename(p, "/back"))).toBe("EINVAL");
    expect(errno(() => f.link(p, "/back"))).toBe("ENOENT"); // linkat refuses a file with no name
    expect(errno(() => f.link("/x", p))).toBe("ENOENT");
    for (const m of rebuilt(f)) {
      expect(m.namespace.orphans()).toEqual([id]);
      expect(m.namespace.file(p).chunks).toEqual([h(1), h(2)]);
      expect(m.namespace.xattrs.get(id, "user.k").toString()).toBe("v");
    }
    expect(errno(() => f.reclaim([id, id]))).toBe("EINVAL");
    expect(f.reclaim([id]).garbage.sort()).toEqual([h(1), h(2)]);
    expect(f.ns.hasInode(id)).toBe(false);
    expect(f.ns.xattrs.count(id)).toBe(0);
    expect(f.m.chunks.get(h(1))).toBeUndefined();
    expect(errno(() => f.ns.stat(p))).toBe("ENOENT");
    expect(errno(() => f.reclaim([id]))).toBe("EINVAL");
  });

  it("reclaim of a named inode is EINVAL; rename over the last name keeps the replaced inode when asked", () => {
    const f = fixture();
    f.create("/a");
    f.create("/b");
    f.chunk("/b", 0, 1);
    const b = f.ns.idOf("/b");
    expect(errno(() => f.reclaim([f.ns.idOf("/a")]))).toBe("EINVAL");
    expect(f.rename("/a", "/b", [b]).garbage).toEqual([]);
    expect(f.ns.orphans()).toEqual([b]);
    expect(f.ns.file(inodePath(b)).chunks).toEqual([h(1)]);
  });

  it("an inode path reaches a named inode past directories; a malformed one is EINVAL, an unknown id ENOENT", () => {
    const f = fixture();
    f.mkdir("/d");
    f.create("/d/a");
    const id = f.ns.idOf("/d/a");
    const w = f.ns.walk(inodePath(id));
    expect(w.parts).toEqual([]);
    expect(w.nodes.map((n) => n.id)).toEqual([id]);
    expect(f.ns.stat(inodePath(f.ns.idOf("/d"))).type).toBe("FILE_TYPE_DIRECTORY");
    expect(errno(() => f.ns.stat("//inode/0"))).toBe("EINVAL");
    expect(errno(() => f.ns.stat("//inode/x"))).toBe("EINVAL");
    expect(errno(() => f.ns.stat(inodePath(99999)))).toBe("ENOENT");
  });
});

describe("the id index", () => {
  it("finds every live inode by id through frees, slot reuse and growth, and no freed one", () => {
    const f = fixture();
    const ids: number[] = [];
    for (let i = 0; i < 3000; i++) ids.push(f.create(`/f${i}`).id!);
    for (let i = 0; i < 3000; i += 2) f.del(`/f${i}`);
    for (let i = 0; i < 2000; i++) ids.push(f.create(`/g${i}`).id!); // reuses the freed slots
    ids.forEach((id, k) => {
      const live = k >= 3000 || k % 2 === 1;
      expect(f.ns.hasInode(id)).toBe(live);
      if (live) expect(f.ns.stat(inodePath(id)).id).toBe(id);
    });
  });
});

describe("permission checks on an inode path", () => {
  it("are on the inode alone: no search permission on any directory, the inode's mode still checked", () => {
    const f = fixture();
    f.apply({ op: "mkdir", path: "/locked", mode: 0o700, uid: 0, gid: 0, parents: false, ids: [50], timeMs: 1 });
    f.apply({ op: "create", path: "/locked/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: 51, timeMs: 1 });
    const bob = { uid: 1001, gid: 1001, groups: [1001] };
    expect(errno(() => checkOpen(f.ns, bob, "/locked/f", 4))).toBe("EACCES");
    expect(checkOpen(f.ns, bob, inodePath(51), 4)).toMatchObject({ id: 51 });
    expect(() => checkOpen(f.ns, bob, inodePath(51), 2)).toThrow(/EACCES.*\/\/inode\/51/);
  });
});

describe("extended attributes in the namespace", () => {
  it("set and remove through ops change the inode's ctime, count in xattrCount, and survive checkpoints and replay", () => {
    const f = fixture();
    f.create("/a");
    f.link("/a", "/b");
    f.setXattr("/b", "user.one", "1");
    expect(f.ns.stat("/a")).toMatchObject({ xattrCount: 1, ctimeMs: f.now() });
    expect(errno(() => f.setXattr("/a", "user.one", "x", 1))).toBe("EEXIST");
    expect(errno(() => f.apply({ op: "removeXattr", path: "/a", name: "user.two", timeMs: 5 }))).toBe("ENODATA");
    f.setXattr("/a", "trusted.two", "2");
    f.apply({ op: "removeXattr", path: "/a", name: "user.one", timeMs: 9999 });
    expect(f.ns.stat("/b")).toMatchObject({ xattrCount: 1, ctimeMs: 9999 });
    for (const m of rebuilt(f)) expect(m.namespace.xattrs.list(m.namespace.idOf("/a"))).toEqual(["trusted.two"]);
    const id = f.ns.idOf("/a");
    f.del("/a");
    f.del("/b");
    expect(f.ns.xattrs.count(id)).toBe(0);
  });
});

describe("checkpoint format 4", () => {
  it("carries links, specials, orphans and attributes, and equals the state it was taken of", () => {
    const f = fixture();
    f.mkdir("/d");
    f.create("/d/a");
    f.chunk("/d/a", 0, 1);
    f.link("/d/a", "/b");
    f.link("/d/a", "/d/c");
    f.del("/d/a"); // the inode's first name goes; two others remain
    f.mknod("/d/fifo", "fifo");
    f.create("/o");
    f.chunk("/o", 0, 2);
    f.del("/o", { keep: [f.ns.idOf("/o")] });
    f.setXattr("/b", "user.x", "y");
    const parts = f.m.checkpointParts(1);
    expect(JSON.parse(parts[0]!).format).toBe(CHECKPOINT_FORMAT);
    for (const m of rebuilt(f)) {
      expect(m.snapshot()).toEqual(f.m.snapshot());
      expect(m.namespace.stat("/d/c")).toMatchObject({ nlink: 2, xattrCount: 1 });
      // And the rebuilt one goes on as the original: unlink both names, chunks freed once.
      expect(m.apply({ op: "delete", path: "/b", recursive: false, directoryOnly: false, fileOnly: false, timeMs: 1 }).garbage).toEqual([]);
      expect(m.apply({ op: "delete", path: "/d/c", recursive: false, directoryOnly: false, fileOnly: false, timeMs: 1 }).garbage).toEqual([h(1)]);
    }
  });

  it("refuses a format-3 checkpoint that claims a link row", () => {
    const f = fixture();
    f.create("/a");
    f.link("/a", "/b");
    const [header, ...rest] = f.m.checkpointParts();
    expect(() => Metadata.fromCheckpoint([JSON.stringify({ ...JSON.parse(header!), format: 3 }), ...rest])).toThrow(/format 3/);
  });

  it("reads a format-3 checkpoint written by the base commit's master (ca5ab8d): the upgrade", () => {
    const fixtureFile = JSON.parse(readFileSync(join(__dirname, "fixtures", "checkpoint-format3.json"), "utf8")) as { parts: string[] };
    expect(JSON.parse(fixtureFile.parts[0]!).format).toBe(3);
    const m = Metadata.fromCheckpoint(fixtureFile.parts);
    const ns = m.namespace;
    expect(ns.stat("/d/a")).toMatchObject({ id: 3, size: 5, nlink: 1, mode: 0o644, uid: 1000, rdev: 0, xattrCount: 0 });
    expect(ns.stat("/d")).toMatchObject({ nlink: 3, goal: 2 }); // . , its entry, and /d/e
    expect(ns.stat("/").nlink).toBe(3);
    expect(ns.stat("/d/s").symlinkTarget).toBe("../b");
    expect(ns.file("/b").chunks).toEqual([h(2), h(3)]);
    expect(m.chunks.get(h(3))!.version).toBe(2);
    expect(ns.idOf(inodePath(4))).toBe(4);
    // Upgraded: it takes links, and the next checkpoint is format 4 with the same state.
    m.apply({ op: "link", from: "/b", to: "/d/b", timeMs: 2000 });
    const again = Metadata.fromCheckpoint(m.checkpointParts());
    expect(again.snapshot()).toEqual(m.snapshot());
    expect(again.namespace.stat("/b").nlink).toBe(2);
  });

  it("a repeated inode id or a link before its inode is a corrupt checkpoint", () => {
    const rows = [...new Namespace().rows()];
    expect(() => Namespace.fromRows([...rows, [1, "x", 5, "link", 0, 0, 0, 0, 0, 0, 0, null]], 9)).toThrow(/before the inode/);
    expect(() => Namespace.fromRows([...rows, [1, "x", 5, "file", 0, 0, 0, 0, 0, 0, 0, []], [1, "y", 5, "file", 0, 0, 0, 0, 0, 0, 0, []]], 9)).toThrow(/repeated/);
  });
});
