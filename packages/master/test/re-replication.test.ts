import { describe, expect, it } from "vitest";
import type { ChunkEntry, ReplicaState } from "../src/chunk-table";
import type { ChunkserverState } from "../src/liveness";
import { planReplication, type CopyInFlight } from "../src/re-replication";

const server = (id: string, rack = "", usedBytes = 0): ChunkserverState => ({
  serverId: id, address: `127.0.0.1:${id}`, rack, capacityBytes: 1000, usedBytes, chunkCount: 0, load: 0, lastHeartbeatMs: 0, alive: true,
});
const chunk = (handle: string, version: number, replicas: Record<string, Partial<ReplicaState>>): ChunkEntry => ({
  handle, version, fileId: 1, index: 0,
  replicas: new Map(Object.entries(replicas).map(([id, r]) => [id, { version, length: 10, corrupt: false, ...r }])),
});
const plan = (chunks: ChunkEntry[], live: ChunkserverState[], o: { inFlight?: CopyInFlight[]; leased?: string[]; limit?: number } = {}) =>
  planReplication({
    chunks, replication: 3, liveServers: live, inFlight: o.inFlight ?? [],
    hasLease: (h) => (o.leased ?? []).includes(h), copiesPerServerMax: o.limit ?? 10,
  });

describe("re-replication planning", () => {
  it("a healthy chunk gets no copy", () => {
    expect(plan([chunk("a", 1, { s1: {}, s2: {}, s3: {} })], [server("s1"), server("s2"), server("s3"), server("s4")])).toEqual([]);
  });

  it("a chunk with a dead replica is copied from a good replica to a server that holds none", () => {
    const orders = plan([chunk("a", 1, { s1: {}, s2: {}, dead: {} })], [server("s1"), server("s2"), server("s4")]);
    expect(orders).toHaveLength(1);
    expect(["s1", "s2"]).toContain(orders[0].sourceId);
    expect(orders[0].targetId).toBe("s4");
    expect(orders[0].version).toBe(1);
  });

  it("chunks with one good replica are repaired before chunks with two", () => {
    const live = [server("s1"), server("s2"), server("s3"), server("s4"), server("s5")];
    const chunks = [chunk("two", 1, { s1: {}, s2: {} }), chunk("one", 1, { s3: {} })];
    const orders = plan(chunks, live, { limit: 1 });
    expect(orders[0].handle).toBe("one");
    expect(orders[0].good).toBe(1);
    // Orders come most endangered first.
    const goods = orders.map((o) => o.good);
    expect(goods).toEqual([...goods].sort((a, b) => a - b));
    expect(orders.some((o) => o.handle === "two")).toBe(true);
  });

  it("no server takes part in more copies than the limit", () => {
    const live = [server("s1"), server("s2"), server("s3"), server("s4")];
    const chunks = Array.from({ length: 10 }, (_, i) => chunk(`c${i}`, 1, { s1: {}, s2: {} }));
    const orders = plan(chunks, live, { limit: 2 });
    const count = new Map<string, number>();
    for (const o of orders) for (const id of [o.sourceId, o.targetId]) count.set(id, (count.get(id) ?? 0) + 1);
    for (const n of count.values()) expect(n).toBeLessThanOrEqual(2);
    expect(orders.length).toBeGreaterThan(0);
  });

  it("a copy never goes to a server whose disk has no room for the chunk", () => {
    const full = { ...server("full"), freeBytes: 10, diskId: "d-full" };
    const roomy = { ...server("roomy"), freeBytes: 5000, diskId: "d-roomy" };
    const c = chunk("a", 1, { s1: {}, s2: {} });
    const input = { chunks: [c], replication: 3, liveServers: [server("s1"), server("s2"), full], inFlight: [], hasLease: () => false, copiesPerServerMax: 10, chunkSizeBytes: 1000 };
    expect(planReplication(input)).toEqual([]);
    expect(planReplication({ ...input, liveServers: [...input.liveServers, roomy] }).map((o) => o.targetId)).toEqual(["roomy"]);
  });

  it("copies already under way count, and are not ordered twice", () => {
    const live = [server("s1"), server("s2"), server("s4")];
    const inFlight = [{ handle: "a", version: 1, sourceId: "s1", targetId: "s4", issuedMs: 0 }];
    expect(plan([chunk("a", 1, { s1: {}, s2: {} })], live, { inFlight })).toEqual([]);
  });

  it("stale and corrupt replicas are not sources, and their servers are not targets", () => {
    const live = [server("s1"), server("s2"), server("s3"), server("s4")];
    const c = chunk("a", 5, { s1: {}, s2: { version: 4 }, s3: { corrupt: true } });
    const orders = plan([c], live);
    expect(orders.map((o) => o.sourceId)).toEqual(["s1", "s1"].slice(0, orders.length));
    expect(orders.every((o) => o.targetId === "s4")).toBe(true);
    expect(orders).toHaveLength(1); // only s4 holds nothing of it
  });

  it("a chunk under an unexpired lease is not copied", () => {
    expect(plan([chunk("a", 1, { s1: {}, s2: {} })], [server("s1"), server("s2"), server("s3")], { leased: ["a"] })).toEqual([]);
  });

  it("a chunk with no good replica is left for fsck to report", () => {
    expect(plan([chunk("a", 2, { s1: { version: 1 } })], [server("s1"), server("s2"), server("s3")])).toEqual([]);
  });

  it("the new replica goes to a rack the surviving replicas are not on", () => {
    const live = [server("s1", "r1"), server("s2", "r1"), server("s3", "r1", 0), server("s4", "r2", 900)];
    const orders = plan([chunk("a", 1, { s1: {}, s2: {} })], live);
    expect(orders).toHaveLength(1);
    expect(orders[0].targetId).toBe("s4");
  });
});

describe("re-replication scheduling", () => {
  it("a (re)started master orders no copy before chunkservers had time to report", async () => {
    const { ChunkTable } = await import("../src/chunk-table");
    const { Liveness } = await import("../src/liveness");
    const { ReplicationScheduler } = await import("../src/replication-scheduler");
    const table = new ChunkTable();
    const H = "00000000000000aa";
    table.add(H, 1, 1, 0);
    const live = new Liveness({ heartbeat_interval_ms: 100, heartbeat_misses_dead: 3 });
    for (const id of ["s1", "s2", "s3"]) live.register({ serverId: id, address: id, rack: "", capacityBytes: 10, usedBytes: 0, chunkCount: 0, load: 0 }, 0);
    table.recordReplica("s1", { handle: H, version: 1, length: 0 }); // s2, s3 have not reported yet
    const settings = { replication: 3, replication_copies_per_server_max: 2, replication_copy_timeout_ms: 1000 };
    const s = new ReplicationScheduler(settings, table, live, () => false, 300);
    expect(s.plan(100)).toEqual([]);
    expect(s.plan(300).length).toBeGreaterThan(0);
    expect(s.takeOrders(s.issued[0].targetId)).toHaveLength(1);
  });
});

describe("re-replication scheduling when idle", () => {
  it("an idle master does not rescan its chunks until something changed", async () => {
    const { ChunkTable } = await import("../src/chunk-table");
    const { Liveness } = await import("../src/liveness");
    const { ReplicationScheduler } = await import("../src/replication-scheduler");
    const table = new ChunkTable();
    const H = "00000000000000bb";
    table.add(H, 1, 1, 0);
    const live = new Liveness({ heartbeat_interval_ms: 100, heartbeat_misses_dead: 3 });
    for (const id of ["s1", "s2", "s3", "s4"]) live.register({ serverId: id, address: id, rack: "", capacityBytes: 10, usedBytes: 0, chunkCount: 0, load: 0 }, 0);
    for (const id of ["s1", "s2", "s3"]) table.recordReplica(id, { handle: H, version: 1, length: 0 });
    let scans = 0;
    const entries = table.entries.bind(table);
    table.entries = () => { scans++; return entries(); };
    const s = new ReplicationScheduler({ replication: 3, replication_copies_per_server_max: 2, replication_copy_timeout_ms: 1000 }, table, live, () => false);
    expect(s.plan(0)).toEqual([]); // the first plan scans: nothing to do
    expect(s.plan(10)).toEqual([]);
    expect(s.plan(20)).toEqual([]);
    expect(scans).toBe(1);
    live.sweep(1000); // s1..s4 all silent: dead
    live.register({ serverId: "s2", address: "s2", rack: "", capacityBytes: 10, usedBytes: 0, chunkCount: 0, load: 0 }, 1000);
    live.register({ serverId: "s4", address: "s4", rack: "", capacityBytes: 10, usedBytes: 0, chunkCount: 0, load: 0 }, 1000);
    s.noteChange();
    const orders = s.plan(1000);
    expect(scans).toBe(2);
    expect(orders).toEqual([expect.objectContaining({ handle: H, sourceId: "s2", targetId: "s4", good: 1 })]);
    // A copy under way keeps planning going until it is confirmed.
    s.plan(1010);
    expect(scans).toBe(3);
  });
});
