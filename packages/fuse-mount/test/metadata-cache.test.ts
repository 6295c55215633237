import { describe, expect, it } from "vitest";
import type { FileInfo__Output } from "@gfs/common";
import { MetadataCache, parentOf } from "../src/metadata-cache";

const info = (path: string, size = 0): FileInfo__Output => ({
  path, type: "FILE_TYPE_FILE", id: 1, mode: 0o644, uid: 0, gid: 0, size, atimeMs: 0, mtimeMs: 0, ctimeMs: 0,
  nlink: 1, symlinkTarget: "", chunkCount: 0, goal: 0, rdev: 0, xattrCount: 0,
});

describe("attribute and listing cache", () => {
  it("entries expire after the TTL", () => {
    let now = 1000;
    const c = new MetadataCache({ ttlMs: 1000, now: () => now });
    c.putAttr("/a", info("/a"));
    now = 1999;
    expect(c.getAttr("/a")).toBeDefined();
    now = 2000;
    expect(c.getAttr("/a")).toBeUndefined();
  });

  it("a listing caches its entries' attributes; a change to one entry drops the parent's listing", () => {
    const c = new MetadataCache({ ttlMs: 1000, now: () => 0 });
    c.putListing("/d", { entries: [{ name: "x", info: info("/d/x", 5) }], attributesWithheld: false });
    expect(c.getAttr("/d/x")?.size).toBe(5);
    c.invalidateEntry("/d/y");
    expect(c.getListing("/d")).toBeUndefined();
  });

  it("a listing whose attributes the master withheld caches names only: no entry's attributes, no walk", () => {
    const c = new MetadataCache({ ttlMs: 1000, now: () => 0 });
    const withheld = { ...info("/d/x"), mode: 0, nlink: 0 };
    c.putListing("/d", { entries: [{ name: "x", info: withheld }], attributesWithheld: true });
    expect(c.getListing("/d")?.entries.map((e) => e.name)).toEqual(["x"]);
    expect(c.getAttr("/d/x")).toBeUndefined();
    expect(c.beingWalked("/d")).toBe(false);
    // Real attributes cached before stay real: a withheld listing overwrites none of them.
    c.putAttr("/d/x", info("/d/x", 7));
    c.putListing("/d", { entries: [{ name: "x", info: withheld }], attributesWithheld: true });
    expect(c.getAttr("/d/x")?.size).toBe(7);
  });

  it("moving a tree forgets everything below it", () => {
    const c = new MetadataCache({ ttlMs: 1000, now: () => 0 });
    c.putAttr("/a/b/c", info("/a/b/c"));
    c.putAttr("/ab", info("/ab"));
    c.putListing("/a/b", { entries: [], attributesWithheld: false });
    c.invalidateTree("/a");
    expect(c.getAttr("/a/b/c")).toBeUndefined();
    expect(c.getListing("/a/b")).toBeUndefined();
    expect(c.getAttr("/ab")).toBeDefined();
  });

  it("a TTL of 0 caches nothing", () => {
    const c = new MetadataCache({ ttlMs: 0, now: () => 0 });
    c.putAttr("/a", info("/a"));
    expect(c.getAttr("/a")).toBeUndefined();
  });

  it("the cache stays bounded", () => {
    const c = new MetadataCache({ ttlMs: 1000, now: () => 0, entriesMax: 10 });
    for (let i = 0; i < 100; i++) c.putAttr(`/f${i}`, info(`/f${i}`));
    expect(c.getAttr("/f99")).toBeDefined();
    expect(c.getAttr("/f0")).toBeUndefined();
  });

  it("parent paths", () => {
    expect(parentOf("/a")).toBe("/");
    expect(parentOf("/a/b")).toBe("/a");
  });
  it("an entry made just now gives its parent's cached attributes its time (and a subdirectory one more link); any other addition or removal forgets them; an attribute change keeps them", () => {
    const c = new MetadataCache({ ttlMs: 1000, now: () => 0 });
    const dir = { ...info("/d"), type: "FILE_TYPE_DIRECTORY" as const, id: 2, nlink: 2, mtimeMs: 5, ctimeMs: 5 };
    const made = (path: string, t: number, type: FileInfo__Output["type"] = "FILE_TYPE_FILE") => ({ ...info(path), type, atimeMs: t, mtimeMs: t, ctimeMs: t });
    c.putAttr("/d", dir);
    c.added("/d/new", made("/d/new", 9));
    expect(c.getAttr("/d")).toMatchObject({ mtimeMs: 9, ctimeMs: 9, nlink: 2 });
    c.added("/d/sub", made("/d/sub", 12, "FILE_TYPE_DIRECTORY"));
    expect(c.getAttr("/d")).toMatchObject({ mtimeMs: 12, ctimeMs: 12, nlink: 3 });
    c.added("/d/link", { ...made("/d/link", 3), ctimeMs: 20 }); // a link: an old inode, its ctime new
    expect(c.getAttr("/d")).toBeUndefined();
    c.putAttr("/d", dir);
    c.added("/d/old", made("/d/old", 4)); // older than the directory's last change: not made by this call
    expect(c.getAttr("/d")).toBeUndefined();
    expect(c.getAttr("/d/new")).toBeDefined();
    c.putAttr("/d", dir);
    c.replaced("/d/new", { ...info("/d/new"), mode: 0o600 });
    expect(c.getAttr("/d")).toBeDefined();
    c.invalidateEntry("/d/new");
    expect(c.getAttr("/d")).toBeUndefined();
  });

  it("a link added or removed forgets every cached name of that inode, and only those", () => {
    const c = new MetadataCache({ ttlMs: 1000, now: () => 0 });
    c.putAttr("/a", { ...info("/a"), id: 7, nlink: 2 });
    c.putAttr("/x/b", { ...info("/x/b"), id: 7, nlink: 2 });
    c.putAttr("/c", { ...info("/c"), id: 8 });
    c.invalidateInode(7);
    expect(c.getAttr("/a")).toBeUndefined();
    expect(c.getAttr("/x/b")).toBeUndefined();
    expect(c.getAttr("/c")).toBeDefined();
  });

  it("a link change of a name nothing is cached of drops every cached file with several names, and only those", () => {
    const c = new MetadataCache({ ttlMs: 10_000, now: () => 0 });
    c.putAttr("/a", { ...info("/a"), id: 7, nlink: 2 });
    c.putAttr("/c", { ...info("/c"), id: 8 });
    c.invalidateLinked();
    expect(c.getAttr("/a")).toBeUndefined();
    expect(c.getAttr("/c")).toBeDefined();
  });
});
