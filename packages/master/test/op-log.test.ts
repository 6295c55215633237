import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
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
    await log.checkpoint(["sum=55", "count=10"], log.lastSeq, 1000, 1);
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

  it("an incomplete checkpoint (a crash while writing it) is never used", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    for (let n = 1; n <= 4; n++) await log.append({ op: "add", n });
    await log.checkpoint(["old"], 2, 1);
    await log.close();
    const db = new Database(join(dir, "oplog.sqlite"));
    const id = db.prepare("INSERT INTO checkpoint (last_seq, format, created_ms, part_count, complete) VALUES (4, 1, 2, 0, 0)").run().lastInsertRowid;
    db.prepare("INSERT INTO checkpoint_part (checkpoint_id, n, crc, payload) VALUES (?, 0, 0, 'half')").run(id);
    db.close();
    const { log: again, recovered } = OpLog.open<Op>(dir);
    expect([...recovered.checkpoint!.parts()]).toEqual(["old"]);
    expect(recovered.records.map((r) => r.n)).toEqual([3, 4]);
    await again.close();
  });

  it("a damaged checkpoint part is refused, not guessed at", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    await log.append({ op: "add", n: 1 });
    await log.checkpoint(["a", "b"], 1, 1);
    await log.close();
    const db = new Database(join(dir, "oplog.sqlite"));
    db.prepare("UPDATE checkpoint_part SET payload = 'x' WHERE n = 1").run();
    db.close();
    const { log: again, recovered } = OpLog.open<Op>(dir);
    expect(() => [...recovered.checkpoint!.parts()]).toThrow(/part 1 fails its checksum/);
    await again.close();
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
    expect(() => OpLog.open<Op>(dir)).toThrow(/format 99; this master reads format 2/);
  });
});
