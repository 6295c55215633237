import { describe, expect, it } from "vitest";
import { verifyWhole } from "../src/scrubber";
import { VerifyOrders } from "../src/verify-orders";

const MiB = 1024 * 1024;

function fakeStore(chunks: Record<string, { length: number; corruptAt?: number }>) {
  const reads: Array<[string, number, number]> = [];
  return {
    reads,
    get: (h: string) => chunks[h] && { length: chunks[h].length, lastMutationMs: 0 },
    read: async (h: string, offset: number, length: number) => {
      reads.push([h, offset, length]);
      const c = chunks[h];
      if (!c) throw Object.assign(new Error(`chunk ${h} not on this server`), { errno: "ENOENT" });
      if (c.corruptAt !== undefined && c.corruptAt >= offset && c.corruptAt < offset + length) throw Object.assign(new Error("checksum mismatch"), { errno: "EIO" });
      return {};
    },
  };
}

describe("a replica the master orders verified is read whole through the verified read path", () => {
  it("every byte up to the recorded length is read; a failure anywhere is a bad verdict, a missing chunk is gone", async () => {
    const store = fakeStore({ good: { length: 2 * MiB + 5 }, bad: { length: 3 * MiB, corruptAt: 2 * MiB + 7 } });
    expect(await verifyWhole(store, "good")).toEqual({ verdict: "good", bytes: 2 * MiB + 5 });
    expect(store.reads.filter((r) => r[0] === "good")).toEqual([["good", 0, MiB], ["good", MiB, MiB], ["good", 2 * MiB, 5]]);
    expect(await verifyWhole(store, "bad")).toMatchObject({ verdict: "bad", bytes: 2 * MiB, error: "checksum mismatch" });
    expect(await verifyWhole(store, "none")).toEqual({ verdict: "gone", bytes: 0 });
  });

  it("orders are deduplicated, run one at a time, and bounded", async () => {
    const store = fakeStore({ a: { length: 10 }, b: { length: 10 }, c: { length: 10 } });
    const orders = new VerifyOrders(store, 2);
    expect(orders.add(["a", "a", "b", "c"])).toBe(1);
    await orders.idle();
    expect(store.reads.map((r) => r[0])).toEqual(["a", "b"]);
    orders.add(["c"]);
    await orders.idle();
    expect(store.reads.map((r) => r[0])).toEqual(["a", "b", "c"]);
  });
});
