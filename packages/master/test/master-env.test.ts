// The driver (MasterState) takes chance and timers only from its Env, and
// talks to chunkservers only through its pool: what the deterministic
// simulator relies on to replay a run from its seed.
import { describe, expect, it } from "vitest";
import { createLogger, type ChunkServerPool, type Env } from "@gfs/common";
import { MasterState } from "../src/master-state";
import { defaultMasterSettings } from "../src/settings";

const settings = { ...defaultMasterSettings(), chunk_size_bytes: 1000, replication: 3, chunk_spares: 1, lease_ms: 60_000 };
const quiet = createLogger("test", "error");

/** An Env whose every draw is bytes of one counter value, and whose timers only record. */
function countingEnv() {
  let n = 0;
  const timers: number[] = [];
  const env: Env = {
    now: () => 0,
    setTimer: (_fn, ms) => { timers.push(ms); return timers.length; },
    clearTimer: () => {},
    randomBytes: (k) => Buffer.alloc(k, ++n),
    randomInt: (max) => ++n % max,
  };
  return { env, timers };
}

/** A pool whose servers answer every SetChunkVersion, recording it. */
function recordingPool() {
  const sent: { to: string; handle: string; version: number; token: string }[] = [];
  const pool = {
    get: (t: { serverId: string }) => ({
      api: {
        SetChunkVersion: async (r: { handle: string; version: number; leaseToken: string }) => {
          sent.push({ to: t.serverId, handle: r.handle, version: r.version, token: r.leaseToken });
          return { chunkLength: 0 };
        },
      },
    }),
  } as unknown as ChunkServerPool;
  return { pool, sent };
}

async function run() {
  const { env, timers } = countingEnv();
  const { pool, sent } = recordingPool();
  const state = new MasterState(settings, () => 1000, quiet, { pool, env });
  for (const id of ["cs1", "cs2", "cs3"]) {
    await state.register({ serverId: id, address: `127.0.0.1:${id.length}`, rack: "", capacityBytes: 1e9, usedBytes: 0, freeBytes: 1e9, chunks: [] });
  }
  await state.commit({ op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0]!, timeMs: 1 });
  const loc = await state.addChunk("/f", 0);
  await new Promise((r) => setImmediate(r));
  const primary = loc.lease!.primary!.serverId;
  state.releaseLease(loc.handle, primary, 1);
  const lease = await state.getLease(loc.handle);
  return { loc, lease, sent, timers };
}

describe("the master's driver and its Env", () => {
  it("chunk handles and lease tokens are drawn from the Env, and the spare refill waits on its timer: the same Env gives the same messages", async () => {
    const a = await run();
    // The handle is the first draw (8 bytes of 1), the creation's token the second, the grant's the third.
    expect(a.loc.handle).toBe("0101010101010101");
    expect(a.sent.filter((m) => m.version === 1).map((m) => m.token)).toEqual(Array(3).fill("02".repeat(16)));
    expect(a.lease.version).toBe(2);
    expect(a.sent.filter((m) => m.version === 2).map((m) => m.token)).toEqual(Array(3).fill("03".repeat(16)));
    expect(a.timers).toEqual([0]); // the spare refill, after the answer: on the Env's timer, not setImmediate
    const b = await run();
    expect(b.sent).toEqual(a.sent);
  });
});
