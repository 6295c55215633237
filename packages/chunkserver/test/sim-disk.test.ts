import { describe, expect, it } from "vitest";
import { mkdirDurable } from "../src/disk";
import { SimDisk, type SimDiskOp } from "../src/sim-disk";

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? `no code: ${(e as Error).message}`;
  }
  return "no error";
}

/** A disk with /d made durable, as a data dir from an earlier run. */
async function diskWithDir(opts?: ConstructorParameters<typeof SimDisk>[0]): Promise<SimDisk> {
  const disk = new SimDisk(opts);
  await mkdirDurable(disk, "/d");
  return disk;
}

async function writeNew(disk: SimDisk, path: string, text: string, syncFile: boolean): Promise<void> {
  const fh = await disk.open(path, "w");
  await fh.write(Buffer.from(text), 0, text.length, 0);
  if (syncFile) await fh.sync();
  await fh.close();
}

describe("sim disk: what a crash keeps", () => {
  it("an unsynced write is lost on a crash; a synced one survives", async () => {
    const disk = await diskWithDir();
    await writeNew(disk, "/d/f", "old!", true);
    await disk.syncDir("/d");
    const fh = await disk.open("/d/f", "r+");
    await fh.write(Buffer.from("new"), 0, 3, 0);
    expect(await disk.readFile("/d/f", "utf8")).toBe("new!"); // the page cache sees it
    disk.crash();
    expect(await disk.readFile("/d/f", "utf8")).toBe("old!");
    const again = await disk.open("/d/f", "r+");
    await again.write(Buffer.from("NEW"), 0, 3, 0);
    await again.datasync();
    disk.crash();
    expect(await disk.readFile("/d/f", "utf8")).toBe("NEW!");
  });

  it("a synced new file whose directory was not synced is gone after a crash", async () => {
    const disk = await diskWithDir();
    await writeNew(disk, "/d/f", "data", true);
    disk.crash();
    expect(await codeOf(disk.stat("/d/f"))).toBe("ENOENT");
    await writeNew(disk, "/d/f", "data", true);
    await disk.syncDir("/d");
    disk.crash();
    expect(await disk.readFile("/d/f", "utf8")).toBe("data");
  });

  it("a file whose entry is durable but whose data was never synced comes back empty", async () => {
    const disk = await diskWithDir();
    await writeNew(disk, "/d/f", "data", false);
    await disk.syncDir("/d");
    disk.crash();
    expect(await disk.readFile("/d/f", "utf8")).toBe("");
  });

  it("a rename not followed by a directory sync is undone by a crash (the old file comes back); with the sync it stays", async () => {
    const disk = await diskWithDir();
    await writeNew(disk, "/d/meta", "v1", true);
    await disk.syncDir("/d");
    await writeNew(disk, "/d/meta.tmp", "v2", true);
    await disk.rename("/d/meta.tmp", "/d/meta");
    expect(await disk.readFile("/d/meta", "utf8")).toBe("v2");
    disk.crash();
    expect(await disk.readFile("/d/meta", "utf8")).toBe("v1");
    expect(await disk.readdir("/d")).toEqual(["meta"]);
    await writeNew(disk, "/d/meta.tmp", "v2", true);
    await disk.rename("/d/meta.tmp", "/d/meta");
    await disk.syncDir("/d");
    disk.crash();
    expect(await disk.readFile("/d/meta", "utf8")).toBe("v2");
    expect(await disk.readdir("/d")).toEqual(["meta"]);
  });

  it("an unlink not followed by a directory sync is undone by a crash", async () => {
    const disk = await diskWithDir();
    await writeNew(disk, "/d/f", "keep", true);
    await disk.syncDir("/d");
    await disk.unlink("/d/f");
    expect(await codeOf(disk.readFile("/d/f", "utf8"))).toBe("ENOENT");
    disk.crash();
    expect(await disk.readFile("/d/f", "utf8")).toBe("keep");
  });

  it("a directory sync through an open directory handle makes its entries durable, as DirectorySync does", async () => {
    const disk = await diskWithDir();
    const dh = await disk.open("/d", "r");
    await writeNew(disk, "/d/f", "x", true);
    await dh.sync();
    disk.crash();
    expect(await disk.readFile("/d/f", "utf8")).toBe("x");
    expect(await codeOf(dh.sync())).toBe("EBADF"); // the crash killed the handle
  });

  it("a directory made by mkdir is lost unless its parent is synced; mkdirDurable syncs it", async () => {
    const disk = new SimDisk();
    expect(await disk.mkdir("/a/b", { recursive: true })).toBe("/a");
    disk.crash();
    expect(disk.exists("/a")).toBe(false);
    await mkdirDurable(disk, "/a/b/c");
    disk.crash();
    expect(disk.exists("/a/b/c")).toBe(true);
  });

  it("a write through a w-dsync handle is durable when it returns (O_DSYNC)", async () => {
    const disk = await diskWithDir();
    const fh = await disk.open("/d/s", "w-dsync");
    await fh.write(Buffer.from("side"), 0, 4, 0);
    await disk.syncDir("/d");
    disk.crash();
    expect(await disk.readFile("/d/s", "utf8")).toBe("side");
  });

  it("a crash invalidates every open handle (EBADF) and fails an operation waiting in the hook (EIO) without applying it", async () => {
    let release!: () => void;
    const disk = await diskWithDir();
    await writeNew(disk, "/d/f", "abcd", true);
    await disk.syncDir("/d");
    const fh = await disk.open("/d/f", "r+");
    disk.hook = (op) => (op === "unlink" ? new Promise<void>((r) => { release = r; }) : undefined);
    const unlinking = codeOf(disk.unlink("/d/f"));
    disk.crash();
    release();
    expect(await unlinking).toBe("EIO");
    expect(disk.exists("/d/f")).toBe(true);
    disk.hook = undefined;
    expect(await codeOf(fh.read(Buffer.alloc(4), 0, 4, 0))).toBe("EBADF");
    expect(await codeOf(fh.write(Buffer.from("x"), 0, 1, 0))).toBe("EBADF");
  });
});

describe("sim disk: damage and faults", () => {
  it("flipBit and cut are seen by reads, and a crash does not heal them", async () => {
    const disk = await diskWithDir();
    await writeNew(disk, "/d/f", "AAAAAAAA", true);
    await disk.syncDir("/d");
    disk.flipBit("/d/f", 2, 0);
    expect(await disk.readFile("/d/f", "utf8")).toBe("AA@AAAAA");
    disk.cut("/d/f", 5);
    expect(await disk.readFile("/d/f", "utf8")).toBe("AA@AA");
    expect((await disk.stat("/d/f")).size).toBe(5);
    disk.crash();
    expect(await disk.readFile("/d/f", "utf8")).toBe("AA@AA");
    const fh = await disk.open("/d/f", "r");
    const buf = Buffer.alloc(8);
    expect((await fh.read(buf, 0, 8, 0)).bytesRead).toBe(5);
  });

  it("a full disk, or one at capacity, refuses growth and creations with ENOSPC and changes nothing", async () => {
    const disk = await diskWithDir({ capacityBytes: 10 });
    await writeNew(disk, "/d/f", "12345678", true);
    const fh = await disk.open("/d/f", "r+");
    expect(await codeOf(fh.write(Buffer.from("abcd"), 0, 4, 7))).toBe("ENOSPC"); // 11 bytes > 10
    expect(await disk.readFile("/d/f", "utf8")).toBe("12345678");
    await fh.write(Buffer.from("ab"), 0, 2, 0); // an overwrite needs no new space
    disk.full = true;
    expect(await codeOf(disk.open("/d/g", "w"))).toBe("ENOSPC");
    expect(await codeOf(disk.mkdir("/d/e", { recursive: true }))).toBe("ENOSPC");
    expect(await codeOf(fh.write(Buffer.from("z"), 0, 1, 8))).toBe("ENOSPC");
    expect(await disk.readdir("/d")).toEqual(["f"]);
    disk.full = false;
    await fh.write(Buffer.from("z"), 0, 1, 8);
    expect(await disk.readFile("/d/f", "utf8")).toBe("ab345678z");
  });

  it("the hook sees every operation with its path and can fail one with the error it returns", async () => {
    const seen: string[] = [];
    const disk = new SimDisk({ hook: (op: SimDiskOp, path: string) => { seen.push(`${op} ${path}`); } });
    await disk.mkdir("/d", { recursive: true });
    await writeNew(disk, "/d/f", "x", true);
    expect(seen).toEqual(["mkdir /d", "open /d/f", "write /d/f", "sync /d/f", "close /d/f"]);
    const eio = Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
    disk.hook = (op) => (op === "datasync" ? eio : undefined);
    const fh = await disk.open("/d/f", "r+");
    await expect(fh.datasync()).rejects.toBe(eio);
  });

  it("errors look like node's: code, syscall, path", async () => {
    const disk = await diskWithDir();
    const err = await disk.open("/d/missing", "r").catch((e: NodeJS.ErrnoException) => e);
    expect(err).toMatchObject({ code: "ENOENT", syscall: "open", path: "/d/missing" });
    expect((err as Error).message).toBe("ENOENT: no such file or directory, open '/d/missing'");
    await writeNew(disk, "/d/f", "x", false);
    expect(await codeOf(disk.mkdir("/d/f", { recursive: true }))).toBe("EEXIST");
    expect(await codeOf(disk.readdir("/d/f"))).toBe("ENOTDIR");
    expect(await codeOf(disk.unlink("/d"))).toBe("EISDIR");
    expect(await codeOf(disk.open("/d", "r+"))).toBe("EISDIR");
    const fh = await disk.open("/d/f", "r");
    expect(await codeOf(fh.write(Buffer.from("y"), 0, 1, 0))).toBe("EBADF"); // opened read-only
    await fh.close();
    expect(await codeOf(fh.close())).toBe("EBADF");
    await disk.rm("/d/none", { recursive: true, force: true });
    expect(await codeOf(disk.rm("/d/none", { recursive: true, force: false }))).toBe("ENOENT");
  });

  it("direct writes want aligned offsets and lengths; a disk without O_DIRECT refuses the open with EINVAL", async () => {
    const disk = await diskWithDir();
    await writeNew(disk, "/d/f", "", false);
    const fh = await disk.open("/d/f", "direct");
    expect(await codeOf(fh.write(Buffer.alloc(100), 0, 100, 0))).toBe("EINVAL");
    await fh.write(Buffer.alloc(512, 7), 0, 512, 512);
    expect((await disk.stat("/d/f")).size).toBe(1024);
    const noDirect = new SimDisk({ directIo: false });
    await mkdirDurable(noDirect, "/d");
    await writeNew(noDirect, "/d/f", "", false);
    expect(await codeOf(noDirect.open("/d/f", "direct"))).toBe("EINVAL");
  });
});
