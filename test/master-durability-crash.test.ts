// GFS §2.6.3 under fire: clients create, write, rename and delete while the
// master is SIGKILLed at random moments. After every restart, everything
// acknowledged is there (data reads back byte-exact), nothing acknowledged as
// gone came back, and operations in flight at the crash either happened whole
// or not at all.
import { randomBytes, randomInt } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromServiceError } from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { eventually, TestCluster } from "./harness/cluster";

const CHUNK = 256 * 1024;
const ROUNDS = 4;
const WORKERS = 4;

/** What a worker knows for sure (acknowledged) and what a crash left open. */
interface Model {
  /** Files whose existence and content were acknowledged. */
  files: Map<string, Buffer>;
  /** Acknowledged as gone (deleted, or renamed away); names are never reused. */
  gone: Set<string>;
  /** Created but the write's outcome is unknown: size is 0 or the full data, never anything in between. */
  unsureWrite: Map<string, Buffer>;
  /** A rename whose outcome is unknown: exactly one of the two names exists. */
  unsureRename: Array<{ from: string; to: string }>;
  /** Anything else in flight at a crash: no claim. */
  unknown: Set<string>;
}

describe("master crash while clients mutate (real processes, SIGKILL)", () => {
  let cluster: TestCluster;
  const model: Model = { files: new Map(), gone: new Set(), unsureWrite: new Map(), unsureRename: [], unknown: new Set() };
  let acked = { creates: 0, writes: 0, renames: 0, deletes: 0 };

  beforeAll(async () => {
    // Frequent checkpoints, so some crashes land while one is being written.
    cluster = await TestCluster.start({ chunkSizeBytes: CHUNK, leaseMs: 600, heartbeatIntervalMs: 100, masterArgs: ["--checkpoint-every-records", "40"] });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  async function worker(w: number, client: GfsClient, stop: { now: boolean }, counter: { n: number }): Promise<void> {
    const dir = `/w${w}`;
    while (!stop.now) {
      const mine = [...model.files.keys()].filter((p) => p.startsWith(dir + "/"));
      const roll = randomInt(10);
      if (roll < 5 || mine.length < 2) {
        const path = `${dir}/f${counter.n++}`;
        const data = randomBytes(randomInt(1, 3 * CHUNK));
        try {
          await client.create(path, { exclusive: true });
        } catch {
          model.unknown.add(path);
          continue;
        }
        acked.creates++;
        try {
          await client.write(path, 0, data);
        } catch {
          model.unsureWrite.set(path, data);
          continue;
        }
        acked.writes++;
        model.files.set(path, data);
      } else if (roll < 8) {
        const from = mine[randomInt(mine.length)];
        const to = `${dir}/r${counter.n++}`;
        const data = model.files.get(from)!;
        model.files.delete(from);
        try {
          await client.rename(from, to);
        } catch {
          model.unsureRename.push({ from, to });
          continue;
        }
        acked.renames++;
        model.files.set(to, data);
        model.gone.add(from);
      } else {
        const path = mine[randomInt(mine.length)];
        model.files.delete(path);
        try {
          await client.unlink(path);
        } catch {
          model.unknown.add(path);
          continue;
        }
        acked.deletes++;
        model.gone.add(path);
      }
    }
  }

  const exists = async (c: GfsClient, path: string): Promise<boolean> => {
    try {
      await c.stat(path);
      return true;
    } catch (e) {
      if (fromServiceError(e).errno === "ENOENT") return false;
      throw e;
    }
  };

  async function verify(c: GfsClient): Promise<void> {
    for (const [path, data] of model.files) {
      const info = await c.stat(path);
      expect(info.size, path).toBe(data.length);
      const back = await c.read(path, 0, data.length);
      expect(back.equals(data), `${path} reads back`).toBe(true);
    }
    for (const path of model.gone) expect(await exists(c, path), `${path} stays gone`).toBe(false);
    for (const [path, data] of model.unsureWrite) {
      // The create was acknowledged, so the file exists; the write happened whole or not at all.
      const info = await c.stat(path);
      expect([0, data.length], path).toContain(info.size);
      if (info.size === data.length) expect((await c.read(path, 0, data.length)).equals(data), path).toBe(true);
      // Settled now: later rounds check it as it is.
      if (info.size === data.length) model.files.set(path, data); else model.files.set(path, Buffer.alloc(0));
    }
    model.unsureWrite.clear();
    for (const { from, to } of model.unsureRename) {
      const [a, b] = [await exists(c, from), await exists(c, to)];
      expect(a !== b, `rename ${from} -> ${to} happened whole or not at all (from=${a}, to=${b})`).toBe(true);
      model.unknown.add(a ? from : to); // its content is known but keep it simple: no further claims
      model.gone.add(a ? to : from);
    }
    model.unsureRename.length = 0;
  }

  it(`every acknowledged create, write, rename and delete survives ${ROUNDS} SIGKILLs of the master`, async () => {
    const clients = Array.from({ length: WORKERS }, () => new GfsClient({ master: cluster.masterAddress, client_backoff_initial_ms: 50 }));
    // The checker retries longer than the workers: on a loaded machine a transient error must not pass for lost data.
    const checker = new GfsClient({ master: cluster.masterAddress, client_attempts_max: 8 });
    try {
      for (let w = 0; w < WORKERS; w++) await clients[0].mkdir(`/w${w}`);
      const counters = Array.from({ length: WORKERS }, () => ({ n: 0 }));
      const checkpointSeqs: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const stop = { now: false };
        const running = clients.map((c, w) => worker(w, c, stop, counters[w]));
        await new Promise((r) => setTimeout(r, randomInt(700, 2000)));
        const address = cluster.masterAddress;
        cluster.master.proc.kill("SIGKILL");
        await cluster.master.exited;
        stop.now = true;
        await Promise.all(running);
        await cluster.startMaster(address);
        checkpointSeqs.push(Number((await cluster.master.waitForLog("master recovered")).checkpointSeq));
        // Reads need replica locations, which only chunkserver re-registration brings back.
        await eventually(async () => (await checker.status()).chunkservers.filter((s) => s.alive).length === 3, 20_000, "chunkservers re-registered");
        await verify(checker);
      }
      expect(acked.creates).toBeGreaterThan(ROUNDS * 3);
      expect(acked.writes).toBeGreaterThan(ROUNDS * 2);
      expect(acked.renames + acked.deletes).toBeGreaterThan(ROUNDS);
      expect(model.files.size).toBeGreaterThan(0);
      // Recovery started from checkpoints taken between crashes, not only from the log.
      expect(Math.max(...checkpointSeqs)).toBeGreaterThan(0);
    } finally {
      for (const c of clients) c.close();
      checker.close();
    }
  }, 90_000);
});
