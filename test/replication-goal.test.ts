// Issue 18: per-file replication goals on a real cluster (5 chunkservers, default goal 3):
// setrep up and down converges (fsck and the chunkservers' disks agree), new entries inherit
// their directory's goal, and goals survive a master restart from the op log and a checkpoint.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import type { FsckResponse__Output } from "@gfs/common";
import { eventually, holders, TestCluster } from "./harness/cluster";

const CHUNK = 64 * 1024;

describe("per-file replication goals (5 chunkservers)", { timeout: 120_000 }, () => {
  let c: TestCluster;
  /** In-process client (as the admin) for setup and polling; the commands under test run as CLI processes. */
  let client: GfsClient;
  const data = randomBytes(3 * CHUNK + 1000); // 4 chunks

  beforeAll(async () => {
    c = await TestCluster.start({ chunkservers: 5, chunkSizeBytes: CHUNK, replication: 3, heartbeatIntervalMs: 200, heartbeatMisses: 10 });
    client = new GfsClient(c.clientOptions());
  });
  afterAll(async () => {
    client?.close();
    await c?.stop();
  });

  const put = async (path: string, bytes: Buffer) => {
    await client.create(path, { exclusive: true });
    await client.write(path, 0, bytes);
  };
  const fsck = (path: string) => client.fsck(path);
  const goalOf = async (path: string) => (await client.stat(path)).goal;

  const gfsOk = async (args: string[], input?: Buffer) => {
    const r = await c.gfs(args, input);
    if (r.code !== 0) throw new Error(`gfs ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    return r;
  };
  /** Every chunk of every file in the report has exactly `goal` good replicas, and fsck says the file's goal is `goal`. */
  const atGoal = (r: FsckResponse__Output, goal: number) =>
    r.files.length > 0 && r.files.every((f) => f.goal === goal && f.chunks.length > 0 && f.chunks.every((ch) => ch.good === goal && ch.state === "CHUNK_STATE_HEALTHY"));
  /** The chunkservers' disks hold each chunk of `path` exactly `n` times. */
  const onDisks = async (path: string, n: number) => {
    const r = await fsck(path);
    for (const ch of r.files[0]!.chunks) if ((await holders(c, ch.handle)).length !== n) return false;
    return true;
  };

  it("setrep 2 -> 4 -> 1 converges: fsck shows goal and good replicas agreeing, the disks hold that many, the data reads back", async () => {
    await put("/f", data);
    expect(atGoal(await fsck("/f"), 3)).toBe(true); // the cluster's default
    for (const goal of [2, 4, 1]) {
      const r = await gfsOk(["setrep", "--wait", String(goal), "/f"]);
      expect(r.stdout).toContain(`/f: replication goal ${goal}`);
      expect(atGoal(await fsck("/f"), goal)).toBe(true);
      await eventually(() => onDisks("/f", goal), 15_000, `every chunk of /f on ${goal} chunkservers' disks`);
    }
    expect((await client.read("/f", 0, data.length)).equals(data)).toBe(true);
    // A file with one replica is still written: a lease needs min(goal, default) replicas, not the default.
    const patch = randomBytes(1000);
    await client.write("/f", CHUNK - 500, patch);
    patch.copy(data, CHUNK - 500);
    expect((await client.read("/f", 0, data.length)).equals(data)).toBe(true);
    // fsck's text shows goal vs actual per file and per chunk.
    const text = (await c.gfs(["fsck", "/f"])).stdout;
    expect(text).toContain("goal 1");
    expect(text).toMatch(/healthy 1\/1/);
  });

  it("a new file inherits its directory's goal and is created with that many replicas; gfs info shows them", async () => {
    await client.mkdir("/d");
    await gfsOk(["setrep", "4", "/d"]);
    await put("/d/g", data.subarray(0, CHUNK + 10));
    expect(JSON.parse((await gfsOk(["stat", "/d/g"])).stdout).goal).toBe(4); // FileInfo.goal, as stat prints it
    // Made with 4 replicas (no spare of the default's 3 then a copy): healthy at once.
    expect(atGoal(await fsck("/d/g"), 4)).toBe(true);
    const info = JSON.parse((await gfsOk(["info", "/d/g", "--json"])).stdout);
    expect(info).toMatchObject({ path: "/d/g", type: "file", size: CHUNK + 10, goal: 4 });
    expect(info.chunks).toHaveLength(2);
    for (const ch of info.chunks) {
      expect(ch).toMatchObject({ good: 4, goal: 4, state: "healthy", version: expect.any(Number) });
      expect(ch.handle).toMatch(/^[0-9a-f]{16}$/);
      expect(ch.replicas).toHaveLength(4);
      expect(new Set(ch.replicas.map((x: { serverId: string }) => x.serverId)).size).toBe(4);
    }
    const text = (await gfsOk(["info", "/d/g"])).stdout;
    expect(text).toContain("goal 4");
    expect(text).toMatch(/#0 [0-9a-f]{16} v\d+ healthy 4\/4/);
    // A directory: its goal is what new entries get.
    expect(JSON.parse((await gfsOk(["info", "/d", "--json"])).stdout)).toEqual({ path: "/d", type: "directory", goal: 4 });
  });

  it("setrep -R sets a whole tree and says how many entries changed (--json pretty, as every command's)", async () => {
    await client.mkdir("/t");
    await put("/t/a", Buffer.from("a"));
    await put("/t/b", Buffer.from("b"));
    const printed = (await gfsOk(["setrep", "-R", "--json", "2", "/t"])).stdout;
    const r = JSON.parse(printed);
    expect(r).toEqual({ path: "/t", goal: 2, changed: 3 });
    expect(printed).toBe(JSON.stringify(r, null, 2) + "\n"); // pretty, as every command's --json
    for (const p of ["/t", "/t/a", "/t/b"]) expect(await goalOf(p)).toBe(2);
    await eventually(async () => atGoal(await fsck("/t"), 2), 15_000, "/t at goal 2");
  });

  it("setrep refuses a bad goal (usage, exit 2) and a missing path (exit 1), changing nothing; --wait refuses a goal above the live servers", async () => {
    for (const bad of ["0", "17", "x"]) {
      const r = await c.gfs(["setrep", bad, "/f"]);
      expect(r.code).toBe(2);
      expect(r.stderr.split("\n")[0]).toMatch(/^gfs: setrep: bad replication goal '.*' \(a whole number from 1 to 16\)$/);
    }
    // More replicas than live chunkservers: the goal is set, but --wait says it cannot be reached instead of hanging.
    await put("/w", Buffer.from("w"));
    const unreachable = await c.gfs(["setrep", "--wait", "6", "/w"]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/goal 6 set on \/w, but only 5 chunkservers are alive/);
    expect(await goalOf("/w")).toBe(6);
    const missing = await c.gfs(["setrep", "2", "/nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/ENOENT|no such file/i);
    expect(await goalOf("/f")).toBe(1);
  });

  it("setrep of another user's file is refused (EPERM, like chmod)", async () => {
    const user = await c.issue("user", "u1000", { uid: 1000, gids: [1000] });
    const r = await c.gfs(["setrep", "2", "/f"], undefined, { tlsDir: user, asUser: { uid: 1000, gid: 1000 } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/EPERM: .*only its owner \(uid 0\)/);
    expect(await goalOf("/f")).toBe(1);
  });

  it("goals survive a master restart from the op log, and from a checkpoint", async () => {
    const address = c.masterAddress;
    const expectGoals = async () => {
      for (const [p, g] of [["/f", 1], ["/d", 4], ["/d/g", 4], ["/t/a", 2]] as const) expect(await goalOf(p)).toBe(g);
      await eventually(async () => atGoal(await fsck("/d/g"), 4) && atGoal(await fsck("/f"), 1), 15_000, "goals after the restart");
    };
    c.master.proc.kill("SIGKILL");
    await c.master.exited;
    await c.startMaster(address);
    const replayed = await c.master.waitForLog("master recovered");
    expect(Number(replayed.replayedRecords)).toBeGreaterThan(0);
    await expectGoals();
    // Now from a checkpoint: one is due at once with a 1-record interval.
    c.master.proc.kill("SIGKILL");
    await c.master.exited;
    c.options.masterArgs.push("--checkpoint-every-records", "1");
    await c.startMaster(address);
    await eventually(async () => /"checkpoint written"/.test(c.master.log()), 10_000, "a checkpoint");
    c.master.proc.kill("SIGKILL");
    await c.master.exited;
    await c.startMaster(address);
    const fromCheckpoint = await c.master.waitForLog("master recovered");
    expect(Number(fromCheckpoint.replayedRecords)).toBe(0);
    await expectGoals();
  });
});
