import { describe, expect, it } from "vitest";
import { GfsError } from "@gfs/common";
import { clusterSpace, placeReplicas, type PlacementCandidate } from "../src/placement";

const s = (serverId: string, free: number, rack = "", load = 0): PlacementCandidate =>
  ({ serverId, rack, capacityBytes: 1000, usedBytes: 1000 - free, load });
const ids = (cs: PlacementCandidate[]) => cs.map((c) => c.serverId);

describe("placement", () => {
  it("picks distinct servers with the most free space", () => {
    const chosen = placeReplicas([s("a", 10), s("b", 500), s("c", 300), s("d", 900)], 3);
    expect(ids(chosen)).toEqual(["d", "b", "c"]);
    expect(new Set(ids(chosen)).size).toBe(3);
  });

  it("breaks ties by least load, then by id", () => {
    expect(ids(placeReplicas([s("c", 100, "", 0), s("b", 100, "", 3), s("a", 100, "", 0)], 2))).toEqual(["a", "c"]);
  });

  it("spreads replicas across racks before reusing one", () => {
    const live = [s("a1", 900, "r1"), s("a2", 800, "r1"), s("a3", 700, "r1"), s("b1", 100, "r2"), s("c1", 50, "r3")];
    expect(ids(placeReplicas(live, 3))).toEqual(["a1", "b1", "c1"]);
    // Only two racks: the third replica goes to the best remaining server.
    expect(ids(placeReplicas(live.slice(0, 4), 3))).toEqual(["a1", "b1", "a2"]);
  });

  it("skips excluded servers", () => {
    expect(ids(placeReplicas([s("a", 900), s("b", 500), s("c", 300)], 2, new Set(["a"])))).toEqual(["b", "c"]);
  });

  it("not enough live servers is a retryable EAGAIN naming the shortfall", () => {
    let err: unknown;
    try { placeReplicas([s("a", 1), s("b", 1)], 3); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(GfsError);
    expect((err as GfsError).errno).toBe("EAGAIN");
    expect((err as GfsError).message).toContain("need 3 live chunkservers, have 2");
  });

  it("a new chunk avoids servers whose disk reported less than a chunk free, and a full cluster is ENOSPC, not EAGAIN", () => {
    const disk = (serverId: string, freeBytes: number): PlacementCandidate =>
      ({ serverId, rack: "", capacityBytes: 1000, usedBytes: 0, load: 0, freeBytes, diskId: `host:${serverId}` });
    // The disk's report wins over capacity minus used.
    expect(ids(placeReplicas([disk("a", 50), disk("b", 900), disk("c", 400), disk("d", 0)], 2, new Set(), 100))).toEqual(["b", "c"]);
    let err: unknown;
    try { placeReplicas([disk("a", 50), disk("b", 900), disk("c", 0)], 2, new Set(), 100); } catch (e) { err = e; }
    expect((err as GfsError).errno).toBe("ENOSPC");
    // A server that reports no free space of its own is not judged by it.
    expect(ids(placeReplicas([s("x", 10), disk("b", 900)], 2, new Set(), 100))).toEqual(["b", "x"]);
  });

  it("cluster space counts each disk once, from what the disks reported", () => {
    const on = (serverId: string, diskId: string, capacityBytes: number, freeBytes: number): PlacementCandidate =>
      ({ serverId, rack: "", capacityBytes, usedBytes: 0, load: 0, freeBytes, diskId });
    // Three servers on one disk, one on its own; chunk bytes (usedBytes 0 here) do not decide free space.
    expect(clusterSpace([on("a", "h:1", 100, 40), on("b", "h:1", 100, 40), on("c", "h:1", 100, 40), on("d", "h:2", 50, 5)]))
      .toEqual({ capacity: 150, free: 45 });
    // A server that reports no disk counts capacity minus used.
    expect(clusterSpace([s("x", 30)])).toEqual({ capacity: 1000, free: 30 });
  });
});
