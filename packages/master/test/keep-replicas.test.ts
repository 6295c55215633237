// Which replicas a lease grant keeps when a chunk has more current replicas than the replication factor.
import { describe, expect, it } from "vitest";
import { keepReplicas } from "../src/master-state";
import { grantReplicas } from "../src/lease-grant";

describe("keepReplicas", () => {
  const load: Record<string, number> = { a: 0, b: 1, c: 2, d: 3 };
  it("keeps every replica when there are no more than wanted", () => {
    expect(keepReplicas(["c", "a"], 3, (id) => load[id]!)).toEqual(["c", "a"]);
  });

  it("keeps the least loaded when there are more than wanted and no racks", () => {
    expect(keepReplicas(["d", "c", "b", "a"], 3, (id) => load[id]!)).toEqual(["a", "b", "c"]);
  });

  it("never drops a rack's only copy while two others share a rack", () => {
    const rack: Record<string, string> = { a: "r1", b: "r1", c: "r1", d: "r2" };
    expect(keepReplicas(["a", "b", "c", "d"], 3, (id) => load[id]!, (id) => rack[id]!).sort()).toEqual(["a", "b", "d"]);
  });

  it("a grant keeps every staying replica before a drained one", () => {
    // b and c stay, d and e are drained and less loaded: a goal of 3 keeps b, c and one drained replica.
    const load = (id: string) => ({ b: 9, c: 8, d: 0, e: 1 })[id] ?? 0;
    const kept = grantReplicas(["b", "c", "d", "e"], new Set(["d", "e"]), 3, load);
    expect(kept.slice(0, 2)).toEqual(["b", "c"]);
    expect(kept).toHaveLength(3);
    expect(kept[2]).toBe("d");
    // Enough staying ones: no drained replica at all.
    expect(grantReplicas(["b", "c", "d"], new Set(["d"]), 2, load)).toEqual(["b", "c"]);
  });
});
