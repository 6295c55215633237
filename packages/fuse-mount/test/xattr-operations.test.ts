// The mount's extended attribute handlers (xattr-operations.ts): answers
// without the master for nodes the cached attributes say have none, the
// master's answers otherwise, and the cache kept right after a change.
import { describe, expect, it } from "vitest";
import { GfsError, type FileInfo__Output } from "@gfs/common";
import { MetadataCache } from "../src/metadata-cache";
import { XattrOperations, type XattrBackend } from "../src/xattr-operations";

const info = (path: string, xattrCount: number, ctimeMs = 0): FileInfo__Output => ({
  path, type: "FILE_TYPE_FILE", id: 9, mode: 0o644, uid: 0, gid: 0, size: 0, atimeMs: 0, mtimeMs: 0, ctimeMs, nlink: 1,
  symlinkTarget: "", chunkCount: 0, goal: 0, rdev: 0, xattrCount,
});

/** One file's attributes at a pretend master, counting the calls that reach it. */
class Master implements XattrBackend {
  attrs = new Map<string, Buffer>();
  calls: string[] = [];
  async stat(path: string) { this.calls.push(`stat ${path}`); return info(path, this.attrs.size); }
  async getXattr(path: string, name: string) {
    this.calls.push(`get ${name}`);
    const v = this.attrs.get(name);
    if (!v) throw new GfsError("ENODATA", name);
    return v;
  }
  async listXattr() { this.calls.push("list"); return [...this.attrs.keys()]; }
  async setXattr(path: string, name: string, value: Uint8Array) { this.calls.push(`set ${name}`); this.attrs.set(name, Buffer.from(value)); return info(path, this.attrs.size, 5); }
  async removeXattr(path: string, name: string) {
    this.calls.push(`remove ${name}`);
    if (!this.attrs.delete(name)) throw new GfsError("ENODATA", name);
    return info(path, this.attrs.size, 6);
  }
}

function setup(o: { shared?: boolean } = {}) {
  const master = new Master();
  const clock = { t: 0 };
  const cache = new MetadataCache({ ttlMs: 1000, now: () => clock.t });
  const shared = o.shared ?? true;
  // As GfsOperations.attr: the cache, unless the caller must not use it; else a stat, then cached.
  const attr = async (p: string) => (shared ? cache.getAttr(p) : undefined) ?? (async () => { const i = await master.stat(p); cache.putAttr(p, i); return i; })();
  const x = new XattrOperations(master, { cache, attr, mayUseCache: () => shared, ttlMs: 1000, now: () => clock.t });
  /** Runs a fuse-native handler and resolves to what it answered: [errno or 0, value]. */
  const handlers = x.fuseHandlers((fn) => fn(), () => -5);
  const call = (op: string, ...args: unknown[]) => new Promise<unknown[]>((resolve) => handlers[op]!(...args, (...r: unknown[]) => resolve(r)));
  return { master, cache, x, call, handlers, clock };
}

describe("the mount's extended attributes", () => {
  it("a node whose cached attributes count no xattrs is answered at once, in the same turn, without the master: ENODATA, EOPNOTSUPP for system.*, an empty list", () => {
    const { master, cache, handlers } = setup();
    cache.putAttr("/f", info("/f", 0));
    const answers: unknown[][] = [];
    handlers.getxattr!("/f", "security.capability", 0, (...r: unknown[]) => answers.push(r));
    handlers.getxattr!("/f", "system.posix_acl_access", 0, (...r: unknown[]) => answers.push(r));
    handlers.listxattr!("/f", (...r: unknown[]) => answers.push(r));
    expect(answers).toEqual([[-61], [-95], [0, []]]); // synchronously: ENODATA, EOPNOTSUPP, none
    expect(master.calls).toEqual([]);
  });

  it("without cached attributes, one stat learns there are none and caches it: the next call asks nothing", async () => {
    const { master, call } = setup();
    expect(await call("getxattr", "/f", "user.a", 0)).toEqual([-61]);
    expect(await call("getxattr", "/f", "user.a", 0)).toEqual([-61]);
    expect(await call("listxattr", "/f")).toEqual([0, []]);
    expect(master.calls).toEqual(["stat /f"]);
  });

  it("a node with xattrs is asked at the master; set and remove leave its new count cached, so the answer changes at once", async () => {
    const { master, cache, call } = setup();
    cache.putAttr("/f", info("/f", 0));
    expect(await call("setxattr", "/f", "user.a", Buffer.from("v"), 0, 0)).toEqual([0]);
    expect(cache.getAttr("/f")?.xattrCount).toBe(1);
    expect(cache.getAttr("/f")?.ctimeMs).toBe(5);
    expect(await call("getxattr", "/f", "user.a", 0)).toEqual([0, Buffer.from("v")]);
    expect(await call("listxattr", "/f")).toEqual([0, ["user.a"]]);
    expect(await call("removexattr", "/f", "user.a")).toEqual([0]);
    expect(await call("getxattr", "/f", "user.a", 0)).toEqual([-61]);
    expect(master.calls).toEqual(["set user.a", "get user.a", "list", "remove user.a"]);
  });

  it("a name the master said a node with xattrs lacks is answered from memory until the TTL passes or the node's ctime moves (a write asks security.capability each time)", async () => {
    const { master, cache, call, clock } = setup();
    master.attrs.set("user.a", Buffer.from("v"));
    cache.putAttr("/f", info("/f", 1, 3));
    for (let i = 0; i < 3; i++) expect(await call("getxattr", "/f", "security.capability", 0)).toEqual([-61]);
    expect(master.calls).toEqual(["get security.capability"]);
    cache.putAttr("/f", info("/f", 1, 4)); // another mount changed its attributes: ctime moved
    expect(await call("getxattr", "/f", "security.capability", 0)).toEqual([-61]);
    clock.t = 999; // still within the TTL of that answer...
    cache.putAttr("/f", info("/f", 1, 4));
    expect(await call("getxattr", "/f", "security.capability", 0)).toEqual([-61]);
    clock.t = 1001; // ...and past it
    expect(await call("getxattr", "/f", "security.capability", 0)).toEqual([-61]);
    expect(master.calls.filter((c) => c.startsWith("get"))).toHaveLength(3);
  });

  it("a change through one hard link drops what the cache holds of the inode's other names (their xattr count is old)", async () => {
    const { cache, x } = setup();
    const forgotten: number[] = [];
    const linked = (p: string) => ({ ...info(p, 0), nlink: 2 });
    cache.putAttr("/other-name", linked("/other-name"));
    (cache as MetadataCache & { invalidateInode?(id: number): void }).invalidateInode = (id: number) => { // recorded here (the real one drops every name of it)
      forgotten.push(id);
      cache.invalidateAttr("/other-name");
    };
    const master = (x as unknown as { backend: Master }).backend;
    master.setXattr = async (p: string) => linked(p);
    await x.set("/f", "user.a", Buffer.from("v"), 0);
    expect(forgotten).toEqual([9]);
    expect(cache.getAttr("/other-name")).toBeUndefined();
    expect(cache.getAttr("/f")?.nlink).toBe(2);
  });

  it("setxattr keeps its own copy of the value: fuse-native's buffer is libfuse memory, reused once answered", async () => {
    const { master, handlers } = setup();
    const libfuse = Buffer.from("original");
    const done = new Promise((resolve) => handlers.setxattr!("/f", "user.a", libfuse, 0, 0, resolve));
    libfuse.fill(0); // libfuse reuses it while the call is still on its way
    await done;
    expect(master.attrs.get("user.a")?.toString()).toBe("original");
  });

  it("a refused change forgets the cached attributes (another mount may have changed the node)", async () => {
    const { cache, call } = setup();
    cache.putAttr("/f", info("/f", 2));
    expect(await call("removexattr", "/f", "user.none")).toEqual([-61]);
    expect(cache.getAttr("/f")).toBeUndefined();
  });

  it("a caller that must not use the shared cache (root on a root_squash mount) is never answered from it", async () => {
    const { master, cache, call } = setup({ shared: false });
    cache.putAttr("/f", info("/f", 0));
    master.attrs.set("user.a", Buffer.from("x"));
    // Through the cache this would be ENODATA; the master's stat (count 1) and get answer instead.
    expect((await call("getxattr", "/f", "user.a", 0))[0]).toBe(0);
  });
});
