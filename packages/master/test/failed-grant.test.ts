// A lease grant that fails because a member missed the version bump: the live members that missed it are
// behind (as good as current) and are told the logged version, and until then they are verified holders, so a
// released unverified replica that took the bump but lost writes in a crash is not used in their place.
// (Simulator seed 549 with the trash on, issue 20.)
import { describe, expect, it } from "vitest";
import { ChunkServerPool, createLogger, type SetChunkVersionRequest } from "@gfs/common";
import { MasterState } from "../src/master-state";
import { defaultMasterSettings } from "../src/settings";

const H = "00000000000000aa";
const quiet = createLogger("test", "error");
const settings = { ...defaultMasterSettings(), chunk_size_bytes: 1000, replication: 3, heartbeat_interval_ms: 1000, heartbeat_misses_dead: 3, lease_ms: 60_000, chunk_spares: 0 };
const settle = () => new Promise((r) => setTimeout(r, 20));

describe("the members that missed a failed grant's bump", () => {
  it("are told the logged version, and meanwhile condemn a released replica that took the bump (it stays condemned once the grant failed)", async () => {
    let now = 10_000;
    const unreachable = new Set<string>();
    /** The bump's order to b, still on its way (b cut off from the master), until answered by hand. */
    let answerB: ((e: Error) => void) | undefined;
    const calls: Array<{ serverId: string; req: SetChunkVersionRequest }> = [];
    const pool = {
      get: (s: { serverId?: string }) => ({
        api: {
          SetChunkVersion: async (req: SetChunkVersionRequest) => {
            const id = s.serverId ?? "";
            calls.push({ serverId: id, req });
            if (id === "b" && !answerB) await new Promise<void>((_, reject) => { answerB = reject; });
            if (unreachable.has(id)) throw new Error("EIO: connection refused");
            return { chunkLength: 10 };
          },
          RevokeLease: async () => ({}),
        },
      }),
    } as unknown as ChunkServerPool;
    const state = new MasterState(settings, () => now, quiet, { pool });
    await state.commit({ op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0]!, timeMs: 1 });
    await state.commit({ op: "addChunk", path: "/f", index: 0, handle: H, version: 1, replicas: ["a", "b", "c"] });
    const register = (id: string, chunks: Array<{ handle: string; version: number; length: number; unverified?: boolean; crcDigest?: number }>) => state.register({
      serverId: id, address: `127.0.0.1:${1000 + id.charCodeAt(0)}`, rack: "", capacityBytes: 1e9, usedBytes: 0, freeBytes: 1e9, chunks,
    });
    for (const id of ["a", "b", "c", "d"]) await register(id, id === "d" ? [] : [{ handle: H, version: 1, length: 10 }]);
    const beat = (id: string) => state.heartbeat({ serverId: id, capacityBytes: 1e9, usedBytes: 0, freeBytes: 1e9, chunkCount: 1, load: 0, leaseExtensionHandles: [], addedChunks: [], removedChunks: [], corruptChunks: [] });

    // A grant bumps to v2: a takes it, c is down, the order to b (cut off) hangs.
    unreachable.add("c");
    const grant = state.getLease(H).then(() => undefined, (e: Error) => e);
    await settle();
    expect(answerB).toBeDefined();
    expect(state.chunks.get(H)!.version).toBe(2);
    // b and c fall silent and are declared dead; a crashes and comes back with its replica unverified at v2, empty
    // (its crash lost the acknowledged unsynced writes b holds). No verified replica is left: a's is released.
    for (let t = 0; t < 4; t++) {
      now += 1000;
      for (const id of ["a", "d"]) await beat(id);
    }
    state.tick();
    expect(state.liveness.isAlive("b")).toBe(false);
    await register("a", [{ handle: H, version: 2, length: 0, unverified: true, crcDigest: 5 }]);
    expect(state.isReleasedReplica(H, "a")).toBe(true);
    // b is heard again (alive again, no restart): behind the bump on its way, a verified replica all the same.
    await beat("b");
    expect(state.isReleasedReplica(H, "a")).toBe(false);
    // The order to b times out: the grant fails, and b, behind, is told the logged version.
    answerB!(new Error("EIO: Deadline exceeded"));
    expect(await grant).toBeInstanceOf(Error);
    await settle();
    for (const id of ["a", "b", "d"]) await beat(id);
    await settle();
    expect(calls.filter((x) => x.serverId === "b").map((x) => x.req.version)).toEqual([2, 2]);
    expect(state.isReleasedReplica(H, "a")).toBe(false);
    expect(state.chunks.goodReplicas(H, () => true)).toEqual(["b"]);
    expect(state.location(0, H).version).toBe(2);
  });
});
