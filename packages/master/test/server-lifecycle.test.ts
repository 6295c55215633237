// Issue 18 review fixes in the master's lifecycle driver (server-lifecycle.ts): naming a server by the short id
// `gfs status` shows, and forget (refused while alive or leaving; clears what a registration clears).
import { describe, expect, it } from "vitest";
import { createLogger } from "@gfs/common";
import { MasterState } from "../src/master-state";
import { defaultMasterSettings } from "../src/settings";

const H = "00000000000000aa";
const quiet = createLogger("test", "error");
const ids = ["aaaaaaaa11111111", "bbbbbbbb22222222", "cccccccc33333333", "dddddddd44444444"];

async function cluster() {
  let now = 10_000;
  const settings = { ...defaultMasterSettings(), chunk_size_bytes: 1000, replication: 3, heartbeat_interval_ms: 1000, heartbeat_misses_dead: 3, chunk_spares: 0 };
  const state = new MasterState(settings, () => now, quiet);
  await state.commit({ op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0]!, timeMs: 1 });
  await state.commit({ op: "addChunk", path: "/f", index: 0, handle: H, version: 1, replicas: ids.slice(0, 3) });
  for (const id of ids) {
    await state.register({
      serverId: id, address: `127.0.0.1:${1000 + id.charCodeAt(0)}`, rack: "", capacityBytes: 1e9, usedBytes: 0, freeBytes: 1e9,
      chunks: id === ids[3] ? [] : [{ handle: H, version: 1, length: 10 }],
    });
  }
  return { state, advance: (ms: number) => { now += ms; } };
}

describe("chunkserver drain, undrain and forget (server-lifecycle.ts)", () => {
  it("drain/undrain by the 8-character id gfs status shows", async () => {
    const { state } = await cluster();
    const short = ids[0]!.slice(0, 8);
    expect(await state.lifecycle.admin(short, "drain")).toMatchObject({ serverId: ids[0], state: "draining" });
    // Now both registered and on the drain list: still one server, not "names 2 chunkservers".
    expect(await state.lifecycle.admin(short, "drain")).toMatchObject({ serverId: ids[0] });
    expect(await state.lifecycle.admin(short, "undrain")).toMatchObject({ serverId: ids[0], state: "alive" });
    expect(state.metadata.draining.size).toBe(0);
  });

  it("forget of a leaving server is refused", async () => {
    const { state } = await cluster();
    state.lifecycle.leave(ids[1]!, false);
    await expect(state.lifecycle.admin(ids[1]!.slice(0, 8), "forget")).rejects.toThrow(/leaving/);
    expect(state.liveness.get(ids[1]!)).toBeDefined();
    expect(state.chunks.get(H)!.replicas.has(ids[1]!)).toBe(true);
    await expect(state.lifecycle.admin(ids[2]!, "forget")).rejects.toThrow(/is alive/);
  });

  it("forget of a server that left or died (drained too) drops it from every list and the drain list, by its short id", async () => {
    const { state } = await cluster();
    await state.lifecycle.admin(ids[1]!, "drain");
    state.lifecycle.leave(ids[1]!, true);
    const r = await state.lifecycle.admin(ids[1]!.slice(0, 8), "forget");
    expect(r).toMatchObject({ serverId: ids[1], state: "forgotten", chunkCount: 1 });
    expect(state.liveness.get(ids[1]!)).toBeUndefined();
    expect(state.chunks.get(H)!.replicas.has(ids[1]!)).toBe(false);
    expect(state.metadata.draining.has(ids[1]!)).toBe(false);
    expect(state.hasUnverifiedReplica(H)).toBe(false);
  });
});

describe("the balancer's bookkeeping (server-lifecycle.ts)", () => {
  /** H on a, b, c (half full) at its goal of 3; d empty: the balancer moves H from one of them to d. */
  async function unbalanced(o: { background: boolean }) {
    let now = 10_000;
    const settings = {
      ...defaultMasterSettings(), chunk_size_bytes: 1000, replication: 3, heartbeat_interval_ms: 1000, heartbeat_misses_dead: 3, chunk_spares: 0,
      replication_copy_timeout_ms: 2000, balance_background: o.background, balance_interval_ms: 10_000,
    };
    const state = new MasterState(settings, () => now, quiet);
    await state.commit({ op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0]!, timeMs: 1 });
    await state.commit({ op: "addChunk", path: "/f", index: 0, handle: H, version: 1, replicas: ids.slice(0, 3) });
    const used = (id: string) => (id === ids[3] ? 0 : 5e8);
    for (const id of ids) {
      await state.register({
        serverId: id, address: `127.0.0.1:${1000 + id.charCodeAt(0)}`, rack: "", capacityBytes: 1e9, usedBytes: used(id),
        chunks: id === ids[3] ? [] : [{ handle: H, version: 1, length: 10 }],
      });
    }
    const beatAll = async () => {
      for (const id of ids) {
        await state.heartbeat({ serverId: id, capacityBytes: 1e9, usedBytes: used(id), chunkCount: 1, load: 0, leaseExtensionHandles: [], addedChunks: [], removedChunks: [], corruptChunks: [] });
      }
    };
    const advance = async (ms: number) => { for (let t = 0; t < ms; t += 1000) { now += 1000; await beatAll(); } };
    return { state, advance, now: () => now };
  }

  it("an abandoned balancer move leaves no preferred victim behind", async () => {
    const { state, advance, now } = await unbalanced({ background: false });
    await advance(4000); // every server has reported
    const r = state.lifecycle.balance(false, now());
    expect(r.started).toBe(true);
    const source = r.moves[0]!.sourceId;
    expect(state.removalHints.preferredVictim?.(H)).toBe(source);
    await advance(3000); // the copy to d never lands: abandoned after the copy timeout
    state.tick();
    state.tick();
    expect(state.replication.copiesUnderWay().some((f) => f.handle === H && f.targetId === ids[3])).toBe(false);
    expect(state.removalHints.preferredVictim?.(H)).toBeUndefined();
  });

  it("balance --dry-run does not postpone the background round", async () => {
    const { state, advance, now } = await unbalanced({ background: true });
    await advance(12_000); // 22 s: the background round is due at 23 s (first one after reports, then every 10 s)
    expect(state.lifecycle.balance(true, now()).started).toBe(false);
    await advance(2000);
    state.tick();
    expect(state.replication.copiesUnderWay().map((f) => f.handle)).toContain(H);
  });
});

