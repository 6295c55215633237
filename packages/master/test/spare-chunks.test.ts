import { describe, expect, it } from "vitest";
import { SpareChunks, type SpareChunk } from "../src/spare-chunks";

const policy = { count: 2, maxAgeMs: 30_000, heardWithinMs: 1_500 };
const spare = (handle: string, grantedAtMs: number, serverIds = ["a", "b", "c"]): SpareChunk => ({ handle, serverIds, primaryId: serverIds[0]!, grantedAtMs, token: "t" });
const allHeardAt = (ms: number) => () => ms;

describe("spare chunks", () => {
  it("asks for creations up to the count, counting those under way", () => {
    const s = new SpareChunks(policy);
    expect(s.shortfall()).toBe(2);
    s.creationStarted(2);
    expect(s.shortfall()).toBe(0);
    s.creationEnded(spare("h1", 0));
    s.creationEnded(undefined); // a failed creation leaves a gap the next refill fills
    expect(s.size).toBe(1);
    expect(s.shortfall()).toBe(1);
    expect(() => s.creationEnded(undefined)).toThrow(/invariant/);
  });

  it("hands out the oldest spare while its lease is young and every server was heard from lately", () => {
    const s = new SpareChunks(policy);
    s.creationStarted(2);
    s.creationEnded(spare("h1", 1_000));
    s.creationEnded(spare("h2", 2_000));
    const got = s.take(10_000, allHeardAt(9_000));
    expect(got).toEqual({ spare: spare("h1", 1_000), discarded: [] });
    expect(s.size).toBe(1);
  });

  it("a spare with a server not heard from lately, or dead, is discarded rather than handed out", () => {
    const s = new SpareChunks(policy);
    s.creationStarted(3);
    s.creationEnded(spare("silent", 1_000, ["a", "b", "c"]));
    s.creationEnded(spare("dead", 1_000, ["a", "d", "b"]));
    s.creationEnded(spare("fine", 1_000, ["a", "b", "e"]));
    const heard = (id: string) => (id === "c" ? 7_000 : id === "d" ? undefined : 9_900);
    const got = s.take(10_000, heard);
    expect(got.spare?.handle).toBe("fine");
    expect(got.discarded.map((x) => x.handle)).toEqual(["silent", "dead"]);
    expect(s.size).toBe(0);
  });

  it("a spare whose lease is more than half gone is not handed out, and expires on its own", () => {
    const s = new SpareChunks(policy);
    s.creationStarted(2);
    s.creationEnded(spare("old", 0));
    s.creationEnded(spare("young", 20_000));
    expect(s.expire(30_000)).toEqual([]);
    expect(s.expire(30_001).map((x) => x.handle)).toEqual(["old"]);
    const got = s.take(50_001, allHeardAt(50_000));
    expect(got.spare).toBeUndefined();
    expect(got.discarded.map((x) => x.handle)).toEqual(["young"]);
  });

  it("a server that registers again takes its spares with it: it may have forgotten their leases", () => {
    const s = new SpareChunks(policy);
    s.creationStarted(3);
    s.creationEnded(spare("h1", 0, ["a", "b", "c"]));
    s.creationEnded(spare("h2", 0, ["b", "c", "d"]));
    s.creationEnded(spare("h3", 0, ["c", "d", "e"]));
    expect(s.dropServer("a").map((x) => x.handle)).toEqual(["h1"]);
    expect(s.dropServer("b").map((x) => x.handle)).toEqual(["h2"]);
    expect(s.size).toBe(1);
    expect(s.shortfall()).toBe(1);
  });

  it("tops up in one batch once half the spares are gone, not one by one", () => {
    const s = new SpareChunks({ ...policy, count: 8 });
    expect(s.shortfall()).toBe(8);
    s.creationStarted(8);
    for (let i = 0; i < 8; i++) s.creationEnded(spare(`h${i}`, 0));
    for (let i = 0; i < 3; i++) s.take(1, allHeardAt(1));
    expect(s.shortfall()).toBe(0); // 5 of 8 left
    s.take(1, allHeardAt(1));
    expect(s.shortfall()).toBe(4); // 4 left: back to 8 in one batch
  });

  it("with a count of 0 there are never spares", () => {
    const s = new SpareChunks({ ...policy, count: 0 });
    expect(s.shortfall()).toBe(0);
    expect(s.take(0, allHeardAt(0))).toEqual({ discarded: [] });
  });
});
