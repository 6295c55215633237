import { mkdtemp, rm, writeFile, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { DiskFile } from "../src/disk";
import { OpenFileCache } from "../src/open-file-cache";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gfs-files-"));
  for (const name of ["a", "b", "c"]) await writeFile(join(dir, name), name.repeat(4));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const readAll = async (fh: DiskFile) => {
  const buf = Buffer.alloc(4);
  const { bytesRead } = await fh.read(buf, 0, 4, 0);
  return buf.subarray(0, bytesRead).toString();
};

describe("open file cache", () => {
  it("a file in use is not closed when it is evicted or forgotten, only when its user is done", async () => {
    const cache = new OpenFileCache(1);
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const first = cache.use(join(dir, "a"), async (fh) => {
      await held;
      return readAll(fh); // would fail with EBADF had the descriptor been closed
    });
    // over the limit: eviction passes over "a" (in use) and closes the others once they are done
    expect(await cache.use(join(dir, "b"), readAll)).toBe("bbbb");
    expect(await cache.use(join(dir, "c"), readAll)).toBe("cccc");
    await vi.waitFor(() => expect(cache.openCount).toBe(1));
    await cache.forget(join(dir, "a")); // as delete does
    expect(cache.openCount).toBe(1);
    release();
    expect(await first).toBe("aaaa");
    expect(cache.openCount).toBe(0);
  });

  it("a file is opened once for many uses, and the least recently used is closed first", async () => {
    const cache = new OpenFileCache(2);
    const seen: number[] = [];
    const fdOf = (name: string) => cache.use(join(dir, name), async (fh) => (fh as FileHandle).fd); // on the real disk (nodeDisk) a handle is node's own
    const a = await fdOf("a");
    for (let i = 0; i < 3; i++) seen.push(await fdOf("a"));
    expect(seen).toEqual([a, a, a]);
    await fdOf("b");
    await fdOf("a"); // a is now more recent than b
    await fdOf("c"); // evicts b
    await vi.waitFor(() => expect(cache.openCount).toBe(2));
    expect(await fdOf("a")).toBe(a);
    await cache.closeAll();
    expect(cache.openCount).toBe(0);
  });

  it("a file that cannot be opened fails its user and is not cached", async () => {
    const cache = new OpenFileCache(2);
    await expect(cache.use(join(dir, "missing"), async () => 1)).rejects.toThrow(/ENOENT/);
    await writeFile(join(dir, "missing"), "here");
    expect(await cache.use(join(dir, "missing"), readAll)).toBe("here");
  });

  it("creating a file afresh replaces a descriptor of the file it replaces", async () => {
    const cache = new OpenFileCache(4);
    const path = join(dir, "a");
    expect(await cache.use(path, readAll)).toBe("aaaa");
    await rm(path);
    await cache.use(path, async (fh) => { await fh.write(Buffer.from("new!"), 0, 4, 0); }, true);
    expect(await cache.use(path, readAll)).toBe("new!");
    await vi.waitFor(() => expect(cache.openCount).toBe(1));
  });
});
