// A checkpoint lives in its own SQLite file (checkpoint-<seq>.sqlite), written
// once, off to the side: writing a large one never holds the op log's write
// lock, so commits go on meanwhile. The file's header row is written in its
// last transaction, so a file without one is incomplete; and the op log only
// points at a file once it is complete, so a crash mid-write leaves a file
// nobody uses (removed at the next open).
import Database from "better-sqlite3";
import { closeSync, fsyncSync, openSync, rmSync } from "node:fs";
import { join } from "node:path";
import { crc32c } from "@gfs/common";
import { OpLogError as CheckpointError } from "./op-log-error";

/** Layout of a checkpoint file; a different one is refused, not guessed at. */
export const CHECKPOINT_FILE_FORMAT = 1;

/**
 * A complete checkpoint: the state after record `lastSeq`, stored as a series
 * of parts (strings the caller chose) so that neither writing nor reading it
 * needs the whole serialized state in memory as one string.
 */
export interface StoredCheckpoint {
  lastSeq: number;
  createdMs: number;
  partCount: number;
  /** The parts in order, each checked against its checksum; throws on damage. */
  parts(): IterableIterator<string>;
}

/** `variant`: a second file for the same record (a shadow's install beside the checkpoint it replaces). */
export const checkpointFileName = (lastSeq: number, variant?: number): string =>
  `checkpoint-${String(lastSeq).padStart(12, "0")}${variant === undefined ? "" : `-i${variant}`}.sqlite`;
export const isCheckpointFileName = (name: string): boolean => /^checkpoint-\d{12}(-i\d+)?\.sqlite(-wal|-shm|-journal)?$/.test(name);

/** Writes `parts` as the checkpoint after record `lastSeq` into `dir`; returns the file name. Blocking: run it off the event loop. */
export function writeCheckpointFile(dir: string, parts: Iterable<string>, lastSeq: number, nowMs: number, partsPerTransaction = 64,
  file = checkpointFileName(lastSeq)): { file: string; partCount: number; bytes: number } {
  const path = join(dir, file);
  for (const suffix of ["", "-journal", "-wal", "-shm"]) rmSync(path + suffix, { force: true }); // a failed earlier attempt
  const db = new Database(path);
  let n = 0;
  let bytes = 0;
  try {
    db.pragma("journal_mode = DELETE");
    db.pragma("synchronous = FULL");
    db.exec(`
      CREATE TABLE part (n INTEGER PRIMARY KEY, crc INTEGER NOT NULL, payload TEXT NOT NULL);
      CREATE TABLE header (last_seq INTEGER NOT NULL, format INTEGER NOT NULL, created_ms INTEGER NOT NULL, part_count INTEGER NOT NULL);
    `);
    const insert = db.prepare("INSERT INTO part (n, crc, payload) VALUES (?, ?, ?)");
    const it = parts[Symbol.iterator]();
    for (let done = false; !done;) {
      db.transaction(() => {
        for (let k = 0; k < partsPerTransaction; k++) {
          const next = it.next();
          if (next.done) { done = true; return; }
          const buf = Buffer.from(next.value, "utf8");
          insert.run(n++, crc32c(buf), next.value);
          bytes += buf.length;
        }
      })();
    }
    db.prepare("INSERT INTO header (last_seq, format, created_ms, part_count) VALUES (?, ?, ?, ?)").run(lastSeq, CHECKPOINT_FILE_FORMAT, nowMs, n);
  } finally {
    db.close();
  }
  // The new file's directory entry must be durable before the op log points at it.
  const fd = openSync(dir, "r");
  try { fsyncSync(fd); } finally { closeSync(fd); }
  return { file, partCount: n, bytes };
}

/** Opens the checkpoint file `file` in `dir`, which the op log says holds the state after `lastSeq`. */
export function openCheckpointFile(dir: string, file: string, lastSeq: number): StoredCheckpoint {
  const path = join(dir, file);
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new CheckpointError(`checkpoint file ${path} cannot be opened: ${(e as Error).message}`);
  }
  let header: { last_seq: number; format: number; created_ms: number; part_count: number } | undefined;
  try {
    header = db.prepare("SELECT last_seq, format, created_ms, part_count FROM header").get() as typeof header;
  } catch (e) {
    db.close();
    throw new CheckpointError(`checkpoint file ${path} is not readable: ${(e as Error).message}`);
  }
  if (!header) { db.close(); throw new CheckpointError(`checkpoint file ${path} is incomplete (no header)`); }
  if (header.format !== CHECKPOINT_FILE_FORMAT) {
    db.close();
    throw new CheckpointError(`checkpoint file ${path} has format ${header.format}; this master reads format ${CHECKPOINT_FILE_FORMAT}`);
  }
  if (header.last_seq !== lastSeq) {
    db.close();
    throw new CheckpointError(`checkpoint file ${path} holds the state after record ${header.last_seq}, not ${lastSeq}`);
  }
  const partCount = header.part_count;
  const select = db.prepare("SELECT n, crc, payload FROM part ORDER BY n");
  return {
    lastSeq, createdMs: header.created_ms, partCount,
    *parts() {
      let expected = 0;
      try {
        for (const row of select.iterate() as Iterable<{ n: number; crc: number; payload: string }>) {
          if (row.n !== expected) throw new CheckpointError(`checkpoint file ${path} is missing part ${expected}; refusing to guess`);
          if (crc32c(Buffer.from(row.payload, "utf8")) !== row.crc) throw new CheckpointError(`checkpoint file ${path}: part ${row.n} fails its checksum; refusing to guess`);
          yield row.payload;
          expected++;
        }
        if (expected !== partCount) throw new CheckpointError(`checkpoint file ${path} has ${expected} of ${partCount} parts; refusing to guess`);
      } finally {
        db.close();
      }
    },
  };
}
