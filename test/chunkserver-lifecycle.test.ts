// Issue 18: chunkservers that leave, drain and get balanced, on real processes.
// One cluster (replication 2, 64 KiB chunks, every server capped at 8 MiB so
// used/capacity means something on a shared test disk), four chunkservers to
// start with and a fifth added empty. The tests run in order and build on each
// other: cs3 leaves with SIGTERM and is forgotten, cs2 is drained under writes,
// then an empty cs4 joins, a dry run moves nothing, and after a master restart
// (the drain survives it) the master's background rounds fill cs4.
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import type { StatusResponse__Output } from "@gfs/common";
import { eventually, fsck, TestCluster } from "./harness/cluster";
import { stopProcess } from "./harness/processes";

const KiB = 1024;
let c: TestCluster;
let client: GfsClient;
/** The chunkserver that left (SIGTERM); the drain takes another one. */
let leftIndex = 3;
let drainIndex = 2;
let startedAt = 0;

beforeAll(async () => {
  c = await TestCluster.start({
    chunkservers: 4, replication: 2, chunkSizeBytes: 64 * KiB, heartbeatIntervalMs: 200, heartbeatMisses: 25, leaseMs: 2_000,
    // Background balancing off until the balance test restarts the master: the dry run must be the only thing that could move a chunk.
    masterArgs: ["--no-balance", "--balance-moves", "16", "--copies-per-server", "8"],
    chunkserverArgs: ["--capacity", "8M"],
  });
  client = new GfsClient({ ...c.clientOptions(), rpc_deadline_ms: 5_000 });
  startedAt = Date.now();
}, 60_000);

afterAll(async () => {
  client?.close();
  await c?.stop();
}, 30_000);

async function status(): Promise<StatusResponse__Output> {
  const r = await c.gfs(["status", "--json"]);
  return JSON.parse(r.stdout) as StatusResponse__Output;
}
const stateOf = async (serverId: string) => (await status()).chunkservers.find((s) => s.serverId === serverId)?.state;

async function writeFile(path: string, bytes: number): Promise<void> {
  await client.create(path);
  await client.write(path, 0, randomBytes(bytes));
}

/** Chunk files on a chunkserver's disk. */
async function chunksOnDisk(index: number): Promise<string[]> {
  const names = await readdir(join(c.chunkservers[index].dataDir, "chunks")).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith(".chunk"));
}

/** Every chunk of every file has exactly `goal` healthy replicas, none on `without`. */
async function everyChunkAtGoal(goal: number, without?: string): Promise<boolean> {
  const r = await fsck(c);
  return r.unhealthyChunks === 0 && r.files.every((f) => f.chunks.every((ch) => {
    const good = ch.replicas.filter((x) => x.alive && !x.stale && !x.corrupt && !x.suspect);
    return ch.state === "CHUNK_STATE_HEALTHY" && good.length === goal && !good.some((x) => x.serverId === without);
  }));
}

describe("chunkserver lifecycle", () => {
  it("SIGTERM: the server tells the master it leaves, re-replication starts within 2 s, status shows it 'left' and exits 0", async () => {
    await writeFile("/a.bin", 8 * 64 * KiB);
    await eventually(() => everyChunkAtGoal(2), 15_000, "/a.bin at its goal");
    // Its write leases run out first (leaseMs 2 s), and the master's start-up wait for reports (heartbeat x misses: 5 s) is over.
    await new Promise((res) => setTimeout(res, Math.max(2_200, startedAt + 5_500 - Date.now())));
    // The victim: a server holding replicas of /a.bin (cs1..cs3; cs0 stays for the forget test).
    const counts = new Map<string, number>();
    for (const ch of (await fsck(c)).files.flatMap((f) => f.chunks)) for (const r of ch.replicas) counts.set(r.serverId, (counts.get(r.serverId) ?? 0) + 1);
    const victimIndex = [3, 2, 1].find((i) => (counts.get(c.chunkservers[i].serverId) ?? 0) > 0)!;
    const victim = c.chunkservers[victimIndex];
    leftIndex = victimIndex;
    const before = c.master.log().split("\n").filter((l) => l.includes("\"re-replication ordered\"")).length;
    const t0 = Date.now();
    await c.kill(victimIndex, "SIGTERM");
    await eventually(async () => c.master.log().split("\n").filter((l) => l.includes("\"re-replication ordered\"")).length > before, 5_000, "re-replication ordered")
      .catch((e) => { throw new Error(`${(e as Error).message}\nmaster: ${c.master.log().split("\n").filter((l) => /leav|left|re-repl|revok|fence/.test(l)).slice(-15).join("\n")}\nvictim: ${victim.process.log().slice(-1500)}`); });
    const tookMs = Date.now() - t0;
    expect(tookMs).toBeLessThan(2_000);
    expect((await victim.process.exited).code).toBe(0);
    expect(victim.process.log()).toContain("chunkserver left the cluster");
    expect(await stateOf(victim.serverId)).toBe("left");
    const r = await c.gfs(["status"]);
    expect(r.code).toBe(0); // a server stopped on purpose is not a failure
    expect(r.stdout).toMatch(/\bleft\b/);
    await eventually(() => everyChunkAtGoal(2, victim.serverId), 20_000, "every chunk at goal without the server that left");
  }, 40_000);

  it("forget: an alive server is refused with one line; the server that left disappears from status", async () => {
    const alive = await c.gfs(["chunkserver", "forget", c.chunkservers[0].serverId]);
    expect(alive.code).toBe(1);
    expect(alive.stderr.trim().split("\n")).toHaveLength(1);
    expect(alive.stderr).toMatch(/is alive/);
    const bad = await c.gfs(["chunkserver", "explode", c.chunkservers[0].serverId]);
    expect(bad.code).toBe(2);
    const left = c.chunkservers[leftIndex].serverId;
    const r = await c.gfs(["chunkserver", "forget", left.slice(0, 8), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ serverId: left, state: "forgotten" });
    expect((await status()).chunkservers.map((s) => s.serverId)).not.toContain(left);
    const unknown = await c.gfs(["chunkserver", "forget", left]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/ENOENT/);
  }, 30_000);

  it("drain under write load: the drained server ends holding no chunk on disk, 'retired', and every chunk at its goal elsewhere", async () => {
    drainIndex = [2, 3, 1].find((i) => i !== leftIndex)!;
    const drained = c.chunkservers[drainIndex];
    await client.mkdir("/w");
    let writing = true;
    const written: string[] = [];
    const load = (async () => {
      for (let i = 0; writing && i < 40; i++) {
        await writeFile(`/w/f${i}`, 2 * 64 * KiB);
        written.push(`/w/f${i}`);
      }
    })();
    await eventually(async () => written.length >= 3, 10_000, "writes under way");
    const r = await c.gfs(["chunkserver", "drain", drained.serverId]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/draining|retired/);
    await new Promise((res) => setTimeout(res, 1_500));
    writing = false;
    await load;
    expect(written.length).toBeGreaterThanOrEqual(6);
    await eventually(async () => (await stateOf(drained.serverId)) === "retired" && (await chunksOnDisk(drainIndex)).length === 0, 30_000, "drained server retired and empty");
    expect(await everyChunkAtGoal(2, drained.serverId)).toBe(true);
    expect((await status()).chunkservers.find((s) => s.serverId === drained.serverId)?.alive).toBe(true); // retired, still running
    for (const f of written) expect((await client.read(f, 0, 2 * 64 * KiB)).length).toBe(2 * 64 * KiB);
  }, 60_000);

  it("balance: --dry-run lists moves and changes nothing; background rounds fill a new empty server until usage is within tolerance; the drain survives a master restart", async () => {
    const fresh = await c.startChunkserver(4);
    await eventually(async () => (await status()).chunkservers.some((s) => s.serverId === fresh.serverId && s.state === "alive"), 10_000, "new server alive");
    const dry = await c.gfs(["balance", "--dry-run", "--json"]);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout) as { spread: number; tolerance: number; moves: Array<{ targetId: string }>; started: boolean; servers: Array<{ serverId: string }> };
    expect(plan.spread).toBeGreaterThan(plan.tolerance);
    expect(plan.started).toBe(false);
    expect(plan.moves.length).toBeGreaterThan(0);
    expect(plan.moves.every((m) => m.targetId === fresh.serverId)).toBe(true);
    expect(plan.servers.map((s) => s.serverId)).toHaveLength(3); // the retired one takes no part
    await new Promise((res) => setTimeout(res, 1_000));
    expect(await chunksOnDisk(4)).toEqual([]);
    expect(c.master.log()).not.toContain("balancer round started");
    const text = await c.gfs(["balance", "--dry-run"]);
    expect(text.stdout).toMatch(/spread .*tolerance/);

    // A master restart with background balancing on: the drain survives it (replayed from the op log), and the
    // master's own rounds, no `gfs balance` call, fill the new server until usage is within tolerance.
    await stopProcess(c.master);
    c.options.masterArgs.splice(0, c.options.masterArgs.length, "--balance-moves", "16", "--copies-per-server", "8", "--balance-interval-ms", "300");
    await c.startMaster(c.masterAddress);
    const drained = c.chunkservers[drainIndex].serverId;
    await eventually(async () => (await stateOf(drained)) === "retired", 15_000, "the drained server still retired after the restart");
    let last = "";
    const spread = await eventually(async () => {
      last = (await c.gfs(["balance", "--dry-run", "--json"])).stdout;
      const r = JSON.parse(last) as { spread: number; tolerance: number; background: boolean; servers: unknown[] };
      return r.servers.length === 3 && r.spread <= r.tolerance ? r : undefined;
    }, 45_000, "usage within tolerance").catch((e) => { throw new Error(`${(e as Error).message}; last: ${last}`); });
    expect(spread.background).toBe(true);
    expect(c.master.log()).toContain("balancer round started");
    expect((await chunksOnDisk(4)).length).toBeGreaterThan(0);
    await eventually(() => everyChunkAtGoal(2), 20_000, "every chunk at goal after the moves");
  }, 90_000);
});
