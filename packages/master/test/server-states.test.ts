import { describe, expect, it } from "vitest";
import { chunkserverDead } from "@gfs/common";
import { Liveness, type ChunkserverInfo } from "../src/liveness";
import { resolveServerId, serverState } from "../src/server-states";

const info = (id: string): ChunkserverInfo => ({ serverId: id, address: `127.0.0.1:${id}`, rack: "", capacityBytes: 1000, usedBytes: 0, chunkCount: 0, load: 0 });
const beat = { capacityBytes: 1000, usedBytes: 0, chunkCount: 0, load: 0 };

describe("server states", () => {
  it("alive, draining while it holds replicas, retired once it holds none", () => {
    const l = new Liveness({ heartbeat_interval_ms: 100, heartbeat_misses_dead: 3 });
    l.register(info("s1"), 0);
    const s = l.get("s1")!;
    expect(serverState(s, false, 5)).toBe("alive");
    expect(serverState(s, true, 5)).toBe("draining");
    expect(serverState(s, true, 0)).toBe("retired");
  });

  it("a leaving server is not alive at once, late heartbeats do not revive it, done or silence makes it 'left'; a new registration does", () => {
    const l = new Liveness({ heartbeat_interval_ms: 100, heartbeat_misses_dead: 3 });
    l.register(info("s1"), 0);
    expect(l.leave("s1", false, 10)).toBe(true);
    expect(l.isAlive("s1")).toBe(false);
    expect(serverState(l.get("s1")!, false, 3)).toBe("leaving");
    expect(l.heartbeat("s1", beat, 50)).toEqual({ known: true });
    expect(l.isAlive("s1")).toBe(false);
    l.sweep(400); // silent for more than 3 heartbeats
    expect(serverState(l.get("s1")!, false, 3)).toBe("left");
    l.register(info("s1"), 500);
    expect(serverState(l.get("s1")!, false, 3)).toBe("alive");
    l.leave("s1", true, 600);
    expect(serverState(l.get("s1")!, true, 3)).toBe("left");
    expect(l.leave("unknown", true, 600)).toBe(false);
  });

  it("a silent server is dead, not left; forget removes it", () => {
    const l = new Liveness({ heartbeat_interval_ms: 100, heartbeat_misses_dead: 3 });
    l.register(info("s1"), 0);
    l.sweep(1_000);
    expect(serverState(l.get("s1")!, false, 1)).toBe("dead");
    expect(l.forget("s1")).toBe(true);
    expect(l.get("s1")).toBeUndefined();
  });

  it("a server is named by its id or a unique prefix; an ambiguous prefix is an error", () => {
    const ids = ["cs1abc", "cs1abd", "cs2"];
    expect(resolveServerId("cs2", ids)).toBe("cs2");
    expect(resolveServerId("cs1abc", ids)).toBe("cs1abc");
    expect(resolveServerId("cs1abd", ids)).toBe("cs1abd");
    expect(resolveServerId("cs3", ids)).toBeUndefined();
    expect(resolveServerId("", ids)).toBeUndefined();
    expect(() => resolveServerId("cs1", ids)).toThrow(/names 2 chunkservers/);
  });

  it("a chunkserver is a failure only when dead: leaving, left, draining and retired are not (gfs status and the status page share the rule)", () => {
    for (const state of ["alive", "leaving", "left", "draining", "retired"]) expect(chunkserverDead({ state, alive: state === "alive" })).toBe(false);
    expect(chunkserverDead({ state: "dead", alive: false })).toBe(true);
    expect(chunkserverDead({ state: "", alive: false })).toBe(true); // a master older than issue 18 names no state
    expect(chunkserverDead({ state: "", alive: true })).toBe(false);
  });
});
