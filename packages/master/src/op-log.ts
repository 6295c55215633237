// The master's operation log (GFS §2.6.3) in SQLite: every metadata mutation
// is a record, durable (WAL, synchronous=FULL) before anyone is answered or
// can observe it. Records arriving together share one commit (group commit).
// Checkpoints hold a full snapshot; recovery = newest checkpoint + the records
// after it. The log is generic over the record type: the master decides what
// an operation is, this module only keeps them safe and in order.
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { crc32c } from "@gfs/common";

/** Bumped when the on-disk layout changes incompatibly; older layouts are refused, not guessed at. */
export const OP_LOG_FORMAT = 2;
/** Version stamped on each record's payload so later code can still read older records. */
export const RECORD_FORMAT = 1;

export class OpLogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OpLogError";
  }
}

/**
 * A complete checkpoint: the state after record `lastSeq`, stored as a series
 * of parts (strings the caller chose) so that neither writing nor reading it
 * needs the whole serialized state in memory at once.
 */
export interface StoredCheckpoint {
  lastSeq: number;
  createdMs: number;
  partCount: number;
  /** The parts in order, each checked against its checksum; throws OpLogError on damage. */
  parts(): IterableIterator<string>;
}

export interface Recovered<Op> {
  /** The newest complete checkpoint, if any. */
  checkpoint: StoredCheckpoint | undefined;
  /** Records after the checkpoint, in commit order. */
  records: Op[];
  /** Sequence number of the last record (0 for an empty log). */
  lastSeq: number;
}

export interface OpLogStats {
  /** Records appended since open. */
  records: number;
  /** Transactions committed since open (one fsync each). */
  commits: number;
  checkpoints: number;
}

interface Pending<Op> {
  op: Op;
  resolve: () => void;
  reject: (e: Error) => void;
}

const sqliteFile = "oplog.sqlite";

export class OpLog<Op> {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private queue: Array<Pending<Op>> = [];
  private flushScheduled = false;
  private flushing: Promise<void> | undefined;
  private seq: number;
  private readonly stats_: OpLogStats = { records: 0, commits: 0, checkpoints: 0 };
  private recordsSinceCheckpoint = 0;
  private failed: Error | undefined;
  private checkpointing = false;

  private constructor(db: Database.Database, lastSeq: number) {
    this.db = db;
    this.seq = lastSeq;
    this.insert = db.prepare("INSERT INTO log (seq, format, crc, payload) VALUES (?, ?, ?, ?)");
  }

  /**
   * Opens (creating if needed) the log in `dir` and reads back what it holds.
   * Refuses a directory written by an incompatible version, and a corrupt or
   * torn record, with a message that says which and where.
   */
  static open<Op>(dir: string): { log: OpLog<Op>; recovered: Recovered<Op> } {
    mkdirSync(dir, { recursive: true });
    const db = new Database(join(dir, sqliteFile));
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, format INTEGER NOT NULL, crc INTEGER NOT NULL, payload TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL, format INTEGER NOT NULL,
          created_ms INTEGER NOT NULL, part_count INTEGER NOT NULL, complete INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS checkpoint_part (checkpoint_id INTEGER NOT NULL, n INTEGER NOT NULL, crc INTEGER NOT NULL,
          payload TEXT NOT NULL, PRIMARY KEY (checkpoint_id, n));
      `);
      const format = db.prepare("SELECT value FROM meta WHERE key = 'format'").pluck().get() as string | undefined;
      if (format === undefined) {
        db.prepare("INSERT INTO meta (key, value) VALUES ('format', ?)").run(String(OP_LOG_FORMAT));
      } else if (Number(format) !== OP_LOG_FORMAT) {
        throw new OpLogError(`${join(dir, sqliteFile)} was written in op-log format ${format}; this master reads format ${OP_LOG_FORMAT}`);
      }
      // A checkpoint a crash interrupted was never complete: it is never used, only removed.
      OpLog.dropIncompleteCheckpoints(db);
      const recovered = OpLog.readBack<Op>(db, dir);
      return { log: new OpLog<Op>(db, recovered.lastSeq), recovered };
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private static dropIncompleteCheckpoints(db: Database.Database): void {
    db.transaction(() => {
      db.prepare("DELETE FROM checkpoint_part WHERE checkpoint_id IN (SELECT id FROM checkpoint WHERE complete = 0)").run();
      db.prepare("DELETE FROM checkpoint WHERE complete = 0").run();
    })();
  }

  private static readBack<Op>(db: Database.Database, dir: string): Recovered<Op> {
    const cp = db.prepare("SELECT id, last_seq, format, created_ms, part_count FROM checkpoint WHERE complete = 1 ORDER BY last_seq DESC, id DESC LIMIT 1").get() as
      { id: number; last_seq: number; format: number; created_ms: number; part_count: number } | undefined;
    let checkpoint: StoredCheckpoint | undefined;
    let after = 0;
    if (cp) {
      if (cp.format > RECORD_FORMAT) throw new OpLogError(`checkpoint in ${dir} has format ${cp.format}, newer than this master's ${RECORD_FORMAT}`);
      const select = db.prepare("SELECT n, crc, payload FROM checkpoint_part WHERE checkpoint_id = ? ORDER BY n");
      checkpoint = {
        lastSeq: cp.last_seq, createdMs: cp.created_ms, partCount: cp.part_count,
        *parts() {
          let expected = 0;
          for (const row of select.iterate(cp.id) as Iterable<{ n: number; crc: number; payload: string }>) {
            if (row.n !== expected) throw new OpLogError(`checkpoint up to record ${cp.last_seq} in ${dir} is missing part ${expected}; refusing to guess`);
            if (crc32c(Buffer.from(row.payload, "utf8")) !== row.crc) {
              throw new OpLogError(`checkpoint up to record ${cp.last_seq} in ${dir}: part ${row.n} fails its checksum; refusing to guess`);
            }
            yield row.payload;
            expected++;
          }
          if (expected !== cp.part_count) {
            throw new OpLogError(`checkpoint up to record ${cp.last_seq} in ${dir} has ${expected} of ${cp.part_count} parts; refusing to guess`);
          }
        },
      };
      after = cp.last_seq;
    }
    const records: Op[] = [];
    let expected = after + 1;
    let lastSeq = after;
    for (const row of db.prepare("SELECT seq, format, crc, payload FROM log WHERE seq > ? ORDER BY seq").iterate(after) as
      Iterable<{ seq: number; format: number; crc: number; payload: string }>) {
      if (row.seq !== expected) throw new OpLogError(`op log in ${dir} has a gap: record ${expected} is missing before ${row.seq}`);
      if (row.format > RECORD_FORMAT) throw new OpLogError(`record ${row.seq} in ${dir} has format ${row.format}, newer than this master's ${RECORD_FORMAT}`);
      if (crc32c(Buffer.from(row.payload, "utf8")) !== row.crc) throw new OpLogError(`record ${row.seq} in ${dir} is corrupt (checksum mismatch); refusing to replay past it`);
      let op: Op;
      try {
        op = JSON.parse(row.payload) as Op;
      } catch {
        throw new OpLogError(`record ${row.seq} in ${dir} is not valid JSON; refusing to replay past it`);
      }
      records.push(op);
      lastSeq = row.seq;
      expected++;
    }
    return { checkpoint, records, lastSeq };
  }

  /**
   * Appends `op`; resolves once it is durable. Ops appended in the same turn
   * of the event loop (and while a commit is in progress) share one commit.
   */
  append(op: Op): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      this.scheduleFlush();
    });
  }

  /** Resolves when everything appended so far is durable (a read barrier). */
  async whenDurable(): Promise<void> {
    while (this.queue.length || this.flushing) {
      if (this.flushing) await this.flushing;
      else await new Promise<void>((r) => setImmediate(r));
    }
    if (this.failed) throw this.failed;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate lets every request already read from the sockets join this commit.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushing = this.flush().finally(() => {
        this.flushing = undefined;
        if (this.queue.length) this.scheduleFlush();
      });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    if (!batch.length) return;
    const first = this.seq + 1;
    try {
      this.db.transaction(() => {
        let seq = first;
        for (const p of batch) {
          const payload = JSON.stringify(p.op);
          this.insert.run(seq++, RECORD_FORMAT, crc32c(Buffer.from(payload, "utf8")), payload);
        }
      })();
    } catch (e) {
      // A log that cannot be written (full disk, I/O error) must stop the master from acknowledging anything.
      this.failed = new OpLogError(`op log write failed: ${(e as Error).message}`);
      for (const p of batch) p.reject(this.failed);
      return;
    }
    this.seq += batch.length;
    this.stats_.records += batch.length;
    this.stats_.commits++;
    this.recordsSinceCheckpoint += batch.length;
    for (const p of batch) p.resolve();
  }

  /** Sequence number of the last durable record. */
  get lastSeq(): number {
    return this.seq;
  }

  get stats(): Readonly<OpLogStats> {
    return this.stats_;
  }

  get recordsSinceLastCheckpoint(): number {
    return this.recordsSinceCheckpoint;
  }

  /**
   * Stores `parts` as the state after record `lastSeq`, then drops the records
   * and older checkpoints it covers. Parts are written in several short
   * transactions (the event loop runs between them, so commits go on); the
   * checkpoint only counts once a final transaction marks it complete, so a
   * crash leaves either the old checkpoint and all records, or the new one.
   * The caller must pass the state after exactly the records up to `lastSeq`.
   */
  async checkpoint(parts: Iterable<string>, lastSeq: number, nowMs: number, partsPerTransaction = 64): Promise<void> {
    if (this.checkpointing) throw new OpLogError("a checkpoint is already being written");
    if (lastSeq > this.seq) throw new OpLogError(`checkpoint at ${lastSeq} is past the last durable record ${this.seq}`);
    this.checkpointing = true;
    try {
      OpLog.dropIncompleteCheckpoints(this.db);
      const id = Number(this.db.prepare("INSERT INTO checkpoint (last_seq, format, created_ms, part_count, complete) VALUES (?, ?, ?, 0, 0)")
        .run(lastSeq, RECORD_FORMAT, nowMs).lastInsertRowid);
      const insertPart = this.db.prepare("INSERT INTO checkpoint_part (checkpoint_id, n, crc, payload) VALUES (?, ?, ?, ?)");
      const it = parts[Symbol.iterator]();
      let n = 0;
      for (let done = false; !done;) {
        if (this.failed) throw this.failed;
        this.db.transaction(() => {
          for (let k = 0; k < partsPerTransaction; k++) {
            const next = it.next();
            if (next.done) { done = true; return; }
            insertPart.run(id, n++, crc32c(Buffer.from(next.value, "utf8")), next.value);
          }
        })();
        if (!done) await new Promise<void>((r) => setImmediate(r));
      }
      this.db.transaction(() => {
        this.db.prepare("UPDATE checkpoint SET part_count = ?, complete = 1 WHERE id = ?").run(n, id);
        this.db.prepare("DELETE FROM checkpoint_part WHERE checkpoint_id IN (SELECT id FROM checkpoint WHERE id != ?)").run(id);
        this.db.prepare("DELETE FROM checkpoint WHERE id != ?").run(id);
        this.db.prepare("DELETE FROM log WHERE seq <= ?").run(lastSeq);
      })();
      this.recordsSinceCheckpoint = this.seq - lastSeq;
      this.stats_.checkpoints++;
    } finally {
      this.checkpointing = false;
    }
  }

  get checkpointInProgress(): boolean {
    return this.checkpointing;
  }

  /** The log failed to write: nothing may be acknowledged any more. */
  get failure(): Error | undefined {
    return this.failed;
  }

  async close(): Promise<void> {
    await this.whenDurable().catch(() => {});
    this.db.close();
  }
}
