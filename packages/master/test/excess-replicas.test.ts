import { describe, expect, it } from "vitest";
import type { ChunkEntry, ReplicaState } from "../src/chunk-table";
import { planRemovals, type RemovalInput } from "../src/excess-replicas";
import type { ChunkserverState } from "../src/liveness";

const server = (id: string, usedBytes = 0, rack = ""): ChunkserverState => ({
  serverId: id, address: `127.0.0.1:${id}`, rack, capacityBytes: 1000, usedBytes, chunkCount: 0, load: 0, lastHeartbeatMs: 0, alive: true,
});
const chunk = (handle: string, version: number, replicas: Record<string, Partial<ReplicaState>>): ChunkEntry => ({
  handle, version, fileId: 1, index: 0,
  replicas: new Map(Object.entries(replicas).map(([id, r]) => [id, { version, length: 10, corrupt: false, ...r }])),
});
const five = [server("s1", 100), server("s2", 500), server("s3", 300), server("s4", 200), server("s5", 400)];
const plan = (chunks: ChunkEntry[], o: Partial<RemovalInput> & { goal?: number } = {}) => planRemovals({
  chunks, goalOf: () => o.goal ?? 3, liveServers: o.liveServers ?? five, inFlight: o.inFlight ?? [],
  hasLease: o.hasLease ?? (() => false), removalsMax: o.removalsMax ?? 100, ...o,
});

describe("excess replica removal", () => {
  it("a chunk at its goal loses nothing", () => {
    expect(plan([chunk("a", 1, { s1: {}, s2: {}, s3: {} })])).toEqual([]);
  });

  it("a chunk above its goal loses the fullest servers' replicas", () => {
    const orders = plan([chunk("a", 4, { s1: {}, s2: {}, s3: {}, s4: {}, s5: {} })], { goal: 2 });
    expect(orders).toEqual([
      { handle: "a", version: 4, serverId: "s2" }, { handle: "a", version: 4, serverId: "s5" }, { handle: "a", version: 4, serverId: "s3" },
    ]);
  });

  it("each chunk is held to its own goal", () => {
    const goals: Record<string, number> = { one: 1, four: 4 };
    const orders = plan([chunk("one", 1, { s1: {}, s2: {} }), chunk("four", 1, { s1: {}, s2: {}, s3: {}, s4: {} })],
      { goalOf: (c) => goals[c.handle] });
    expect(orders).toEqual([{ handle: "one", version: 1, serverId: "s2" }]);
  });

  it("stale, corrupt, suspect and dead replicas do not count toward the goal", () => {
    const c = chunk("a", 2, { s1: {}, s2: {}, s3: { version: 1 }, s4: { corrupt: true }, s5: { suspect: true, version: 3 }, gone: {} });
    expect(plan([c], { goal: 2 })).toEqual([]);
  });

  it("never in safe mode", () => {
    expect(plan([chunk("a", 1, { s1: {}, s2: {}, s3: {}, s4: {} })], { safeMode: true })).toEqual([]);
  });

  it("never for a chunk with a copy in flight or an unexpired lease", () => {
    const chunks = [chunk("copying", 1, { s1: {}, s2: {}, s3: {}, s4: {} }), chunk("leased", 1, { s1: {}, s2: {}, s3: {}, s4: {} })];
    const orders = plan(chunks, {
      inFlight: [{ handle: "copying", version: 1, sourceId: "s1", targetId: "s5", issuedMs: 0 }],
      hasLease: (h) => h === "leased",
    });
    expect(orders).toEqual([]);
  });

  it("a retiring server's replica goes once the chunk has its goal elsewhere, and not before", () => {
    const retiringIds = new Set(["s1"]);
    expect(plan([chunk("a", 1, { s1: {}, s2: {}, s3: {} })], { retiringIds })).toEqual([]);
    expect(plan([chunk("a", 1, { s1: {}, s2: {}, s3: {}, s4: {} })], { retiringIds })).toEqual([{ handle: "a", version: 1, serverId: "s1" }]);
  });

  it("the balancer's preferred victim goes first once the chunk is above goal", () => {
    const orders = plan([chunk("a", 1, { s1: {}, s2: {}, s3: {}, s4: {} })], { preferredVictim: () => "s1" });
    expect(orders).toEqual([{ handle: "a", version: 1, serverId: "s1" }]);
    expect(plan([chunk("a", 1, { s1: {}, s2: {}, s3: {} })], { preferredVictim: () => "s1" })).toEqual([]);
  });

  it("removal keeps the rack spread: a replica on a rack holding another goes before a rack's only one", () => {
    const live = [server("a1", 900, "ra"), server("a2", 100, "ra"), server("b1", 50, "rb")];
    const orders = plan([chunk("x", 1, { a1: {}, a2: {}, b1: {} })], { goal: 2, liveServers: live });
    expect(orders).toEqual([{ handle: "x", version: 1, serverId: "a1" }]);
    const orders1 = plan([chunk("x", 1, { a1: {}, a2: {}, b1: {} })], { goal: 1, liveServers: [server("a1", 100, "ra"), server("a2", 900, "ra"), server("b1", 950, "rb")] });
    expect(orders1.map((o) => o.serverId)).toEqual(["a2", "b1"]);
  });

  it("at most removalsMax orders per plan", () => {
    const chunks = ["a", "b", "c"].map((h) => chunk(h, 1, { s1: {}, s2: {}, s3: {}, s4: {}, s5: {} }));
    expect(plan(chunks, { goal: 1, removalsMax: 5 })).toHaveLength(5);
  });

  it("with a server drained, only chunks with a replica on it are examined past the cheap check (no good-replica scan of every chunk)", () => {
    let scanned = 0;
    class CountingMap<K, V> extends Map<K, V> {
      override [Symbol.iterator](): MapIterator<[K, V]> { scanned++; return super[Symbol.iterator](); }
    }
    const counted = (c: ChunkEntry): ChunkEntry => ({ ...c, replicas: new CountingMap(c.replicas) });
    const plain = Array.from({ length: 50 }, (_, i) => counted(chunk(`c${i}`, 1, { s1: {}, s2: {}, s3: {} })));
    const onDrained = counted(chunk("d", 1, { s1: {}, s2: {}, s3: {}, s4: {} }));
    const orders = plan([...plain, onDrained], { retiringIds: new Set(["s4"]) });
    expect(orders).toEqual([{ handle: "d", version: 1, serverId: "s4" }]);
    expect(scanned).toBe(1);
  });
});

