import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { OpLog, OpLogError } from "../src/op-log";

type Op = { op: string; n: number };
type Snap = { sum: number; count: number };

const dirs: string[] = [];
const freshDir = () => { const d = mkdtempSync(join(tmpdir(), "oplog-")); dirs.push(d); return d; };
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

describe("operation log", () => {
  it("an acknowledged record survives a reopen, in order", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op, Snap>(dir);
    for (let n = 1; n <= 5; n++) await log.append({ op: "add", n });
    await log.close();
    const { log: again, recovered } = OpLog.open<Op, Snap>(dir);
    expect(recovered.checkpoint).toBeUndefined();
    expect(recovered.records.map((r) => r.n)).toEqual([1, 2, 3, 4, 5]);
    expect(recovered.lastSeq).toBe(5);
    await again.close();
  });

  it("concurrent records share commits (group commit): far fewer commits than records", async () => {
    const { log } = OpLog.open<Op, Snap>(freshDir());
    await Promise.all(Array.from({ length: 500 }, (_, n) => log.append({ op: "add", n })));
    expect(log.stats.records).toBe(500);
    expect(log.stats.commits).toBeLessThan(50);
    expect(log.stats.commits).toBeGreaterThan(0);
    await log.close();
  });

  it("whenDurable waits for records still being committed", async () => {
    const { log } = OpLog.open<Op, Snap>(freshDir());
    let done = false;
    void log.append({ op: "add", n: 1 }).then(() => { done = true; });
    await log.whenDurable();
    expect(done).toBe(true);
    await log.close();
  });

  it("recovery is the newest checkpoint plus the records after it", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op, Snap>(dir);
    for (let n = 1; n <= 10; n++) await log.append({ op: "add", n });
    log.checkpoint({ sum: 55, count: 10 }, log.lastSeq, 1000);
    for (let n = 11; n <= 12; n++) await log.append({ op: "add", n });
    await log.close();
    const { log: again, recovered } = OpLog.open<Op, Snap>(dir);
    expect(recovered.checkpoint).toEqual({ sum: 55, count: 10 });
    expect(recovered.records.map((r) => r.n)).toEqual([11, 12]);
    expect(recovered.lastSeq).toBe(12);
    await again.append({ op: "add", n: 13 });
    expect(again.lastSeq).toBe(13);
    await again.close();
  });

  it("a checkpoint drops the records it covers", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op, Snap>(dir);
    for (let n = 1; n <= 4; n++) await log.append({ op: "add", n });
    log.checkpoint({ sum: 10, count: 4 }, 4, 1);
    await log.close();
    const db = new Database(join(dir, "oplog.sqlite"));
    expect(db.prepare("SELECT COUNT(*) FROM log").pluck().get()).toBe(0);
    db.close();
  });

  it("a corrupt record is refused with a clear message, not replayed", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op, Snap>(dir);
    for (let n = 1; n <= 3; n++) await log.append({ op: "add", n });
    await log.close();
    const db = new Database(join(dir, "oplog.sqlite"));
    db.prepare("UPDATE log SET payload = ? WHERE seq = 2").run(JSON.stringify({ op: "add", n: 99 }));
    db.close();
    expect(() => OpLog.open<Op, Snap>(dir)).toThrow(/record 2 .* corrupt/);
  });

  it("a torn log (a missing record) is refused", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op, Snap>(dir);
    for (let n = 1; n <= 3; n++) await log.append({ op: "add", n });
    await log.close();
    const db = new Database(join(dir, "oplog.sqlite"));
    db.prepare("DELETE FROM log WHERE seq = 2").run();
    db.close();
    expect(() => OpLog.open<Op, Snap>(dir)).toThrow(OpLogError);
    expect(() => OpLog.open<Op, Snap>(dir)).toThrow(/gap: record 2 is missing/);
  });

  it("a directory written by an incompatible version is refused", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op, Snap>(dir);
    await log.close();
    const db = new Database(join(dir, "oplog.sqlite"));
    db.prepare("UPDATE meta SET value = '99' WHERE key = 'format'").run();
    db.close();
    expect(() => OpLog.open<Op, Snap>(dir)).toThrow(/format 99; this master reads format 1/);
  });
});
