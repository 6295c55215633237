import { describe, expect, it } from "vitest";
import { Scrubber, type ScrubbableStore } from "../src/scrubber";

function fakeStore(chunks: Record<string, { length: number; lastMutationMs: number; corruptAt?: number }>) {
  const reads: Array<[string, number, number]> = [];
  const store: ScrubbableStore = {
    list: () => Object.keys(chunks).map((handle) => ({ handle })),
    get: (h) => chunks[h],
    read: async (h, offset, length) => {
      reads.push([h, offset, length]);
      const c = chunks[h];
      if (c.corruptAt !== undefined && c.corruptAt >= offset && c.corruptAt < offset + length) throw new Error("EIO: checksum mismatch");
    },
  };
  return { store, reads };
}

const MiB = 1024 * 1024;
const settings = { scrub_bytes_per_sec: 3 * MiB, scrub_cold_after_ms: 1000, scrub_repeat_after_ms: 10_000 };

describe("idle-time scrubber", () => {
  it("verifies only cold chunks, at most its byte budget per round", async () => {
    const { store, reads } = fakeStore({
      a: { length: 2 * MiB, lastMutationMs: 0 },
      b: { length: 2 * MiB, lastMutationMs: 0 },
      hot: { length: MiB, lastMutationMs: 5_800 },
    });
    let t = 5_000;
    const s = new Scrubber(store, settings, () => t, () => false);
    const done = await s.round();
    expect(done).toBeLessThanOrEqual(3 * MiB + MiB); // budget plus at most one piece in progress
    expect(reads.some(([h]) => h === "hot")).toBe(false);
    t += 1000;
    await s.round();
    const read = new Set(reads.map(([h]) => h));
    expect(read).toEqual(new Set(["a", "b"]));
  });

  it("does nothing while clients are being served", async () => {
    const { store, reads } = fakeStore({ a: { length: MiB, lastMutationMs: 0 } });
    const s = new Scrubber(store, settings, () => 5_000, () => true);
    expect(await s.round()).toBe(0);
    expect(reads).toEqual([]);
  });

  it("a chunk verified recently is not read again until the repeat interval passes", async () => {
    const { store, reads } = fakeStore({ a: { length: MiB, lastMutationMs: 0 } });
    let t = 5_000;
    const s = new Scrubber(store, settings, () => t, () => false);
    await s.round();
    await s.round();
    expect(reads).toHaveLength(1);
    t += 10_001;
    await s.round();
    expect(reads).toHaveLength(2);
  });

  it("a corrupt chunk ends its scan and the scrubber moves on", async () => {
    const { store, reads } = fakeStore({ bad: { length: 2 * MiB, lastMutationMs: 0, corruptAt: 10 }, good: { length: MiB, lastMutationMs: 0 } });
    const s = new Scrubber(store, settings, () => 5_000, () => false);
    await s.round();
    expect(reads.filter(([h]) => h === "bad")).toHaveLength(1);
    expect(reads.some(([h]) => h === "good")).toBe(true);
  });
});
