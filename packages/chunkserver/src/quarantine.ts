// Quarantined chunks: replicas the master did not know (orphans). They are not
// deleted at once, because a master that lost op-log records, or was given
// older metadata, sees the chunks of every file it forgot as orphans; deleting
// them would turn lost metadata into lost data. They are moved aside here,
// no longer served or reported as live chunks, reported at registration as
// quarantined (the master restores one it knows again at that version), and
// deleted only after quarantine_retention_ms.
//
// Layout: <dir>/<handle>-<quarantinedAtMs>[-n]/ holding <handle>.chunk,
// <handle>.meta (moved unchanged from the chunk directory) and entry.json.
// Crash safety: entry.json is written in a temporary directory renamed into
// place before any chunk file moves, so it is the intent: at start-up (before
// the chunk store loads) a file an entry lacks that is still in the chunk
// directory is moved in (a move or a restore that a crash interrupted ends
// quarantined; the master restores it again if it knows it). The chunk file
// moves first: a chunk file alone in the chunk directory would be removed at
// load as an unacknowledged creation.
import { dirname, join } from "node:path";
import { GfsError, checkHandle, type ChunkReport, type Logger } from "@gfs/common";
import { mkdirDurable, nodeDisk, type Disk } from "./disk";

export interface QuarantineEntry {
  handle: string;
  version: number;
  length: number;
  quarantinedAtMs: number;
  /** Its directory's name inside the quarantine directory. */
  name: string;
}

/** Entries whose retention has passed at `nowMs`: to be deleted now. */
export function expiredEntries(entries: Iterable<QuarantineEntry>, nowMs: number, retentionMs: number): QuarantineEntry[] {
  return [...entries].filter((e) => nowMs - e.quarantinedAtMs >= retentionMs);
}

/** The entry a restore of (handle, version) takes: that version, most recently quarantined. */
export function entryToRestore(entries: Iterable<QuarantineEntry>, handle: string, version: number): QuarantineEntry | undefined {
  let best: QuarantineEntry | undefined;
  for (const e of entries) {
    if (e.handle === handle && e.version === version && (!best || e.quarantinedAtMs > best.quarantinedAtMs)) best = e;
  }
  return best;
}

export interface QuarantineOptions {
  retentionMs: number;
  now: () => number;
  log?: Logger;
  /** Where the files are (default: the real disk). */
  disk?: Disk;
}

const entryFile = "entry.json";
const tmpPrefix = ".tmp-";
const chunkName = (handle: string) => `${handle}.chunk`;
const sidecarName = (handle: string) => `${handle}.meta`;


export class Quarantine {
  private readonly entries = new Map<string, QuarantineEntry>();
  private readonly disk: Disk;

  private constructor(readonly dir: string, private readonly chunksDir: string, private readonly opts: QuarantineOptions) {
    if (!(opts.retentionMs >= 0)) throw new Error(`quarantine retention must not be negative (${opts.retentionMs})`);
    this.disk = opts.disk ?? nodeDisk;
  }

  /**
   * Opens (creating if needed) the quarantine in `dir` for chunks of
   * `chunksDir`, finishing moves a crash interrupted. Must run before the
   * chunk store loads `chunksDir`.
   */
  static async open(dir: string, chunksDir: string, opts: QuarantineOptions): Promise<Quarantine> {
    const q = new Quarantine(dir, chunksDir, opts);
    const disk = q.disk;
    const exists = (path: string) => q.exists(path);
    await mkdirDurable(disk, dir);
    await mkdirDurable(disk, chunksDir);
    for (const name of await disk.readdir(dir)) {
      const path = join(dir, name);
      // An intent never renamed into place: no chunk file moved yet.
      if (name.startsWith(tmpPrefix)) { await disk.rm(path, { recursive: true, force: true }); continue; }
      let entry: QuarantineEntry;
      try {
        const e = JSON.parse(await disk.readFile(join(path, entryFile), "utf8")) as Omit<QuarantineEntry, "name">;
        checkHandle(e.handle);
        if (!Number.isSafeInteger(e.version) || !Number.isSafeInteger(e.quarantinedAtMs)) throw new Error("bad version or time");
        entry = { handle: e.handle, version: e.version, length: e.length ?? 0, quarantinedAtMs: e.quarantinedAtMs, name };
      } catch (e) {
        opts.log?.error("cannot read a quarantine entry; leaving it alone", { entry: path, error: (e as Error).message });
        continue;
      }
      for (const file of [chunkName(entry.handle), sidecarName(entry.handle)]) {
        if (!(await exists(join(path, file))) && (await exists(join(chunksDir, file)))) {
          opts.log?.warn("finishing an interrupted quarantine move", { handle: entry.handle, file });
          await disk.rename(join(chunksDir, file), join(path, file));
        }
      }
      await disk.syncDir(path);
      q.entries.set(name, entry);
    }
    await disk.syncDir(chunksDir);
    return q;
  }

  private exists(path: string): Promise<boolean> {
    return this.disk.stat(path).then(() => true, () => false);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Whether some version of `handle` is quarantined here. */
  holds(handle: string): boolean {
    for (const e of this.entries.values()) if (e.handle === handle) return true;
    return false;
  }

  /** What registration reports: every quarantined (handle, version). */
  list(): ChunkReport[] {
    return [...this.entries.values()].map((e) => ({ handle: e.handle, version: e.version, length: e.length }));
  }

  /** Moves a detached chunk's files (still in the chunk directory) into quarantine, durably. */
  async put(handle: string, files: { chunk: string; sidecar: string }, info: { version: number; length: number }): Promise<QuarantineEntry> {
    checkHandle(handle);
    const at = this.opts.now();
    let name = `${handle}-${at}`;
    for (let k = 1; this.entries.has(name) || (await this.exists(join(this.dir, name))); k++) name = `${handle}-${at}-${k}`;
    const entry: QuarantineEntry = { handle, version: info.version, length: info.length, quarantinedAtMs: at, name };
    const tmp = join(this.dir, tmpPrefix + name);
    const final = join(this.dir, name);
    await this.disk.mkdir(tmp, { recursive: true });
    const fh = await this.disk.open(join(tmp, entryFile), "w");
    try {
      await fh.writeFile(JSON.stringify({ handle, version: info.version, length: info.length, quarantinedAtMs: at }));
      await fh.sync();
    } finally {
      await fh.close();
    }
    // entry.json's own directory entry must be durable before the intent is renamed into place, or a crash
    // can leave an entry directory without it: unreadable, never cleaned up, the move never finished.
    await this.disk.syncDir(tmp);
    await this.disk.rename(tmp, final);
    await this.disk.syncDir(this.dir);
    await this.disk.rename(files.chunk, join(final, chunkName(handle)));
    try {
      await this.disk.rename(files.sidecar, join(final, sidecarName(handle)));
    } catch (e) {
      // Put it back as it was: the caller serves the chunk again.
      await this.disk.rename(join(final, chunkName(handle)), files.chunk);
      await this.disk.rm(final, { recursive: true, force: true });
      throw e;
    }
    await this.disk.syncDir(final);
    await this.disk.syncDir(dirname(files.chunk));
    this.entries.set(name, entry);
    this.opts.log?.warn("chunk quarantined: the master does not know it", {
      handle, version: info.version, length: info.length, entry: final, retentionMs: this.opts.retentionMs,
    });
    return entry;
  }

  /**
   * Moves quarantined (handle, version) back to `files` (where the chunk
   * store expects them); undefined if no such entry. Refuses if a live chunk
   * with that handle is there.
   */
  async restore(handle: string, version: number, files: { chunk: string; sidecar: string }): Promise<QuarantineEntry | undefined> {
    const entry = entryToRestore(this.entries.values(), handle, version);
    if (!entry) return undefined;
    if ((await this.exists(files.chunk)) || (await this.exists(files.sidecar))) throw new GfsError("EEXIST", `chunk ${handle} is already live here`);
    const path = join(this.dir, entry.name);
    // Chunk file first, as when quarantining: a crash leaves the entry to pull both back in at start-up.
    await this.disk.rename(join(path, chunkName(handle)), files.chunk);
    await this.disk.rename(join(path, sidecarName(handle)), files.sidecar);
    await this.disk.syncDir(dirname(files.chunk));
    this.entries.delete(entry.name);
    await this.disk.rm(path, { recursive: true, force: true });
    await this.disk.syncDir(this.dir);
    this.opts.log?.warn("quarantined chunk restored: the master knows it again", { handle, version, quarantinedAtMs: entry.quarantinedAtMs });
    return entry;
  }

  /** Deletes entries older than the retention; returns them. */
  async expire(): Promise<QuarantineEntry[]> {
    const due = expiredEntries(this.entries.values(), this.opts.now(), this.opts.retentionMs);
    for (const e of due) {
      await this.disk.rm(join(this.dir, e.name), { recursive: true, force: true });
      this.entries.delete(e.name);
      this.opts.log?.info("quarantined chunk deleted after its retention", { handle: e.handle, version: e.version, quarantinedAtMs: e.quarantinedAtMs });
    }
    if (due.length) await this.disk.syncDir(this.dir);
    return due;
  }
}

/** How often the chunkserver looks for expired entries: a quarter of the retention, between 100 ms and a minute. */
export const quarantineSweepIntervalMs = (retentionMs: number): number => Math.min(60_000, Math.max(100, Math.floor(retentionMs / 4)));

