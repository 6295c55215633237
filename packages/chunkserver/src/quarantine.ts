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
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { GfsError, checkHandle, type ChunkReport, type Logger } from "@gfs/common";

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
}

const entryFile = "entry.json";
const tmpPrefix = ".tmp-";
const chunkName = (handle: string) => `${handle}.chunk`;
const sidecarName = (handle: string) => `${handle}.meta`;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class Quarantine {
  private readonly entries = new Map<string, QuarantineEntry>();

  private constructor(readonly dir: string, private readonly chunksDir: string, private readonly opts: QuarantineOptions) {
    if (!(opts.retentionMs >= 0)) throw new Error(`quarantine retention must not be negative (${opts.retentionMs})`);
  }

  /**
   * Opens (creating if needed) the quarantine in `dir` for chunks of
   * `chunksDir`, finishing moves a crash interrupted. Must run before the
   * chunk store loads `chunksDir`.
   */
  static async open(dir: string, chunksDir: string, opts: QuarantineOptions): Promise<Quarantine> {
    const q = new Quarantine(dir, chunksDir, opts);
    await mkdir(dir, { recursive: true });
    await mkdir(chunksDir, { recursive: true });
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      // An intent never renamed into place: no chunk file moved yet.
      if (name.startsWith(tmpPrefix)) { await rm(path, { recursive: true, force: true }); continue; }
      let entry: QuarantineEntry;
      try {
        const e = JSON.parse(await readFile(join(path, entryFile), "utf8")) as Omit<QuarantineEntry, "name">;
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
          await rename(join(chunksDir, file), join(path, file));
        }
      }
      await syncDir(path);
      q.entries.set(name, entry);
    }
    await syncDir(chunksDir);
    return q;
  }

  get size(): number {
    return this.entries.size;
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
    for (let k = 1; this.entries.has(name) || (await exists(join(this.dir, name))); k++) name = `${handle}-${at}-${k}`;
    const entry: QuarantineEntry = { handle, version: info.version, length: info.length, quarantinedAtMs: at, name };
    const tmp = join(this.dir, tmpPrefix + name);
    const final = join(this.dir, name);
    await mkdir(tmp, { recursive: true });
    const fh = await open(join(tmp, entryFile), "w");
    try {
      await fh.writeFile(JSON.stringify({ handle, version: info.version, length: info.length, quarantinedAtMs: at }));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, final);
    await syncDir(this.dir);
    await rename(files.chunk, join(final, chunkName(handle)));
    try {
      await rename(files.sidecar, join(final, sidecarName(handle)));
    } catch (e) {
      // Put it back as it was: the caller serves the chunk again.
      await rename(join(final, chunkName(handle)), files.chunk);
      await rm(final, { recursive: true, force: true });
      throw e;
    }
    await syncDir(final);
    await syncDir(dirname(files.chunk));
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
    if ((await exists(files.chunk)) || (await exists(files.sidecar))) throw new GfsError("EEXIST", `chunk ${handle} is already live here`);
    const path = join(this.dir, entry.name);
    // Chunk file first, as when quarantining: a crash leaves the entry to pull both back in at start-up.
    await rename(join(path, chunkName(handle)), files.chunk);
    await rename(join(path, sidecarName(handle)), files.sidecar);
    await syncDir(dirname(files.chunk));
    this.entries.delete(entry.name);
    await rm(path, { recursive: true, force: true });
    await syncDir(this.dir);
    this.opts.log?.warn("quarantined chunk restored: the master knows it again", { handle, version, quarantinedAtMs: entry.quarantinedAtMs });
    return entry;
  }

  /** Deletes entries older than the retention; returns them. */
  async expire(): Promise<QuarantineEntry[]> {
    const due = expiredEntries(this.entries.values(), this.opts.now(), this.opts.retentionMs);
    for (const e of due) {
      await rm(join(this.dir, e.name), { recursive: true, force: true });
      this.entries.delete(e.name);
      this.opts.log?.info("quarantined chunk deleted after its retention", { handle: e.handle, version: e.version, quarantinedAtMs: e.quarantinedAtMs });
    }
    if (due.length) await syncDir(this.dir);
    return due;
  }
}

/** How often the chunkserver looks for expired entries: a quarter of the retention, between 100 ms and a minute. */
export const quarantineSweepIntervalMs = (retentionMs: number): number => Math.min(60_000, Math.max(100, Math.floor(retentionMs / 4)));

