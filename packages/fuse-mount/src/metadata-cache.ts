// A short-lived cache of attributes and directory listings, so `ls -l`, path
// lookups and repeated stats cost one master call per entry per TTL instead
// of one per system call. This mount's own mutations invalidate what they
// touch at once; other mounts' changes become visible within the TTL (and on
// open, which always asks the master: close-to-open consistency).
//
// One cache serves every local user of the mount, keyed by path only. That is
// safe because the kernel checks permissions first (default_permissions, always
// on): it asks for an entry's attributes only for a caller who may search every
// directory above it, so a caller gets from here only attributes it could have
// fetched itself (as of at most one TTL ago). Except root on a root_squash
// mount, whom the kernel lets through and the master hears as nobody: its
// operations bypass this cache (operations.ts `uncached`). What must never get
// in: attributes the master withheld (a listing by a caller who may read but not
// search the directory) are zeros, not attributes, and are not cached as such.
import type { FileInfo__Output, ReadDirResponse__Output } from "@gfs/common";

interface Timed<T> { value: T; expiresAt: number }

export interface MetadataCacheOptions {
  ttlMs: number;
  now: () => number;
  /** Entries kept at most; expired ones are swept when it is exceeded. */
  entriesMax?: number;
}

/** A directory counts as being walked for this many TTLs after it was listed. */
const WALK_WINDOW_TTLS = 10;

export const parentOf = (path: string): string => {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
};

export const joinPath = (dir: string, name: string): string => (dir === "/" ? `/${name}` : `${dir}/${name}`);

/** Whether `info` is of a node made at one instant (no later change), not before `notBefore`. */
const madeAt = (info: FileInfo__Output, notBefore: number): boolean =>
  info.atimeMs === info.ctimeMs && info.mtimeMs === info.ctimeMs && info.ctimeMs >= notBefore;

const isUnder = (path: string, dir: string): boolean => path === dir || path.startsWith(dir === "/" ? "/" : dir + "/");

export class MetadataCache {
  private readonly attrs = new Map<string, Timed<FileInfo__Output>>();
  private readonly listings = new Map<string, Timed<ReadDirResponse__Output>>();
  /** dir -> until when it counts as being walked (it was listed shortly before). */
  private readonly walked = new Map<string, number>();
  private readonly entriesMax: number;

  constructor(private readonly o: MetadataCacheOptions) {
    this.entriesMax = o.entriesMax ?? 100_000;
  }

  getAttr(path: string): FileInfo__Output | undefined {
    return this.fresh(this.attrs, path);
  }

  putAttr(path: string, info: FileInfo__Output): void {
    if (this.o.ttlMs <= 0) return;
    this.attrs.set(path, { value: info, expiresAt: this.o.now() + this.o.ttlMs });
    this.sweepIfFull();
  }

  getListing(dir: string): ReadDirResponse__Output | undefined {
    return this.fresh(this.listings, dir);
  }

  /**
   * Caches a listing and the attributes of every entry in it (what `ls -l` asks next), unless the
   * master withheld them: then the names only, and the directory does not count as being walked.
   */
  putListing(dir: string, listing: ReadDirResponse__Output): void {
    if (this.o.ttlMs <= 0) return;
    const expiresAt = this.o.now() + this.o.ttlMs;
    this.listings.set(dir, { value: listing, expiresAt });
    if (!listing.attributesWithheld) {
      this.walked.set(dir, this.o.now() + WALK_WINDOW_TTLS * this.o.ttlMs);
      for (const e of listing.entries) if (e.info) this.attrs.set(joinPath(dir, e.name), { value: e.info, expiresAt });
    }
    this.sweepIfFull();
  }

  /**
   * Whether `dir` was listed lately, so its entries are being walked (`ls -l`,
   * `find`): then an entry whose attributes expired is best refreshed by
   * listing the directory again, one call for all of them, rather than one
   * Stat each.
   */
  beingWalked(dir: string): boolean {
    const until = this.walked.get(dir);
    if (until === undefined) return false;
    if (until > this.o.now()) return true;
    this.walked.delete(dir);
    return false;
  }

  /** `path` changed (content, size, attributes): forget its attributes. */
  invalidateAttr(path: string): void {
    this.attrs.delete(path);
  }

  /**
   * `path` appeared, disappeared or changed: forget it, its parent's listing, and its parent's
   * attributes (an entry added or removed changes the directory's mtime, ctime and, for a
   * subdirectory, nlink: the kernel asks again at once after such a call, and must not get ours).
   */
  invalidateEntry(path: string): void {
    this.attrs.delete(path);
    this.listings.delete(parentOf(path));
    this.listings.delete(path);
    if (path !== "/") this.attrs.delete(parentOf(path));
  }

  /**
   * This mount made `path` (create, mkdir, symlink, mknod, link): `info` is its state; its parent
   * changed. A node made just now carries the master's time of that change (atime = mtime = ctime,
   * the parent's new mtime and ctime): then the parent's cached attributes take it (and one more
   * link for a subdirectory) instead of being dropped, so the kernel's permission check before the
   * next create in that directory (it dropped its own copy) costs no Stat (tar, cp -r).
   */
  added(path: string, info: FileInfo__Output): void {
    const dir = parentOf(path);
    const parent = path === "/" ? undefined : this.attrs.get(dir);
    this.invalidateEntry(path);
    this.putAttr(path, info);
    if (!parent || parent.expiresAt <= this.o.now() || !madeAt(info, parent.value.ctimeMs)) return;
    const nlink = parent.value.nlink + (info.type === "FILE_TYPE_DIRECTORY" ? 1 : 0);
    this.attrs.set(dir, { value: { ...parent.value, mtimeMs: info.ctimeMs, ctimeMs: info.ctimeMs, nlink }, expiresAt: parent.expiresAt });
  }

  /** This mount changed `path`'s attributes (not its directory): `info` is its new state; listings showing the old are stale. */
  replaced(path: string, info: FileInfo__Output): void {
    this.listings.delete(parentOf(path));
    this.listings.delete(path);
    this.putAttr(path, info);
  }

  /**
   * Inode `id` gained or lost a name (link, unlink of one of several): every cached name of it
   * holds an old nlink and ctime. A scan, paid only by files with more than one link.
   */
  invalidateInode(id: number): void {
    for (const [key, v] of this.attrs) {
      if (v.value.id !== id || v.value.type === "FILE_TYPE_DIRECTORY") continue;
      this.attrs.delete(key);
      this.listings.delete(parentOf(key));
    }
  }

  /**
   * A name of unknown inode lost or moved its link (nothing cached of it to say which inode): every
   * cached file with several names may be that inode, and holds an old nlink or ctime then.
   */
  invalidateLinked(): void {
    for (const [key, v] of this.attrs) {
      if (v.value.nlink <= 1 || v.value.type === "FILE_TYPE_DIRECTORY") continue;
      this.attrs.delete(key);
      this.listings.delete(parentOf(key));
    }
  }

  /** What is cached of `path`, fresh or not (what an unlink must know of the name it removes). */
  peekAttr(path: string): FileInfo__Output | undefined {
    return this.attrs.get(path)?.value;
  }

  /** `path` and everything below it moved or vanished. */
  invalidateTree(path: string): void {
    this.invalidateEntry(path);
    for (const key of this.attrs.keys()) if (isUnder(key, path)) this.attrs.delete(key);
    for (const key of this.listings.keys()) if (isUnder(key, path)) this.listings.delete(key);
  }

  /** Grows the cached size after this mount wrote past the end (saves asking the master again). */
  noteWritten(path: string, endOffset: number, mtimeMs: number): void {
    const cached = this.attrs.get(path);
    if (!cached) return;
    cached.value = { ...cached.value, size: Math.max(cached.value.size, endOffset), mtimeMs };
    this.listings.delete(parentOf(path));
  }

  clear(): void {
    this.attrs.clear();
    this.listings.clear();
  }

  private fresh<T>(map: Map<string, Timed<T>>, key: string): T | undefined {
    const hit = map.get(key);
    if (!hit) return undefined;
    if (hit.expiresAt <= this.o.now()) {
      map.delete(key);
      return undefined;
    }
    return hit.value;
  }

  private sweepIfFull(): void {
    if (this.attrs.size + this.listings.size <= this.entriesMax) return;
    const now = this.o.now();
    for (const map of [this.attrs, this.listings] as Array<Map<string, Timed<unknown>>>) {
      for (const [k, v] of map) if (v.expiresAt <= now) map.delete(k);
    }
    for (const [k, until] of this.walked) if (until <= now) this.walked.delete(k);
    // Still full of fresh entries: drop the oldest insertions (Map keeps insertion order).
    for (const map of [this.attrs, this.listings] as Array<Map<string, Timed<unknown>>>) {
      while (this.attrs.size + this.listings.size > this.entriesMax && map.size > 0) map.delete(map.keys().next().value!);
    }
  }
}
