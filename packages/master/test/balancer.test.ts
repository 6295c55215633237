import { describe, expect, it } from "vitest";
import { planBalance, type BalanceInput } from "../src/balancer";
import type { ChunkEntry, ReplicaState } from "../src/chunk-table";
import type { ChunkserverState } from "../src/liveness";

const server = (id: string, usedBytes: number, rack = "", capacityBytes = 1000): ChunkserverState => ({
  serverId: id, address: `127.0.0.1:${id}`, rack, capacityBytes, usedBytes, chunkCount: 0, load: 0, lastHeartbeatMs: 0, alive: true,
});
const chunk = (handle: string, replicas: Record<string, Partial<ReplicaState>>, length = 100): ChunkEntry => ({
  handle, version: 1, fileId: 1, index: 0,
  replicas: new Map(Object.entries(replicas).map(([id, r]) => [id, { version: 1, length, corrupt: false, ...r }])),
});
const plan = (chunks: ChunkEntry[], servers: ChunkserverState[], o: Partial<BalanceInput> = {}) => planBalance({
  chunks, servers, inFlight: [], hasLease: () => false, goalOf: () => 2, backlog: false, toleranceRatio: 0.1, movesMax: 10,
  copiesPerServerMax: 10, unknownChunkBytes: 100, ...o,
});

// Two full servers holding the same four chunks, and an empty one.
const full = [server("a", 400), server("b", 400), server("new", 0)];
const four = ["c1", "c2", "c3", "c4"].map((h) => chunk(h, { a: {}, b: {} }));

describe("balancer", () => {
  it("servers within the tolerance: no move, and it says why", () => {
    const p = plan(four, [server("a", 400), server("b", 350)]);
    expect(p.moves).toEqual([]);
    expect(p.spread).toBeCloseTo(0.05);
    expect(p.whyNot).toMatch(/within the tolerance/);
  });

  it("moves chunks from the fullest servers to the empty one until the spread is within tolerance, never two moves of a chunk", () => {
    const p = plan(four, full);
    expect(p.moves.length).toBeGreaterThan(0);
    expect(p.moves.every((m) => m.targetId === "new" && ["a", "b"].includes(m.sourceId))).toBe(true);
    expect(new Set(p.moves.map((m) => m.handle)).size).toBe(p.moves.length);
    const used = new Map([["a", 400], ["b", 400], ["new", 0]]);
    for (const m of p.moves) { used.set(m.sourceId, used.get(m.sourceId)! - m.bytes); used.set(m.targetId, used.get(m.targetId)! + m.bytes); }
    // Moves stop once the projected usage is within tolerance or no move brings the target below the source.
    expect(Math.max(...used.values()) - Math.min(...used.values())).toBeLessThanOrEqual(200);
  });

  it("at most movesMax moves and copiesPerServerMax per server per round", () => {
    expect(plan(four, full, { movesMax: 1 }).moves).toHaveLength(1);
    expect(plan(four, full, { copiesPerServerMax: 1 }).moves).toHaveLength(1); // every move lands on "new"
  });

  it("nothing while re-replication has a backlog or copies are under way", () => {
    expect(plan(four, full, { backlog: true })).toMatchObject({ moves: [], whyNot: expect.stringMatching(/backlog/) });
    const inFlight = [{ handle: "c1", version: 1, sourceId: "a", targetId: "new", issuedMs: 0 }];
    expect(plan(four, full, { inFlight })).toMatchObject({ moves: [], whyNot: expect.stringMatching(/under way/) });
  });

  it("never a chunk with a lease, one above or below its goal, or onto a server that holds it", () => {
    const chunks = [
      chunk("leased", { a: {}, b: {} }), chunk("above", { a: {}, b: {}, new: {} }), chunk("below", { a: {} }),
      chunk("stale-on-new", { a: {}, b: {}, new: { version: 0 } }),
    ];
    expect(plan(chunks, full, { hasLease: (h) => h === "leased" }).moves).toEqual([]);
  });

  it("never narrows the rack spread: a chunk on racks r1 and r2 does not move from r1 onto another r2 server", () => {
    const servers = [server("a", 400, "r1"), server("b", 100, "r2"), server("new", 0, "r2")];
    const p = plan([chunk("c1", { a: {}, b: {} })], servers);
    expect(p.moves).toEqual([]);
    const spread = [server("a", 400, "r1"), server("b", 100, "r2"), server("new", 0, "r3")];
    expect(plan([chunk("c1", { a: {}, b: {} })], spread).moves).toEqual([{ handle: "c1", version: 1, sourceId: "a", targetId: "new", bytes: 100 }]);
  });

  it("a move never leaves the target fuller than the source (no ping-pong), and needs room on the target", () => {
    expect(plan([chunk("big", { a: {}, b: {} }, 300)], [server("a", 400), server("b", 400), server("new", 200)]).moves).toEqual([]);
    expect(plan([chunk("c1", { a: {}, b: {} }, 100)], [server("a", 400), server("b", 400), server("new", 950)], { toleranceRatio: -1 }).moves).toEqual([]);
  });

  it("looks past the extreme pair: the fullest's chunks all on the emptiest, another pair can still move", () => {
    // a is fullest, new emptiest, but every chunk of a is already on new: a's chunk goes to the next emptiest.
    const chunks = [chunk("x", { a: {}, new: {} })];
    const p = plan(chunks, [server("a", 500), server("b", 450), server("c", 300), server("new", 100)]);
    expect(p.moves).toEqual([{ handle: "x", version: 1, sourceId: "a", targetId: "c", bytes: 100 }]);
  });

  it("a chunk whose length no report gave is sized as unknownChunkBytes", () => {
    const p = plan([chunk("c1", { a: {}, b: {} }, 0)], full, { unknownChunkBytes: 64 });
    expect(p.moves[0]?.bytes).toBe(64);
  });

  it("a balancer target needs free bytes on its disk (as re-replication counts them), not only capacity minus used", () => {
    // "new" has room by capacity but its disk (shared, full) reports no free bytes: no move goes there.
    const shared = { ...server("new", 0), freeBytes: 50, diskId: "shared-disk" };
    expect(plan(four, [server("a", 400), server("b", 400), shared]).moves).toEqual([]);
    // Room for one 100-byte chunk only: one move there, not every chunk of the round.
    const some = { ...server("new", 0), freeBytes: 150, diskId: "disk-n" };
    expect(plan(four, [server("a", 400), server("b", 400), some]).moves).toHaveLength(1);
  });
});
