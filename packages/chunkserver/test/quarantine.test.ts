// Quarantine of chunks the master did not know: moved aside with their
// sidecar (not served), restorable at their version, deleted only after the
// retention, and a move a crash interrupted is finished before the store loads.
import { mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ChunkStore } from "../src/chunk-store";
import { entryToRestore, expiredEntries, Quarantine, quarantineSweepIntervalMs } from "../src/quarantine";

const B = 1024;
const H = "00000000000000aa";
let dir: string;
let now = 1_000;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gfs-quarantine-"));
  now = 1_000;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const chunksDir = () => join(dir, "chunks");
const openAll = async (retentionMs = 10_000) => {
  const q = await Quarantine.open(join(dir, "quarantine"), chunksDir(), { retentionMs, now: () => now });
  const store = await ChunkStore.open(chunksDir(), { blockBytes: B, chunkSizeBytes: 8 * B });
  return { q, store };
};
const exists = (p: string) => stat(p).then(() => true, () => false);

describe("quarantine rules (pure)", () => {
  const e = (handle: string, version: number, quarantinedAtMs: number) => ({ handle, version, length: 1, quarantinedAtMs, name: `${handle}-${quarantinedAtMs}` });

  it("an entry is deleted only once its retention has passed", () => {
    const entries = [e(H, 1, 1_000), e(H, 2, 5_000)];
    expect(expiredEntries(entries, 10_999, 10_000)).toEqual([]);
    expect(expiredEntries(entries, 11_000, 10_000)).toEqual([entries[0]]);
  });

  it("a restore takes the entry at the version asked, the latest quarantined", () => {
    const entries = [e(H, 1, 1_000), e(H, 1, 3_000), e(H, 2, 5_000)];
    expect(entryToRestore(entries, H, 1)).toBe(entries[1]);
    expect(entryToRestore(entries, H, 3)).toBeUndefined();
  });

  it("the sweep interval is a quarter of the retention, between 100 ms and a minute", () => {
    expect(quarantineSweepIntervalMs(2_000)).toBe(500);
    expect(quarantineSweepIntervalMs(0)).toBe(100);
    expect(quarantineSweepIntervalMs(3 * 24 * 3600_000)).toBe(60_000);
  });
});

describe("quarantine on disk", () => {
  it("a quarantined chunk is no longer served or listed, keeps its bytes, and comes back whole on restore", async () => {
    const { q, store } = await openAll();
    const data = Buffer.from("precious bytes".repeat(200));
    await store.create(H, 3);
    await store.write(H, 0, data);
    await store.detach(H, (files, info) => q.put(H, files, info).then(() => {}));
    expect(store.has(H)).toBe(false);
    expect(store.list()).toEqual([]);
    expect(await exists(join(chunksDir(), `${H}.chunk`))).toBe(false);
    expect(q.list()).toEqual([{ handle: H, version: 3, length: data.length }]);

    expect(await q.restore(H, 2, store.filesOf(H))).toBeUndefined(); // not at that version
    expect(await q.restore(H, 3, store.filesOf(H))).toBeDefined();
    expect(await store.adopt(H)).toMatchObject({ version: 3, length: data.length });
    expect((await store.read(H, 0, data.length)).data.equals(data)).toBe(true);
    expect(q.list()).toEqual([]);
    expect(await readdir(join(dir, "quarantine"))).toEqual([]);
    await store.close();
  });

  it("quarantined chunks survive a restart and are deleted after the retention, not before", async () => {
    const first = await openAll(10_000);
    await first.store.create(H, 1);
    await first.store.write(H, 0, Buffer.alloc(100, 7));
    await first.store.detach(H, (files, info) => first.q.put(H, files, info).then(() => {}));
    await first.store.close();

    now = 5_000;
    const second = await openAll(10_000);
    expect(second.store.has(H)).toBe(false);
    expect(second.q.list()).toEqual([{ handle: H, version: 1, length: 100 }]);
    expect(await second.q.expire()).toEqual([]);
    now = 11_000;
    expect((await second.q.expire()).map((e) => e.handle)).toEqual([H]);
    expect(second.q.list()).toEqual([]);
    expect(await readdir(join(dir, "quarantine"))).toEqual([]);
    await second.store.close();
  });

  it("a quarantine move a crash interrupted (sidecar not yet moved) is finished at start, and the chunk file is not lost", async () => {
    const first = await openAll();
    await first.store.create(H, 2);
    await first.store.write(H, 0, Buffer.alloc(100, 9));
    await first.store.detach(H, (files, info) => first.q.put(H, files, info).then(() => {}));
    await first.store.close();
    // Undo the sidecar's move, as if the crash came between the two renames.
    const [entry] = await readdir(join(dir, "quarantine"));
    await rename(join(dir, "quarantine", entry, `${H}.meta`), join(chunksDir(), `${H}.meta`));

    const second = await openAll();
    expect(second.store.has(H)).toBe(false);
    expect(await exists(join(dir, "quarantine", entry, `${H}.meta`))).toBe(true);
    expect(await q2restore(second)).toBe(true);
    expect((await second.store.read(H, 0, 100)).data.equals(Buffer.alloc(100, 9))).toBe(true);
    await second.store.close();
  });

  async function q2restore({ q, store }: Awaited<ReturnType<typeof openAll>>): Promise<boolean> {
    const e = await q.restore(H, 2, store.filesOf(H));
    if (e) await store.adopt(H);
    return !!e;
  }

  it("a restore refuses to overwrite a live chunk with the same handle", async () => {
    const { q, store } = await openAll();
    await store.create(H, 1);
    await store.detach(H, (files, info) => q.put(H, files, info).then(() => {}));
    await store.create(H, 5);
    await expect(q.restore(H, 1, store.filesOf(H))).rejects.toMatchObject({ errno: "EEXIST" });
    expect(q.list()).toHaveLength(1);
    await store.close();
  });
});
