import { describe, expect, it } from "vitest";
import { createLogger, type Env } from "@gfs/common";
import { leaveGracefully } from "../src/graceful-leave";

/** A fake clock whose sleeps advance it. */
function fakeEnv(): Env & { t: number } {
  const env = { t: 0 } as Env & { t: number };
  Object.assign(env, {
    now: () => env.t,
    setTimer: (fn: () => void, ms: number) => { env.t += ms; queueMicrotask(fn); return 0; },
    clearTimer: () => {},
  });
  return env;
}

describe("graceful leave", () => {
  it("stops mutations, says 'leaving', waits for in-flight work, then says 'left'", async () => {
    const env = fakeEnv();
    const calls: string[] = [];
    let inFlight = 2;
    const r = await leaveGracefully({
      env, log: createLogger("test"), drainMs: 1_000, callTimeoutMs: 100, pollMs: 10,
      stopMutations: () => calls.push("stop"),
      inFlight: () => (inFlight > 0 ? inFlight-- : 0),
      tell: async (done) => { calls.push(done ? "left" : "leaving"); },
    });
    expect(calls).toEqual(["stop", "leaving", "left"]);
    expect(r.leftInFlight).toBe(0);
  });

  it("the wait is bounded by drainMs, and a master that does not answer does not stop the leave", async () => {
    const env = fakeEnv();
    const calls: string[] = [];
    let inFlight = 100;
    const r = await leaveGracefully({
      env, log: createLogger("test"), drainMs: 200, callTimeoutMs: 100, pollMs: 50,
      stopMutations: () => {}, inFlight: () => (inFlight > 0 ? inFlight-- : 0),
      tell: async (done) => { calls.push(done ? "left" : "leaving"); throw new Error("master gone"); },
    });
    expect(calls).toEqual(["leaving"]);
    expect(r.leftInFlight).toBeGreaterThan(0);
    expect(r.waitedMs).toBeGreaterThanOrEqual(200);
    expect(r.waitedMs).toBeLessThan(400);
  });

  it("a graceful leave with mutations still in flight keeps its leases until they expire", async () => {
    const env = fakeEnv();
    const told: boolean[] = [];
    const r = await leaveGracefully({
      env, log: createLogger("test"), drainMs: 100, callTimeoutMs: 100, pollMs: 10,
      stopMutations: () => {}, inFlight: () => 1,
      tell: async (done) => { told.push(done); },
    });
    // Never "done" (which releases its primary leases at once): the master keeps it "leaving" until they expire.
    expect(told).toEqual([false]);
    expect(r.leftInFlight).toBe(1);
  });
});
