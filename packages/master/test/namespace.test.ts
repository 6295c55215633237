import { describe, expect, it } from "vitest";
import { GfsError } from "@gfs/common";
import { Namespace, parsePath, type NamespaceOp } from "../src/namespace";

const CS = 100; // chunk size for truncate tests

/** A namespace plus an id counter, recording every op it applies. */
function fixture() {
  const ns = new Namespace();
  const log: NamespaceOp[] = [];
  let id = 1;
  let t = 1000;
  const apply = (op: NamespaceOp) => {
    const r = ns.apply(op);
    log.push(op);
    return r;
  };
  return {
    ns, log,
    create: (path: string, exclusive = false) => apply({ op: "create", path, mode: 0o644, uid: 1, gid: 2, exclusive, id: ++id, timeMs: ++t }),
    mkdir: (path: string, parents = false) => {
      const n = ns.missingDirectories(path, parents);
      const ids = Array.from({ length: n }, () => ++id);
      return apply({ op: "mkdir", path, mode: 0o755, uid: 1, gid: 2, parents, ids, timeMs: ++t });
    },
    symlink: (path: string, target: string) => apply({ op: "symlink", path, target, uid: 1, gid: 2, id: ++id, timeMs: ++t }),
    rename: (from: string, to: string, noReplace = false) => apply({ op: "rename", from, to, noReplace, timeMs: ++t }),
    del: (path: string, o: { recursive?: boolean; directoryOnly?: boolean; fileOnly?: boolean } = {}) =>
      apply({ op: "delete", path, recursive: !!o.recursive, directoryOnly: !!o.directoryOnly, fileOnly: !!o.fileOnly, timeMs: ++t }),
    truncate: (path: string, size: number) => apply({ op: "truncate", path, size, chunkSizeBytes: CS, timeMs: ++t }),
    extend: (path: string, endOffset: number, mtimeMs = 0) => apply({ op: "extendFile", path, endOffset, mtimeMs, timeMs: ++t }),
    setChunk: (path: string, index: number, handle: string) => apply({ op: "setChunk", path, index, handle }),
    setAttr: (path: string, a: { mode?: number; uid?: number; gid?: number; atimeMs?: number; mtimeMs?: number }) =>
      apply({ op: "setAttributes", path, ...a, timeMs: ++t }),
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

const h = (n: number) => n.toString(16).padStart(16, "0");

describe("path validation", () => {
  it("accepts absolute paths and splits them", () => {
    expect(parsePath("/")).toEqual([]);
    expect(parsePath("/a/b")).toEqual(["a", "b"]);
  });
  it("rejects relative, empty, '.' and '..' parts", () => {
    for (const p of ["a", "", "/a//b", "/a/", "/./a", "/a/.."]) expect(errno(() => parsePath(p))).toBe("EINVAL");
  });
  it("names over 255 bytes and paths over 4096 bytes are ENAMETOOLONG", () => {
    expect(errno(() => parsePath("/" + "x".repeat(256)))).toBe("ENAMETOOLONG");
    expect(parsePath("/" + "x".repeat(255))).toHaveLength(1);
    expect(errno(() => parsePath(("/" + "y".repeat(200)).repeat(21)))).toBe("ENAMETOOLONG");
  });
});

describe("namespace", () => {
  it("create makes a file with the given attributes and updates the parent's mtime", () => {
    const f = fixture();
    const info = f.create("/a").info!;
    expect(info).toMatchObject({ path: "/a", type: "FILE_TYPE_FILE", mode: 0o644, uid: 1, gid: 2, size: 0, nlink: 1, chunkCount: 0 });
    expect(f.ns.stat("/").mtimeMs).toBe(info.ctimeMs);
  });

  it("create of an existing file returns it unless exclusive (EEXIST)", () => {
    const f = fixture();
    const first = f.create("/a").info!;
    expect(f.create("/a").info!.id).toBe(first.id);
    expect(errno(() => f.create("/a", true))).toBe("EEXIST");
  });

  it("create fails on a missing parent (ENOENT), a file parent (ENOTDIR) and a directory (EISDIR)", () => {
    const f = fixture();
    f.create("/file");
    f.mkdir("/d");
    expect(errno(() => f.create("/nope/x"))).toBe("ENOENT");
    expect(errno(() => f.create("/file/x"))).toBe("ENOTDIR");
    expect(errno(() => f.create("/d"))).toBe("EISDIR");
  });

  it("mkdir without parents needs the parent and fails on an existing entry", () => {
    const f = fixture();
    expect(errno(() => f.mkdir("/a/b"))).toBe("ENOENT");
    f.mkdir("/a");
    expect(errno(() => f.mkdir("/a"))).toBe("EEXIST");
    expect(f.ns.stat("/a").type).toBe("FILE_TYPE_DIRECTORY");
  });

  it("mkdir -p creates missing parents and accepts an existing directory", () => {
    const f = fixture();
    f.mkdir("/a");
    const info = f.mkdir("/a/b/c", true).info!;
    expect(info.path).toBe("/a/b/c");
    expect(f.ns.stat("/a/b").type).toBe("FILE_TYPE_DIRECTORY");
    expect(f.mkdir("/a/b/c", true).info!.id).toBe(info.id);
    f.create("/a/f");
    expect(errno(() => f.mkdir("/a/f/x", true))).toBe("ENOTDIR");
    expect(errno(() => f.mkdir("/a/f", true))).toBe("EEXIST");
  });

  it("a directory's nlink counts its subdirectories", () => {
    const f = fixture();
    f.mkdir("/a/b", true);
    f.mkdir("/a/c", true);
    f.create("/a/f");
    expect(f.ns.stat("/a").nlink).toBe(4);
  });

  it("symlink records its target and size", () => {
    const f = fixture();
    const info = f.symlink("/l", "../target").info!;
    expect(info).toMatchObject({ type: "FILE_TYPE_SYMLINK", symlinkTarget: "../target", size: 9 });
    expect(errno(() => f.symlink("/l", "x"))).toBe("EEXIST");
  });

  it("readdir lists entries sorted by name and rejects files", () => {
    const f = fixture();
    for (const n of ["c", "a", "b"]) f.create(`/${n}`);
    expect(f.ns.readdir("/").map((e) => e.name)).toEqual(["a", "b", "c"]);
    expect(errno(() => f.ns.readdir("/a"))).toBe("ENOTDIR");
    expect(errno(() => f.ns.readdir("/zz"))).toBe("ENOENT");
  });

  it("rename over an existing file replaces it atomically and returns its chunks as garbage", () => {
    const f = fixture();
    const src = f.create("/src").info!;
    f.create("/dst");
    f.setChunk("/dst", 0, h(7));
    const r = f.rename("/src", "/dst");
    expect(r.garbage).toEqual([h(7)]);
    expect(f.ns.stat("/dst").id).toBe(src.id);
    expect(f.ns.exists("/src")).toBe(false);
  });

  it("checkpoint rows keep a directory's insertion order, and a rename over an entry takes that entry's place, as a Map per directory did", () => {
    const f = fixture();
    for (const n of ["c", "a", "b", "d"]) f.create(`/${n}`);
    f.rename("/d", "/a"); // over a: d's node now sits where a was
    f.rename("/c", "/e"); // a fresh name: to the end
    const names = [...f.ns.rows()].filter((r) => r[0] !== 0).map((r) => r[1]);
    expect(new Set(names)).toEqual(new Set(["a", "b", "e"]));
    const listing = [...f.ns.walk("/").nodes[0]!.children!.keys()];
    expect(listing).toEqual(["a", "b", "e"]);
    expect(f.ns.readdir("/").map((e) => e.name)).toEqual(["a", "b", "e"]);
  });

  it("unicode names are stored as their bytes: NFC and NFD spellings are two entries, each found, listed and renamed as written", () => {
    const f = fixture();
    f.create("/caf\u00e9");
    f.create("/cafe\u0301");
    f.mkdir("/日本");
    f.create("/日本/🙂");
    expect(f.ns.readdir("/").map((e) => e.name)).toEqual(["caf\u00e9", "cafe\u0301", "日本"].sort());
    f.rename("/日本/🙂", "/日本/" + "ä".repeat(127));
    expect(f.ns.readdir("/日本").map((e) => e.name)).toEqual(["ä".repeat(127)]);
    expect(f.ns.exists("/caf\u00e9") && f.ns.exists("/cafe\u0301")).toBe(true);
    expect(errno(() => f.create("/bad\uD800"))).toBe("EINVAL"); // a lone surrogate has no UTF-8 bytes of its own
  });

  it("a recursive delete takes every entry under it out of the index: the same names can be made again and the tree rebuilds from its rows", () => {
    const f = fixture();
    for (let round = 0; round < 3; round++) {
      f.mkdir("/t/u", true);
      for (let i = 0; i < 50; i++) f.create(`/t/u/f${i}`);
      f.create("/t/g");
      expect(f.ns.readdir("/t/u")).toHaveLength(50);
      f.del("/t", { recursive: true });
      expect(f.ns.exists("/t/u/f1")).toBe(false);
      expect(f.ns.counts()).toEqual({ files: 0, directories: 1, symlinks: 0 });
    }
    f.mkdir("/t/u", true);
    f.create("/t/u/f1");
    const rebuilt = Namespace.fromRows([...f.ns.rows()], f.ns.maxId);
    expect(rebuilt.snapshot()).toEqual(f.ns.snapshot());
    const rows = [...f.ns.rows()];
    const dup = rows.find((r) => r[1] === "f1")!;
    const fresh = f.ns.maxId + 1; // a new inode: a repeated id is refused on its own (issue 19: inode ids are indexed)
    expect(() => Namespace.fromRows([...rows, [dup[0], "f1", fresh, "file", 0o644, 1, 2, 0, 0, 0, 0, null]], fresh)).toThrow(/repeated name/);
    expect(() => Namespace.fromRows([...rows, [dup[0], "x".repeat(256), fresh, "file", 0o644, 1, 2, 0, 0, 0, 0, null]], fresh)).toThrow(/bad name/);
    expect(() => Namespace.fromRows([...rows, [dup[0], "f2", dup[2], "file", 0o644, 1, 2, 0, 0, 0, 0, null]], f.ns.maxId)).toThrow(/inode id .* repeated/);
  });

  it("rename with no_replace fails with EEXIST and changes nothing", () => {
    const f = fixture();
    f.create("/a");
    f.create("/b");
    expect(errno(() => f.rename("/a", "/b", true))).toBe("EEXIST");
    expect(f.ns.exists("/a")).toBe(true);
  });

  it("a directory may replace an empty directory but not a non-empty one or a file", () => {
    const f = fixture();
    f.mkdir("/d1");
    f.create("/d1/x");
    f.mkdir("/empty");
    f.mkdir("/full");
    f.create("/full/y");
    f.create("/file");
    expect(errno(() => f.rename("/d1", "/full"))).toBe("ENOTEMPTY");
    expect(errno(() => f.rename("/d1", "/file"))).toBe("ENOTDIR");
    expect(errno(() => f.rename("/file", "/empty"))).toBe("EISDIR");
    f.rename("/d1", "/empty");
    expect(f.ns.exists("/empty/x")).toBe(true);
    expect(f.ns.exists("/d1")).toBe(false);
  });

  it("moving a directory into itself is EINVAL", () => {
    const f = fixture();
    f.mkdir("/a/b", true);
    expect(errno(() => f.rename("/a", "/a/b/c"))).toBe("EINVAL");
    expect(errno(() => f.rename("/a", "/a/c"))).toBe("EINVAL");
  });

  it("rename moves between directories and fails on a missing source", () => {
    const f = fixture();
    f.mkdir("/x");
    f.mkdir("/y");
    f.create("/x/f");
    f.rename("/x/f", "/y/g");
    expect(f.ns.readdir("/y").map((e) => e.name)).toEqual(["g"]);
    expect(errno(() => f.rename("/x/f", "/y/h"))).toBe("ENOENT");
    expect(errno(() => f.rename("/y/g", "/nope/g"))).toBe("ENOENT");
  });

  it("rmdir of a non-empty directory is ENOTEMPTY; recursive delete returns every chunk as garbage", () => {
    const f = fixture();
    f.mkdir("/d/e", true);
    f.create("/d/e/f");
    f.setChunk("/d/e/f", 0, h(1));
    f.setChunk("/d/e/f", 2, h(2));
    expect(errno(() => f.del("/d", { directoryOnly: true }))).toBe("ENOTEMPTY");
    const r = f.del("/d", { recursive: true });
    expect(r.garbage.sort()).toEqual([h(1), h(2)]);
    expect(f.ns.exists("/d")).toBe(false);
  });

  it("unlink of a directory is EISDIR, rmdir of a file is ENOTDIR, a missing entry is ENOENT", () => {
    const f = fixture();
    f.mkdir("/d");
    f.create("/f");
    expect(errno(() => f.del("/d", { fileOnly: true }))).toBe("EISDIR");
    expect(errno(() => f.del("/f", { directoryOnly: true }))).toBe("ENOTDIR");
    expect(errno(() => f.del("/missing"))).toBe("ENOENT");
    expect(errno(() => f.del("/"))).toBe("EINVAL");
    f.del("/d", { directoryOnly: true });
    f.del("/f", { fileOnly: true });
    expect(f.ns.readdir("/")).toEqual([]);
  });

  it("setAttributes changes only the given fields and sets ctime", () => {
    const f = fixture();
    f.create("/a");
    const info = f.setAttr("/a", { mode: 0o100600, mtimeMs: 5 }).info!;
    expect(info).toMatchObject({ mode: 0o600, uid: 1, gid: 2, mtimeMs: 5 });
    expect(info.ctimeMs).toBeGreaterThan(5);
  });

  it("truncate shrinking drops whole chunks past the end and returns them as garbage", () => {
    const f = fixture();
    f.create("/a");
    for (let i = 0; i < 4; i++) f.setChunk("/a", i, h(i + 1));
    f.extend("/a", 400);
    const r = f.truncate("/a", 150); // keeps chunks 0 and 1
    expect(r.garbage).toEqual([h(3), h(4)]);
    expect(r.info).toMatchObject({ size: 150, chunkCount: 2 });
    expect(f.truncate("/a", 1000).garbage).toEqual([]);
    expect(f.ns.stat("/a").size).toBe(1000);
    expect(f.truncate("/a", 0).garbage).toEqual([h(1), h(2)]);
    expect(errno(() => f.truncate("/", 0))).toBe("EISDIR");
  });

  it("extendFile keeps the largest size and sets mtime", () => {
    const f = fixture();
    f.create("/a");
    expect(f.extend("/a", 50, 777).info).toMatchObject({ size: 50, mtimeMs: 777 });
    expect(f.extend("/a", 20, 778).info).toMatchObject({ size: 50, mtimeMs: 778 });
  });

  it("setChunk fills holes with empty handles and refuses to overwrite another chunk", () => {
    const f = fixture();
    f.create("/a");
    f.setChunk("/a", 2, h(9));
    expect(f.ns.file("/a").chunks).toEqual(["", "", h(9)]);
    expect(errno(() => f.setChunk("/a", 2, h(8)))).toBe("EEXIST");
    f.setChunk("/a", 2, h(9)); // idempotent
  });

  it("a failed operation changes nothing", () => {
    const f = fixture();
    f.mkdir("/d");
    f.create("/d/x");
    const before = f.ns.snapshot();
    expect(errno(() => f.del("/d"))).toBe("ENOTEMPTY");
    expect(errno(() => f.rename("/d", "/d/y"))).toBe("EINVAL");
    expect(errno(() => f.ns.validate({ op: "create", path: "/d/x", mode: 0, uid: 0, gid: 0, exclusive: true, id: 99, timeMs: 1 }))).toBe("EEXIST");
    expect(f.ns.snapshot()).toEqual(before);
  });
});

describe("replay", () => {
  it("applying the recorded op list to a fresh namespace gives a deep-equal snapshot", () => {
    const f = fixture();
    f.mkdir("/a/b/c", true);
    f.create("/a/b/f");
    f.setChunk("/a/b/f", 0, h(1));
    f.setChunk("/a/b/f", 3, h(2));
    f.extend("/a/b/f", 350, 42);
    f.symlink("/a/l", "b/f");
    f.rename("/a/b/f", "/a/g");
    f.truncate("/a/g", 120);
    f.setAttr("/a/g", { mode: 0o600, uid: 7 });
    f.create("/a/b/c/z");
    f.del("/a/b", { recursive: true });
    const replayed = new Namespace();
    for (const op of JSON.parse(JSON.stringify(f.log)) as NamespaceOp[]) replayed.apply(op);
    expect(replayed.snapshot()).toEqual(f.ns.snapshot());
    expect(JSON.stringify(replayed.snapshot())).toBe(JSON.stringify(f.ns.snapshot()));
  });

  it("a snapshot restores to an equal namespace", () => {
    const f = fixture();
    f.mkdir("/x/y", true);
    f.create("/x/y/f");
    f.setChunk("/x/y/f", 1, h(3));
    f.symlink("/s", "/x");
    const snap = JSON.parse(JSON.stringify(f.ns.snapshot()));
    const restored = Namespace.restore(snap);
    expect(restored.snapshot()).toEqual(f.ns.snapshot());
    expect(restored.maxId).toBe(f.ns.maxId);
    expect(restored.stat("/x/y/f")).toEqual(f.ns.stat("/x/y/f"));
  });
});
