// setrep --wait ends: at the goal, or with one line when waiting cannot reach it (review 11 of issue 18).
import { describe, expect, it } from "vitest";
import type { FsckResponse__Output } from "@gfs/common";
import { goalGap, GoalWait, serversForGoals, unreachableChunk } from "../src/commands-replication";

const report = (goal: number, goods: number[], handle = "00000000000000aa") => ({
  files: [{ path: "/f", size: 1, goal, chunks: goods.map((good, index) => ({ index, handle, version: 1, state: "", good, replicas: [] })) }],
} as unknown as FsckResponse__Output);

describe("setrep --wait", () => {
  it("the gap counts missing and excess replicas of written chunks; a hole counts nothing", () => {
    expect(goalGap(report(3, [1, 3, 5]))).toBe(4);
    expect(goalGap(report(3, [0], ""))).toBe(0);
  });

  it("a chunk with no good replica cannot reach its goal: waiting stops at once", () => {
    expect(unreachableChunk(report(2, [2, 0]))).toBe("chunk #1 of /f has no good replica to copy");
    expect(unreachableChunk(report(2, [0], ""))).toBeUndefined();
    expect(unreachableChunk(report(2, [1, 2]))).toBeUndefined();
  });

  it("waiting stops when the gap has not shrunk for the stall limit, and goes on while it shrinks", () => {
    const w = new GoalWait(1_000);
    expect(w.observe(4, 0)).toBe("waiting");
    expect(w.observe(3, 900)).toBe("waiting");
    expect(w.observe(3, 1_800)).toBe("waiting"); // 900 ms since it last shrank
    expect(w.observe(4, 1_900)).toBe("stalled"); // worse is not progress
    expect(new GoalWait(1_000).observe(0, 0)).toBe("done");
  });

  it("only servers alive and not draining, retired or leaving count toward a goal (an older master's: alive)", () => {
    const s = (alive: boolean, state: string) => ({ alive, state });
    expect(serversForGoals([s(true, "alive"), s(true, "draining"), s(true, "retired"), s(false, "leaving"), s(false, "dead"), s(true, "")])).toBe(2);
  });
});
