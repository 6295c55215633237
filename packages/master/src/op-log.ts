// The master's operation log (GFS §2.6.3) in SQLite: every metadata mutation
// is a record, durable (WAL, synchronous=FULL) before anyone is answered or
// can observe it. Records arriving together share one commit (group commit).
// Checkpoints hold a full snapshot; recovery = newest checkpoint + the records
// after it. The log is generic over the record type: the master decides what
// an operation is, this module only keeps them safe and in order.
import Database from "better-sqlite3";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { crc32c, defaults } from "@gfs/common";
import { checkpointFileName, isCheckpointFileName, openCheckpointFile, writeCheckpointFile, type StoredCheckpoint } from "./checkpoint-file";
import { OpLogError } from "./op-log-error";
import { LogWriter, type LogRow } from "./op-log-writer";

export { OpLogError } from "./op-log-error";
export type { StoredCheckpoint } from "./checkpoint-file";

/**
 * Bumped when the on-disk layout changes; older layouts are refused, not
 * guessed at, except format 3 (before issue 16), upgraded in place at open:
 * format 4 adds each record's epoch (0 for the records of a single master)
 * and the epoch and CRC of the record a checkpoint ends at.
 */
export const OP_LOG_FORMAT = 4;
/** Version stamped on each record's payload so later code can still read older records. */
export const RECORD_FORMAT = 1;

/** One record as the log stores and ships it (the shape of proto LogRecord). */
export interface LogRecord {
  seq: number;
  /** The epoch of the active master that wrote it (0: a single master). */
  epoch: number;
  format: number;
  /** CRC32C of payload. */
  crc: number;
  payload: string;
}

/**
 * Which record ends the log (or a checkpoint): with seq, what log matching
 * compares. epoch and crc are -1 when unknown (a checkpoint taken by a format-3 log).
 */
export interface RecordInfo {
  seq: number;
  epoch: number;
  crc: number;
}

export interface Recovered<Op> {
  /** The newest complete checkpoint, if any. */
  checkpoint: StoredCheckpoint | undefined;
  /** Records after the checkpoint, in commit order. */
  records: Op[];
  /** Sequence number of the last record (0 for an empty log). */
  lastSeq: number;
  /**
   * Replicated master (issue 16): the highest record known to have been acknowledged to clients when it was last
   * stored (undefined: never stored, as in a single master's log). A shadow serves state up to here only.
   */
  acknowledgedSeq?: number;
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
  resolve: (seq: number) => void;
  reject: (e: Error) => void;
}

const sqliteFile = "oplog.sqlite";

/** The commit linger (see defaults.oplog_commit_linger_ms), exported for tests. */
export const COMMIT_LINGER_MS = defaults.oplog_commit_linger_ms;

const toRow = (r: LogRecord): LogRow => [r.seq, r.format, r.crc, r.payload, r.epoch];

export class OpLog<Op> {
  private readonly db: Database.Database;
  private readonly writer: LogWriter;
  private queue: Array<Pending<Op>> = [];
  private flushScheduled = false;
  /** Set while the next commit waits for the writers the last one answered (see COMMIT_LINGER_MS). */
  private linger: NodeJS.Timeout | undefined;
  private lingerUntilQueued = 0;
  private flushing: Promise<void> | undefined;
  private seq: number;
  private readonly stats_: OpLogStats = { records: 0, commits: 0, checkpoints: 0 };
  private recordsSinceCheckpoint = 0;
  private failed: Error | undefined;
  private checkpointing = false;
  /** Record the current checkpoint covers (0 without one). */
  private checkpointSeq: number;
  /** The last durable record (undefined: an empty log). */
  private last: RecordInfo | undefined;
  /** Last record handed to appendReplicated, durable or not (while replicaBatches > 0): the next one must follow it. */
  private replicatedSeq = 0;
  private lastReplicatedEpoch = 0;
  /** appendReplicated batches not yet durable. */
  private replicaBatches = 0;
  private replicating: Promise<void> = Promise.resolve();
  /** Bumped when installCheckpoint replaces the log: a checkpoint built from the log before cannot be registered after. */
  private resets_ = 0;
  /** Epoch stamped on the records appended from now on (the active master's; 0 for a single master). */
  epoch = 0;
  /**
   * Called with each batch of records as it goes to the local commit, before
   * it is durable, so the active master can ship it in parallel (log-shipper.ts).
   */
  onBatch: ((records: LogRecord[]) => void) | undefined;

  private constructor(readonly dir: string, db: Database.Database, file: string, lastSeq: number, checkpointSeq: number) {
    this.db = db;
    this.checkpointSeq = checkpointSeq;
    this.seq = lastSeq;
    this.last = this.readLastRecord();
    if ((this.last?.seq ?? 0) !== lastSeq) throw new OpLogError(`op log in ${dir} ends at record ${lastSeq} but its last row says ${this.last?.seq ?? 0}`);
    this.writer = new LogWriter(file);
  }

  private readLastRecord(): RecordInfo | undefined {
    const row = this.db.prepare("SELECT seq, epoch, crc FROM log ORDER BY seq DESC LIMIT 1").get() as RecordInfo | undefined;
    return row ?? this.checkpointRecord();
  }

  /** The record the current checkpoint ends at, as far as the log knows it. */
  private checkpointRecord(): RecordInfo | undefined {
    const cp = this.db.prepare("SELECT last_seq, last_epoch, last_crc FROM checkpoint ORDER BY last_seq DESC, id DESC LIMIT 1").get() as
      { last_seq: number; last_epoch: number | null; last_crc: number | null } | undefined;
    return cp && { seq: cp.last_seq, epoch: cp.last_epoch ?? -1, crc: cp.last_crc ?? -1 };
  }

  /**
   * Opens (creating if needed) the log in `dir` and reads back what it holds.
   * Refuses a directory written by an incompatible version, and a corrupt or
   * torn record, with a message that says which and where.
   */
  static open<Op>(dir: string): { log: OpLog<Op>; recovered: Recovered<Op> } {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, sqliteFile);
    const db = new Database(file, { timeout: 10_000 });
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
      const format = db.prepare("SELECT value FROM meta WHERE key = 'format'").pluck().get() as string | undefined;
      if (format === undefined) {
        db.transaction(() => {
          db.exec(`
            CREATE TABLE log (seq INTEGER PRIMARY KEY, format INTEGER NOT NULL, crc INTEGER NOT NULL, payload TEXT NOT NULL, epoch INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE checkpoint (id INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL, file TEXT NOT NULL, created_ms INTEGER NOT NULL, last_epoch INTEGER, last_crc INTEGER);
          `);
          db.prepare("INSERT INTO meta (key, value) VALUES ('format', ?)").run(String(OP_LOG_FORMAT));
        })();
      } else if (Number(format) === 3) {
        // Before issue 16: one master, so every record is epoch 0. A checkpoint's last record is gone: its epoch and CRC stay unknown (NULL).
        db.transaction(() => {
          db.exec(`
            ALTER TABLE log ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE checkpoint ADD COLUMN last_epoch INTEGER;
            ALTER TABLE checkpoint ADD COLUMN last_crc INTEGER;
          `);
          db.prepare("UPDATE meta SET value = ? WHERE key = 'format'").run(String(OP_LOG_FORMAT));
        })();
      } else if (Number(format) !== OP_LOG_FORMAT) {
        throw new OpLogError(`${join(dir, sqliteFile)} was written in op-log format ${format}; this master reads format ${OP_LOG_FORMAT}`);
      }
      const recovered = OpLog.readBack<Op>(db, dir, Number.MAX_SAFE_INTEGER);
      const acknowledged = db.prepare("SELECT value FROM meta WHERE key = 'acknowledged_seq'").pluck().get() as string | undefined;
      if (acknowledged !== undefined) recovered.acknowledgedSeq = Math.min(Number(acknowledged), recovered.lastSeq);
      // Checkpoint files the log does not point at were interrupted or superseded: never used, only removed.
      const current = db.prepare("SELECT file FROM checkpoint ORDER BY last_seq DESC, id DESC LIMIT 1").pluck().get() as string | undefined;
      for (const name of readdirSync(dir)) {
        if (isCheckpointFileName(name) && !(current && name.startsWith(current))) rmSync(join(dir, name), { force: true });
      }
      return { log: new OpLog<Op>(dir, db, file, recovered.lastSeq, recovered.checkpoint?.lastSeq ?? 0), recovered };
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /**
   * The newest checkpoint and the records after it up to `upToSeq`, read
   * through a separate read-only connection in one read transaction, so it
   * can run beside a live log (the checkpoint worker uses it).
   */
  static readUpTo<Op>(dir: string, upToSeq: number): Recovered<Op> {
    const db = new Database(join(dir, sqliteFile), { readonly: true, fileMustExist: true });
    try {
      db.exec("BEGIN");
      // The checkpoint file stays open through its own connection, so it can be read after this (even if replaced).
      const r = OpLog.readBack<Op>(db, dir, upToSeq);
      db.exec("COMMIT");
      return r;
    } finally {
      db.close();
    }
  }

  private static readBack<Op>(db: Database.Database, dir: string, upToSeq: number): Recovered<Op> {
    const cp = db.prepare("SELECT last_seq, file FROM checkpoint ORDER BY last_seq DESC, id DESC LIMIT 1").get() as
      { last_seq: number; file: string } | undefined;
    const checkpoint = cp ? openCheckpointFile(dir, cp.file, cp.last_seq) : undefined;
    const after = cp?.last_seq ?? 0;
    const records: Op[] = [];
    let expected = after + 1;
    let lastSeq = after;
    for (const row of db.prepare("SELECT seq, format, crc, payload FROM log WHERE seq > ? AND seq <= ? ORDER BY seq").iterate(after, upToSeq) as
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
    return this.appendSeq(op).then(() => {});
  }

  /** As append; resolves to the record's sequence number. */
  appendSeq(op: Op): Promise<number> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.replicaBatches > 0) return Promise.reject(new OpLogError("records of another master are being written (appendReplicated): this log takes none of its own meanwhile"));
    return new Promise((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      if (this.linger && this.queue.length >= this.lingerUntilQueued) this.endLinger();
      this.scheduleFlush();
    });
  }

  private endLinger(): void {
    clearTimeout(this.linger);
    this.linger = undefined;
  }

  /** Resolves when everything appended so far is durable (a read barrier). */
  async whenDurable(): Promise<void> {
    while (this.replicaBatches) await this.replicating;
    while (this.queue.length || this.flushing) {
      if (this.linger) { this.endLinger(); this.scheduleFlush(); } // someone waits on it: commit now
      if (this.flushing) await this.flushing;
      else await new Promise<void>((r) => setImmediate(r));
    }
    if (this.failed) throw this.failed;
  }

  private scheduleFlush(): void {
    // One commit in flight at a time: records arriving meanwhile wait and share the next one.
    if (this.flushScheduled || this.flushing || this.linger) return;
    this.flushScheduled = true;
    // setImmediate lets every request already read from the sockets join this commit.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushing = this.flush().catch(() => 0).then((answered) => {
        this.flushing = undefined;
        if (answered >= 2 && !this.failed) {
          this.lingerUntilQueued = this.queue.length + answered;
          this.linger = setTimeout(() => { this.linger = undefined; this.scheduleFlush(); }, COMMIT_LINGER_MS);
        } else if (this.queue.length) {
          this.scheduleFlush();
        }
      });
    });
  }

  /** Commits what is queued; resolves (never rejects) to the number of writers it answered with success. */
  private async flush(): Promise<number> {
    const batch = this.queue;
    this.queue = [];
    if (!batch.length) return 0;
    if (this.failed) {
      for (const p of batch) p.reject(this.failed); // appended while the failing commit ran
      return 0;
    }
    const first = this.seq + 1;
    const epoch = this.epoch;
    let records: LogRecord[];
    try {
      records = batch.map((p, i): LogRecord => {
        const payload = JSON.stringify(p.op);
        return { seq: first + i, epoch, format: RECORD_FORMAT, crc: crc32c(Buffer.from(payload, "utf8")), payload };
      });
      this.onBatch?.(records);
      await this.writer.commit(records.map(toRow), this.acknowledgedHint);
    } catch (e) {
      // A log that cannot be written (full disk, I/O error) must stop the master from acknowledging anything.
      this.failed = new OpLogError(`op log write failed: ${(e as Error).message}`);
      for (const p of batch) p.reject(this.failed);
      return 0;
    }
    this.committed(records);
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(first + i);
    return batch.length;
  }

  private committed(records: LogRecord[]): void {
    const r = records[records.length - 1]!;
    this.seq = r.seq;
    this.last = { seq: r.seq, epoch: r.epoch, crc: r.crc };
    this.stats_.records += records.length;
    this.stats_.commits++;
    this.recordsSinceCheckpoint += records.length;
  }

  /** The last durable record: what a shadow tells the active its log ends with. */
  lastRecord(): RecordInfo | undefined {
    return this.last;
  }

  /** Record `seq` as far as log matching needs it; undefined if this log does not hold it (before the checkpoint, or not durable). */
  recordInfo(seq: number): RecordInfo | undefined {
    if (seq <= 0 || seq > this.seq || seq < this.checkpointSeq) return undefined;
    if (seq === this.checkpointSeq) return this.checkpointRecord();
    return this.db.prepare("SELECT seq, epoch, crc FROM log WHERE seq = ?").get(seq) as RecordInfo | undefined;
  }

  /**
   * Up to `max` durable records after `seq`, in order; undefined when record
   * seq + 1 is no longer in the log (a checkpoint covers it: ship the checkpoint).
   */
  recordsAfter(seq: number, max: number): LogRecord[] | undefined {
    if (seq < this.checkpointSeq) return undefined;
    return this.db.prepare("SELECT seq, epoch, format, crc, payload FROM log WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?")
      .all(seq, this.seq, max) as LogRecord[];
  }

  /** How many times installCheckpoint replaced the log (see registerCheckpoint). */
  get resets(): number {
    return this.resets_;
  }

  /** Sequence number of the record the current checkpoint ends at (0 without one). */
  get checkpointLastSeq(): number {
    return this.checkpointSeq;
  }

  /** The current checkpoint, to ship (its parts are read from its own connection, so a newer one may replace it meanwhile). */
  currentCheckpoint(): { checkpoint: StoredCheckpoint; last: RecordInfo } | undefined {
    const cp = this.db.prepare("SELECT last_seq, file FROM checkpoint ORDER BY last_seq DESC, id DESC LIMIT 1").get() as
      { last_seq: number; file: string } | undefined;
    return cp && { checkpoint: openCheckpointFile(this.dir, cp.file, cp.last_seq), last: this.checkpointRecord()! };
  }

  /**
   * A shadow's log: writes records another master wrote (same seq, epoch,
   * crc), which must continue this log exactly; resolves once they are
   * durable. Refuses (one line, nothing written) a gap, a bad CRC, an epoch
   * going back, or a payload that is no JSON.
   */
  appendReplicated(records: LogRecord[]): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.queue.length || this.flushing) return Promise.reject(new OpLogError("records of this master's own are being committed: it cannot follow another's log"));
    if (!records.length) return this.replicating;
    let expected = (this.replicaBatches ? this.replicatedSeq : this.seq) + 1;
    let epoch = this.replicaBatches ? this.lastReplicatedEpoch : Math.max(0, this.last?.epoch ?? 0);
    for (const r of records) {
      if (r.seq !== expected) return Promise.reject(new OpLogError(`replicated record ${r.seq} does not continue the log at ${expected - 1}`));
      if (r.format > RECORD_FORMAT) return Promise.reject(new OpLogError(`replicated record ${r.seq} has format ${r.format}, newer than this master's ${RECORD_FORMAT}`));
      if (crc32c(Buffer.from(r.payload, "utf8")) !== r.crc) return Promise.reject(new OpLogError(`replicated record ${r.seq} fails its checksum`));
      if (r.epoch < epoch) return Promise.reject(new OpLogError(`replicated record ${r.seq} has epoch ${r.epoch}, below the ${epoch} of the record before it`));
      try { JSON.parse(r.payload); } catch { return Promise.reject(new OpLogError(`replicated record ${r.seq} is not valid JSON`)); }
      expected++;
      epoch = r.epoch;
    }
    this.replicatedSeq = expected - 1;
    this.lastReplicatedEpoch = epoch;
    this.replicaBatches++;
    const rows = records.map((r) => ({ seq: r.seq, epoch: r.epoch, format: r.format, crc: r.crc, payload: r.payload }));
    const done = this.replicating.then(async () => {
      if (this.failed) throw this.failed;
      try {
        await this.writer.commit(rows.map(toRow), this.acknowledgedHint);
      } catch (e) {
        this.failed = new OpLogError(`op log write failed: ${(e as Error).message}`);
        throw this.failed;
      }
      this.committed(rows);
    }).finally(() => { this.replicaBatches--; });
    this.replicating = done.catch(() => {});
    return done;
  }

  /**
   * A shadow starting over from the active's checkpoint: the log and every
   * checkpoint are dropped, then `parts` becomes the checkpoint after record
   * `lastSeq` (whose epoch and CRC are `last`). A crash midway leaves the
   * old log and checkpoint or the new checkpoint, never an empty log or a mix.
   */
  async installCheckpoint(parts: string[], lastSeq: number, last: { epoch: number; crc: number } = { epoch: -1, crc: -1 }, nowMs = Date.now()): Promise<void> {
    if (!Number.isSafeInteger(lastSeq) || lastSeq <= 0) throw new OpLogError(`checkpoint at record ${lastSeq}: not a record`);
    await this.whenDurable();
    if (this.checkpointing) throw new OpLogError("a checkpoint is already being registered");
    this.checkpointing = true;
    try {
      const old = this.db.prepare("SELECT file FROM checkpoint").pluck().all() as string[];
      this.resets_++;
      // Atomic: the new checkpoint is written whole first (beside the current one, under another name if they
      // share a record number), then one transaction swaps it in and drops the log; a crash leaves either the
      // old log and checkpoint or the new checkpoint, never an empty log (which a master named in sync could
      // otherwise be elected with).
      let name = checkpointFileName(lastSeq);
      for (let v = 1; old.includes(name); v++) name = checkpointFileName(lastSeq, v);
      const { file } = writeCheckpointFile(this.dir, parts, lastSeq, nowMs, undefined, name);
      this.db.transaction(() => {
        this.db.prepare("DELETE FROM log").run();
        this.db.prepare("DELETE FROM checkpoint").run();
        this.db.prepare("INSERT INTO checkpoint (last_seq, file, created_ms, last_epoch, last_crc) VALUES (?, ?, ?, ?, ?)")
          .run(lastSeq, file, nowMs, last.epoch < 0 ? null : last.epoch, last.crc < 0 ? null : last.crc);
        // The active's checkpoint holds acknowledged records only.
        this.db.prepare("INSERT INTO meta (key, value) VALUES ('acknowledged_seq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(String(lastSeq));
      })();
      this.acknowledgedHint = lastSeq;
      for (const f of old) if (f !== file) await rm(join(this.dir, f), { force: true });
      this.seq = lastSeq;
      this.checkpointSeq = lastSeq;
      this.last = { seq: lastSeq, epoch: last.epoch, crc: last.crc };
      this.recordsSinceCheckpoint = 0;
      this.stats_.checkpoints++;
    } finally {
      this.checkpointing = false;
    }
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
   * Stores `parts` as the state after record `lastSeq` and drops what it
   * covers. Blocking (it writes the whole file here): the master writes its
   * checkpoints on a worker thread and calls registerCheckpoint instead.
   */
  async checkpoint(parts: Iterable<string>, lastSeq: number, nowMs: number): Promise<void> {
    this.checkNewCheckpoint(lastSeq);
    const { file } = writeCheckpointFile(this.dir, parts, lastSeq, nowMs);
    await this.registerCheckpoint(lastSeq, file, nowMs);
  }

  /**
   * Makes the complete checkpoint file `file` (the state after record
   * `lastSeq`) the one recovery starts from, and drops the records and older
   * checkpoints it covers, in one small transaction: a crash leaves either the
   * old checkpoint and all records, or the new one.
   */
  async registerCheckpoint(lastSeq: number, file: string, nowMs: number, builtAtResets = this.resets_): Promise<void> {
    if (builtAtResets !== this.resets_) throw new OpLogError(`checkpoint at ${lastSeq} was built from a log since replaced by the active's checkpoint`);
    this.checkNewCheckpoint(lastSeq);
    if (this.checkpointing) throw new OpLogError("a checkpoint is already being registered");
    this.checkpointing = true;
    try {
      const old = this.db.prepare("SELECT file FROM checkpoint").pluck().all() as string[];
      this.db.transaction(() => {
        // The record it ends at leaves the log now: its epoch and CRC stay, for log matching (log-shipper.ts).
        const end = this.db.prepare("SELECT epoch, crc FROM log WHERE seq = ?").get(lastSeq) as { epoch: number; crc: number } | undefined;
        this.db.prepare("INSERT INTO checkpoint (last_seq, file, created_ms, last_epoch, last_crc) VALUES (?, ?, ?, ?, ?)")
          .run(lastSeq, file, nowMs, end?.epoch ?? null, end?.crc ?? null);
        this.db.prepare("DELETE FROM checkpoint WHERE last_seq < ? OR (last_seq = ? AND file != ?)").run(lastSeq, lastSeq, file);
        this.db.prepare("DELETE FROM log WHERE seq <= ?").run(lastSeq);
      })();
      this.recordsSinceCheckpoint = this.seq - lastSeq;
      this.checkpointSeq = lastSeq;
      this.stats_.checkpoints++;
      for (const f of old) if (f !== file) await rm(join(this.dir, f), { force: true });
    } finally {
      this.checkpointing = false;
    }
  }

  /** A new checkpoint must cover durable records only, and more of them than the current one (its file name is its sequence number). */
  private checkNewCheckpoint(lastSeq: number): void {
    if (lastSeq > this.seq) throw new OpLogError(`checkpoint at ${lastSeq} is past the last durable record ${this.seq}`);
    if (lastSeq <= this.checkpointSeq) throw new OpLogError(`checkpoint at ${lastSeq} is not newer than the current one at ${this.checkpointSeq}`);
  }

  get checkpointInProgress(): boolean {
    return this.checkpointing;
  }

  /** The log failed to write: nothing may be acknowledged any more. */
  get failure(): Error | undefined {
    return this.failed;
  }

  /**
   * Notes that records up to `seq` were acknowledged to clients (by this master as the active, or by the
   * active it follows). Stored with the next commit, and at close: a shadow restarted from this log serves
   * state up to the stored value only, never a record no client was told succeeded.
   */
  noteAcknowledged(seq: number): void {
    if (seq > (this.acknowledgedHint ?? 0)) this.acknowledgedHint = seq;
  }

  private acknowledgedHint: number | undefined;

  private closing: Promise<void> | undefined;

  /** Closes the log once (later calls wait for the first). */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    await this.whenDurable().catch(() => {});
    await this.replicating;
    this.endLinger();
    await this.writer.close();
    if (this.acknowledgedHint !== undefined && !this.failed) {
      this.db.prepare("INSERT INTO meta (key, value) VALUES ('acknowledged_seq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .run(String(Math.min(this.acknowledgedHint, this.seq)));
    }
    this.db.close();
  }
}
