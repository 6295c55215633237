// Chunk files kept open across operations: opening and closing a file per
// read or write costs two thread-pool round trips each time. At most
// `maxOpen` files stay open while unused (least recently used closed first).
// A file is never closed while an operation uses it (reference count): reads
// run without the chunk's lock, so eviction or deletion may happen meanwhile.
import { nodeDisk, type Disk, type DiskFile } from "./disk";

interface Entry {
  readonly fh: Promise<DiskFile>;
  users: number;
  /** Out of the cache (evicted, forgotten); closed once its last user is done. */
  retired: boolean;
}

export class OpenFileCache {
  /** In order of last use, oldest first. */
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxOpen: number, private readonly onCloseError?: (path: string, e: Error) => void, private readonly disk: Disk = nodeDisk,
  ) {
    if (!(maxOpen >= 1)) throw new Error(`open file cache: bad limit ${maxOpen}`);
  }

  private opened = 0;

  /** Descriptors open now, used or not (more than the limit only while more than it are in use). */
  get openCount(): number {
    return this.opened;
  }

  /**
   * Runs `fn` with the file at `path` open. An existing file is opened
   * read-write; `create` creates it afresh (O_CREAT|O_TRUNC) and replaces any
   * descriptor of an earlier file at `path` (whose users keep it until done).
   */
  async use<T>(path: string, fn: (fh: DiskFile) => Promise<T>, create = false): Promise<T> {
    if (create) void this.forget(path);
    let e = this.entries.get(path);
    if (e) {
      this.entries.delete(path);
      this.entries.set(path, e);
    } else {
      const entry: Entry = { fh: this.disk.open(path, create ? "w+" : "r+"), users: 0, retired: false };
      entry.fh.then(() => this.opened++, () => {
        if (this.entries.get(path) === entry) this.entries.delete(path);
        entry.retired = true;
      });
      this.entries.set(path, entry);
      e = entry;
    }
    e.users++;
    try {
      return await fn(await e.fh);
    } finally {
      e.users--;
      if (e.retired) await this.closeIfUnused(path, e);
      this.trim();
    }
  }

  /** The file is going away (deleted, replaced): close it once nobody uses it; the next use opens afresh. */
  forget(path: string): Promise<void> {
    const e = this.entries.get(path);
    if (!e) return Promise.resolve();
    this.entries.delete(path);
    e.retired = true;
    return this.closeIfUnused(path, e);
  }

  /** Closes every unused file now and every used one when its user is done. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.entries.keys()].map((path) => this.forget(path)));
  }

  private trim(): void {
    if (this.entries.size <= this.maxOpen) return;
    for (const [path, e] of this.entries) {
      if (this.entries.size <= this.maxOpen) break;
      if (e.users > 0) continue;
      this.entries.delete(path);
      e.retired = true;
      void this.closeIfUnused(path, e);
    }
  }

  private closeIfUnused(path: string, e: Entry): Promise<void> {
    if (e.users > 0) return Promise.resolve();
    // A file that failed to open has nothing to close.
    return e.fh.then(
      (fh) => fh.close().catch((err: Error) => this.onCloseError?.(path, err)).finally(() => void this.opened--),
      () => {},
    );
  }
}
