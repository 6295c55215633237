// MasterLink on an Env and a master client of the caller's making (as the
// simulator builds it): urgent reports are coalesced into one extra
// heartbeat at a time, and registration retries wait on the Env's clock.
import { describe, expect, it } from "vitest";
import { createLogger, realEnv, type HeartbeatRequest, type Env } from "@gfs/common";
import { MasterLink, type MasterLinkHooks } from "../src/master-link";

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
});
