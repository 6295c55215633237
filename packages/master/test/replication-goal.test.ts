// Issue 18: per-file replication goals in the namespace, the op log's records, checkpoints
// (format 3, and formats 1-2 without goals), and re-replication by each chunk's file goal.
import { describe, expect, it } from "vitest";
import { createLogger } from "@gfs/common";
import type { ChunkEntry, ReplicaState } from "../src/chunk-table";
import type { ChunkserverState } from "../src/liveness";
import { Metadata, type MetadataOp } from "../src/metadata";
import { MasterState } from "../src/master-state";
import { checkSetGoal } from "../src/access";
import { planReplication } from "../src/re-replication";
import { defaultMasterSettings } from "../src/settings";

const h = (n: number) => n.toString(16).padStart(16, "0");
const mkdir = (path: string, id: number): MetadataOp => ({ op: "mkdir", path, mode: 0o755, uid: 0, gid: 0, parents: false, ids: [id], timeMs: 1 });
const create = (path: string, id: number): MetadataOp => ({ op: "create", path, mode: 0o644, uid: 0, gid: 0, exclusive: true, id, timeMs: 1 });
const setGoal = (path: string, goal: number, recursive = false): MetadataOp => ({ op: "setGoal", path, goal, recursive, timeMs: 5 });

function tree(): Metadata {
  const m = new Metadata();
  for (const op of [mkdir("/d", 2), create("/d/a", 3), mkdir("/d/e", 4), create("/d/e/b", 5), create("/top", 6)]) m.apply(op);
  m.apply({ op: "addChunk", path: "/d/a", index: 0, handle: h(1), version: 1 });
  return m;
}

describe("replication goals in the namespace", () => {
  it("a node without a goal of its own reports the default (0 in a bare namespace, the master's --replication on a master)", () => {
    const m = tree();
    expect(m.namespace.stat("/d/a").goal).toBe(0);
    m.namespace.defaultGoal = 3;
    expect(m.namespace.stat("/d/a").goal).toBe(3);
  });

  it("setGoal sets one node; recursive sets the whole tree under it and counts what changed", () => {
    const m = tree();
    expect(m.apply(setGoal("/d", 2)).changed).toBe(1);
    expect(m.namespace.stat("/d").goal).toBe(2);
    expect(m.namespace.stat("/d/a").goal).toBe(0); // not recursive: only the directory (and what is created in it later)
    expect(m.apply(setGoal("/d", 4, true)).changed).toBe(4); // /d, /d/a, /d/e, /d/e/b
    expect(m.apply(setGoal("/d", 4, true)).changed).toBe(0);
    for (const p of ["/d", "/d/a", "/d/e", "/d/e/b"]) expect(m.namespace.stat(p).goal).toBe(4);
    expect(m.namespace.stat("/top").goal).toBe(0);
    expect(m.namespace.stat("/d").ctimeMs).toBe(5);
  });

  it("a new file or directory inherits its directory's goal at creation (mkdir -p: each level its parent's)", () => {
    const m = tree();
    m.apply(setGoal("/d", 2));
    m.apply(create("/d/new", 7));
    m.apply({ op: "mkdir", path: "/d/x/y", mode: 0o755, uid: 0, gid: 0, parents: true, ids: [8, 9], timeMs: 2 });
    m.apply(create("/d/x/y/f", 10));
    for (const p of ["/d/new", "/d/x", "/d/x/y", "/d/x/y/f"]) expect(m.namespace.stat(p).goal).toBe(2);
    m.apply(create("/elsewhere", 11));
    expect(m.namespace.stat("/elsewhere").goal).toBe(0);
  });

  it("a renamed file keeps its goal; a deleted one's is forgotten (its id is never reused, but the map stays small)", () => {
    const m = tree();
    m.apply(setGoal("/d/a", 5));
    m.apply({ op: "rename", from: "/d/a", to: "/moved", noReplace: false, timeMs: 3 });
    expect(m.namespace.stat("/moved").goal).toBe(5);
    m.apply({ op: "delete", path: "/moved", recursive: false, directoryOnly: false, fileOnly: true, timeMs: 4 });
    expect([...m.namespace.ownGoals()]).toEqual([]);
  });

  it("a bad goal, a missing path or a symlink is refused and changes nothing", () => {
    const m = tree();
    m.apply({ op: "symlink", path: "/l", target: "/d/a", uid: 0, gid: 0, id: 12, timeMs: 1 });
    for (const [op, err] of [[setGoal("/d", 0), /EINVAL/], [setGoal("/d", 256), /EINVAL/], [setGoal("/d", 1.5), /EINVAL/],
      [setGoal("/nope", 2), /ENOENT/], [setGoal("/l", 2), /EINVAL/]] as const) {
      expect(() => m.apply(op)).toThrow(err);
    }
    expect([...m.namespace.ownGoals()]).toEqual([]);
  });

  it("goals replay from the op log's records: the same records give the same goals", () => {
    const ops: MetadataOp[] = [mkdir("/d", 2), setGoal("/d", 2), create("/d/f", 3), setGoal("/d/f", 4), create("/g", 4)];
    const a = new Metadata();
    for (const op of ops) a.apply(op);
    const b = new Metadata();
    for (const op of JSON.parse(JSON.stringify(ops)) as MetadataOp[]) b.apply(op);
    expect(b.snapshot()).toEqual(a.snapshot());
    expect(b.namespace.stat("/d/f").goal).toBe(4);
    expect(Metadata.restore(JSON.parse(JSON.stringify(a.snapshot()))).namespace.stat("/d").goal).toBe(2);
  });
});

describe("who may set a replication goal (access.ts checkSetGoal)", () => {
  const alice = { uid: 1000, gid: 1000, groups: [1000] };
  /** /h owned by alice: a file of hers, a directory of root's holding a file of hers, and a 0700 directory of hers. */
  function home(): Metadata {
    const m = new Metadata();
    const own = (op: MetadataOp): MetadataOp => ({ ...op, uid: 1000, gid: 1000 }) as MetadataOp;
    m.apply(own(mkdir("/h", 2)));
    m.apply(own(create("/h/mine", 3)));
    m.apply(mkdir("/h/rootdir", 4));
    m.apply(own(create("/h/rootdir/mine", 5)));
    m.apply(own({ ...mkdir("/h/private", 6), mode: 0o700 } as MetadataOp));
    return m;
  }

  it("setrep -R checks every node it rewrites, directories too, not only files", () => {
    const m = home();
    expect(() => checkSetGoal(m.namespace, alice, "/h/mine", false)).not.toThrow();
    expect(() => checkSetGoal(m.namespace, alice, "/h", false)).not.toThrow();
    expect(() => checkSetGoal(m.namespace, alice, "/h", true)).toThrow(/EPERM.*\/h\/rootdir: only its owner \(uid 0\)/);
    expect(() => checkSetGoal(m.namespace, { uid: 0, gid: 0, groups: [0] }, "/h", true)).not.toThrow();
  });

  it("setrep -R never names an entry below a directory the caller cannot search", () => {
    const m = new Metadata();
    const own = (op: MetadataOp): MetadataOp => ({ ...op, uid: 1000, gid: 1000 }) as MetadataOp;
    m.apply(own(mkdir("/h", 2)));
    m.apply(own({ ...mkdir("/h/private", 3), mode: 0o600 } as MetadataOp)); // hers, but not searchable
    m.apply(create("/h/private/secret", 4));
    m.apply({ ...mkdir("/h/rootonly", 5), mode: 0o700 } as MetadataOp);
    m.apply(create("/h/rootonly/hidden", 6));
    const refusal = (path: string) => { try { checkSetGoal(m.namespace, alice, path, true); return ""; } catch (e) { return (e as Error).message; } };
    expect(refusal("/h/private")).toMatch(/EACCES.*\/h\/private/);
    expect(refusal("/h/private")).not.toMatch(/secret/);
    expect(refusal("/h/rootonly")).toMatch(/EPERM.*\/h\/rootonly: only its owner/);
    expect(refusal("/h")).not.toMatch(/secret|hidden/);
  });
});

describe("replication goals in checkpoints", () => {
  it("format 3 carries each node's own goal, in any part size", () => {
    const m = tree();
    m.apply(setGoal("/d", 2, true));
    m.apply(setGoal("/top", 7));
    for (const perPart of [1, 2, 512]) {
      const parts = m.checkpointParts(perPart);
      expect(JSON.parse(parts[0]!).format).toBeGreaterThanOrEqual(3); // 4 since issue 19, which keeps goals as 3 did
      const back = Metadata.fromCheckpoint(parts);
      expect(back.snapshot()).toEqual(m.snapshot());
      expect(back.namespace.stat("/d/e/b").goal).toBe(2);
      expect(back.namespace.stat("/top").goal).toBe(7);
      expect(back.namespace.stat("/").goal).toBe(0);
    }
  });

  it("an old checkpoint (format 2, no goals) loads with every node at the default goal", () => {
    const m = tree();
    const parts = m.checkpointParts().map((p) => JSON.parse(p) as Record<string, unknown>);
    parts[0]!.format = 2;
    for (const p of parts.slice(1)) expect(p.goals).toBeUndefined(); // no goal set: a format-2 checkpoint has this shape exactly
    const back = Metadata.fromCheckpoint(parts.map((p) => JSON.stringify(p)));
    expect(back.snapshot()).toEqual(m.snapshot());
    expect([...back.namespace.ownGoals()]).toEqual([]);
    expect(back.namespace.stat("/d/a").goal).toBe(0);
  });

  it("a damaged goal section is refused: goals in an old format, a goal for a node of another part, a bad goal", () => {
    const m = tree();
    m.apply(setGoal("/top", 2));
    const good = m.checkpointParts(1).map((p) => JSON.parse(p) as { format?: number; nodes?: unknown[][]; goals?: Record<string, number> });
    const withGoal = good.findIndex((p) => p.goals !== undefined);
    const variants: Array<[(ps: typeof good) => void, RegExp]> = [
      [(ps) => { ps[0]!.format = 2; }, /goals in format 2/],
      [(ps) => { ps[withGoal]!.goals = { 999: 2 }; }, /not a node of its part/],
      [(ps) => { ps[withGoal]!.goals = { [String(ps[withGoal]!.nodes![0]![2])]: 0 }; }, /bad goal/],
    ];
    for (const [damage, err] of variants) {
      const ps = structuredClone(good);
      damage(ps);
      expect(() => Metadata.fromCheckpoint(ps.map((p) => JSON.stringify(p)))).toThrow(err);
    }
  });
});

describe("re-replication by each chunk's goal", () => {
  const server = (id: string): ChunkserverState => ({
    serverId: id, address: id, rack: "", capacityBytes: 1000, usedBytes: 0, chunkCount: 0, load: 0, lastHeartbeatMs: 0, alive: true,
  });
  const chunk = (handle: string, fileId: number, holders: string[]): ChunkEntry => ({
    handle, version: 1, fileId, index: 0,
    replicas: new Map(holders.map((id): [string, ReplicaState] => [id, { version: 1, length: 1, corrupt: false }])),
  });
  const live = ["s1", "s2", "s3", "s4", "s5"].map(server);
  const goals: Record<number, number> = { 1: 4, 2: 1, 3: 2 };
  const plan = (chunks: ChunkEntry[], copiesPerServerMax = 10) => planReplication({
    chunks, replication: 3, goalOf: (c) => goals[c.fileId] ?? 3, liveServers: live, inFlight: [], hasLease: () => false, copiesPerServerMax,
  });

  it("a chunk is copied up to its own file's goal, not the cluster's", () => {
    const orders = plan([chunk("four", 1, ["s1", "s2", "s3"]), chunk("one", 2, ["s1"]), chunk("two", 3, ["s1", "s2"])]);
    expect(orders.map((o) => o.handle)).toEqual(["four"]);
  });

  it("most endangered first: fewest good replicas, then furthest below its goal", () => {
    const orders = plan([chunk("two-of-4", 1, ["s1", "s2"]), chunk("one-of-2", 3, ["s3"]), chunk("one-of-3", 9, ["s4"])]);
    expect(orders[0]!.handle).toBe("one-of-3"); // 1 good of 3 before 1 good of 2
    expect(orders[1]!.handle).toBe("one-of-3");
    expect(orders[2]!.handle).toBe("one-of-2");
    expect(orders.slice(3).map((o) => o.handle)).toEqual(["two-of-4", "two-of-4"]);
  });
});

describe("excess replicas on the master (MasterState, no network)", () => {
  /** A master with /f's one chunk on s1..s4 (reported by their registrations), and its goal set to `goal`. */
  async function masterWithFourCopies(goal: number, o: { reported?: boolean; leaseGrantsFromMs?: number; grantSet?: string[] } = {}) {
    let now = 0;
    const settings = defaultMasterSettings();
    const state = new MasterState(settings, () => now, createLogger("goal-test", "error"),
      o.leaseGrantsFromMs !== undefined ? { leaseGrantsFromMs: o.leaseGrantsFromMs } : {});
    state.metadata.apply(create("/f", 2));
    state.metadata.apply({ op: "addChunk", path: "/f", index: 0, handle: h(1), version: 1, replicas: ["s1", "s2", "s3"] });
    const version = o.grantSet ? 2 : 1;
    if (o.grantSet) state.metadata.apply({ op: "bumpVersion", handle: h(1), version, replicas: o.grantSet });
    for (const [i, id] of ["s1", "s2", "s3", "s4"].entries()) {
      await state.register({
        serverId: id, address: `127.0.0.1:${9100 + i}`, rack: "", capacityBytes: 1000, usedBytes: 100 * (i + 1), chunks: [{ handle: h(1), version, length: 1 }],
      });
    }
    await state.setReplication("/f", goal, false);
    // By default every live server has had its time to report since the start (removal waits for that).
    if (o.reported !== false) now += settings.heartbeat_interval_ms * settings.heartbeat_misses_dead;
    return Object.assign(state, { advance: (ms: number) => { now += ms; } });
  }
  const heartbeat = (state: MasterState, serverId: string) => state.heartbeat({
    // Used bytes as registered: s4 the fullest.
    serverId, capacityBytes: 1000, usedBytes: 100 * Number(serverId.slice(1)), chunkCount: 1, load: 0,
    leaseExtensionHandles: [], addedChunks: [], removedChunks: [], corruptChunks: [],
  });

  it("a chunk above its file's goal loses the fullest servers' replicas: forgotten at once, deleted on their next heartbeat reply", async () => {
    const state = await masterWithFourCopies(2);
    expect(state.namespace.stat("/f").goal).toBe(2);
    state.tick();
    expect([...state.chunks.get(h(1))!.replicas.keys()].sort()).toEqual(["s1", "s2"]);
    expect(state.location(0, h(1)).replicas.map((r) => r.serverId).sort()).toEqual(["s1", "s2"]); // never handed out again
    expect((await heartbeat(state, "s4")).deleteChunks).toEqual([h(1)]);
    expect((await heartbeat(state, "s3")).deleteChunks).toEqual([h(1)]);
    expect((await heartbeat(state, "s1")).deleteChunks).toEqual([]);
    expect(state.fsck("/").files[0]).toMatchObject({ goal: 2, chunks: [{ good: 2, state: "CHUNK_STATE_HEALTHY" }] });
  });

  it("in safe mode nothing is removed; after the operator confirms, the excess goes", async () => {
    const state = await masterWithFourCopies(1);
    state.enterSafeMode("test: the metadata is in doubt");
    state.tick();
    expect(state.chunks.get(h(1))!.replicas.size).toBe(4);
    for (const id of ["s1", "s2", "s3", "s4"]) expect((await heartbeat(state, id)).deleteChunks).toEqual([]);
    state.confirmGc();
    state.tick();
    expect([...state.chunks.get(h(1))!.replicas.keys()]).toEqual(["s1"]);
  });

  it("excess removal waits for reports after a restart: a server not heard from yet may be in a forgotten lease's set", async () => {
    const state = await masterWithFourCopies(2, { reported: false });
    state.tick();
    expect(state.chunks.get(h(1))!.replicas.size).toBe(4);
    const s = defaultMasterSettings();
    state.advance(s.heartbeat_interval_ms * s.heartbeat_misses_dead);
    state.tick();
    expect(state.chunks.get(h(1))!.replicas.size).toBe(2);
  });

  it("excess removal keeps every replica of a chunk whose lease this master may have forgotten (a grant-set member not registered yet)", async () => {
    const state = await masterWithFourCopies(2, { leaseGrantsFromMs: 10_000_000, grantSet: ["s1", "s2", "s3", "s5"] });
    state.tick();
    expect(state.chunks.get(h(1))!.replicas.size).toBe(4);
    // Every member registered: no lease is forgotten, the excess goes.
    await state.register({ serverId: "s5", address: "127.0.0.1:9105", rack: "", capacityBytes: 1000, usedBytes: 0, chunks: [] });
    state.tick();
    expect(state.chunks.get(h(1))!.replicas.size).toBe(2);
  });

  it("a dead server that comes back by heartbeat (a healed partition) makes its chunks' excess go", async () => {
    const state = await masterWithFourCopies(3);
    const s = defaultMasterSettings();
    // s4 silent until dead: three good replicas, the goal; nothing to remove.
    for (let t = 0; t <= s.heartbeat_misses_dead; t++) {
      state.advance(s.heartbeat_interval_ms);
      for (const id of ["s1", "s2", "s3"]) await heartbeat(state, id);
    }
    state.tick();
    expect(state.liveness.isAlive("s4")).toBe(false);
    expect(state.chunks.get(h(1))!.replicas.size).toBe(4);
    state.tick();
    await heartbeat(state, "s4"); // alive again, with nothing new to report
    state.tick();
    expect(state.chunks.get(h(1))!.replicas.size).toBe(3);
  });

  it("a raised goal makes the chunk under-replicated (fsck, status) until copies land", async () => {
    const state = await masterWithFourCopies(5);
    expect(state.fsck("/f").files[0]).toMatchObject({ goal: 5, chunks: [{ good: 4, state: "CHUNK_STATE_UNDER_REPLICATED" }] });
    expect(state.status().chunkStates!.underReplicated).toBe(1);
    state.tick();
    expect(state.chunks.get(h(1))!.replicas.size).toBe(4);
  });
});
