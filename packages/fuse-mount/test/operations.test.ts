import { describe, expect, it } from "vitest";
import { GfsError, type DirEntry__Output, type FileInfo__Output, type Logger, type ReadDirResponse__Output } from "@gfs/common";
import { GfsOperations, type GfsBackend, type OperationsOptions } from "../src/operations";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A namespace of files held in memory, counting the calls the adapter makes. */
class MemoryBackend implements GfsBackend {
  files = new Map<string, Buffer>();
  calls: string[] = [];
  private info(path: string): FileInfo__Output {
    const data = this.files.get(path);
    if (!data && [...this.files.keys()].some((p) => p.startsWith(path + "/"))) {
      return { path, type: "FILE_TYPE_DIRECTORY", id: 2, mode: 0o755, uid: 0, gid: 0, size: 0, atimeMs: 0, mtimeMs: 0, ctimeMs: 0, nlink: 2, symlinkTarget: "", chunkCount: 0, goal: 0, rdev: 0, xattrCount: 0 };
    }
    if (!data) throw new GfsError("ENOENT", path);
    return { path, type: "FILE_TYPE_FILE", id: 1, mode: 0o644, uid: 0, gid: 0, size: data.length, atimeMs: 0, mtimeMs: 0, ctimeMs: 0, nlink: 1, symlinkTarget: "", chunkCount: 0, goal: 0, rdev: 0, xattrCount: 0 };
  }
  async stat(p: string) { this.calls.push(`stat ${p}`); return this.info(p); }
  async create(p: string) { this.calls.push(`create ${p}`); if (!this.files.has(p)) this.files.set(p, Buffer.alloc(0)); return this.info(p); }
  async mkdir(): Promise<FileInfo__Output> { throw new GfsError("EPERM", "no"); }
  async symlink(): Promise<FileInfo__Output> { throw new GfsError("EPERM", "no"); }
  async link(): Promise<FileInfo__Output> { throw new GfsError("EPERM", "no"); }
  async mknod(p: string, o: { type: string }) { this.calls.push(`mknod ${p} ${o.type}`); return { path: p, type: "FILE_TYPE_FIFO" as const, id: 3, mode: 0o644, uid: 0, gid: 0, size: 0, atimeMs: 0, mtimeMs: 0, ctimeMs: 0, nlink: 1, symlinkTarget: "", chunkCount: 0, goal: 0, rdev: 0, xattrCount: 0 }; }
  /** Directories whose listings withhold attributes (the caller may read but not search them). */
  unsearchable = new Set<string>();
  async listDir(dir: string): Promise<ReadDirResponse__Output> {
    this.calls.push(`readdir ${dir}`);
    const under = dir === "/" ? "/" : dir + "/";
    const withheld = this.unsearchable.has(dir);
    const entries = [...this.files.keys()].filter((p) => p.startsWith(under) && !p.slice(under.length).includes("/"))
      .map((p) => ({ name: p.slice(under.length), info: withheld ? { ...this.info(p), mode: 0, size: 0, nlink: 0 } : this.info(p) }) as DirEntry__Output);
    return { entries, attributesWithheld: withheld };
  }
  async rename(from: string, to: string) { this.calls.push(`rename ${from} ${to}`); this.files.set(to, this.files.get(from)!); this.files.delete(from); }
  async unlink(p: string) { this.calls.push(`unlink ${p}`); this.files.delete(p); }
  async rmdir() {}
  // Extended attributes: none here (xattr-operations.test.ts tests them).
  async getXattr(_p: string, name: string): Promise<Buffer> { throw new GfsError("ENODATA", name); }
  async listXattr(): Promise<string[]> { return []; }
  async setXattr(): Promise<FileInfo__Output> { throw new GfsError("EOPNOTSUPP", "no"); }
  async removeXattr(): Promise<FileInfo__Output> { throw new GfsError("EOPNOTSUPP", "no"); }
  async setAttributes(p: string) { return this.info(p); }
  async statfs() { return { capacityBytes: 3e12, freeBytes: 3e11, fileCount: 5, replication: 3, chunkSizeBytes: 1024 }; }
  async truncate(p: string, size: number) {
    this.calls.push(`truncate ${p} ${size}`);
    const d = this.files.get(p)!;
    const out = Buffer.alloc(size);
    d.copy(out, 0, 0, Math.min(size, d.length));
    this.files.set(p, out);
    return this.info(p);
  }
  async read(p: string, offset: number, length: number) { this.calls.push(`read ${p}`); return Buffer.from(this.files.get(p)!.subarray(offset, offset + length)); }
  async readInto(p: string, offset: number, into: Buffer) { return (await this.read(p, offset, into.length)).copy(into); }
  async write(p: string, offset: number, data: Uint8Array) {
    this.calls.push(`write ${p} ${offset} ${data.length}`);
    const d = this.files.get(p);
    if (!d) throw new GfsError("ENOENT", p);
    const out = Buffer.alloc(Math.max(d.length, offset + data.length));
    d.copy(out);
    Buffer.from(data).copy(out, offset);
    this.files.set(p, out);
  }
  async append(p: string, data: Uint8Array) { const at = this.files.get(p)!.length; await this.write(p, at, data); return at; }
  async settle(p: string) { this.calls.push(`settle ${p}`); }
  async sync(p: string, index: number) { this.calls.push(`sync ${p} ${index}`); }
  async chunkSizeBytes() { return 1024; }
}

function setup(now = { t: 0 }, more: Partial<OperationsOptions> = {}) {
  const backend = new MemoryBackend();
  const ops = new GfsOperations(backend, {
    attrCacheMs: 1000, writePieceBytesMax: 1024, writesInFlightMax: 4, writeBackBytesMax: 4096, readAheadInitialBytes: 512, readAheadMaxBytes: 2048,
    readAheadWindowBytes: 1024, readAheadReorderBytes: 1024, readBufferPoolBytes: 4096,
    recordAppendFractionOfChunk: 0.25, caller: () => ({ uid: 7, gid: 8, pid: 9 }), now: () => now.t, log: quiet, ...more,
  });
  return { backend, ops, now };
}

describe("POSIX operations over client-core", () => {
  it("a stat the cache can answer is answered in the same turn, without asking the master; a miss still asks", async () => {
    const { backend, ops } = setup();
    backend.files.set("/f", Buffer.alloc(5));
    const h = ops.fuseHandlers();
    const got: { r?: unknown[] } = {};
    h.getattr!("/f", (...r: unknown[]) => { got.r = r; });
    expect(got.r).toBeUndefined(); // a miss: the master is asked
    await new Promise((r) => setTimeout(r, 10));
    expect(got.r?.[0]).toBe(0);
    backend.calls = [];
    got.r = undefined;
    h.getattr!("/f", (...r: unknown[]) => { got.r = r; });
    expect(got.r?.[0]).toBe(0); // the hit, synchronously
    expect(got.r?.[1]).toMatchObject({ size: 5 });
    expect(backend.calls).toEqual([]);
  });

  it("an open of a file whose attributes changed since the kernel was told them fails once with ESTALE, and the retry after the kernel's lookup succeeds", async () => {
    const { backend, ops, now } = setup({ t: 0 }, { kernelAttrTimeoutMs: 1000 });
    backend.files.set("/f", Buffer.alloc(3));
    expect((await ops.getattr("/f")).size).toBe(3); // the kernel now holds size 3
    backend.files.set("/f", Buffer.alloc(70)); // another mount rewrote it
    await expect(ops.open("/f", 0)).rejects.toMatchObject({ errno: "ESTALE" });
    // The kernel's revalidating LOOKUP gets the fresh attributes the open fetched, then it opens again.
    expect((await ops.getattr("/f")).size).toBe(70);
    const fd = await ops.open("/f", 0);
    expect(fd).toBeGreaterThan(0);
    // Unchanged since the kernel was told: no ESTALE, and none without a kernel attribute cache.
    now.t += 5000;
    expect((await ops.getattr("/f")).size).toBe(70);
    expect(await ops.open("/f", 0)).toBeGreaterThan(0);
    const plain = setup();
    plain.backend.files.set("/f", Buffer.alloc(3));
    await plain.ops.getattr("/f");
    plain.backend.files.set("/f", Buffer.alloc(70));
    expect(await plain.ops.open("/f", 0)).toBeGreaterThan(0);
  });

  it("in a directory being walked, stats whose cached attributes expired share one new listing instead of a Stat each", async () => {
    const { backend, ops, now } = setup();
    for (let i = 0; i < 5; i++) backend.files.set(`/d/f${i}`, Buffer.alloc(i));
    await ops.readdir("/d");
    now.t += 1500; // the listing's attributes expired, as in an `ls -l` that outlives the TTL
    backend.calls = [];
    const sizes = await Promise.all([0, 1, 2, 3, 4].map((i) => ops.getattr(`/d/f${i}`).then((s) => s.size)));
    expect(sizes).toEqual([0, 1, 2, 3, 4]);
    expect(backend.calls).toEqual(["readdir /d"]);
    // Long after the walk, a stat asks for the one file only.
    now.t += 60_000;
    backend.calls = [];
    await ops.getattr("/d/f3");
    expect(backend.calls).toEqual(["stat /d/f3"]);
  });

  it("a listing with withheld attributes lists names and types, and a later stat asks the master instead of serving its zeros", async () => {
    const { backend, ops } = setup();
    backend.files.set("/d/f", Buffer.alloc(3));
    backend.unsearchable.add("/d");
    const listed = await ops.readdir("/d");
    expect(listed.names).toEqual([".", "..", "f"]);
    expect(listed.stats[2]!.mode & 0o170000).toBe(0o100000); // a regular file (d_type)
    backend.unsearchable.delete("/d"); // another user, who may search /d
    backend.calls = [];
    const s = await ops.getattr("/d/f");
    expect(backend.calls).toEqual(["stat /d/f"]);
    expect([s.size, s.mode & 0o7777]).toEqual([3, 0o644]);
  });

  it("an uncached caller (root on a root_squash mount) is answered by the master, never from what other users' calls cached", async () => {
    let caller = { uid: 1000, gid: 1000, pid: 9 };
    const { backend, ops } = setup({ t: 0 }, { caller: () => caller, uncached: (c) => c.uid === 0 });
    backend.files.set("/d/f", Buffer.alloc(3));
    const h = ops.fuseHandlers();
    const call = (op: string, ...args: unknown[]) => new Promise<unknown[]>((resolve) => h[op]!(...args, (...r: unknown[]) => resolve(r)));
    await call("readdir", "/d");
    await call("getattr", "/d/f");
    backend.calls = [];
    await call("getattr", "/d/f");
    expect(backend.calls).toEqual([]); // alice again: from the cache
    caller = { uid: 0, gid: 0, pid: 10 };
    await call("getattr", "/d/f");
    await call("readdir", "/d");
    expect(backend.calls).toEqual(["stat /d/f", "readdir /d", "stat /d"]);
  });

  it("stat shows the size including bytes still in the write-back buffer", async () => {
    const { backend, ops } = setup();
    backend.files.set("/f", Buffer.alloc(0));
    const fd = await ops.open("/f", 0o1);
    await ops.write("/f", fd, Buffer.alloc(100, 1), 100, 0);
    expect(backend.files.get("/f")!.length).toBe(0); // still buffered
    expect((await ops.getattr("/f")).size).toBe(100);
    await ops.release("/f", fd);
    expect(backend.files.get("/f")!.length).toBe(100);
  });

  it("open asks the master even when the attributes are cached (close-to-open)", async () => {
    const { backend, ops } = setup();
    backend.files.set("/f", Buffer.from("abc"));
    await ops.getattr("/f");
    backend.files.set("/f", Buffer.from("changed elsewhere"));
    expect((await ops.getattr("/f")).size).toBe(3); // cached for the TTL
    backend.calls = [];
    await ops.open("/f", 0);
    expect(backend.calls).toEqual(["stat /f"]);
    expect((await ops.getattr("/f")).size).toBe(17);
  });

  it("a read sees this mount's buffered writes to the same file, from another descriptor", async () => {
    const { backend, ops } = setup();
    backend.files.set("/f", Buffer.from("....."));
    const w = await ops.open("/f", 0o1);
    const r = await ops.open("/f", 0);
    await ops.write("/f", w, Buffer.from("XY"), 2, 1);
    const buf = Buffer.alloc(5);
    expect(await ops.read("/f", r, buf, 5, 0)).toBe(5);
    expect(buf.toString()).toBe(".XY..");
  });

  it("buffered bytes land under the old name before a rename moves it", async () => {
    const { backend, ops } = setup();
    backend.files.set("/a", Buffer.alloc(0));
    const fd = await ops.open("/a", 0o1);
    await ops.write("/a", fd, Buffer.from("data"), 4, 0);
    await ops.rename("/a", "/b");
    expect(backend.calls.indexOf("write /a 0 4")).toBeLessThan(backend.calls.indexOf("rename /a /b"));
    await ops.write("/b", fd, Buffer.from("more"), 4, 4);
    await ops.release("/b", fd);
    expect(backend.files.get("/b")!.toString()).toBe("datamore");
  });

  it("O_APPEND writes go to the end of the file, whatever offset the kernel passed", async () => {
    const { backend, ops } = setup();
    backend.files.set("/log", Buffer.from("first\n"));
    const fd = await ops.open("/log", 0o1 | 0o2000);
    await ops.write("/log", fd, Buffer.from("second\n"), 7, 0);
    await ops.release("/log", fd);
    expect(backend.files.get("/log")!.toString()).toBe("first\nsecond\n");
  });

  it("new files belong to the caller", async () => {
    const backend = new MemoryBackend();
    let owner: unknown;
    backend.create = async (p: string, o?: unknown) => { owner = o; backend.files.set(p, Buffer.alloc(0)); return backend.stat(p); };
    const ops = new GfsOperations(backend, {
      attrCacheMs: 1000, writePieceBytesMax: 1024, writesInFlightMax: 4, writeBackBytesMax: 4096, readAheadInitialBytes: 512, readAheadMaxBytes: 2048,
    readAheadWindowBytes: 1024, readAheadReorderBytes: 1024, readBufferPoolBytes: 4096,
      recordAppendFractionOfChunk: 0.25, caller: () => ({ uid: 1000, gid: 100, pid: 1 }), now: () => 0, log: quiet,
    });
    await ops.create("/mine", 0o100644, 0o1 | 0o200);
    expect(owner).toMatchObject({ uid: 1000, gid: 100, mode: 0o644, exclusive: true });
  });

  it("statfs reports what files can use: raw capacity divided by the replication", async () => {
    const { ops } = setup();
    const s = await ops.statfs();
    expect(s.blocks * s.frsize).toBeCloseTo(1e12, -5);
    expect(s.bavail * s.frsize).toBeCloseTo(1e11, -5);
    expect(s.blocks).toBeLessThanOrEqual(0xffffffff);
  });

  it("a failed write-back reaches the application on close as EIO", async () => {
    const { backend, ops } = setup();
    backend.files.set("/f", Buffer.alloc(0));
    const fd = await ops.open("/f", 0o1);
    backend.files.delete("/f"); // the backend now fails every write of it
    await ops.write("/f", fd, Buffer.from("x"), 1, 0);
    await expect(ops.flush("/f", fd)).rejects.toMatchObject({ errno: "EIO" });
  });

  it("getxattr and listxattr of a file whose cached attributes count no xattrs are answered in the same turn, without a backend call", async () => {
    const { backend, ops } = setup();
    backend.files.set("/f", Buffer.from("x"));
    await ops.getattr("/f");
    const calls = backend.calls.length;
    const h = ops.fuseHandlers();
    const got: unknown[] = [];
    h.getxattr("/f", "security.capability", 0, (e: number) => got.push(e));
    h.getxattr("/f", "system.posix_acl_access", 0, (e: number) => got.push(e));
    h.listxattr("/f", (e: number, names: string[]) => got.push(e, names));
    expect(got).toEqual([-61, -95, 0, []]); // ENODATA, EOPNOTSUPP, none
    expect(backend.calls.length).toBe(calls);
  });

  it("random writes on one handle are buffered and read back exactly through another handle of the same mount", async () => {
    const { backend, ops } = setup();
    backend.files.set("/r", Buffer.alloc(0));
    const w = await ops.open("/r", 0o2);
    const model = Buffer.alloc(3000);
    for (const [off, len, v] of [[100, 50, 1], [2000, 900, 2], [120, 10, 3], [0, 101, 4], [2500, 500, 5]]) {
      await ops.write("/r", w, Buffer.alloc(len, v), len, off);
      model.fill(v, off, off + len);
    }
    const r = await ops.open("/r", 0);
    const buf = Buffer.alloc(3000);
    expect(await ops.read("/r", r, buf, 3000, 0)).toBe(3000);
    expect(buf.equals(model)).toBe(true);
    await ops.release("/r", w);
    expect(backend.files.get("/r")!.equals(model)).toBe(true);
  });
});

describe("whom operations speak for", () => {
  it("a handle's buffered writes reach the master as its opener, even when another user's read flushes them", async () => {
    const backend = new MemoryBackend();
    let current = { uid: 1000, gid: 1000, pid: 10 };
    let speaking: number | undefined;
    const writers: Array<number | undefined> = [];
    const write = backend.write.bind(backend);
    backend.write = async (p, offset, data) => { writers.push(speaking); return write(p, offset, data); };
    const ops = new GfsOperations(backend, {
      attrCacheMs: 1000, writePieceBytesMax: 1024, writesInFlightMax: 4, writeBackBytesMax: 4096, readAheadInitialBytes: 512, readAheadMaxBytes: 2048,
      readAheadWindowBytes: 1024, readAheadReorderBytes: 1024, readBufferPoolBytes: 4096,
      recordAppendFractionOfChunk: 0.25, caller: () => current, now: () => 0, log: quiet,
      runAs: async (caller, fn) => {
        const before = speaking;
        speaking = caller.uid;
        try { return await fn(); } finally { speaking = before; }
      },
    });
    const h = ops.fuseHandlers();
    backend.files.set("/f", Buffer.alloc(0));
    const fd = await new Promise<number>((r) => h.open!("/f", 0o1, (_e: number, fd: number) => r(fd)));
    await new Promise<number>((r) => h.write!("/f", fd, Buffer.from("alice"), 5, 0, r));
    expect(writers).toEqual([]); // buffered
    current = { uid: 1001, gid: 1001, pid: 11 }; // bob reads the file: the mount flushes alice's bytes first
    const rfd = await new Promise<number>((r) => h.open!("/f", 0, (_e: number, fd: number) => r(fd)));
    const buf = Buffer.alloc(5);
    expect(await new Promise<number>((r) => h.read!("/f", rfd, buf, 5, 0, r))).toBe(5);
    expect(buf.toString()).toBe("alice");
    expect(writers).toEqual([1000]);
  });
  it("close (flush) returns only after the handle's writes reached the replicas and then their size and mtime were settled at the master", async () => {
    const { backend, ops } = setup();
    backend.files.set("/f", Buffer.alloc(4096));
    const fd = await ops.open("/f", 0o2);
    await ops.write("/f", fd, Buffer.alloc(100, 1), 100, 1100);
    expect(backend.calls.filter((c) => c.startsWith("write") || c.startsWith("settle"))).toEqual([]); // buffered
    await ops.flush("/f", fd);
    expect(backend.calls.filter((c) => c.startsWith("write") || c.startsWith("settle"))).toEqual(["write /f 1100 100", "settle /f"]);
    backend.calls = [];
    await ops.release("/f", fd);
    expect(backend.calls).toEqual(["settle /f"]);
    // A handle that never wrote settles nothing: a read-only close costs no master call.
    const r = await ops.open("/f", 0);
    backend.calls = [];
    await ops.flush("/f", r);
    await ops.release("/f", r);
    expect(backend.calls).toEqual([]);
  });

  it("fsync makes chunks written earlier durable with a SYNC each, rewriting no byte", async () => {
    const { backend, ops } = setup();
    backend.files.set("/f", Buffer.alloc(4096));
    const fd = await ops.open("/f", 0o2);
    await ops.write("/f", fd, Buffer.alloc(100, 1), 100, 0); // chunk 0 (chunks of 1024 bytes here)
    await ops.flush("/f", fd);
    await ops.write("/f", fd, Buffer.alloc(10, 2), 10, 2048); // chunk 2
    backend.calls = [];
    await ops.fsync("/f", fd);
    // Chunk 2's piece leaves with sync (one round trip); chunk 0, written before without sync, gets a SYNC.
    expect(backend.calls.filter((c) => !c.startsWith("stat"))).toEqual(["write /f 2048 10", "sync /f 0"]);
    expect(backend.files.get("/f")!.subarray(0, 100).equals(Buffer.alloc(100, 1))).toBe(true);
  });

  it("an operation names the caller it was dispatched for, even when another is dispatched while runAs waits", async () => {
    const backend = new MemoryBackend();
    const owners: number[] = [];
    const create = backend.create.bind(backend);
    backend.create = async (p: string, o?: { uid?: number }) => { owners.push(o?.uid ?? -1); return create(p); };
    let current = { uid: 0, gid: 0, pid: 1 };
    const ops = new GfsOperations(backend, {
      attrCacheMs: 1000, writePieceBytesMax: 1024, writesInFlightMax: 4, writeBackBytesMax: 4096, readAheadInitialBytes: 512, readAheadMaxBytes: 2048,
      readAheadWindowBytes: 1024, readAheadReorderBytes: 1024, readBufferPoolBytes: 4096,
      recordAppendFractionOfChunk: 0.25, caller: () => current, now: () => 0, log: quiet,
      // As the mount's: the caller's groups come from /proc first (a macrotask later).
      runAs: async (_caller, fn) => { await new Promise((r) => setTimeout(r, 5)); return fn(); },
    });
    const h = ops.fuseHandlers();
    const rootCreate = new Promise<number>((r) => h.create!("/by-root", 0o644, (e: number) => r(e)));
    current = { uid: 1000, gid: 1000, pid: 2 }; // fuse-native dispatches alice's operation meanwhile
    const aliceCreate = new Promise<number>((r) => h.create!("/by-alice", 0o644, (e: number) => r(e)));
    expect(await rootCreate).toBe(0);
    expect(await aliceCreate).toBe(0);
    expect(owners).toEqual([0, 1000]);
  });
  it("mknod of a regular file creates it exclusively without opening it; of a FIFO asks for a special file; of a directory is EPERM", async () => {
    const { backend, ops } = setup();
    await ops.mknod("/r", 0o100644, 0);
    await ops.mknod("/p", 0o010644, 0);
    await expect(ops.mknod("/d", 0o040755, 0)).rejects.toMatchObject({ errno: "EPERM" });
    expect(backend.calls).toEqual(["create /r", "mknod /p fifo"]);
    expect(ops.files.all()).toEqual([]);
    expect((await ops.getattr("/p")).mode & 0o170000).toBe(0o010000);
  });

  it("only a create that opens a descriptor asks the master to hold the file for the mount session (mknod of a regular file does not)", async () => {
    const { backend, ops } = setup();
    const opens: (boolean | undefined)[] = [];
    const create = backend.create.bind(backend);
    backend.create = async (p: string, o?: { open?: boolean }) => { opens.push(o?.open); return create(p); };
    await ops.mknod("/r", 0o100644, 0);
    await ops.create("/w", 0o100644, 0o1);
    expect(opens).toEqual([undefined, true]);
  });

  it("only libfuse's own hide (same directory, a hidden name that does not exist) unlinks an open file; a user's rename to such a name stays a rename", async () => {
    const { backend, ops } = setup({ t: 0 }, { sessions: { opened() {}, released() {} } });
    const hidden = (dir: string, n: number) => `${dir}/.fuse_hidden0000000a0000000${n}`;
    for (const p of ["/d/a", "/d/b", "/d/c", hidden("/d", 1)]) backend.files.set(p, Buffer.from(p));
    for (const p of ["/d/a", "/d/b", "/d/c"]) await ops.open(p, 0);
    backend.calls = [];
    await ops.rename("/d/a", hidden("/d", 1)); // exists: a user's rename over it
    await ops.rename("/d/b", hidden("/e", 2)); // another directory: a user's rename
    await ops.rename("/d/c", hidden("/d", 3)); // libfuse's hide
    expect(backend.calls.filter((c) => !c.startsWith("stat"))).toEqual([
      `rename /d/a ${hidden("/d", 1)}`, `rename /d/b ${hidden("/e", 2)}`, "unlink /d/c",
    ]);
    expect(backend.files.get(hidden("/d", 1))!.toString()).toBe("/d/a");
  });

  it("fstat through a descriptor is its inode's; a name gone from the master looks present only while its open inode is an orphan", async () => {
    const { backend, ops } = setup({ t: 0 }, { sessions: { opened() {}, released() {} } });
    backend.files.set("/log", Buffer.from("abc"));
    const fd = await ops.open("/log", 0);
    let inode = { nlink: 1, size: 3 };
    const stat = backend.stat.bind(backend);
    backend.stat = async (p: string) => {
      if (p !== "//inode/1") return stat(p);
      backend.calls.push(`stat ${p}`);
      return { path: p, type: "FILE_TYPE_FILE" as const, id: 1, mode: 0o644, uid: 0, gid: 0, atimeMs: 0, mtimeMs: 0, ctimeMs: 0, symlinkTarget: "", chunkCount: 0, goal: 0, rdev: 0, xattrCount: 0, ...inode };
    };
    // Another mount renames it away (mv log log.1) and makes a new /log: fstat is still the open file's.
    backend.files.set("/log.1", backend.files.get("/log")!);
    backend.files.set("/log", Buffer.alloc(10));
    (ops as unknown as { cache: { invalidateEntry(p: string): void } }).cache.invalidateEntry("/log");
    expect((await ops.fgetattr("/log", fd)).size).toBe(3);
    expect((await ops.getattr("/log")).size).toBe(10);
    // The new /log removed too: the name is gone here (its old inode has a name elsewhere) ...
    backend.files.delete("/log");
    (ops as unknown as { cache: { invalidateEntry(p: string): void } }).cache.invalidateEntry("/log");
    await expect(ops.getattr("/log")).rejects.toMatchObject({ errno: "ENOENT" });
    // ... unless the open inode is an orphan (unlinked everywhere): fstat by name shows it, nlink 0.
    inode = { nlink: 0, size: 3 };
    expect(await ops.getattr("/log")).toMatchObject({ size: 3, nlink: 0 });
    expect((await ops.fgetattr("/log", fd)).nlink).toBe(0);
  });
});
