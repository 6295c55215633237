// The environment a process runs in: its clock, its timers and its random
// numbers, behind one object. Daemons use `realEnv`; the deterministic
// simulator (packages/sim) gives every simulated process an Env driven by one
// seeded generator and one simulated clock, so a whole cluster run replays
// exactly from its seed. Code that decides anything reads time and chance
// only through an Env it was given, never Date.now, setTimeout or crypto.
import { randomBytes, randomInt } from "node:crypto";

export interface Env {
  /** Wall-clock milliseconds (Date.now in a real process). */
  now(): number;
  /** Runs `fn` after `ms` milliseconds; the handle goes to clearTimer. */
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(timer: unknown): void;
  /** `n` random bytes: lease tokens, keys, nonces. */
  randomBytes(n: number): Buffer;
  /** A random integer in [0, max): placement ties, jitter, handles. */
  randomInt(max: number): number;
}

export const realEnv: Env = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (timer) => clearTimeout(timer as NodeJS.Timeout),
  randomBytes: (n) => randomBytes(n),
  randomInt: (max) => randomInt(max),
};

/** Resolves after `ms` on `env`'s clock. */
export function sleep(env: Env, ms: number): Promise<void> {
  return new Promise((resolve) => { env.setTimer(resolve, ms); });
}
