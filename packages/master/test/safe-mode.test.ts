// Safe mode and the garbage rules (issue 12, finding 4): unknown chunks are
// quarantined, never deleted at once; many of them stop the master (read-only,
// delete nothing) until an operator confirms.
import { describe, expect, it } from "vitest";
import { createLogger, GfsError } from "@gfs/common";
import { unknownChunksAlarm, unknownChunksWithData } from "../src/garbage-policy";
import { MasterState } from "../src/master-state";
import { defaultMasterSettings } from "../src/settings";

const settings = { ...defaultMasterSettings(), replication: 1, safe_mode_unknown_chunks_max: 3, safe_mode_unknown_chunks_fraction: 0.5 };
const quiet = createLogger("test", "error");
const h = (n: number) => n.toString(16).padStart(16, "0");
const limits = { safe_mode_unknown_chunks_max: 16, safe_mode_unknown_chunks_fraction: 0.01 };

describe("garbage policy", () => {
  it("empty version-1 chunks (unused spares) are not counted as unknown data", () => {
    const reports = [
      { handle: h(1), version: 1, length: 0 }, { handle: h(2), version: 1, length: 5 }, { handle: h(3), version: 2, length: 0 },
      { handle: h(4), version: 1, length: 5 },
    ];
    expect(unknownChunksWithData(reports, (x) => x !== h(4))).toBe(2);
  });

  it("safe mode needs more unknown chunks with data than the maximum and than the fraction of the report", () => {
    expect(unknownChunksAlarm(16, 100, limits)).toBeUndefined();
    expect(unknownChunksAlarm(17, 100, limits)).toMatch(/17 of 100 reported chunks holding data are unknown/);
    expect(unknownChunksAlarm(17, 10_000, limits)).toBeUndefined(); // a big server: 17 of 10,000 is not a lost namespace
    expect(unknownChunksAlarm(101, 10_000, limits)).toBeDefined();
  });
});

describe("master safe mode", () => {
  const register = (state: MasterState, serverId: string, chunks: Array<{ handle: string; version: number; length: number }>, quarantinedChunks = [] as typeof chunks) =>
    state.register({ serverId, address: `127.0.0.1:${serverId.length}`, rack: "", capacityBytes: 1e9, usedBytes: 0, chunks, quarantinedChunks });

  it("a registration with a few unknown chunks quarantines them and stays writable", async () => {
    const state = new MasterState(settings, () => 1_000, quiet);
    const res = await register(state, "a", [{ handle: h(1), version: 1, length: 9 }, { handle: h(2), version: 1, length: 0 }]);
    expect(res.deleteChunks).toEqual([]);
    expect(res.quarantineChunks).toEqual([h(1), h(2)]);
    expect(state.safeMode.active).toBe(false);
    expect(() => state.checkWritable("mkdir /x")).not.toThrow();
  });

  it("many unknown chunks holding data put the master in safe mode: nothing deleted or quarantined, mutations refused with EROFS", async () => {
    let now = 1_000;
    const state = new MasterState(settings, () => now, quiet);
    await state.commit({ op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0], timeMs: 1 });
    await state.commit({ op: "addChunk", path: "/f", index: 0, handle: h(100), version: 2 });
    const unknown = [1, 2, 3, 4].map((n) => ({ handle: h(n), version: 1, length: 10 }));
    // A stale replica would normally be deleted once a current one exists.
    await register(state, "b", [{ handle: h(100), version: 2, length: 10 }]);
    const res = await register(state, "a", [...unknown, { handle: h(100), version: 1, length: 10 }]);
    expect(state.safeMode.active).toBe(true);
    expect(state.safeMode.reasons[0].why).toMatch(/chunkserver a .*4 of 5 reported chunks holding data are unknown/);
    expect(res.deleteChunks).toEqual([]);
    expect(res.quarantineChunks).toEqual([]);
    const hb = await state.heartbeat({
      serverId: "a", capacityBytes: 1e9, usedBytes: 0, chunkCount: 5, load: 0, leaseExtensionHandles: [], addedChunks: [], removedChunks: [], corruptChunks: [],
    });
    expect(hb.deleteChunks).toEqual([]);
    expect(hb.quarantineChunks).toEqual([]);
    expect(state.status()).toMatchObject({ safeMode: true, chunkDeletesPending: 1, chunkQuarantinesPending: 4 });

    let refused: unknown;
    try { state.checkWritable("mkdir /x"); } catch (e) { refused = e; }
    expect(refused).toBeInstanceOf(GfsError);
    expect((refused as GfsError).errno).toBe("EROFS");
    expect((refused as GfsError).message).toMatch(/mkdir \/x refused: the master is in safe mode .*unknown.*gfs gc --confirm/);
    await expect(state.getLease(h(100))).rejects.toMatchObject({ errno: "EROFS" });

    // The operator confirms: garbage held back goes out on the next heartbeat, mutations resume.
    now = 2_000;
    const confirmed = state.confirmGc();
    expect(confirmed).toMatchObject({ wasInSafeMode: true, chunkDeletesPending: 1, chunkQuarantinesPending: 4 });
    expect(confirmed.confirmed[0].why).toMatch(/unknown/);
    expect(state.safeMode.active).toBe(false);
    const after = await state.heartbeat({
      serverId: "a", capacityBytes: 1e9, usedBytes: 0, chunkCount: 5, load: 0, leaseExtensionHandles: [], addedChunks: [], removedChunks: [], corruptChunks: [],
    });
    expect(after.deleteChunks).toEqual([h(100)]);
    expect(after.quarantineChunks).toEqual(unknown.map((u) => u.handle));
    expect(state.confirmGc().wasInSafeMode).toBe(false);
  });

  it("a quarantined chunk the master knows at that version is restored; another version or handle is not", async () => {
    const state = new MasterState(settings, () => 1_000, quiet);
    await state.commit({ op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0], timeMs: 1 });
    await state.commit({ op: "addChunk", path: "/f", index: 0, handle: h(7), version: 3 });
    const res = await register(state, "a", [], [
      { handle: h(7), version: 3, length: 10 }, { handle: h(7), version: 2, length: 10 }, { handle: h(8), version: 1, length: 10 },
    ]);
    expect(res.restoreChunks).toEqual([{ handle: h(7), version: 3, length: 10 }]);
    // A server holding a live copy as well keeps the quarantined one where it is.
    const again = await register(state, "a", [{ handle: h(7), version: 3, length: 10 }], [{ handle: h(7), version: 3, length: 10 }]);
    expect(again.restoreChunks).toEqual([]);
  });

  it("a chunk the master dropped itself is deleted, not quarantined, when its replica reports later", async () => {
    const state = new MasterState(settings, () => 1_000, quiet);
    await state.commit({ op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0], timeMs: 1 });
    await state.commit({ op: "addChunk", path: "/f", index: 0, handle: h(9), version: 1 });
    await state.commit({ op: "delete", path: "/f", recursive: false, directoryOnly: false, fileOnly: true, timeMs: 2 });
    const res = await register(state, "a", [{ handle: h(9), version: 1, length: 10 }]);
    expect(res.deleteChunks).toEqual([h(9)]);
    expect(res.quarantineChunks).toEqual([]);
  });
});
