// MasterLink on an Env and a master client of the caller's making (as the
// simulator builds it): urgent reports are coalesced into one extra
// heartbeat at a time, and registration retries wait on the Env's clock.
import { describe, expect, it } from "vitest";
import { createLogger, realEnv, type HeartbeatRequest, type Env } from "@gfs/common";
import { MasterLink, MasterLinks, type MasterLinkHooks } from "../src/master-link";

const log = createLogger("test", "error");
const tick = () => new Promise((r) => setImmediate(r));

function hooks(): MasterLinkHooks & { beats: number } {
  const h = {
    beats: 0,
    registration: async () => ({}) as never,
    onRegistered: async () => {},
    heartbeat: async () => { h.beats++; return {} as HeartbeatRequest; },
    onHeartbeat: async () => {},
    onHeartbeatFailed: () => {},
  };
  return h;
}

describe("master link", () => {
  it("urgent reports while a heartbeat is on its way make one more heartbeat, not one each", async () => {
    const h = hooks();
    let answer!: () => void;
    const master = {
      Heartbeat: () => new Promise((r) => { answer = () => r({ reregister: false }); }),
    };
    const link = new MasterLink("127.0.0.1:1", h, log, 1000, realEnv, master as never);
    link.beatSoon();
    await tick();
    expect(h.beats).toBe(1);
    link.beatSoon();
    link.beatSoon();
    link.beatSoon();
    await tick();
    expect(h.beats).toBe(1);
    answer();
    await tick(); await tick();
    expect(h.beats).toBe(2);
    answer();
    await tick(); await tick();
    expect(h.beats).toBe(2);
  });

  it("no extra heartbeat once the link is stopped (shutdown), not even one asked for while the last was on its way", async () => {
    const h = hooks();
    let answer!: () => void;
    const master = { Heartbeat: () => new Promise((r) => { answer = () => r({ reregister: false }); }) };
    const link = new MasterLink("127.0.0.1:1", h, log, 1000, realEnv, master as never);
    link.beatSoon();
    await tick();
    link.beatSoon(); // asked again while the first is on its way
    link.stop();
    answer();
    await tick(); await tick();
    link.beatSoon();
    await tick();
    expect(h.beats).toBe(1);
  });

  it("registration retries wait on the Env's clock and give up at its deadline", async () => {
    let now = 0;
    const env: Env = {
      ...realEnv,
      now: () => now,
      // Time passes only as the link waits: each wait moves the clock at once.
      setTimer: (fn, ms) => { now += ms; setImmediate(fn); return 0; },
      clearTimer: () => {},
    };
    const master = { Register: async () => { throw new Error("UNAVAILABLE: down"); } };
    const link = new MasterLink("127.0.0.1:1", hooks(), log, 1000, env, master as never);
    await expect(link.start(5_000, "127.0.0.1:1")).rejects.toThrow(/cannot register with master at 127.0.0.1:1/);
    expect(now).toBeGreaterThanOrEqual(5_000);
    expect(now).toBeLessThan(7_000);
  });

  it("several masters: registered once one master answers (another keeps trying), and one master's failing heartbeat makes the other registered ones beat at once", async () => {
    const registeredWith: string[] = [];
    const beatsTo: string[] = [];
    const h: MasterLinkHooks = {
      registration: async () => ({}) as never,
      onRegistered: async (_res, master) => { registeredWith.push(master); },
      heartbeat: async (master) => { beatsTo.push(master); return {} as HeartbeatRequest; },
      onHeartbeat: async () => {},
      onHeartbeatFailed: () => {},
    };
    let aUp = true;
    let cUp = false;
    const masters: Record<string, unknown> = {
      a: { Register: async () => ({}), Heartbeat: async () => { if (!aUp) throw new Error("UNAVAILABLE: down"); return { reregister: false }; } },
      b: { Register: async () => { throw new Error("UNAVAILABLE: down"); }, Heartbeat: async () => ({ reregister: false }) },
      c: { Register: async () => { if (!cUp) throw new Error("UNAVAILABLE: down"); return {}; }, Heartbeat: async () => ({ reregister: false }) },
    };
    // Long intervals: every heartbeat seen below is one asked for, not a scheduled one.
    const links = new MasterLinks(["a", "b", "c"], realEnv, (addr, o) => new MasterLink(addr, h, log, 60_000, realEnv, masters[addr] as never, o));
    try {
      const first = await links.start(5_000);
      expect(first.address).toBe("a");
      expect(registeredWith).toEqual(["a"]); // the hooks hear each master by its address
      cUp = true; // c comes up later: its link was still trying
      for (let i = 0; i < 100 && !registeredWith.includes("c"); i++) await new Promise((r) => setTimeout(r, 20));
      expect(registeredWith).toEqual(["a", "c"]);
      await links.links[0].beat();
      expect(beatsTo).toEqual(["a"]);
      aUp = false;
      await links.links[0].beat(); // fails: c beats at once (b, never registered, is left to its registration retries)
      await tick(); await tick();
      expect(beatsTo).toEqual(["a", "a", "c"]);
      await links.links[0].beat(); // fails again: no new burst (only the first failure after a success)
      await tick(); await tick();
      expect(beatsTo).toEqual(["a", "a", "c", "a"]);
    } finally {
      links.stop();
    }
  });

  it("several masters: none answering within the wait is one error naming them all", async () => {
    const down = { Register: async () => { throw new Error("UNAVAILABLE: down"); } };
    const links = new MasterLinks(["a:1", "b:2"], realEnv, (addr, o) => new MasterLink(addr, hooks(), log, 1000, realEnv, down as never, o));
    await expect(links.start(300)).rejects.toThrow(/^cannot register with any master of a:1,b:2 within 300 ms$/);
  });

  it("several masters: while no master says it is active, every link beats every heartbeat_retry_ms; once one does, at the heartbeat interval again", async () => {
    const h = hooks();
    let activeRole = "MASTER_ROLE_SHADOW";
    const master = (role: () => string) => ({
      Register: async () => ({ heartbeatIntervalMs: 0, masterRole: role() }),
      Heartbeat: async () => ({ reregister: false, masterRole: role() }),
    });
    const masters: Record<string, unknown> = { a: master(() => activeRole), b: master(() => "MASTER_ROLE_SHADOW") };
    // Heartbeat interval 60 s: any beat within the second below comes from the hurry (heartbeat_retry_ms, 500 ms).
    const links = new MasterLinks(["a", "b"], realEnv, (addr, o) => new MasterLink(addr, h, log, 60_000, realEnv, masters[addr] as never, o));
    await links.start(5_000);
    const before = h.beats;
    await new Promise((r) => setTimeout(r, 1_200));
    expect(h.beats - before, "beats with no active master known").toBeGreaterThanOrEqual(2);
    activeRole = "MASTER_ROLE_ACTIVE";
    await new Promise((r) => setTimeout(r, 700)); // the next hurried beats hear "active"
    const settled = h.beats;
    await new Promise((r) => setTimeout(r, 1_200));
    expect(h.beats - settled, "beats once the active is known").toBeLessThanOrEqual(2);
    links.stop();
  });
});
