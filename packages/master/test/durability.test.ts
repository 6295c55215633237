// Durability of the master's metadata (GFS §2.6.3): ops are logged before
// anyone sees them, recovery is checkpoint + replay and rebuilds exactly the
// state that was acknowledged.
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { defaultMasterSettings } from "../src/settings";
import { createLogger, GfsError } from "@gfs/common";
import { checkpointDue, Checkpointer } from "../src/checkpointer";
import { MasterState, type Journal } from "../src/master-state";
import { Metadata, type MetadataOp } from "../src/metadata";
import { OpLog } from "../src/op-log";
import { recoverMetadata } from "../src/recovery";
import { insecureTransport, setTransportSecurity } from "@gfs/common";

// The master's pool dials fake chunkserver addresses that never answer: plaintext, as before (TLS is tested with real processes).
setTransportSecurity(insecureTransport);

const settings = { ...defaultMasterSettings(), chunk_size_bytes: 1000, replication: 3, heartbeat_interval_ms: 1000, heartbeat_misses_dead: 3, lease_ms: 60_000 };
const quiet = createLogger("test", "error");
const h = (n: number) => n.toString(16).padStart(16, "0");
const dirs: string[] = [];
const freshDir = () => { const d = mkdtempSync(join(tmpdir(), "master-durability-")); dirs.push(d); return d; };
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

/** A varied op sequence built with ids from the state, as the handlers do. */
function workload(state: MasterState, n: number): Array<() => MetadataOp> {
  const ops: Array<() => MetadataOp> = [];
  let t = 100;
  ops.push(() => ({ op: "mkdir", path: "/d", mode: 0o755, uid: 1, gid: 1, parents: false, ids: state.allocIds(1), timeMs: t++ }));
  ops.push(() => ({ op: "mkdir", path: "/d/e/f", mode: 0o700, uid: 1, gid: 1, parents: true, ids: state.allocIds(2), timeMs: t++ }));
  for (let i = 0; i < n; i++) {
    const p = `/d/file${i}`;
    ops.push(() => ({ op: "create", path: p, mode: 0o644, uid: i, gid: 2, exclusive: true, id: state.allocIds(1)[0], timeMs: t++ }));
    ops.push(() => ({ op: "addChunk", path: p, index: i % 3, handle: h(1000 + i), version: 1 }));
    if (i % 2 === 0) ops.push(() => ({ op: "bumpVersion", handle: h(1000 + i), version: 3 + i }));
    ops.push(() => ({ op: "extendFile", path: p, endOffset: 1000 * (i % 3) + 17, mtimeMs: t, timeMs: t++ }));
    if (i % 5 === 1) ops.push(() => ({ op: "rename", from: p, to: `/d/e/moved${i}`, noReplace: false, timeMs: t++ }));
    if (i % 5 === 2) ops.push(() => ({ op: "delete", path: p, recursive: false, directoryOnly: false, fileOnly: true, timeMs: t++ }));
    if (i % 5 === 3) ops.push(() => ({ op: "truncate", path: p, size: 0, chunkSizeBytes: 1000, timeMs: t++ }));
    if (i % 7 === 0) ops.push(() => ({ op: "setAttributes", path: "/d/e", mode: 0o711, uid: 5, timeMs: t++ }));
    if (i % 6 === 0) ops.push(() => ({ op: "symlink", path: `/d/link${i}`, target: p, uid: 0, gid: 0, id: state.allocIds(1)[0], timeMs: t++ }));
  }
  return ops;
}

async function openMaster(dir: string) {
  const { log, recovered } = OpLog.open<MetadataOp>(dir);
  const r = recoverMetadata(recovered);
  const state = new MasterState(settings, () => 0, quiet, { metadata: r.metadata, journal: log, journalSeq: r.lastSeq });
  return { log, state, recovered: r };
}

describe("master durability", () => {
  it("recovery from a midway checkpoint plus the log after it rebuilds a deep-equal state", async () => {
    const dir = freshDir();
    const { log, state } = await openMaster(dir);
    const ops = workload(state, 40);
    const half = Math.floor(ops.length / 2);
    for (const op of ops.slice(0, half)) await state.commit(op());
    const checkpointer = new Checkpointer(state, log, { checkpoint_every_records: 1e9, checkpoint_interval_ms: 1e9 }, () => 0, quiet, 0);
    await checkpointer.run();
    for (const op of ops.slice(half)) await state.commit(op());
    const expected = state.metadata.snapshot();
    await log.close();

    const again = await openMaster(dir);
    expect(again.recovered.checkpointSeq).toBe(half);
    expect(again.recovered.replayedRecords).toBe(ops.length - half);
    expect(again.state.metadata.snapshot()).toEqual(expected);
    expect(again.state.chunks.get(h(1000))).toMatchObject({ version: 3, index: 0 });
    // New ids stay above every id ever used, including ids of deleted files.
    expect(again.state.allocIds(1)[0]).toBeGreaterThan(expected.namespace.maxId);
    await again.log.close();
  });

  it("a checkpoint in many small parts round-trips files, holes, symlinks and directories", () => {
    const m = new Metadata();
    const state = new MasterState(settings, () => 0, quiet, { metadata: m });
    for (const op of workload(state, 25)) m.apply(op());
    m.apply({ op: "create", path: "/holes", mode: 0o600, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0], timeMs: 1 });
    m.apply({ op: "addChunk", path: "/holes", index: 4, handle: h(9), version: 7 });
    const parts = m.checkpointParts(3);
    expect(parts.length).toBeGreaterThan(10);
    const back = Metadata.fromCheckpoint(JSON.parse(JSON.stringify(parts)) as string[]);
    expect(back.snapshot()).toEqual(m.snapshot());
    expect(back.chunks.get(h(9))).toMatchObject({ version: 7, index: 4 });
  });

  it("a checkpoint that lost nodes or names a foreign format is refused", () => {
    const m = new Metadata();
    const state = new MasterState(settings, () => 0, quiet, { metadata: m });
    for (const op of workload(state, 10)) m.apply(op());
    const parts = m.checkpointParts(4);
    expect(() => Metadata.fromCheckpoint(parts.slice(0, -1))).toThrow(/corrupt/);
    const header = { ...JSON.parse(parts[0]), format: 99 };
    expect(() => Metadata.fromCheckpoint([JSON.stringify(header), ...parts.slice(1)])).toThrow(/format 99/);
  });

  it("replay refuses a record that does not apply, rather than guessing", async () => {
    const dir = freshDir();
    const { log, state } = await openMaster(dir);
    for (const op of workload(state, 3)) await state.commit(op());
    await log.close();
    const db = new Database(join(dir, "oplog.sqlite"));
    const last = db.prepare("SELECT MAX(seq) FROM log").pluck().get() as number;
    // A well-formed record (valid checksum) that cannot apply: a second exclusive create of an existing file.
    const payload = JSON.stringify({ op: "create", path: "/d", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: 999, timeMs: 1 });
    const { crc32c } = await import("@gfs/common");
    db.prepare("INSERT INTO log (seq, format, crc, payload) VALUES (?, 1, ?, ?)").run(last + 1, crc32c(Buffer.from(payload)), payload);
    db.close();
    const reopened = OpLog.open<MetadataOp>(dir);
    expect(() => recoverMetadata(reopened.recovered)).toThrow(new RegExp(`record ${last + 1} \\(create\\) does not apply`));
    await reopened.log.close();
  });

  it("two concurrent exclusive creates of one path: exactly one wins, and only it is logged", async () => {
    const dir = freshDir();
    const { log, state } = await openMaster(dir);
    const mk = () => state.commit({ op: "create", path: "/x", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0], timeMs: 1 });
    const results = await Promise.allSettled([mk(), mk()]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect((lost.reason as GfsError).errno).toBe("EEXIST");
    expect(log.stats.records).toBe(1);
    await log.close();
  });

  it("concurrent mutations share commits (group commit)", async () => {
    const { log, state } = await openMaster(freshDir());
    await Promise.all(Array.from({ length: 300 }, (_, i) => state.commit({
      op: "create", path: `/f${i}`, mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0], timeMs: 1,
    })));
    expect(log.stats.records).toBe(300);
    expect(log.stats.commits).toBeLessThan(30);
    await log.close();
  });
});

/** A journal whose appends become durable only when the test says so. */
function manualJournal() {
  const pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  const journal: Journal = {
    stats: { records: 0, commits: 0 },
    append: () => new Promise<void>((resolve, reject) => { pending.push({ resolve, reject }); }),
  };
  return { journal, pending };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("no client observes a mutation before it is durable", () => {
  it("a stat during a create's commit is answered only after the create is durable", async () => {
    const { journal, pending } = manualJournal();
    const state = new MasterState(settings, () => 0, quiet, { journal });
    const create = state.commit({ op: "create", path: "/a", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0], timeMs: 1 });
    let statDone = false;
    const stat = state.visible(() => state.namespace.stat("/a")).then((info) => { statDone = true; return info; });
    await tick();
    expect(statDone).toBe(false);
    pending[0].resolve();
    expect((await stat).path).toBe("/a");
    await create;
  });

  it("an ENOENT that reflects an uncommitted delete also waits for it", async () => {
    const { journal, pending } = manualJournal();
    const state = new MasterState(settings, () => 0, quiet, { journal });
    const c = state.commit({ op: "create", path: "/a", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0], timeMs: 1 });
    pending[0].resolve();
    await c;
    void state.commit({ op: "delete", path: "/a", recursive: false, directoryOnly: false, fileOnly: false, timeMs: 2 });
    let settled = false;
    const stat = state.visible(() => state.namespace.stat("/a")).finally(() => { settled = true; });
    stat.catch(() => {});
    await tick();
    expect(settled).toBe(false);
    pending[1].resolve();
    await expect(stat).rejects.toThrow(/ENOENT/);
  });

  it("a refused mutation (EEXIST from a create still being committed) is answered only after that create is durable", async () => {
    const { journal, pending } = manualJournal();
    const state = new MasterState(settings, () => 0, quiet, { journal });
    const mk = () => state.commit({ op: "create", path: "/a", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0], timeMs: 1 });
    const first = mk();
    let refused = false;
    const second = mk().catch((e: GfsError) => { refused = true; return e; });
    await tick();
    expect(refused).toBe(false);
    pending[0].resolve();
    expect(((await second) as GfsError).errno).toBe("EEXIST");
    await first;
  });

  it("a log that cannot be written stops the master acknowledging anything (fail-stop)", async () => {
    const { journal, pending } = manualJournal();
    const failures: Error[] = [];
    const state = new MasterState(settings, () => 0, quiet, { journal, onJournalFailure: (e) => failures.push(e) });
    const c = state.commit({ op: "create", path: "/a", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0], timeMs: 1 });
    const stat = state.visible(() => state.namespace.stat("/a"));
    pending[0].reject(new Error("disk full"));
    await expect(c).rejects.toThrow(/not durable: disk full/);
    await expect(stat).rejects.toThrow(/operation log failed/);
    expect(failures.map((e) => e.message)).toEqual(["disk full"]);
    await expect(state.commit({ op: "mkdir", path: "/b", mode: 0o755, uid: 0, gid: 0, parents: false, ids: state.allocIds(1), timeMs: 2 }))
      .rejects.toThrow(/operation log failed/);
    expect(state.namespace.exists("/b")).toBe(false);
  });
});

describe("restart rules", () => {
  it("a reported version above the master's is never adopted: the replica is suspect, good replicas stay, safe mode is entered", async () => {
    const dir = freshDir();
    const first = await openMaster(dir);
    await first.state.commit({ op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: first.state.allocIds(1)[0], timeMs: 1 });
    await first.state.commit({ op: "addChunk", path: "/f", index: 0, handle: h(7), version: 1, replicas: ["cs-a", "cs-b", "cs-c"] });
    await first.log.close();

    const second = await openMaster(dir);
    const reg = (serverId: string, version: number) => second.state.register({
      serverId, address: `127.0.0.1:${serverId.charCodeAt(3)}`, rack: "", capacityBytes: 1, usedBytes: 0, chunks: [{ handle: h(7), version, length: 10 }],
    });
    expect((await reg("cs-a", 1)).deleteChunks).toEqual([]);
    expect((await reg("cs-b", 1)).deleteChunks).toEqual([]);
    const res = await reg("cs-x", 1000);
    expect(res.deleteChunks).toEqual([]); // not deleted either
    expect(second.state.chunks.get(h(7))!.version).toBe(1);
    expect(second.state.chunks.goodReplicas(h(7), () => true)).toEqual(["cs-a", "cs-b"]);
    expect(second.state.chunks.suspects(h(7))).toEqual(["cs-x"]);
    expect(second.state.chunks.pendingDeletes("cs-a")).toEqual([]);
    expect(second.state.safeMode.active).toBe(true);
    expect(second.state.safeMode.reasons[0]!.why).toContain(h(7));
    const fsck = second.state.fsck("/");
    expect(fsck.files[0]!.chunks[0]!.state).toBe("CHUNK_STATE_SUSPECT");
    expect(fsck.unhealthyChunks).toBe(1);
    expect(fsck.files[0]!.chunks[0]!.replicas.find((r) => r.serverId === "cs-x")).toMatchObject({ suspect: true, stale: false });
    await second.log.close();

    const third = await openMaster(dir);
    expect(third.state.chunks.get(h(7))!.version).toBe(1);
    await third.log.close();
  });

  it("a chunk dropped before a checkpoint is still known garbage after a restart: deleted, not quarantined", async () => {
    const dir = freshDir();
    const first = await openMaster(dir);
    await first.state.commit({ op: "create", path: "/gone", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: first.state.allocIds(1)[0], timeMs: 1 });
    await first.state.commit({ op: "addChunk", path: "/gone", index: 0, handle: h(9), version: 1, replicas: ["cs-a"] });
    await first.state.commit({ op: "delete", path: "/gone", recursive: false, directoryOnly: false, fileOnly: true, timeMs: 2 });
    await new Checkpointer(first.state, first.log, { checkpoint_every_records: 1e9, checkpoint_interval_ms: 1e9 }, () => 0, quiet, 0).run();
    await first.log.close();

    const second = await openMaster(dir);
    expect(second.recovered.checkpointSeq).toBeGreaterThan(0); // the delete is behind the checkpoint, not replayed
    const res = await second.state.register({
      serverId: "cs-a", address: "127.0.0.1:1", rack: "", capacityBytes: 1, usedBytes: 0, chunks: [{ handle: h(9), version: 1, length: 10 }],
    });
    expect(res.deleteChunks).toEqual([h(9)]);
    expect(res.quarantineChunks).toEqual([]);
    await second.log.close();
  });

  it("a grant-set member one version behind the log (crash between logging a bump and telling) is kept, not deleted", async () => {
    const dir = freshDir();
    const first = await openMaster(dir);
    await first.state.commit({ op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: first.state.allocIds(1)[0], timeMs: 1 });
    await first.state.commit({ op: "addChunk", path: "/f", index: 0, handle: h(7), version: 1, replicas: ["cs-a", "cs-b", "cs-c"] });
    await first.state.commit({ op: "bumpVersion", handle: h(7), version: 2, replicas: ["cs-a", "cs-b"], primary: "cs-a" });
    await first.log.close();

    const second = await openMaster(dir);
    const reg = (serverId: string, version: number) => second.state.register({
      serverId, address: "127.0.0.1:1", rack: "", capacityBytes: 1, usedBytes: 0, chunks: [{ handle: h(7), version, length: 10 }],
    });
    await reg("cs-a", 2);
    expect((await reg("cs-b", 1)).deleteChunks).toEqual([]); // in the grant set, one behind: kept (and re-announced)
    expect((await reg("cs-c", 1)).deleteChunks).toEqual([h(7)]); // not in the last grant set: stale
    expect(second.state.safeMode.active).toBe(false);
    await second.log.close();
  });

  it("a replica of a chunk the log never recorded (allocation not durable, or records lost) is quarantined, not deleted", async () => {
    const { log, state } = await openMaster(freshDir());
    const res = await state.register({
      serverId: "cs-a", address: "127.0.0.1:1", rack: "", capacityBytes: 1, usedBytes: 0, chunks: [{ handle: h(8), version: 1, length: 0 }],
    });
    expect(res.deleteChunks).toEqual([]);
    expect(res.quarantineChunks).toEqual([h(8)]);
    await log.close();
  });

  it("a restarted master grants no lease until a lease length has passed", async () => {
    let now = 1_000;
    const state = new MasterState(settings, () => now, quiet, { leaseGrantsFromMs: 1_000 + settings.lease_ms });
    await state.commit({ op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0], timeMs: 1 });
    await state.commit({ op: "addChunk", path: "/f", index: 0, handle: h(1), version: 1 });
    await expect(state.getLease(h(1))).rejects.toThrow(/EAGAIN.*restarted recently.*not logged/);
    now = 1_000 + settings.lease_ms;
    // Past the pause the ordinary rules apply (here: no replicas reported yet).
    await expect(state.getLease(h(1))).rejects.toThrow(/0 of 3 replicas/);
  });

  it("a restarted master waits for a forgotten lease only while a member of the chunk's last grant set has not registered", async () => {
    let now = 1_000;
    const state = new MasterState(settings, () => now, quiet, { leaseGrantsFromMs: 1_000 + settings.lease_ms });
    await state.commit({ op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0], timeMs: 1 });
    await state.commit({ op: "addChunk", path: "/f", index: 0, handle: h(1), version: 1, replicas: ["cs-a", "cs-b", "cs-c"] });
    const reg = (serverId: string) => state.register({
      serverId, address: "127.0.0.1:1", rack: "", capacityBytes: 1, usedBytes: 0, chunks: [{ handle: h(1), version: 1, length: 0 }],
    });
    await reg("cs-a");
    await reg("cs-b");
    await expect(state.getLease(h(1))).rejects.toThrow(/EAGAIN.*restarted recently.*cs-c of its last grant set not registered/);
    await reg("cs-c");
    now += 10;
    // Every member registered, none reported a lease: no lease can exist; the grant goes ahead at once
    // (and fails here only because these servers are not real).
    await expect(state.getLease(h(1))).rejects.toThrow(/0 of 3 replicas took version 2/);
  });

  it("a lease a registering primary reports at the logged version is honoured and extended", async () => {
    let now = 1_000;
    const state = new MasterState(settings, () => now, quiet, { leaseGrantsFromMs: 1_000 + settings.lease_ms });
    await state.commit({ op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0], timeMs: 1 });
    await state.commit({ op: "addChunk", path: "/f", index: 0, handle: h(1), version: 1, replicas: ["cs-a", "cs-b", "cs-c"] });
    await state.commit({ op: "bumpVersion", handle: h(1), version: 2, replicas: ["cs-a", "cs-b", "cs-c"], primary: "cs-b" });
    for (const id of ["cs-a", "cs-b", "cs-c"]) {
      await state.register({
        serverId: id, address: `127.0.0.1:${id.charCodeAt(3)}`, rack: "", capacityBytes: 1, usedBytes: 0, chunks: [{ handle: h(1), version: 2, length: 0 }],
        heldLeases: id === "cs-b" ? [{ handle: h(1), version: 2, remainingMs: 30_000, leaseToken: "secret", secondaries: [] }] : [],
      });
    }
    const lease = await state.getLease(h(1));
    expect(lease).toMatchObject({ version: 2, primary: { serverId: "cs-b" } });
    expect(lease.secondaries.map((s) => s.serverId)).toEqual(["cs-a", "cs-c"]);
    expect(JSON.stringify(lease)).not.toContain("secret");
    now += 40_000;
    const hb = await state.heartbeat({
      serverId: "cs-b", capacityBytes: 1, usedBytes: 0, chunkCount: 1, load: 0, leaseExtensionHandles: [h(1)], addedChunks: [], removedChunks: [], corruptChunks: [],
    });
    expect(hb.extendedLeases).toMatchObject([{ handle: h(1), version: 2 }]);
  });

  it("checkpoints are due by record count or by time, never with nothing new", () => {
    const s = { checkpoint_every_records: 100, checkpoint_interval_ms: 60_000 };
    expect(checkpointDue(100, 0, s)).toBe(true);
    expect(checkpointDue(99, 59_999, s)).toBe(false);
    expect(checkpointDue(1, 60_000, s)).toBe(true);
    expect(checkpointDue(0, 1e9, s)).toBe(false);
  });
});
