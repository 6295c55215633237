import Database from "better-sqlite3";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkpointFileName, writeCheckpointFile } from "../src/checkpoint-file";
import { OpLog, OpLogError } from "../src/op-log";

type Op = { op: string; n: number };

const dirs: string[] = [];
const freshDir = () => { const d = mkdtempSync(join(tmpdir(), "oplog-")); dirs.push(d); return d; };
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

describe("operation log", () => {
  it("an acknowledged record survives a reopen, in order", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    for (let n = 1; n <= 5; n++) await log.append({ op: "add", n });
    await log.close();
    const { log: again, recovered } = OpLog.open<Op>(dir);
    expect(recovered.checkpoint).toBeUndefined();
    expect(recovered.records.map((r) => r.n)).toEqual([1, 2, 3, 4, 5]);
    expect(recovered.lastSeq).toBe(5);
    await again.close();
  });

  it("concurrent records share commits (group commit): far fewer commits than records", async () => {
    const { log } = OpLog.open<Op>(freshDir());
    await Promise.all(Array.from({ length: 500 }, (_, n) => log.append({ op: "add", n })));
    expect(log.stats.records).toBe(500);
    expect(log.stats.commits).toBeLessThan(50);
    expect(log.stats.commits).toBeGreaterThan(0);
    await log.close();
  });

  it("writers answered by a commit, coming back a little later, share the next commit instead of taking turns", async () => {
    const { log } = OpLog.open<Op>(freshDir());
    const WRITERS = 8;
    const ROUNDS = 10;
    // Once answered, writer w takes w event-loop turns (its network round trip, say) before its next record.
    const turns = async (n: number) => { for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r)); };
    await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; i < ROUNDS; i++) {
        await log.append({ op: "add", n: w * ROUNDS + i });
        await turns(w);
      }
    }));
    expect(log.stats.records).toBe(WRITERS * ROUNDS);
    // About one commit per round, not one per writer and round (80 when they take turns). A loaded
    // machine (vitest runs files in parallel) makes stragglers miss a round now and then: a CI run
    // counted 16, so the bound leaves room for that and still fails on taking turns.
    expect(log.stats.commits).toBeLessThanOrEqual(2 * ROUNDS);
    await log.close();
  });

  it("a lone writer does not wait for company: after its commit nothing lingers", async () => {
    const { log } = OpLog.open<Op>(freshDir());
    for (let n = 1; n <= 5; n++) {
      await log.append({ op: "add", n });
      await new Promise<void>((r) => setImmediate(r)); // past the commit's bookkeeping
      expect((log as unknown as { linger: unknown }).linger, `after record ${n}`).toBeUndefined();
    }
    expect(log.stats.commits).toBe(5);
    // Two writers do make the next commit wait (briefly) for them.
    await Promise.all([log.append({ op: "add", n: 6 }), log.append({ op: "add", n: 7 })]);
    await new Promise<void>((r) => setImmediate(r));
    expect((log as unknown as { linger: unknown }).linger).toBeDefined();
    await log.close();
  });

  it("whenDurable waits for records still being committed", async () => {
    const { log } = OpLog.open<Op>(freshDir());
    let done = false;
    void log.append({ op: "add", n: 1 }).then(() => { done = true; });
    await log.whenDurable();
    expect(done).toBe(true);
    await log.close();
  });

  it("recovery is the newest checkpoint plus the records after it", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    for (let n = 1; n <= 10; n++) await log.append({ op: "add", n });
    await log.checkpoint(["sum=55", "count=10"], log.lastSeq, 1000);
    for (let n = 11; n <= 12; n++) await log.append({ op: "add", n });
    await log.close();
    const { log: again, recovered } = OpLog.open<Op>(dir);
    expect([...recovered.checkpoint!.parts()]).toEqual(["sum=55", "count=10"]);
    expect(recovered.checkpoint!.lastSeq).toBe(10);
    expect(recovered.records.map((r) => r.n)).toEqual([11, 12]);
    expect(recovered.lastSeq).toBe(12);
    await again.append({ op: "add", n: 13 });
    expect(again.lastSeq).toBe(13);
    await again.close();
  });

  it("a checkpoint drops the records it covers", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    for (let n = 1; n <= 4; n++) await log.append({ op: "add", n });
    await log.checkpoint(["sum=10"], 4, 1);
    await log.close();
    const db = new Database(join(dir, "oplog.sqlite"));
    expect(db.prepare("SELECT COUNT(*) FROM log").pluck().get()).toBe(0);
    db.close();
  });

  it("an incomplete or unregistered checkpoint (a crash while writing it) is never used, and is removed", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    for (let n = 1; n <= 4; n++) await log.append({ op: "add", n });
    await log.checkpoint(["old"], 2, 1);
    await log.close();
    // Complete on disk, but the crash came before the log pointed at it.
    const { file } = writeCheckpointFile(dir, ["new"], 4, 2);
    // And one torn mid-write (no header row).
    const torn = new Database(join(dir, checkpointFileName(3)));
    torn.exec("CREATE TABLE part (n INTEGER PRIMARY KEY, crc INTEGER, payload TEXT)");
    torn.close();
    const { log: again, recovered } = OpLog.open<Op>(dir);
    expect([...recovered.checkpoint!.parts()]).toEqual(["old"]);
    expect(recovered.records.map((r) => r.n)).toEqual([3, 4]);
    expect(readdirSync(dir).filter((f) => f.startsWith("checkpoint-"))).toEqual([checkpointFileName(2)]);
    expect(file).toBe(checkpointFileName(4));
    await again.close();
  });

  it("a checkpoint must be newer than the current one and cover only durable records", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    for (let n = 1; n <= 3; n++) await log.append({ op: "add", n });
    await log.checkpoint(["cp2"], 2, 1);
    await expect(log.checkpoint(["again"], 2, 2)).rejects.toThrow(/not newer than the current one at 2/);
    await expect(log.checkpoint(["future"], 9, 2)).rejects.toThrow(/past the last durable record 3/);
    await log.close();
    const { log: again, recovered } = OpLog.open<Op>(dir);
    expect([...recovered.checkpoint!.parts()]).toEqual(["cp2"]);
    await again.close();
  });

  it("a damaged checkpoint part is refused, not guessed at", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    await log.append({ op: "add", n: 1 });
    await log.checkpoint(["a", "b"], 1, 1);
    await log.close();
    const db = new Database(join(dir, checkpointFileName(1)));
    db.prepare("UPDATE part SET payload = 'x' WHERE n = 1").run();
    db.close();
    const { log: again, recovered } = OpLog.open<Op>(dir);
    expect(() => [...recovered.checkpoint!.parts()]).toThrow(/part 1 fails its checksum/);
    await again.close();
  });

  it("a missing checkpoint file is refused with its name", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    await log.append({ op: "add", n: 1 });
    await log.checkpoint(["a"], 1, 1);
    await log.close();
    rmSync(join(dir, checkpointFileName(1)));
    expect(() => OpLog.open<Op>(dir)).toThrow(new RegExp(`${checkpointFileName(1)} cannot be opened`));
  });

  it("readUpTo reads the checkpoint and the records up to a sequence number beside a live log", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    for (let n = 1; n <= 3; n++) await log.append({ op: "add", n });
    await log.checkpoint(["cp"], 2, 1);
    for (let n = 4; n <= 6; n++) await log.append({ op: "add", n });
    const r = OpLog.readUpTo<Op>(dir, 5);
    expect([...r.checkpoint!.parts()]).toEqual(["cp"]);
    expect(r.records.map((x) => x.n)).toEqual([3, 4, 5]);
    expect(r.lastSeq).toBe(5);
    await log.close();
  });

  it("a corrupt record is refused with a clear message, not replayed", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    for (let n = 1; n <= 3; n++) await log.append({ op: "add", n });
    await log.close();
    const db = new Database(join(dir, "oplog.sqlite"));
    db.prepare("UPDATE log SET payload = ? WHERE seq = 2").run(JSON.stringify({ op: "add", n: 99 }));
    db.close();
    expect(() => OpLog.open<Op>(dir)).toThrow(/record 2 .* corrupt/);
  });

  it("a torn log (a missing record) is refused", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    for (let n = 1; n <= 3; n++) await log.append({ op: "add", n });
    await log.close();
    const db = new Database(join(dir, "oplog.sqlite"));
    db.prepare("DELETE FROM log WHERE seq = 2").run();
    db.close();
    expect(() => OpLog.open<Op>(dir)).toThrow(OpLogError);
    expect(() => OpLog.open<Op>(dir)).toThrow(/gap: record 2 is missing/);
  });

  it("a directory written by an incompatible version is refused", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    await log.close();
    const db = new Database(join(dir, "oplog.sqlite"));
    db.prepare("UPDATE meta SET value = '99' WHERE key = 'format'").run();
    db.close();
    expect(() => OpLog.open<Op>(dir)).toThrow(/format 99; this master reads format 4/);
  });
});
