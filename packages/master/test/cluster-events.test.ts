// Issue 17: the master's recent events (status page, `gfs status --json`): a
// bounded ring, newest first, fed by liveness, safe mode and re-replication
// rounds (one event per round, not one per chunk).
import { describe, expect, it } from "vitest";
import { ChunkTable } from "../src/chunk-table";
import { ClusterEvents, livenessEvents, replicationEvents, safeModeEvents } from "../src/cluster-events";
import { Liveness } from "../src/liveness";
import { ReplicationScheduler } from "../src/replication-scheduler";
import { SafeMode } from "../src/safe-mode";

const server = (id: string) => ({ serverId: id, address: `${id}:1`, rack: "r1", capacityBytes: 10, usedBytes: 0, chunkCount: 0, load: 0 });
const kinds = (e: ClusterEvents) => e.recent().map((x) => x.kind);

describe("recent cluster events", () => {
  it("the ring keeps only the newest status_events_max events, newest first", () => {
    let now = 0;
    const e = new ClusterEvents(3, () => now);
    for (let i = 1; i <= 5; i++) { now = i; e.add("chunkserver-back", `event ${i}`); }
    expect(e.recent().map((x) => x.message)).toEqual(["event 5", "event 4", "event 3"]);
    expect(e.recent()[0]).toEqual({ atMs: 5, kind: "chunkserver-back", level: "info", message: "event 5" });
    expect(() => new ClusterEvents(0)).toThrow(/positive integer/);
  });

  it("liveness reports a registration, a death and a return once each", () => {
    const e = new ClusterEvents(10);
    const l = new Liveness({ heartbeat_interval_ms: 100, heartbeat_misses_dead: 3 }, livenessEvents(e));
    l.register(server("s1"), 0);
    l.register(server("s1"), 50); // re-registration of a live server: nothing new
    l.sweep(400);
    l.sweep(500); // already dead: not again
    l.heartbeat("s1", { capacityBytes: 10, usedBytes: 0, chunkCount: 0, load: 0 }, 600);
    l.sweep(401);
    expect(kinds(e)).toEqual(["chunkserver-back", "chunkserver-dead", "chunkserver-registered"]);
    expect(e.recent()[1]).toMatchObject({ level: "warn" });
    expect(e.recent()[1].message).toContain("s1:1");
  });

  it("a chunkserver registering again with a new role's liveness (a failover) is no event; one that was dead is back", () => {
    const e = new ClusterEvents(10);
    const settings = { heartbeat_interval_ms: 100, heartbeat_misses_dead: 3 };
    const first = new Liveness(settings, livenessEvents(e));
    first.register(server("s1"), 0);
    first.register(server("s2"), 0);
    first.heartbeat("s1", { capacityBytes: 10, usedBytes: 0, chunkCount: 0, load: 0 }, 350);
    first.sweep(400); // s2 dead
    const next = new Liveness(settings, livenessEvents(e)); // the role after a failover: the same ring
    next.register(server("s1"), 500);
    next.register(server("s2"), 500);
    expect(kinds(e)).toEqual(["chunkserver-back", "chunkserver-dead", "chunkserver-registered", "chunkserver-registered"]);
  });

  it("safe mode entered once (with its reason, however many reasons follow) and left once", () => {
    const e = new ClusterEvents(10);
    const m = new SafeMode(safeModeEvents(e));
    m.enter("a suspect replica", 1);
    m.enter("many unknown chunks", 2);
    m.leave();
    m.leave();
    expect(kinds(e)).toEqual(["safe-mode-left", "safe-mode-entered"]);
    expect(e.recent()[1]).toMatchObject({ level: "error", message: "safe mode entered: a suspect replica" });
  });

  it("re-replication of many chunks is one started and one finished event, not one per chunk", () => {
    const e = new ClusterEvents(10);
    const table = new ChunkTable();
    const live = new Liveness({ heartbeat_interval_ms: 100, heartbeat_misses_dead: 3 });
    for (const id of ["s1", "s2", "s3"]) live.register(server(id), 0);
    const handles = Array.from({ length: 6 }, (_, i) => `00000000000000${(0xa0 + i).toString(16)}`);
    for (const h of handles) {
      table.add(h, 1, 1, 0);
      for (const id of ["s1", "s2"]) table.recordReplica(id, { handle: h, version: 1, length: 0 });
    }
    // Two copies per server at once: six chunks need three waves to s3.
    const s = new ReplicationScheduler({ replication: 3, replication_copies_per_server_max: 2, replication_copy_timeout_ms: 10_000 },
      table, live, () => false, 0, replicationEvents(e));
    let now = 0;
    let copied = 0;
    while (copied < handles.length && now < 100) {
      for (const o of s.plan(now += 10)) {
        table.recordReplica(o.targetId, { handle: o.handle, version: 1, length: 0 });
        s.onReplicaReported(o.targetId, o.handle);
        s.noteChange();
        copied++;
      }
    }
    expect(copied).toBe(6);
    expect(kinds(e)).toEqual(["re-replication-started"]);
    s.plan(now += 10); // nothing left to copy: the round ends
    s.plan(now += 10);
    expect(kinds(e)).toEqual(["re-replication-finished", "re-replication-started"]);
    expect(e.recent()[0].message).toMatch(/6 of 6 copies confirmed/);
  });
});
