// Issue 20 (trash lane): the trash's ops on a Metadata (pure: no master, no processes), its names,
// its checkpoint rows, expiry's choice and the delete-or-trash decision.
import { describe, expect, it } from "vitest";
import { Metadata, type MetadataOp } from "../src/metadata";
import { checkTrashReadOnly, inodeInTrash, trashName, trashUsage, TRASH_DIR } from "../src/trash-table";
import { expiredIds } from "../src/trash-expiry";
import { goesToTrash, listingFor } from "../src/trash-handlers";

const h = (n: number) => n.toString(16).padStart(16, "0");

/** /d (2) with /d/f (3, one chunk h(1), 100 bytes) and /d/sub (4) holding /d/sub/g (5, chunk h(2)); /e (6) empty file owned by 1000. */
function tree(): Metadata {
  const m = new Metadata();
  const ops: MetadataOp[] = [
    { op: "mkdir", path: "/d", mode: 0o755, uid: 0, gid: 0, parents: false, ids: [2], timeMs: 1 },
    { op: "create", path: "/d/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: 3, timeMs: 2 },
    { op: "addChunk", path: "/d/f", index: 0, handle: h(1), version: 1 },
    { op: "extendFile", path: "/d/f", endOffset: 100, mtimeMs: 2, timeMs: 2 },
    { op: "mkdir", path: "/d/sub", mode: 0o755, uid: 0, gid: 0, parents: false, ids: [4], timeMs: 3 },
    { op: "create", path: "/d/sub/g", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: 5, timeMs: 4 },
    { op: "addChunk", path: "/d/sub/g", index: 0, handle: h(2), version: 1 },
    { op: "extendFile", path: "/d/sub/g", endOffset: 7, mtimeMs: 4, timeMs: 4 },
    { op: "create", path: "/e", mode: 0o644, uid: 1000, gid: 1000, exclusive: true, id: 6, timeMs: 5 },
  ];
  for (const op of ops) m.apply(op);
  return m;
}

const trashOp = (path: string, id: number, timeMs = 10): MetadataOp => ({ op: "trash", path, name: trashName(id, path), trashDirId: 100, timeMs });

describe("trash ops", () => {
  it("trash moves a file under /.trash (made root's, 0555, by the first trash op) and keeps its chunks; the table records where from and when", () => {
    const m = tree();
    const res = m.apply(trashOp("/d/f", 3));
    expect(res.garbage).toEqual([]);
    expect(m.namespace.exists("/d/f")).toBe(false);
    const dir = m.namespace.stat(TRASH_DIR);
    expect([dir.id, dir.uid, dir.mode]).toEqual([100, 0, 0o555]);
    expect(m.namespace.stat(`${TRASH_DIR}/3|d|f`).size).toBe(100);
    expect(m.chunks.get(h(1))).toBeDefined();
    expect([...m.trash.entries()]).toEqual([{ id: 3, name: "3|d|f", path: "/d/f", deletedMs: 10 }]);
    expect(trashUsage(m)).toEqual({ trashBytes: 100, trashEntries: 1 });
  });

  it("a directory tree is one entry; restore puts it back whole at its path, or elsewhere making missing parents owned by the restorer", () => {
    const m = tree();
    m.apply(trashOp("/d", 2));
    expect(m.trash.size).toBe(1);
    expect(trashUsage(m)).toEqual({ trashBytes: 107, trashEntries: 1 });
    expect(m.namespace.subtreeUsage(`${TRASH_DIR}/2|d`, true)).toEqual({ bytes: 107, entries: 4 });
    m.apply({ op: "restoreTrash", id: 2, to: "/x/y/d", parentIds: [101, 102], uid: 1000, gid: 1000, timeMs: 20 });
    expect(m.namespace.stat("/x/y/d/sub/g").size).toBe(7);
    expect(m.namespace.stat("/x").uid).toBe(1000);
    expect(m.namespace.stat("/x/y").mode).toBe(0o755);
    expect(m.trash.size).toBe(0);
    expect(m.namespace.stat(TRASH_DIR).nlink).toBe(2); // no subdirectory left in it
  });

  it("restore refuses a destination that exists (EEXIST) and a wrong count of parent ids, changing nothing", () => {
    const m = tree();
    m.apply(trashOp("/d/f", 3));
    m.apply({ op: "create", path: "/d/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: 7, timeMs: 11 });
    expect(() => m.apply({ op: "restoreTrash", id: 3, to: "/d/f", parentIds: [], uid: 0, gid: 0, timeMs: 12 })).toThrow(/EEXIST/);
    expect(() => m.apply({ op: "restoreTrash", id: 3, to: "/n/f", parentIds: [], uid: 0, gid: 0, timeMs: 12 })).toThrow(/needs 1 ids/);
    expect(() => m.apply({ op: "restoreTrash", id: 3, to: `${TRASH_DIR}/z`, parentIds: [], uid: 0, gid: 0, timeMs: 12 })).toThrow(/EROFS/);
    expect(m.trash.size).toBe(1);
  });

  it("purge drops the entries' chunks through the delete's garbage path; unknown or repeated ids are refused", () => {
    const m = tree();
    m.apply(trashOp("/d", 2));
    m.apply(trashOp("/e", 6, 11));
    expect(() => m.apply({ op: "purgeTrash", ids: [2, 2], timeMs: 12 })).toThrow(/twice/);
    expect(() => m.apply({ op: "purgeTrash", ids: [9], timeMs: 12 })).toThrow(/ENOENT/);
    const res = m.apply({ op: "purgeTrash", ids: [2], timeMs: 12 });
    expect(res.garbage.sort()).toEqual([h(1), h(2)]);
    expect(m.chunks.get(h(1))).toBeUndefined();
    expect([...m.trash.entries()].map((r) => r.id)).toEqual([6]);
    expect(m.namespace.hasInode(5)).toBe(false);
  });

  it("purge with keep leaves an open inode as an orphan (a mount still reads it)", () => {
    const m = tree();
    m.apply(trashOp("/d/f", 3));
    const res = m.apply({ op: "purgeTrash", ids: [3], keep: [3], timeMs: 12 });
    expect(res.garbage).toEqual([]);
    expect(m.namespace.isOrphan(3)).toBe(true);
  });

  it("only a last name goes to the trash: a file with two names is refused", () => {
    const m = tree();
    m.apply({ op: "link", from: "/d/f", to: "/d/f2", timeMs: 6 });
    expect(() => m.apply(trashOp("/d/f", 3))).toThrow(/other names/);
    expect(() => m.apply({ op: "trash", path: "/e", name: "bogus", trashDirId: 100, timeMs: 10 })).toThrow(/not "6\|e"/);
  });

  it("a checkpoint carries the table (format 5) and replaying the same ops gives the same state", () => {
    const m = tree();
    m.apply(trashOp("/d", 2));
    m.apply(trashOp("/e", 6, 11));
    const back = Metadata.fromCheckpoint(m.checkpointParts());
    expect([...back.trash.entries()]).toEqual([...m.trash.entries()]);
    expect(back.namespace.stat(`${TRASH_DIR}/6|e`).uid).toBe(1000);
    const header = JSON.parse(m.checkpointParts()[0]!) as { format: number; trash: unknown[] };
    expect(() => Metadata.fromCheckpoint([JSON.stringify({ ...header, format: 4 }), ...m.checkpointParts().slice(1)])).toThrow(/trash entries in format 4/);
    expect(() => Metadata.fromCheckpoint([JSON.stringify({ ...header, trash: [[6, "nope", "/e", 11]] }), ...m.checkpointParts().slice(1)])).toThrow(/no node/);
  });
});

describe("trash rules", () => {
  it("names are <id>|<path with / as |>, cut to 255 bytes at a character boundary, the id kept", () => {
    expect(trashName(42, "/a/b c/d")).toBe("42|a|b c|d");
    const long = trashName(7, "/" + "é".repeat(300));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(255);
    expect(long.startsWith("7|éé")).toBe(true);
    expect(long).not.toContain("\uFFFD");
  });

  it("every op but the trash's own that names /.trash or below is EROFS; inode paths pass", () => {
    expect(() => checkTrashReadOnly({ op: "mkdir", path: "/.trash/x", mode: 0o755, uid: 0, gid: 0, parents: false, ids: [9], timeMs: 1 })).toThrow(/EROFS/);
    expect(() => checkTrashReadOnly({ op: "rename", from: "/a", to: "/.trash", noReplace: false, timeMs: 1 })).toThrow(/EROFS/);
    expect(() => checkTrashReadOnly({ op: "setAttributes", path: "/.trash/1|a", mode: 0o777, timeMs: 1 })).toThrow(/EROFS/);
    expect(() => checkTrashReadOnly({ op: "extendFile", path: "//inode/5", endOffset: 1, mtimeMs: 1, timeMs: 1 })).not.toThrow();
    expect(() => checkTrashReadOnly({ op: "create", path: "/.trashy", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: 9, timeMs: 1 })).not.toThrow();
    expect(() => checkTrashReadOnly({ op: "purgeTrash", ids: [1], timeMs: 1 })).not.toThrow();
  });

  it("through an inode path, a trashed inode takes only what an open descriptor does (write, truncate, times); link, chmod, chown, xattrs, delete are EROFS", () => {
    const m = tree();
    m.apply(trashOp("/d", 2)); // /d/f (3) and /d/sub/g (5) are inside a trashed tree
    m.apply(trashOp("/e", 6));
    const inTrashNow = (p: string) => inodeInTrash(m, p);
    for (const ino of ["//inode/3", "//inode/5", "//inode/6"]) {
      for (const op of [
        { op: "extendFile", path: ino, endOffset: 1000, mtimeMs: 20, timeMs: 20 },
        { op: "truncate", path: ino, size: 0, chunkSizeBytes: 1 << 20, timeMs: 20 },
        { op: "setAttributes", path: ino, atimeMs: 5, mtimeMs: 5, timeMs: 20 },
      ] as MetadataOp[]) expect(() => checkTrashReadOnly(op, inTrashNow), `${op.op} ${ino}`).not.toThrow();
      for (const op of [
        { op: "link", from: ino, to: "/x", timeMs: 20 },
        { op: "setAttributes", path: ino, mode: 0o777, timeMs: 20 },
        { op: "setAttributes", path: ino, uid: 1, timeMs: 20 },
        { op: "setXattr", path: ino, name: "user.k", value: "", flags: 0, timeMs: 20 },
        { op: "removeXattr", path: ino, name: "user.k", timeMs: 20 },
        { op: "delete", path: ino, recursive: false, directoryOnly: false, fileOnly: true, timeMs: 20 },
      ] as MetadataOp[]) expect(() => checkTrashReadOnly(op, inTrashNow), `${op.op} ${ino}`).toThrow(/EROFS/);
    }
    // A live inode is not affected.
    m.apply({ op: "create", path: "/live", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: 20, timeMs: 30 });
    expect(() => checkTrashReadOnly({ op: "link", from: "//inode/20", to: "/live2", timeMs: 31 }, inTrashNow)).not.toThrow();
    expect(inodeInTrash(m, "//inode/999")).toBe(false);
  });

  it("expiry takes the entries whose retention ran out, oldest first, at most the batch", () => {
    const rs = [1, 2, 3, 4].map((id) => ({ id, name: `${id}|x`, path: "/x", deletedMs: id * 10 }));
    expect(expiredIds(rs, 100, 75, 10)).toEqual([1, 2]);
    expect(expiredIds(rs, 100, 0, 3)).toEqual([1, 2, 3]);
    expect(expiredIds(rs, 100, 1000, 10)).toEqual([]);
  });

  it("a delete goes to the trash only with a retention, for a last name or a recursive directory delete; rmdir and a failing delete do not", () => {
    const m = tree();
    m.apply({ op: "link", from: "/d/f", to: "/d/f2", timeMs: 6 });
    const del = (path: string, o: { recursive?: boolean; directoryOnly?: boolean; fileOnly?: boolean } = {}) =>
      ({ path, recursive: o.recursive ?? false, directoryOnly: o.directoryOnly ?? false, fileOnly: o.fileOnly ?? false });
    const ns = m.namespace;
    expect(goesToTrash(ns, del("/e"), 1000)).toBe(true);
    expect(goesToTrash(ns, del("/e"), 0)).toBe(false);
    expect(goesToTrash(ns, del("/d/f"), 1000)).toBe(false); // one of two names
    expect(goesToTrash(ns, del("/d/sub/g", { fileOnly: true }), 1000)).toBe(true);
    expect(goesToTrash(ns, del("/d", { recursive: true }), 1000)).toBe(true);
    expect(goesToTrash(ns, del("/d", { directoryOnly: true }), 1000)).toBe(false); // ENOTEMPTY: the delete's own error
    expect(goesToTrash(ns, del("/missing"), 1000)).toBe(false);
  });

  it("listings: the root's hides .trash for everyone; the trash's shows a user only their own entries, root all", () => {
    const entries = [{ name: ".trash", info: { uid: 0 } }, { name: "a", info: { uid: 1000 } }];
    expect(listingFor("/", { uid: 0, gid: 0, groups: [] }, entries).map((e) => e.name)).toEqual(["a"]);
    const inTrash = [{ name: "1|a", info: { uid: 1000 } }, { name: "2|b", info: { uid: 1001 } }];
    expect(listingFor(TRASH_DIR, { uid: 1000, gid: 1000, groups: [1000] }, inTrash).map((e) => e.name)).toEqual(["1|a"]);
    expect(listingFor(TRASH_DIR, { uid: 0, gid: 0, groups: [] }, inTrash)).toHaveLength(2);
  });
});
