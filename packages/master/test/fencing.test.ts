// Fencing a dead primary's lease (issue 14): the pure decision (fencing.ts)
// and the master's driver (tick -> log the bump, tell the survivors, drop the lease, copy).
import { describe, expect, it } from "vitest";
import { ChunkServerPool, createLogger, type SetChunkVersionRequest } from "@gfs/common";
import { ChunkTable, isBehind } from "../src/chunk-table";
import { chunksToFence, decideFence, type FenceView } from "../src/fencing";
import { LeaseManager, type Lease } from "../src/lease-manager";
import { MasterState } from "../src/master-state";
import { defaultMasterSettings } from "../src/settings";

const H = "00000000000000aa";
const quiet = createLogger("test", "error");

/** A chunk at version 2 on a, b, c (its grant set), leased to `primary` at version 2. */
function world(o: { primary?: string; dead?: string[]; quiet?: string[]; unverified?: boolean; leaseVersion?: number; issued?: number; replicas?: string[] } = {}) {
  const table = new ChunkTable();
  table.add(H, 1, 1, 0, ["a", "b", "c"]);
  table.setVersion(H, 2, ["a", "b", "c"]);
  for (const id of o.replicas ?? ["a", "b", "c"]) table.recordReplica(id, { handle: H, version: 2, length: 10 });
  const lease: Lease = { handle: H, primaryId: o.primary ?? "a", version: o.leaseVersion ?? 2, expiresMs: 60_000, token: "t", replicas: ["a", "b", "c"] };
  const dead = new Set(o.dead ?? ["a"]);
  const view: FenceView = {
    chunk: (h) => table.get(h), lease: (h) => (h === H ? lease : undefined), isAlive: (id) => !dead.has(id),
    heardRecently: (id) => !dead.has(id) && !(o.quiet ?? []).includes(id), unverified: () => o.unverified ?? false,
    issuedVersion: () => o.issued ?? 2, replication: 3,
  };
  return { table, lease, view };
}

describe("which chunks to fence, and how (fencing.ts)", () => {
  it("a leased chunk whose primary is dead is fenced: a logged bump to the next version on the survivors only, told with no lease and no token", () => {
    const { view } = world();
    const f = decideFence(H, view);
    if ("skip" in f) throw new Error(f.skip);
    expect(f).toMatchObject({ handle: H, primaryId: "a", leaseVersion: 2, version: 3, survivors: ["b", "c"], grantSet: ["b", "c"] });
    expect(f.record).toEqual({ op: "bumpVersion", handle: H, version: 3, replicas: ["b", "c"] });
    expect(f.messages.map((m) => m.serverId)).toEqual(["b", "c"]);
    for (const m of f.messages) {
      expect(m.request).toEqual<SetChunkVersionRequest>({ handle: H, version: 3, create: false, leaseMs: 0, leaseToken: "", primaryId: "", secondaries: [] });
    }
  });

  it("a dead secondary stays in the grant set (one behind when it returns, as it took every acknowledged write); only live survivors are told", () => {
    const f = decideFence(H, world({ dead: ["a", "c"] }).view);
    if ("skip" in f) throw new Error(f.skip);
    expect(f.survivors).toEqual(["b"]);
    expect(f.grantSet).toEqual(["b", "c"]);
    expect(f.record.replicas).toEqual(["b", "c"]);
    expect(f.messages.map((m) => m.serverId)).toEqual(["b"]);
  });

  it("no fence while a survivor has not been heard from lately (it may have died with the primary): liveness settles first", () => {
    expect(decideFence(H, world({ quiet: ["c"] }).view)).toEqual({ skip: expect.stringMatching(/^c not heard from lately/) });
  });

  it("no fence in safe mode (read-only until an operator confirms the metadata): the lease runs out instead", () => {
    const { view } = world();
    expect(decideFence(H, { ...view, safeMode: true })).toEqual({ skip: "the master is in safe mode (read-only): the lease runs out instead" });
  });

  it("no fence while a replica is unverified since a crash: the bump would vouch for it before the replicas are compared", () => {
    expect(decideFence(H, world({ unverified: true }).view)).toEqual({ skip: "a replica is unverified since a crash" });
  });

  it("the fence's version is above every version ever issued for the chunk (a failed grant's too) and above any suspect's claim", () => {
    expect((decideFence(H, world({ issued: 7 }).view) as { version: number }).version).toBe(8);
    const { table, view } = world();
    table.recordReplica("x", { handle: H, version: 11, length: 10 }); // a suspect claim, never issued
    expect((decideFence(H, view) as { version: number }).version).toBe(12);
  });

  it("the old primary is left out of the grant set: once the bump is applied its replica is stale, never 'one behind and current'", () => {
    const { table, view } = world();
    const f = decideFence(H, view);
    if ("skip" in f) throw new Error(f.skip);
    table.setVersion(H, f.version, f.record.replicas);
    const c = table.get(H)!;
    expect(isBehind(c, "a", 2)).toBe(false);
    expect(isBehind(c, "b", 2)).toBe(true); // a survivor that missed the bump is kept, as after a failed grant
    table.confirmReplica("b", H, f.version, 10);
    expect(table.pendingDeletes("a")).toEqual([H]);
    expect(table.pendingDeletes("c")).toEqual([]);
  });

  it("no fence while a leaving primary finishes its mutations: its lease ends when it has left or runs out", () => {
    const { view } = world();
    expect(decideFence(H, { ...view, leaving: (id) => id === "a" })).toEqual({ skip: expect.stringMatching(/primary is leaving/) });
    expect("skip" in decideFence(H, { ...view, leaving: () => false })).toBe(false);
  });

  it("no fence while the primary is alive (it is asked to give the lease back), nor without a lease", () => {
    expect(decideFence(H, world({ dead: [] }).view)).toEqual({ skip: expect.stringMatching(/alive/) });
    const { view } = world();
    expect(decideFence(H, { ...view, lease: () => undefined })).toEqual({ skip: "not leased" });
    expect(decideFence("00000000000000bb", view)).toEqual({ skip: "unknown chunk" });
  });

  it("no fence without a live current survivor, when not short of replicas, or for a lease at another version", () => {
    expect(decideFence(H, world({ dead: ["a", "b", "c"] }).view)).toEqual({ skip: expect.stringMatching(/no live current replica/) });
    const { table, view } = world();
    table.recordReplica("d", { handle: H, version: 2, length: 10 }); // a fourth current replica: b, c, d survive
    expect(decideFence(H, view)).toEqual({ skip: "not short of replicas" });
    expect(decideFence(H, world({ leaseVersion: 1 }).view)).toEqual({ skip: expect.stringMatching(/leased at version 1/) });
  });

  it("no fence when no survivor is a replica of the lease: the old primary orders mutations only to those", () => {
    const { table, view, lease } = world();
    lease.replicas = ["a", "x", "y"];
    expect(decideFence(H, view)).toEqual({ skip: "no survivor is a replica of the lease" });
    expect(table.get(H)!.version).toBe(2);
  });

  it("chunksToFence takes each blocked chunk once and leaves out the ones not to fence", () => {
    const { view } = world();
    expect(chunksToFence([H, H, "00000000000000bb"], view).map((f) => f.handle)).toEqual([H]);
    expect(chunksToFence([H], world({ dead: [] }).view)).toEqual([]);
  });
});

describe("the master fences a dead primary's lease and copies at once (driver)", () => {
  const settings = { ...defaultMasterSettings(), chunk_size_bytes: 1000, replication: 3, heartbeat_interval_ms: 1000, heartbeat_misses_dead: 3, lease_ms: 60_000, chunk_spares: 0 };

  async function leasedCluster() {
    let now = 10_000;
    const calls: Array<{ serverId: string; req: SetChunkVersionRequest }> = [];
    const revokes: string[] = [];
    const unreachable = new Set<string>();
    const pool = {
      get: (s: { serverId?: string }) => ({
        api: {
          SetChunkVersion: async (req: SetChunkVersionRequest) => {
            calls.push({ serverId: s.serverId ?? "", req });
            if (unreachable.has(s.serverId ?? "")) throw new Error("EIO: unreachable");
            return { chunkLength: 10 };
          },
          RevokeLease: async () => { revokes.push(s.serverId ?? ""); return {}; },
        },
      }),
    } as unknown as ChunkServerPool;
    const state = new MasterState(settings, () => now, quiet, { pool });
    await state.commit({ op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0]!, timeMs: 1 });
    await state.commit({ op: "addChunk", path: "/f", index: 0, handle: H, version: 1, replicas: ["a", "b", "c"] });
    const servers = ["a", "b", "c", "d"];
    for (const id of servers) {
      await state.register({
        serverId: id, address: `127.0.0.1:${1000 + id.charCodeAt(0)}`, rack: "", capacityBytes: 1e9, usedBytes: 0, freeBytes: 1e9,
        chunks: id === "d" ? [] : [{ handle: H, version: 1, length: 10 }],
      });
    }
    const lease = await state.getLease(H);
    calls.length = 0;
    const beat = (id: string) => state.heartbeat({ serverId: id, capacityBytes: 1e9, usedBytes: 0, freeBytes: 1e9, chunkCount: 1, load: 0, leaseExtensionHandles: [], addedChunks: [], removedChunks: [], corruptChunks: [] });
    return { state, lease, calls, revokes, unreachable, beat, advance: (ms: number) => { now += ms; } };
  }

  it("a dead primary's chunk is bumped on the survivors, its lease dropped, and a copy ordered long before the lease would expire", async () => {
    const { state, lease, calls, beat, advance } = await leasedCluster();
    const primary = lease.primary!.serverId;
    const survivors = ["a", "b", "c"].filter((id) => id !== primary);
    // The primary goes silent; the others keep beating until it is declared dead (3 s of a 60 s lease).
    for (let t = 0; t < 4; t++) {
      advance(1000);
      for (const id of ["a", "b", "c", "d"].filter((x) => x !== primary)) await beat(id);
    }
    state.tick();
    await new Promise((r) => setTimeout(r, 20)); // the fence runs outside tick
    const c = state.chunks.get(H)!;
    expect(c.version).toBe(lease.version + 1);
    expect(c.grantSet).toEqual(survivors);
    expect(calls.map((x) => x.serverId).sort()).toEqual(survivors);
    for (const x of calls) expect(x.req).toMatchObject({ version: lease.version + 1, leaseMs: 0, leaseToken: "" });
    expect(state.leases.current(H, 14_000)).toBeUndefined();
    expect(state.chunks.goodReplicas(H, state.liveness.isAlive.bind(state.liveness))).toEqual(survivors);
    // The next tick copies at once, at the new version, to the spare server.
    state.tick();
    const orders = (await beat("d")).replicationOrders;
    expect(orders).toEqual([expect.objectContaining({ handle: H, version: lease.version + 1 })]);

    // The old primary comes back and registers, reporting its lease: not honoured, and its replica is garbage.
    const back = await state.register({
      serverId: primary, address: lease.primary!.address, rack: "", capacityBytes: 1e9, usedBytes: 0, freeBytes: 1e9,
      chunks: [{ handle: H, version: lease.version, length: 10 }],
      heldLeases: [{ handle: H, version: lease.version, remainingMs: 50_000, leaseToken: "old", secondaries: [] }],
    });
    expect(back.deleteChunks).toEqual([H]);
    expect(state.leases.current(H, 15_000)).toBeUndefined();
    expect(state.location(0, H).replicas.map((r) => r.serverId)).not.toContain(primary);
  });

  it("a graceful leave with mutations still in flight keeps its leases until they expire: the leaving primary is not fenced", async () => {
    const { state, lease, calls, beat, advance } = await leasedCluster();
    const primary = lease.primary!.serverId;
    state.lifecycle.leave(primary, false);
    // It keeps beating while it finishes (a silent one is "left" after the dead timeout, and fenced as a dead primary).
    for (let t = 0; t < 4; t++) {
      advance(1000);
      for (const id of ["a", "b", "c", "d"]) await beat(id);
    }
    state.tick();
    await new Promise((r) => setTimeout(r, 20));
    expect(state.chunks.get(H)!.version).toBe(lease.version);
    expect(calls).toEqual([]);
    expect(state.leases.current(H, 14_000)?.primaryId).toBe(primary);
  });

  it("a live primary's lease is not fenced: the chunk keeps its version and the primary is asked to give the lease back", async () => {
    const { state, lease, calls, revokes, beat, advance } = await leasedCluster();
    const primary = lease.primary!.serverId;
    const lost = ["a", "b", "c"].find((id) => id !== primary)!;
    // A secondary goes silent: the chunk is short of a replica, and its primary is alive.
    for (let t = 0; t < 4; t++) {
      advance(1000);
      for (const id of ["a", "b", "c", "d"].filter((x) => x !== lost)) await beat(id);
    }
    state.tick();
    await new Promise((r) => setTimeout(r, 20));
    expect(state.chunks.get(H)!.version).toBe(lease.version);
    expect(calls).toEqual([]);
    expect(revokes).toEqual([primary]);
    expect(state.leases.current(H, 14_000)).toBeUndefined(); // given back, not fenced
  });

  it("a fence no survivor took: the survivors stay one behind, and one that crashed is re-announced the new version when released as the best left", async () => {
    const { state, lease, unreachable, beat, advance } = await leasedCluster();
    const primary = lease.primary!.serverId;
    const survivors = ["a", "b", "c"].filter((id) => id !== primary);
    for (let t = 0; t < 4; t++) {
      advance(1000);
      for (const id of ["a", "b", "c", "d"].filter((x) => x !== primary)) await beat(id);
    }
    for (const id of survivors) unreachable.add(id); // both crash just as the bump is sent
    state.tick();
    await new Promise((r) => setTimeout(r, 20));
    const c = state.chunks.get(H)!;
    expect(c.version).toBe(lease.version + 1);
    expect(c.grantSet).toEqual(survivors);
    expect(state.chunks.goodReplicas(H, () => true)).toEqual([]); // nobody holds the new version yet
    unreachable.clear();
    // Both come back from their crash with the replica unverified (written in the dirty window), at the old version.
    for (const id of survivors) {
      await state.register({
        serverId: id, address: `127.0.0.1:${1000 + id.charCodeAt(0)}`, rack: "", capacityBytes: 1e9, usedBytes: 0, freeBytes: 1e9,
        chunks: [{ handle: H, version: lease.version, length: 10, unverified: true, crcDigest: 7 }],
      });
    }
    await new Promise((r) => setTimeout(r, 50));
    // Released as the best left, and one behind the log: told the logged version, so the chunk is readable again.
    expect(state.chunks.goodReplicas(H, () => true).length).toBeGreaterThan(0);
    expect(state.location(0, H).version).toBe(lease.version + 1);
  });
});
