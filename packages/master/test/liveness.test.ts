import { describe, expect, it } from "vitest";
import { Liveness } from "../src/liveness";

const settings = { heartbeat_interval_ms: 100, heartbeat_misses_dead: 3 };
const info = (id: string) => ({ serverId: id, address: `127.0.0.1:${id}`, rack: "", capacityBytes: 10, usedBytes: 1, chunkCount: 0, load: 0 });
const beat = { capacityBytes: 10, usedBytes: 2, chunkCount: 1, load: 0 };

describe("chunkserver liveness", () => {
  it("a registered server is alive", () => {
    const l = new Liveness(settings);
    expect(l.register(info("a"), 0)).toEqual({ kind: "alive", serverId: "a" });
    expect(l.isAlive("a")).toBe(true);
  });

  it("a server is declared dead only after missing three heartbeats", () => {
    const l = new Liveness(settings);
    l.register(info("a"), 0);
    expect(l.sweep(300)).toEqual([]);
    expect(l.isAlive("a")).toBe(true);
    expect(l.sweep(301)).toEqual([{ kind: "dead", serverId: "a" }]);
    expect(l.isAlive("a")).toBe(false);
    expect(l.sweep(1000)).toEqual([]); // reported once
  });

  it("heartbeats keep a server alive and update its load report", () => {
    const l = new Liveness(settings);
    l.register(info("a"), 0);
    for (let t = 100; t <= 1000; t += 100) {
      expect(l.heartbeat("a", beat, t).known).toBe(true);
      expect(l.sweep(t + 50)).toEqual([]);
    }
    expect(l.get("a")?.usedBytes).toBe(2);
  });

  it("a dead server that heartbeats again is alive again", () => {
    const l = new Liveness(settings);
    l.register(info("a"), 0);
    l.sweep(500);
    expect(l.heartbeat("a", beat, 600)).toEqual({ known: true, event: { kind: "alive", serverId: "a" } });
    expect(l.isAlive("a")).toBe(true);
  });

  it("a heartbeat from an unknown server asks it to register", () => {
    const l = new Liveness(settings);
    expect(l.heartbeat("ghost", beat, 0).known).toBe(false);
  });
});
