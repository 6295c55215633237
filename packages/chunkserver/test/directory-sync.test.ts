import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DirectorySync } from "../src/directory-sync";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gfs-dirsync-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("directory sync", () => {
  it("concurrent requests share syncs, and each is answered by a sync that started after it asked", async () => {
    const d = new DirectorySync(dir);
    const first = d.sync(); // starts at once
    const later = [d.sync(), d.sync(), d.sync()]; // asked while the first runs: share the next one
    await Promise.all([first, ...later]);
    expect(d.syncs).toBe(2);
    await d.sync();
    expect(d.syncs).toBe(3);
    await d.close();
  });

  it("a missing directory fails the sync, and a later sync opens it again", async () => {
    const d = new DirectorySync(join(dir, "later"));
    await expect(d.sync()).rejects.toThrow(/ENOENT/);
    await import("node:fs/promises").then((fs) => fs.mkdir(join(dir, "later")));
    await d.sync();
    await d.close();
  });
});
