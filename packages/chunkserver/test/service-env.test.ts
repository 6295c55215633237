// The chunkserver service reads time only through the Env it is given: its
// gap waits are the Env's timers and its lease view the Env's clock, so the
// simulator's clock (here a hand-driven one) decides, and no real time passes.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChunkServerPool, createLogger, GfsError, type ApplyMutationRequest__Output, type Env } from "@gfs/common";
import { ChunkStore } from "../src/chunk-store";
import { ChunkServerService } from "../src/chunkserver-service";
import { LeaseView } from "../src/lease";
import { PushBuffer } from "../src/push-buffer";
import { PeerDirectory } from "../src/push-chain";
import { defaultChunkserverSettings } from "../src/settings";

const H = "00000000000000e1";
let dir: string;

/** An Env whose clock and timers move only when told. */
function handEnv(): Env & { advance(ms: number): void; timers: number } {
  let now = 1_000_000;
  const pending = new Map<number, { at: number; fn: () => void }>();
  let id = 0;
  return {
    now: () => now,
    setTimer(fn, ms) { pending.set(++id, { at: now + ms, fn }); return id; },
    clearTimer(t) { pending.delete(t as number); },
    randomBytes: (n) => Buffer.alloc(n, 7),
    randomInt: () => 0,
    advance(ms) {
      now += ms;
      for (const [k, t] of [...pending].sort((a, b) => a[1].at - b[1].at)) if (t.at <= now) { pending.delete(k); t.fn(); }
    },
    get timers() { return pending.size; },
  };
}

beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), "gfs-service-env-")); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe("the chunkserver service on an Env", () => {
  it("a secondary's gap wait runs on the Env's timers: refused (EAGAIN) once the Env's clock passes serial_gap_wait_ms, and not before", async () => {
    const env = handEnv();
    const settings = { ...defaultChunkserverSettings(), serial_gap_wait_ms: 5_000 };
    const store = await ChunkStore.open(join(dir, "cs"), { blockBytes: 4096, chunkSizeBytes: 64 * 1024, now: env.now });
    await store.create(H, 3);
    const leases = new LeaseView(env.now, settings.lease_extension_window_ms);
    leases.setGrantToken(H, 3, "T1", "cs1");
    const service = new ChunkServerService({
      serverId: "cs2", store, pushBuffer: new PushBuffer({ maxBytes: 1 << 20, ttlMs: 60_000, now: env.now }), leases, pool: new ChunkServerPool(),
      peers: new PeerDirectory(3), settings, log: createLogger("test", "error"), env,
      releaseLease: async () => {}, checkToken: () => {},
    });
    const req: ApplyMutationRequest__Output = {
      handle: H, version: 3, serial: 2, kind: "MUTATION_KIND_WRITE", dataId: "", offset: 0, length: 4, sync: false, leaseToken: "T1", data: Buffer.from("abcd"),
    } as ApplyMutationRequest__Output;
    let outcome: unknown = "waiting";
    const done = service.dataHandlers().apply(req, { role: "chunkserver", name: "cs1" }).then(() => "applied", (e: GfsError) => e.errno);
    void done.then((o) => { outcome = o; });
    await new Promise((r) => setImmediate(r));
    expect(env.timers).toBe(1);
    env.advance(4_999);
    await new Promise((r) => setImmediate(r));
    expect(outcome).toBe("waiting");
    env.advance(1);
    expect(await done).toBe("EAGAIN");
    expect(env.timers).toBe(0);
    await store.close();
  });
});
