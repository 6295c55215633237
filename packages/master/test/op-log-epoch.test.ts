// The op log's issue-16 additions: the epoch column (format 4, upgraded in
// place from format 3), what log shipping reads (lastRecord, recordInfo,
// recordsAfter, onBatch) and what a shadow writes (appendReplicated,
// installCheckpoint).
import Database from "better-sqlite3";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { crc32c } from "@gfs/common";
import { OP_LOG_FORMAT, OpLog, type LogRecord } from "../src/op-log";

type Op = { op: string; n: number };

const dirs: string[] = [];
const freshDir = () => { const d = mkdtempSync(join(tmpdir(), "oplog-epoch-")); dirs.push(d); return d; };
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

const record = (seq: number, epoch: number, n: number): LogRecord => {
  const payload = JSON.stringify({ op: "add", n });
  return { seq, epoch, format: 1, crc: crc32c(Buffer.from(payload, "utf8")), payload };
};

/** A log directory as a format-3 master (before issue 16) left it: three records, no epoch column. */
function formatThreeLog(dir: string): void {
  const db = new Database(join(dir, "oplog.sqlite"));
  db.exec(`
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE log (seq INTEGER PRIMARY KEY, format INTEGER NOT NULL, crc INTEGER NOT NULL, payload TEXT NOT NULL);
    CREATE TABLE checkpoint (id INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL, file TEXT NOT NULL, created_ms INTEGER NOT NULL);
    INSERT INTO meta (key, value) VALUES ('format', '3');
  `);
  for (let n = 1; n <= 3; n++) {
    const r = record(n, 0, n);
    db.prepare("INSERT INTO log (seq, format, crc, payload) VALUES (?, ?, ?, ?)").run(r.seq, r.format, r.crc, r.payload);
  }
  db.close();
}

describe("op log epochs (format 4)", () => {
  it("a format-3 log is upgraded in place: its records kept, as epoch 0, and new records carry the epoch", async () => {
    const dir = freshDir();
    formatThreeLog(dir);
    const { log, recovered } = OpLog.open<Op>(dir);
    expect(recovered.records.map((r) => r.n)).toEqual([1, 2, 3]);
    expect(log.lastRecord()).toEqual({ seq: 3, epoch: 0, crc: record(3, 0, 3).crc });
    log.epoch = 7;
    await log.append({ op: "add", n: 4 });
    expect(log.lastRecord()?.epoch).toBe(7);
    await log.close();
    const db = new Database(join(dir, "oplog.sqlite"), { readonly: true });
    expect(db.prepare("SELECT value FROM meta WHERE key = 'format'").pluck().get()).toBe(String(OP_LOG_FORMAT));
    expect(db.prepare("SELECT seq, epoch FROM log ORDER BY seq").all()).toEqual([
      { seq: 1, epoch: 0 }, { seq: 2, epoch: 0 }, { seq: 3, epoch: 0 }, { seq: 4, epoch: 7 },
    ]);
    db.close();
    // And the upgraded log opens again as format 4.
    const { log: again, recovered: r2 } = OpLog.open<Op>(dir);
    expect(r2.records.map((r) => r.n)).toEqual([1, 2, 3, 4]);
    await again.close();
  });

  it("onBatch sees each batch before it is durable, with the seqs and epoch the log stores", async () => {
    const { log } = OpLog.open<Op>(freshDir());
    log.epoch = 3;
    const seen: Array<{ seq: number; epoch: number; durableAtCall: number }> = [];
    log.onBatch = (rows) => { for (const r of rows) seen.push({ seq: r.seq, epoch: r.epoch, durableAtCall: log.lastSeq }); };
    await Promise.all([log.append({ op: "add", n: 1 }), log.append({ op: "add", n: 2 })]);
    expect(seen.map((s) => [s.seq, s.epoch])).toEqual([[1, 3], [2, 3]]);
    expect(seen.every((s) => s.durableAtCall < s.seq)).toBe(true);
    expect(log.recordsAfter(0, 10)?.map((r) => [r.seq, r.epoch])).toEqual([[1, 3], [2, 3]]);
    await log.close();
  });

  it("recordsAfter is undefined before the checkpoint, and the checkpoint keeps its last record's epoch and crc for matching", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    log.epoch = 5;
    for (let n = 1; n <= 4; n++) await log.append({ op: "add", n });
    const r3 = log.recordInfo(3);
    await log.checkpoint(["state"], 3, 1);
    expect(log.recordsAfter(2, 10)).toBeUndefined();
    expect(log.recordsAfter(3, 10)?.map((r) => r.seq)).toEqual([4]);
    expect(log.recordInfo(3)).toEqual(r3);
    expect(log.recordInfo(2)).toBeUndefined();
    await log.checkpoint(["state2"], 4, 2);
    await log.close();
    const { log: again } = OpLog.open<Op>(dir);
    expect(again.lastRecord()).toEqual({ seq: 4, epoch: 5, crc: expect.any(Number) });
    expect(again.lastRecord()!.crc).toBeGreaterThanOrEqual(0);
    await again.close();
  });

  it("appendReplicated writes the next records durably with their epochs, and refuses a gap, a bad crc or an epoch going back, writing nothing", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    await log.appendReplicated([record(1, 4, 1), record(2, 4, 2)]);
    expect(log.lastRecord()).toEqual({ seq: 2, epoch: 4, crc: record(2, 4, 2).crc });
    await expect(log.appendReplicated([record(4, 4, 4)])).rejects.toThrow(/record 4 does not continue the log at 2/);
    const bad = { ...record(3, 4, 3), crc: 1 };
    await expect(log.appendReplicated([bad])).rejects.toThrow(/record 3 fails its checksum/);
    await expect(log.appendReplicated([record(3, 2, 3)])).rejects.toThrow(/epoch 2, below the 4/);
    expect(log.lastSeq).toBe(2);
    // Pipelined batches chain: the second follows the first before it is durable.
    await Promise.all([log.appendReplicated([record(3, 4, 3)]), log.appendReplicated([record(4, 6, 4)])]);
    await log.close();
    const { log: again, recovered } = OpLog.open<Op>(dir);
    expect(recovered.records.map((r) => r.n)).toEqual([1, 2, 3, 4]);
    expect(again.lastRecord()?.epoch).toBe(6);
    await again.close();
  });

  it("installCheckpoint drops the log and older checkpoints and starts from the given one", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    for (let n = 1; n <= 5; n++) await log.append({ op: "add", n });
    await log.checkpoint(["old"], 2, 1);
    await log.installCheckpoint(["p1", "p2"], 9, { epoch: 8, crc: 1234 });
    expect(log.lastRecord()).toEqual({ seq: 9, epoch: 8, crc: 1234 });
    await log.appendReplicated([record(10, 8, 10)]);
    await log.close();
    expect(readdirSync(dir).filter((f) => f.startsWith("checkpoint-"))).toEqual(["checkpoint-000000000009.sqlite"]);
    const { log: again, recovered } = OpLog.open<Op>(dir);
    expect([...recovered.checkpoint!.parts()]).toEqual(["p1", "p2"]);
    expect(recovered.records.map((r) => r.n)).toEqual([10]);
    expect(again.recordInfo(9)).toEqual({ seq: 9, epoch: 8, crc: 1234 });
    await again.close();
  });

  it("installCheckpoint over a checkpoint of the same record writes the new one beside it before swapping (the current file is never overwritten in place)", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    for (let n = 1; n <= 3; n++) await log.append({ op: "add", n });
    await log.checkpoint(["mine"], 3, 1);
    await log.installCheckpoint(["theirs"], 3, { epoch: 7, crc: 42 });
    await log.installCheckpoint(["theirs again"], 3, { epoch: 7, crc: 42 });
    await log.close();
    expect(readdirSync(dir).filter((f) => f.startsWith("checkpoint-"))).toEqual(["checkpoint-000000000003.sqlite"]);
    const { log: again, recovered } = OpLog.open<Op>(dir);
    expect([...recovered.checkpoint!.parts()]).toEqual(["theirs again"]);
    expect(again.lastRecord()).toEqual({ seq: 3, epoch: 7, crc: 42 });
    await again.close();
  });

  it("the last record known acknowledged is stored with the log's commits and at close; a log that never had one reports none", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    await log.appendReplicated([record(1, 2, 1), record(2, 2, 2)]);
    log.noteAcknowledged(1);
    await log.appendReplicated([record(3, 2, 3)]); // carries "1 acknowledged" in its transaction
    await log.close(); // no hint newer than 1
    let again = OpLog.open<Op>(dir);
    expect(again.recovered.lastSeq).toBe(3);
    expect(again.recovered.acknowledgedSeq).toBe(1);
    again.log.noteAcknowledged(3);
    await again.log.close(); // stored at close
    again = OpLog.open<Op>(dir);
    expect(again.recovered.acknowledgedSeq).toBe(3);
    await again.log.close();
    const single = OpLog.open<Op>(freshDir());
    await single.log.append({ op: "add", n: 1 });
    await single.log.close();
    const reopened = OpLog.open<Op>(single.log.dir);
    expect(reopened.recovered.acknowledgedSeq).toBeUndefined();
    await reopened.log.close();
  });

  it("a checkpoint built from the log before installCheckpoint replaced it cannot be registered", async () => {
    const dir = freshDir();
    const { log } = OpLog.open<Op>(dir);
    await log.appendReplicated([record(1, 1, 1), record(2, 1, 2), record(3, 1, 3)]);
    const resets = log.resets; // a checkpointer starts building from records 1-3 here
    await log.installCheckpoint(["theirs"], 2, { epoch: 2, crc: 5 });
    await log.appendReplicated([record(3, 2, 30), record(4, 2, 40)]);
    await expect(log.registerCheckpoint(3, "checkpoint-000000000003.sqlite", 1, resets)).rejects.toThrow(/built from a log since replaced/);
    expect(log.checkpointLastSeq).toBe(2);
    await log.close();
  });

  it("a log taking replicated records takes none of its own meanwhile", async () => {
    const { log } = OpLog.open<Op>(freshDir());
    const p = log.appendReplicated([record(1, 1, 1)]);
    await expect(log.append({ op: "add", n: 9 })).rejects.toThrow(/another master/);
    await p;
    await log.append({ op: "add", n: 2 }); // once durable, a promoted shadow writes its own
    expect(log.lastSeq).toBe(2);
    await log.close();
  });
});
