// Chunk replicas on local disk: one file per chunk, named by its handle only
// (`<handle>.chunk`), and beside it a sidecar (`<handle>.meta`) with the
// version, the length and one CRC32C per checksum block. Reads verify every
// block they touch, so bad bytes never leave this server.
//
// Crash safety of the checksums: data and checksums cannot be written in one
// atomic step, so a crash between the two could leave good data with a wrong
// CRC forever. A sidecar is therefore "clean" (its CRCs match data that is
// synced to disk) or "dirty" (the chunk was being mutated). A chunk is marked
// dirty, durably, before its first mutation; it is marked clean again once it
// has been idle for a while and its data is synced (markIdleClean), and at
// close. In-memory CRCs are always exact, so corruption is caught on read.
// A new chunk starts dirty: it is created to be written, and its first write
// then needs no sidecar write.
//
// Length is checked like content (issue 12, finding 3). The sidecar records
// the replica's length; at start-up a chunk file shorter than the length a
// clean sidecar records is corrupt, never "repaired" by recomputing CRCs over
// what is left: it is reported to the master as corrupt (so it is never handed
// out, is deleted once a good copy exists, and is re-copied).
//
// The dirty window. After an unclean stop, a replica whose sidecar is dirty
// cannot vouch for its bytes: a block that differs from the sidecar's CRCs may
// hold a write of the window or a bit flip (recomputing its CRC would bless
// either), and a block that matches may hold the bytes of the last clean point
// because an acknowledged but unsynced write of the window was lost with the
// crash (the deterministic simulator found this: the replica then served old
// bytes at the current version, beside replicas holding the write). So every
// replica found dirty at start-up is "unverified" (persisted
// in its sidecar until it is deleted or replaced), its CRCs are recomputed only
// so that it stays self-consistent, and it is reported as unverified at
// registration. The master holds it back until a verified replica is heard
// from, then deletes it and re-copies the chunk; if no verified replica is left
// (every replica crashed within its window) the unverified ones are compared
// by a digest of their CRCs, a minority that differs from a majority is
// corrupt, and the rest are used as the best left (see
// packages/master/src/unverified-replicas.ts). Verifying the suspect
// blocks against another replica's CRCs would keep the replica, but needs a
// way for a chunkserver to find its peers; re-copying a chunk costs one chunk
// transfer, and crashes are rare.
//
// A failed datasync poisons the replica (finding 9): after a failed fdatasync
// the kernel may have dropped the dirty pages and a later fdatasync succeed,
// so nothing written since the last good sync can be trusted. The replica is
// marked bad (persisted in the sidecar), refuses every read and mutation, is
// reported to the master as corrupt, is never marked clean again, and stays so
// until it is deleted or replaced by a fresh copy (install). The fdatasync of
// chunk data goes through a small interface (DataSyncer) so tests can fail it.
//
// Chunk files stay open between operations (OpenFileCache), so a mutation
// costs its write (and fdatasync when asked), not an open and a close too.
import { join } from "node:path";
import { BufferPool, checkHandle, crc32c, defaults, fromSystemError, GfsError, type ChunkReport, type Logger } from "@gfs/common";
import { DirectWriter } from "./direct-writer";
import { mkdirDurable, nodeDisk, type Disk, type DiskFile } from "./disk";
import { DirectorySync } from "./directory-sync";
import { OpenFileCache } from "./open-file-cache";

/** The fdatasync of chunk data; tests inject one that fails. Production uses realDataSyncer. */
export interface DataSyncer {
  datasync(fh: DiskFile): Promise<void>;
}

export const realDataSyncer: DataSyncer = { datasync: (fh) => fh.datasync() };

export interface ChunkInfo {
  readonly version: number;
  readonly length: number;
  /** When it was last mutated here (0: not since this process started). */
  readonly lastMutationMs: number;
  /** Known bad here (see ChunkState.bad). */
  readonly corrupt: boolean;
  /** Written before a crash and not verified since. */
  readonly unverified: boolean;
  /** For an unverified replica: CRC32C over its block CRCs, to compare with other replicas (0 otherwise). */
  readonly crcDigest: number;
}

export interface WholeChunk {
  version: number;
  length: number;
  blockCrc32c: number[];
  data: Buffer;
}

export interface ChunkStoreOptions {
  blockBytes: number;
  chunkSizeBytes: number;
  log?: Logger;
  now?: () => number;
  /** Called once per chunk when a checksum mismatch is found in it. */
  onCorrupt?: (handle: string) => void;
  /** Chunk files kept open between operations (default: defaults.chunk_open_files_max). */
  openFilesMax?: number;
  /** Least aligned bytes of a write that go direct (default: defaults.chunk_direct_write_bytes_min; 0: never). */
  directWriteBytesMin?: number;
  /** The fdatasync of chunk files (default: the real one). */
  dataSyncer?: DataSyncer;
  /** Where the files are (default: the real disk; the simulator passes a SimDisk). */
  disk?: Disk;
}

interface ChunkState {
  version: number;
  length: number;
  /** One CRC32C per block; crcs.length === ceil(length / blockBytes). */
  crcs: Uint32Array;
  clean: boolean;
  /**
   * False while a new chunk's file and sidecar may not have reached the disk
   * (created without syncs); the first durable request on it syncs them.
   */
  durable: boolean;
  lastMutationMs: number;
  lock: ChunkLock;
  /** Why this replica must not be used (short on disk, a failed datasync); persisted; only delete or install clears it. */
  bad?: string;
  /** Written in the dirty window before a crash and not verified since (see the top of this file); persisted. */
  unverified?: boolean;
  /**
   * A read found a block not matching its CRC (where); persisted. The replica still serves its other blocks, but
   * after a restart it is bad: a restart with a dirty sidecar recomputes the CRCs from the bytes, damage included.
   */
  mismatch?: string;
}

interface Sidecar {
  version: number;
  length: number;
  blockBytes: number;
  clean: boolean;
  crcs: number[];
  bad?: string;
  unverified?: boolean;
  mismatch?: string;
}

/** Runs one operation at a time on a chunk: mutations, version changes, deletion. */
class ChunkLock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => {});
    return result;
  }
}

class ChecksumMismatch extends Error {
  constructor(readonly block: number) {
    super(`checksum mismatch in block ${block}`);
  }
}

const chunkFileSuffix = ".chunk";
const sidecarSuffix = ".meta";
/** A local copy's data before it is whole; any name ending ".tmp" is removed at load. */
const localCopyTmpSuffix = ".copy.tmp";

/** Bytes read from a chunk; `release` (if any) returns their buffer to the store's pool. */
export interface ChunkRead {
  data: Buffer;
  chunkLength: number;
  release?: () => void;
}

export class ChunkStore {
  private readonly chunks = new Map<string, ChunkState>();
  private readonly corrupt = new Set<string>();
  private readonly zeroCrcs = new Map<number, number>();
  /** blockBytes of zeros, to checksum zero-filled ranges without allocating. */
  private readonly zeros: Buffer;
  private readonly files: OpenFileCache;
  private readonly dirSync: DirectorySync;
  /** Large writes bypass the page cache; undefined when disabled. */
  private readonly direct: DirectWriter | undefined;
  /** Buffers of read replies: a client's largest read, widened to whole checksum blocks at both ends. */
  private readonly readBuffers: BufferPool;
  readonly blockBytes: number;
  private chunkSize: number;
  private readonly now: () => number;
  private readonly syncer: DataSyncer;
  private readonly disk: Disk;
  /** Blocks whose CRC32C did not match on read, since start. */
  checksumFailures = 0;
  /** New handles a local copy is being made to (copyLocal): taken, though not served or reported until the copy is whole. */
  private readonly copying = new Set<string>();

  private constructor(readonly dir: string, private readonly opts: ChunkStoreOptions) {
    this.blockBytes = opts.blockBytes;
    this.chunkSize = opts.chunkSizeBytes;
    this.now = opts.now ?? Date.now;
    this.syncer = opts.dataSyncer ?? realDataSyncer;
    this.disk = opts.disk ?? nodeDisk;
    this.zeros = Buffer.alloc(opts.blockBytes);
    this.files = new OpenFileCache(opts.openFilesMax ?? defaults.chunk_open_files_max,
      (path, e) => opts.log?.warn("cannot close chunk file", { path, error: e.message }), this.disk);
    this.dirSync = new DirectorySync(dir, this.disk);
    const directMin = opts.directWriteBytesMin ?? defaults.chunk_direct_write_bytes_min;
    this.direct = directMin > 0 ? new DirectWriter({
      alignBytes: defaults.chunk_direct_write_align_bytes, minBytes: directMin,
      bufferBytes: defaults.chunk_direct_write_buffer_bytes, buffers: defaults.chunk_direct_write_buffers, disk: this.disk,
    }) : undefined;
    this.readBuffers = new BufferPool(defaults.read_request_bytes_max + 2 * opts.blockBytes, defaults.chunk_read_buffers);
  }

  /** Chunk files open now (for tests and status). */
  get openFileCount(): number {
    return this.files.openCount;
  }

  /** Runs `fn` with the chunk's file open; it is not closed under `fn`. */
  private withFile<T>(handle: string, fn: (fh: DiskFile) => Promise<T>): Promise<T> {
    return this.files.use(this.chunkPath(handle), fn);
  }

  /** Opens (creating if needed) the store in `dir` and loads every chunk it holds. */
  static async open(dir: string, opts: ChunkStoreOptions): Promise<ChunkStore> {
    if (!(opts.blockBytes > 0) || !(opts.chunkSizeBytes > 0)) throw new Error("chunk store: block and chunk sizes must be positive");
    await mkdirDurable(opts.disk ?? nodeDisk, dir);
    const store = new ChunkStore(dir, opts);
    await store.load();
    return store;
  }

  get chunkSizeBytes(): number {
    return this.chunkSize;
  }

  /** The master decides the chunk size (RegisterResponse). */
  setChunkSizeBytes(bytes: number): void {
    if (!(bytes > 0)) throw new GfsError("EINVAL", `bad chunk size ${bytes}`);
    this.chunkSize = bytes;
  }

  private chunkPath(handle: string): string {
    return join(this.dir, checkHandle(handle) + chunkFileSuffix);
  }

  private sidecarPath(handle: string): string {
    return join(this.dir, checkHandle(handle) + sidecarSuffix);
  }

  // ------------------------------------------------------------------------
  // Loading
  // ------------------------------------------------------------------------

  private async load(): Promise<void> {
    const names = await this.disk.readdir(this.dir);
    const present = new Set(names);
    for (const name of names) {
      if (name.endsWith(".tmp")) {
        await this.disk.unlink(join(this.dir, name)).catch(() => {});
        continue;
      }
      const m = /^([0-9a-f]{16})\.(chunk|meta)$/.exec(name);
      if (!m) continue;
      const handle = m[1]!;
      if (m[2] === "chunk") {
        // A create that crashed before its sidecar existed was never acknowledged.
        if (!present.has(handle + sidecarSuffix)) {
          this.opts.log?.warn("removing chunk file without sidecar", { handle });
          await this.disk.unlink(join(this.dir, name)).catch(() => {});
        }
        continue;
      }
      try {
        await this.loadChunk(handle, present.has(handle + chunkFileSuffix));
      } catch (e) {
        this.opts.log?.error("cannot load chunk; leaving its files alone", { handle, error: (e as Error).message });
      }
    }
  }

  private async loadChunk(handle: string, hasData: boolean): Promise<void> {
    const side = JSON.parse(await this.disk.readFile(this.sidecarPath(handle), "utf8")) as Sidecar;
    if (!Number.isSafeInteger(side.version) || side.version < 0) throw new Error(`bad version in sidecar`);
    if (!hasData) {
      // Delete removes the sidecar first, so this is lost data: nothing to serve or report.
      this.opts.log?.warn("removing sidecar without chunk file", { handle });
      await this.disk.unlink(this.sidecarPath(handle)).catch(() => {});
      return;
    }
    const size = (await this.disk.stat(this.chunkPath(handle))).size;
    const st: ChunkState = {
      version: side.version, length: side.length, crcs: Uint32Array.from(side.crcs ?? []),
      // Found on disk, but perhaps only in the page cache of a process that crashed: sync on first need.
      clean: side.clean, durable: false, lastMutationMs: this.now(), lock: new ChunkLock(),
      bad: typeof side.bad === "string" && side.bad ? side.bad : undefined, unverified: side.unverified === true,
      mismatch: typeof side.mismatch === "string" && side.mismatch ? side.mismatch : undefined,
    };
    if (!Number.isSafeInteger(st.length) || st.length < 0) throw new Error("bad length in sidecar");
    this.chunks.set(handle, st);
    try {
      await this.judgeLoaded(handle, st, side, size);
    } catch (e) {
      // A replica we cannot read or sync at start is not one to serve.
      await this.markBad(handle, st, `cannot load: ${(e as Error).message}`);
    }
  }

  /** Decides at start-up whether a loaded replica is trusted, unverified or bad (see the top of this file). */
  private async judgeLoaded(handle: string, st: ChunkState, side: Sidecar, size: number): Promise<void> {
    if (st.bad) {
      this.opts.log?.error("replica marked corrupt before the restart; keeping it aside until it is re-copied", { handle, why: st.bad });
      this.reportCorrupt(handle);
      return;
    }
    if (st.mismatch) {
      await this.markBad(handle, st, `checksum mismatch found before the restart (${st.mismatch})`);
      return;
    }
    const sameLayout = side.blockBytes === this.blockBytes && st.crcs.length === Math.ceil(side.length / this.blockBytes);
    if (side.clean && size < side.length) {
      // Clean: every byte up to the recorded length was synced. Fewer bytes on disk is damage, not a hole.
      await this.markBad(handle, st, `chunk file of ${size} bytes is shorter than its recorded length ${side.length}`);
      return;
    }
    if (side.clean && sameLayout) return; // trusted; bytes past the recorded length (a failed mutation's) are never read
    if (side.clean && side.blockBytes !== this.blockBytes && size === side.length) {
      // Same length, other checksum block size (a configuration change): the data was synced when it was marked clean.
      this.opts.log?.info("recomputing checksums for a new checksum block size", { handle, from: side.blockBytes, to: this.blockBytes });
      await this.rebuildFromDisk(handle, st);
      return;
    }
    // Unclean stop (or a sidecar that cannot vouch for the file). Matching CRCs are not enough for a dirty
    // sidecar: they are the last clean point's, and a lost unsynced write reverts the file to exactly that.
    // One pass: the CRCs of what is on disk, compared with the recorded ones.
    const recorded = st.crcs;
    await this.rebuildFromDisk(handle, st, () => {
      const verified = side.clean && sameLayout && st.length === side.length && st.crcs.length === recorded.length && st.crcs.every((c, b) => c === recorded[b]);
      if (verified) return;
      st.unverified = true;
      this.opts.log?.warn("chunk written in the dirty window before a crash: unverified until re-copied", { handle, recordedLength: side.length, size: st.length });
    });
  }

  /** CRCs recomputed from the file (see loadChunk for when that is allowed), synced, and written clean. */
  private async rebuildFromDisk(handle: string, st: ChunkState, judge?: () => void): Promise<void> {
    await this.withFile(handle, async (fh) => {
      await this.recomputeFromDisk(st, fh);
      judge?.();
      await this.syncData(handle, st, fh);
    });
    st.clean = true;
    await this.writeSidecar(handle, st);
  }

  /** Marks the replica bad for good (persisted), reports it; it refuses all use until deleted or replaced. */
  private async markBad(handle: string, st: ChunkState, why: string): Promise<void> {
    if (st.bad) return;
    st.bad = why;
    st.clean = false;
    this.opts.log?.error("replica is corrupt; refusing to use it until it is re-copied", { handle, why });
    this.reportCorrupt(handle);
    try {
      await this.writeSidecar(handle, st);
    } catch (e) {
      // Its sidecar stays dirty, so the next start does not trust it either.
      this.opts.log?.error("cannot persist a replica's corrupt mark", { handle, error: (e as Error).message });
    }
  }

  /** fdatasync of the chunk's data; a failure poisons the replica (see the top of this file). */
  private async syncData(handle: string, st: ChunkState, fh: DiskFile): Promise<void> {
    try {
      await this.syncer.datasync(fh);
    } catch (e) {
      await this.markBad(handle, st, `datasync failed: ${(e as Error).message}`);
      throw new GfsError("EIO", `chunk ${handle}: datasync failed (${(e as Error).message}); the replica is poisoned until re-copied`);
    }
  }

  private checkUsable(handle: string, st: ChunkState): void {
    if (st.bad) throw new GfsError("EIO", `chunk ${handle} is corrupt on this server (${st.bad}); it must be re-copied`);
  }

  /**
   * Bytes of an unverified replica are served (to readers, or as a copy
   * source) only once the master accepted it (see setVersion): a reader with
   * locations cached from before the crash must not read a bit flip whose CRC
   * was recomputed.
   */
  private checkVerified(handle: string, st: ChunkState): void {
    if (st.unverified) throw new GfsError("EIO", `chunk ${handle} was written just before a crash here and is not verified yet; read another replica`);
  }

  /** Takes the file as the truth: length = file size, CRCs of what is there. */
  private async recomputeFromDisk(st: ChunkState, fh: DiskFile): Promise<void> {
    const size = (await fh.stat()).size;
    const blocks = Math.ceil(size / this.blockBytes);
    const crcs = new Uint32Array(blocks);
    const buf = Buffer.allocUnsafe(this.blockBytes);
    for (let b = 0; b < blocks; b++) {
      const lo = b * this.blockBytes;
      const n = Math.min(this.blockBytes, size - lo);
      await readFully(fh, buf, n, lo);
      crcs[b] = crc32c(buf.subarray(0, n));
    }
    st.length = size;
    st.crcs = crcs;
  }

  // ------------------------------------------------------------------------
  // Sidecar
  // ------------------------------------------------------------------------

  /**
   * Replaces the sidecar atomically and durably: a new file written with
   * O_DSYNC (its bytes are on disk when the write returns), renamed over the
   * old one, then the directory synced, without which the rename itself may
   * be lost in a crash (and an old "clean" sidecar come back beside newer
   * data). Closing the temporary file can overlap the rename: both only
   * need its bytes to be on disk already.
   */
  private async writeSidecar(handle: string, st: ChunkState, durable = true): Promise<void> {
    const side: Sidecar = { version: st.version, length: st.length, blockBytes: this.blockBytes, clean: st.clean, crcs: Array.from(st.crcs) };
    if (st.bad) side.bad = st.bad;
    if (st.mismatch) side.mismatch = st.mismatch;
    if (st.unverified) side.unverified = true;
    const bytes = Buffer.from(JSON.stringify(side));
    const final = this.sidecarPath(handle);
    const tmp = final + ".tmp";
    // "w-dsync" (O_DSYNC): the write returns once its data (and the size) are on disk, sparing an fdatasync round trip.
    const fh = await this.disk.open(tmp, durable ? "w-dsync" : "w");
    try {
      await writeFully(fh, bytes, 0);
    } catch (e) {
      await fh.close().catch(() => {});
      throw e;
    }
    const [closed, renamed] = await Promise.allSettled([fh.close(), this.disk.rename(tmp, final)]);
    if (renamed.status === "rejected") throw renamed.reason;
    if (closed.status === "rejected") this.opts.log?.warn("cannot close sidecar", { handle, error: (closed.reason as Error).message });
    if (!durable) return;
    await this.dirSync.sync();
    st.durable = true;
  }

  /** Before a sync write is answered: the chunk's own file and sidecar must survive a crash too. */
  private async makeDurable(handle: string, st: ChunkState): Promise<void> {
    if (!st.durable) await this.writeSidecar(handle, st);
  }

  private async markDirty(handle: string, st: ChunkState): Promise<void> {
    st.lastMutationMs = this.now();
    if (!st.clean) return;
    st.clean = false;
    try {
      await this.writeSidecar(handle, st);
    } catch (e) {
      st.clean = true;
      throw e;
    }
  }

  // ------------------------------------------------------------------------
  // Queries
  // ------------------------------------------------------------------------

  has(handle: string): boolean {
    return this.chunks.has(handle);
  }

  get(handle: string): ChunkInfo | undefined {
    const st = this.chunks.get(handle);
    return st && {
      version: st.version, length: st.length, lastMutationMs: st.lastMutationMs, corrupt: !!st.bad || this.corrupt.has(handle),
      unverified: !!st.unverified, crcDigest: st.unverified ? crcDigest(st.crcs) : 0,
    };
  }

  /** Every replica; known-bad ones say `corrupt`, ones written before a crash and not verified say `unverified`. */
  list(): ChunkReport[] {
    return [...this.chunks].map(([handle, st]) => ({
      handle, version: st.version, length: st.length,
      // A checksum failure found since start counts too: a master that restarted must hear of it again.
      ...(st.bad || this.corrupt.has(handle) ? { corrupt: true } : {}), ...(st.unverified ? { unverified: true, crcDigest: crcDigest(st.crcs) } : {}),
    }));
  }

  get chunkCount(): number {
    return this.chunks.size;
  }

  usedBytes(): number {
    let n = 0;
    for (const st of this.chunks.values()) n += st.length;
    return n;
  }

  /** Chunks found corrupt here: a checksum mismatch, short on disk, a failed datasync (until they are deleted or replaced). */
  corruptHandles(): string[] {
    return [...this.corrupt];
  }

  private must(handle: string): ChunkState {
    checkHandle(handle);
    const st = this.chunks.get(handle);
    if (!st) throw new GfsError("ENOENT", `chunk ${handle} not on this server`);
    return st;
  }

  /** Runs `fn` holding the chunk's lock; fails with ENOENT if it was deleted meanwhile, EIO if it is bad (unless `evenBad`). */
  private locked<T>(handle: string, fn: (st: ChunkState) => Promise<T>, evenBad = false): Promise<T> {
    const st = this.must(handle);
    return st.lock.run(() => {
      if (this.chunks.get(handle) !== st) throw new GfsError("ENOENT", `chunk ${handle} not on this server`);
      if (!evenBad) this.checkUsable(handle, st);
      return fn(st);
    });
  }

  private checkRange(handle: string, offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0
      || offset + length > this.chunkSize) {
      throw new GfsError("EINVAL", `range [${offset}, +${length}) outside chunk ${handle} of ${this.chunkSize} bytes`);
    }
  }

  private checkVersion(handle: string, version: number): void {
    if (!Number.isSafeInteger(version) || version <= 0) throw new GfsError("EINVAL", `bad version ${version} for chunk ${handle}`);
  }

  // ------------------------------------------------------------------------
  // Version changes
  // ------------------------------------------------------------------------

  /**
   * A new, empty chunk at `version`, durable before this resolves. Its
   * sidecar says dirty (see the top of this file), so the first write does not
   * rewrite it. The directory sync after the sidecar's rename also makes the
   * new chunk file's directory entry durable (same directory).
   */
  /**
   * A new, empty chunk at `version`. With `durable` false the file and sidecar
   * are not synced: losing an empty chunk in a crash loses no data (the master
   * sees the replica missing and copies the chunk), and a chunk file without
   * its sidecar is removed at start-up. The first sync write, or a version
   * change, makes it durable.
   */
  async create(handle: string, version: number, durable = true): Promise<void> {
    checkHandle(handle);
    this.checkVersion(handle, version);
    if (this.chunks.has(handle) || this.copying.has(handle)) throw new GfsError("EEXIST", `chunk ${handle} already exists`);
    const st: ChunkState = { version, length: 0, crcs: new Uint32Array(0), clean: false, durable, lastMutationMs: this.now(), lock: new ChunkLock() };
    this.chunks.set(handle, st);
    const path = this.chunkPath(handle);
    try {
      await st.lock.run(async () => {
        if (durable) {
          // The directory sync after the sidecar's rename must also cover the chunk file's entry.
          await this.files.use(path, async () => {}, true);
          await this.writeSidecar(handle, st, durable);
        } else {
          // Nothing to order without syncs: both files at once halves the creation's latency.
          const made = await Promise.allSettled([this.files.use(path, async () => {}, true), this.writeSidecar(handle, st, durable)]);
          const failed = made.find((r) => r.status === "rejected");
          if (failed) {
            await this.disk.unlink(this.sidecarPath(handle)).catch(() => {});
            throw (failed as PromiseRejectedResult).reason;
          }
        }
      });
    } catch (e) {
      this.chunks.delete(handle);
      await this.files.forget(path);
      await this.disk.unlink(path).catch(() => {});
      throw e;
    }
  }

  /**
   * Records a new version durably (fsync) before resolving; versions never go down.
   * An unverified replica takes a version only with `acceptUnverified`: the master's word that it
   * heard the replica reported unverified and released it as the best left (then the mark is dropped).
   */
  async setVersion(handle: string, version: number, acceptUnverified = false): Promise<void> {
    this.checkVersion(handle, version);
    await this.locked(handle, async (st) => {
      if (version < st.version) throw new GfsError("ESTALE", `chunk ${handle} is at version ${st.version}; refusing to go back to ${version}`);
      // Without the master's acceptance a version change would vouch for bytes that may have lost an
      // acknowledged write in the crash: the master may not have heard this server's report since it
      // restarted (it came back before being declared dead, and a grant still names it; the simulator,
      // seed 19, found a replica bumped so that then served old bytes at the current version).
      if (st.unverified && !acceptUnverified) {
        throw new GfsError("EIO", `chunk ${handle} was written just before a crash here and is not verified; refusing version ${version} until the master accepts it`);
      }
      if (version === st.version && !st.unverified) return;
      const old = { version: st.version, unverified: st.unverified };
      st.version = version;
      st.unverified = false;
      try {
        await this.writeSidecar(handle, st);
      } catch (e) {
        st.version = old.version;
        st.unverified = old.unverified;
        throw e;
      }
    });
  }

  // ------------------------------------------------------------------------
  // Mutations
  // ------------------------------------------------------------------------

  /**
   * Writes `data` at `offset`; a gap past the current end reads as zeros.
   * `atVersion` (mutations ordered under a lease): only if the chunk is still
   * at that version once the chunk's lock is held, ESTALE otherwise. Checked
   * before the lock, a version change (a fence) queued ahead of the write
   * would let the write land on the new version's bytes.
   */
  async write(handle: string, offset: number, data: Buffer, sync = false, atVersion?: number): Promise<void> {
    this.checkRange(handle, offset, data.length);
    await this.locked(handle, (st) => {
      this.checkAtVersion(handle, st, atVersion);
      return this.mutateRange(handle, st, offset, offset + data.length, data, sync);
    });
  }

  /** Zero-fills from the chunk's end to `toLength` (record append padding); `atVersion` as for write. */
  async pad(handle: string, toLength: number, sync = false, atVersion?: number): Promise<void> {
    this.checkRange(handle, 0, toLength);
    await this.locked(handle, async (st) => {
      this.checkAtVersion(handle, st, atVersion);
      if (toLength > st.length) await this.mutateRange(handle, st, st.length, toLength, null, sync);
    });
  }

  /**
   * Makes every mutation applied so far durable: the data (fdatasync) and,
   * if not yet, the sidecar and the file's directory entry, as a sync write
   * would. Changes no byte; `atVersion` as for write. A poisoned replica
   * refuses (EIO, as locked() does): it cannot vouch for what it holds.
   */
  async sync(handle: string, atVersion?: number): Promise<void> {
    await this.locked(handle, async (st) => {
      this.checkAtVersion(handle, st, atVersion);
      await this.withFile(handle, async (fh) => {
        await this.syncData(handle, st, fh);
        await this.makeDurable(handle, st);
      });
    });
  }

  private checkAtVersion(handle: string, st: ChunkState, atVersion: number | undefined): void {
    if (atVersion !== undefined && st.version !== atVersion) {
      throw new GfsError("ESTALE", `chunk ${handle} is at version ${st.version} here, not ${atVersion}`);
    }
  }

  /** Cuts the chunk to `length` bytes, or extends it with zeros; `atVersion` as for write. */
  async truncate(handle: string, length: number, sync = false, atVersion?: number): Promise<void> {
    this.checkRange(handle, 0, length);
    await this.locked(handle, async (st) => {
      this.checkAtVersion(handle, st, atVersion);
      if (length > st.length) return this.mutateRange(handle, st, st.length, length, null, sync);
      if (length === st.length) return;
      await this.mutateFile(handle, st, async (fh) => {
        await this.checkNotCut(handle, st, fh);
        const B = this.blockBytes;
        const keepBlocks = Math.ceil(length / B);
        let lastCrc: number | undefined;
        if (length % B !== 0) {
          const b = keepBlocks - 1;
          const old = await this.readVerifiedBlock(handle, st, fh, b);
          lastCrc = crc32c(old.subarray(0, length - b * B));
        }
        await fh.truncate(length);
        const crcs = st.crcs.slice(0, keepBlocks);
        if (lastCrc !== undefined) crcs[keepBlocks - 1] = lastCrc;
        st.crcs = crcs;
        st.length = length;
        if (sync) {
          await this.syncData(handle, st, fh);
          await this.makeDurable(handle, st);
        }
      });
    });
  }

  /** Marks the chunk dirty, then runs `fn` on its open file; a failure that may have changed the file re-reads it. */
  private async mutateFile(handle: string, st: ChunkState, fn: (fh: DiskFile) => Promise<void>): Promise<void> {
    await this.markDirty(handle, st);
    await this.withFile(handle, async (fh) => {
      try {
        await fn(fh);
      } catch (e) {
        if (!(e instanceof GfsError)) await this.afterFailedMutation(handle, st, fh);
        throw e;
      }
    });
  }

  /**
   * Replaces [offset, end) with `data` (or zeros when null; zeros only ever
   * start at the chunk's current end). A block's CRC is chained from its
   * pieces (crc32c continues from a previous CRC), so no block is assembled
   * in memory. A block that is only extended (the paper's append case)
   * continues from its stored CRC without reading it: if its old bytes are
   * bad, the new CRC will not match them either, and the next read catches
   * it. Only a block whose existing bytes are partly overwritten is read, and
   * verified before its kept bytes are used.
   */
  private async mutateRange(handle: string, st: ChunkState, offset: number, end: number, data: Buffer | null, sync: boolean): Promise<void> {
    if (end === offset) return;
    const B = this.blockBytes;
    const oldLength = st.length;
    const newLength = Math.max(oldLength, end);
    const start = Math.min(offset, oldLength);
    const firstBlock = Math.floor(start / B);
    const endBlock = Math.ceil(end / B);
    await this.mutateFile(handle, st, async (fh) => {
      await this.checkNotCut(handle, st, fh);
      const newCrcs = new Uint32Array(endBlock - firstBlock);
      for (let b = firstBlock; b < endBlock; b++) {
        const lo = b * B;
        const hi = Math.min(lo + B, newLength);
        const dlo = Math.max(lo, offset);
        const dhi = Math.min(hi, end);
        let crc: number;
        if (dlo === lo && dhi === hi) {
          crc = data ? crc32c(data.subarray(lo - offset, hi - offset)) : this.zeroCrc(hi - lo);
        } else if (offset >= oldLength) {
          // Extension: kept old bytes [lo, oldLength), the gap's zeros up to the data, the data to the block's end.
          crc = lo < oldLength ? st.crcs[b]! : 0;
          const zlo = Math.max(lo, oldLength);
          const zhi = Math.min(dlo, hi);
          if (zhi > zlo) crc = crc32c(this.zeros.subarray(0, zhi - zlo), crc);
          if (dhi > dlo) crc = data ? crc32c(data.subarray(dlo - offset, dhi - offset), crc) : crc32c(this.zeros.subarray(0, dhi - dlo), crc);
        } else {
          // Overwrite inside existing bytes: old bytes before and after the data come from the verified block.
          const old = await this.readVerifiedBlock(handle, st, fh, b);
          crc = crc32c(old.subarray(0, dlo - lo));
          crc = data ? crc32c(data.subarray(dlo - offset, dhi - offset), crc) : crc32c(this.zeros.subarray(0, dhi - dlo), crc);
          if (dhi - lo < old.length) crc = crc32c(old.subarray(dhi - lo), crc);
        }
        newCrcs[b - firstBlock] = crc;
      }
      // A failed earlier mutation may have left bytes past the recorded end;
      // cut them so a gap reads as the zeros its CRC was computed from.
      if (offset > oldLength || !data) await fh.truncate(oldLength);
      if (data) await (this.direct ? this.direct.write(this.chunkPath(handle), fh, data, offset) : writeFully(fh, data, offset));
      else await fh.truncate(end);
      if (sync) {
        await this.syncData(handle, st, fh);
        await this.makeDurable(handle, st);
      }
      const crcs = newLength === oldLength ? st.crcs : new Uint32Array(Math.ceil(newLength / B));
      if (crcs !== st.crcs) crcs.set(st.crcs.subarray(0, Math.min(st.crcs.length, crcs.length)));
      crcs.set(newCrcs, firstBlock);
      st.crcs = crcs;
      st.length = newLength;
    });
  }

  /**
   * The chunk file must hold at least the replica's bytes. A shorter one lost
   * its tail (a cut: damage, since a running server's file only shrinks by its
   * own truncate), and writing past its end would fill the lost bytes with a
   * hole of zeros: the in-memory CRCs would still catch them on a read, but a
   * crash in the dirty window recomputes the CRCs from the file and blesses the
   * zeros (simulator seed 146: cs3's cut replica of ba2fb268 took two record
   * appends, crashed, was released as the best left beside the one good copy
   * and became a copy source, losing a synced append). So it is corrupt now.
   */
  private async checkNotCut(handle: string, st: ChunkState, fh: DiskFile): Promise<void> {
    const size = (await fh.stat()).size;
    if (size >= st.length) return;
    const why = `chunk file of ${size} bytes is shorter than the replica's length ${st.length}`;
    await this.markBad(handle, st, why);
    throw new GfsError("EIO", `chunk ${handle}: ${why}; the replica is corrupt until re-copied`);
  }

  /**
   * A failed write may have changed some bytes on disk. The region is
   * undefined now (the client got an error), but the chunk must stay
   * self-consistent, or good reads would later fail their checksums.
   */
  private async afterFailedMutation(handle: string, st: ChunkState, fh: DiskFile): Promise<void> {
    try {
      await this.recomputeFromDisk(st, fh);
    } catch (e) {
      this.opts.log?.error("cannot re-read chunk after a failed mutation", { handle, error: (e as Error).message });
    }
  }

  private zeroCrc(n: number): number {
    let c = this.zeroCrcs.get(n);
    if (c === undefined) {
      c = crc32c(Buffer.alloc(n));
      this.zeroCrcs.set(n, c);
    }
    return c;
  }

  /** The existing bytes of block `b`, verified (throws EIO on mismatch). */
  private async readVerifiedBlock(handle: string, st: ChunkState, fh: DiskFile, b: number): Promise<Buffer> {
    const lo = b * this.blockBytes;
    const n = Math.min(this.blockBytes, st.length - lo);
    const buf = Buffer.allocUnsafe(n);
    const got = await readFully(fh, buf, n, lo);
    if (got !== n || crc32c(buf) !== st.crcs[b]) throw this.checksumFailure(handle, b);
    return buf;
  }

  private checksumFailure(handle: string, block: number): GfsError {
    this.checksumFailures++;
    if (!this.corrupt.has(handle)) {
      this.opts.log?.error("checksum mismatch", { handle, block });
      // Persisted, so a restart reports it corrupt again: with a dirty sidecar the restart recomputes the CRCs
      // from the damaged bytes and would call it merely unverified, which the master may release as the best
      // left (simulator seed 24: cs2's bit-flipped replica of ea5d33a5, found at 56888, served after a restart).
      void Promise.resolve().then(() => this.locked(handle, async (st) => {
        if (st.mismatch) return;
        st.mismatch = `block ${block}`;
        await this.writeSidecar(handle, st);
      }, true)).catch(() => {});
    }
    this.reportCorrupt(handle);
    return new GfsError("EIO", `checksum mismatch in chunk ${handle} block ${block}`);
  }

  /** Tells the master (onCorrupt) once per chunk. */
  private reportCorrupt(handle: string): void {
    if (this.corrupt.has(handle)) return;
    this.corrupt.add(handle);
    this.opts.onCorrupt?.(handle);
  }

  // ------------------------------------------------------------------------
  // Reads
  // ------------------------------------------------------------------------

  /**
   * Verified bytes of [offset, offset + length), cut at the chunk's end. Reads
   * run without the lock; a block that does not match (perhaps a mutation was
   * under way) is read again under the lock before it counts as corrupt.
   * `release` hands the bytes' buffer back for reuse: call it once nothing
   * will look at `data` again (or never; then it is garbage collected).
   */
  async read(handle: string, offset: number, length: number): Promise<ChunkRead> {
    this.checkRange(handle, offset, length);
    const st = this.must(handle);
    this.checkUsable(handle, st);
    this.checkVerified(handle, st);
    try {
      return await this.readRange(handle, st, offset, length);
    } catch (e) {
      if (!(e instanceof ChecksumMismatch)) throw e;
    }
    return this.locked(handle, async (locked) => {
      try {
        return await this.readRange(handle, locked, offset, length);
      } catch (e) {
        if (e instanceof ChecksumMismatch) throw this.checksumFailure(handle, e.block);
        throw e;
      }
    });
  }

  private async readRange(handle: string, st: ChunkState, offset: number, length: number): Promise<ChunkRead> {
    const chunkLength = st.length;
    const crcs = st.crcs;
    const end = Math.min(offset + length, chunkLength);
    if (end <= offset) return { data: Buffer.alloc(0), chunkLength };
    const B = this.blockBytes;
    const firstBlock = Math.floor(offset / B);
    const lo = firstBlock * B;
    const hi = Math.min(Math.ceil(end / B) * B, chunkLength);
    const pooled = hi - lo <= this.readBuffers.bufferBytes;
    const whole = pooled ? this.readBuffers.take() : Buffer.allocUnsafe(hi - lo);
    const release = pooled ? () => this.readBuffers.give(whole) : undefined;
    const buf = whole.subarray(0, hi - lo);
    try {
      const got = await this.withFile(handle, (fh) => readFully(fh, buf, hi - lo, lo));
      for (let b = firstBlock, p = 0; p < hi - lo; b++, p += B) {
        const piece = buf.subarray(p, Math.min(p + B, hi - lo));
        if (p + piece.length > got || crc32c(piece) !== crcs[b]) throw new ChecksumMismatch(b);
      }
    } catch (e) {
      release?.();
      throw e;
    }
    return { data: buf.subarray(offset - lo, end - lo), chunkLength, release };
  }

  /** The whole chunk, verified, with its CRCs (FetchChunk for re-replication). */
  fetchWhole(handle: string): Promise<WholeChunk> {
    return this.locked(handle, async (st) => {
      this.checkVerified(handle, st);
      try {
        const { data } = await this.readRange(handle, st, 0, st.length);
        return { version: st.version, length: st.length, blockCrc32c: Array.from(st.crcs), data };
      } catch (e) {
        if (e instanceof ChecksumMismatch) throw this.checksumFailure(handle, e.block);
        throw e;
      }
    });
  }

  /**
   * Stores a copy fetched from a peer, after checking it against the CRCs the
   * peer sent. Replaces an existing (stale) replica of the chunk.
   */
  async install(handle: string, version: number, data: Buffer, blockCrc32c: number[]): Promise<void> {
    checkHandle(handle);
    this.checkVersion(handle, version);
    this.checkRange(handle, 0, data.length);
    const B = this.blockBytes;
    const blocks = Math.ceil(data.length / B);
    if (blockCrc32c.length !== blocks) throw new GfsError("EIO", `chunk ${handle}: ${blockCrc32c.length} checksums for ${blocks} blocks`);
    const crcs = new Uint32Array(blocks);
    for (let b = 0; b < blocks; b++) {
      crcs[b] = crc32c(data.subarray(b * B, Math.min((b + 1) * B, data.length)));
      if (crcs[b] !== blockCrc32c[b]! >>> 0) throw new GfsError("EIO", `fetched chunk ${handle} failed its checksum in block ${b}`);
    }
    const existing = this.chunks.get(handle);
    // A bad or unverified replica is replaced by a verified copy of the same version; a good one only by a newer one.
    const replaceable = existing && (existing.bad || existing.unverified) ? existing.version <= version : (existing?.version ?? 0) < version;
    if (existing && !replaceable) throw new GfsError("EEXIST", `chunk ${handle} already here at version ${existing.version}`);
    if (existing) await this.delete(handle);
    const st: ChunkState = { version, length: data.length, crcs, clean: true, durable: true, lastMutationMs: this.now(), lock: new ChunkLock() };
    if (this.chunks.has(handle) || this.copying.has(handle)) throw new GfsError("EEXIST", `chunk ${handle} appeared during replication`);
    this.chunks.set(handle, st);
    const path = this.chunkPath(handle);
    try {
      await st.lock.run(async () => {
        await this.files.use(path, async (fh) => {
          await writeFully(fh, data, 0);
          await this.syncer.datasync(fh); // a failure removes the copy (below): nothing to poison
        }, true);
        await this.writeSidecar(handle, st);
      });
    } catch (e) {
      this.chunks.delete(handle);
      await this.files.forget(path);
      await this.disk.unlink(path).catch(() => {});
      throw e;
    }
  }

  /** Removes the chunk; the sidecar goes first so a crash leaves only an orphan data file (removed at load). */
  async delete(handle: string): Promise<void> {
    await this.locked(handle, async () => {
      this.chunks.delete(handle);
      this.corrupt.delete(handle);
      // A read still using the file keeps it open (and reads the old chunk, as it would have a moment earlier).
      await this.files.forget(this.chunkPath(handle));
      await this.disk.unlink(this.sidecarPath(handle)).catch(ignoreMissing);
      await this.disk.unlink(this.chunkPath(handle)).catch(ignoreMissing);
    }, true);
  }

  // ------------------------------------------------------------------------
  // Local copies (issue 20: copy-on-write of a snapshot's shared chunk)
  // ------------------------------------------------------------------------

  /**
   * A new replica `newHandle` at `newVersion` holding the bytes and CRCs of
   * `handle` as they are at `version`, made on this disk (no network; a
   * reflink where the file system can). Refuses: ENOENT (no such replica),
   * ESTALE (not at `version`), EIO (bad, unverified, or a checksum failure
   * found in it), EEXIST (`newHandle` held or being made), ENOSPC (disk
   * full), EINVAL (bad handles or versions); a refusal leaves nothing behind.
   *
   * Not torn: the bytes are taken under the source's lock, so between two of
   * its mutations (the master revoked the lease first, but a mutation ordered
   * before the revocation may still be applying). Not verified: the copy gets
   * the source's in-memory CRCs (always exact), so damage on disk in the
   * source's bytes fails the copy's reads as it fails the source's, and
   * reading a whole chunk would cost what the reflink saves.
   *
   * Crash safe: the data goes to a temporary name (removed at load), is
   * synced, renamed into place, then the sidecar (clean: its CRCs match the
   * synced data) is written as always, with the directory sync. A crash
   * before the sidecar leaves a chunk file without one (removed at load as an
   * unacknowledged creation): a half-done copy never looks like a replica.
   */
  async copyLocal(handle: string, version: number, newHandle: string, newVersion: number): Promise<ChunkInfo> {
    checkHandle(handle);
    checkHandle(newHandle);
    this.checkVersion(handle, version);
    this.checkVersion(newHandle, newVersion);
    if (handle === newHandle) throw new GfsError("EINVAL", `local copy of chunk ${handle} onto itself`);
    if (this.chunks.has(newHandle) || this.copying.has(newHandle)) throw new GfsError("EEXIST", `chunk ${newHandle} already here`);
    this.copying.add(newHandle);
    const tmp = this.chunkPath(newHandle) + localCopyTmpSuffix;
    try {
      // Files of that handle the store did not load (it leaves unreadable ones alone) are not to be overwritten.
      for (const path of [this.chunkPath(newHandle), this.sidecarPath(newHandle)]) {
        if (await this.disk.stat(path).then(() => true, () => false)) throw new GfsError("EEXIST", `files of chunk ${newHandle} already here (${path})`);
      }
      const st = await this.locked(handle, (src) => this.takeCopy(handle, src, version, newVersion, tmp));
      await this.placeCopy(newHandle, st, tmp);
      this.chunks.set(newHandle, st);
      return this.get(newHandle)!;
    } catch (e) {
      await this.disk.unlink(tmp).catch(() => {});
      throw e instanceof GfsError ? e : (fromSystemError(e) ?? new GfsError("EIO", `local copy of chunk ${handle} to ${newHandle}: ${(e as Error).message}`));
    } finally {
      this.copying.delete(newHandle);
    }
  }

  /** Under the source's lock: checks it may be copied, copies its file to `tmp`; the new replica's state. */
  private async takeCopy(handle: string, src: ChunkState, version: number, newVersion: number, tmp: string): Promise<ChunkState> {
    this.checkVerified(handle, src);
    if (src.mismatch || this.corrupt.has(handle)) throw new GfsError("EIO", `chunk ${handle} failed a checksum here; not copying it`);
    this.checkAtVersion(handle, src, version);
    await this.withFile(handle, (fh) => this.checkNotCut(handle, src, fh));
    await this.disk.copyFile(this.chunkPath(handle), tmp);
    return {
      version: newVersion, length: src.length, crcs: src.crcs.slice(), clean: true, durable: true, lastMutationMs: this.now(), lock: new ChunkLock(),
    };
  }

  /** The copied data cut to its length (a failed mutation's bytes past the end stay behind) and synced, renamed into place, then its sidecar. */
  private async placeCopy(newHandle: string, st: ChunkState, tmp: string): Promise<void> {
    const fh = await this.disk.open(tmp, "r+");
    try {
      const size = (await fh.stat()).size;
      if (size < st.length) throw new GfsError("EIO", `local copy of ${size} bytes is shorter than the chunk's ${st.length}`);
      if (size > st.length) await fh.truncate(st.length);
      await this.syncer.datasync(fh); // a failure removes the copy: nothing to poison
    } finally {
      await fh.close().catch(() => {});
    }
    const final = this.chunkPath(newHandle);
    await this.disk.rename(tmp, final);
    try {
      await this.writeSidecar(newHandle, st);
    } catch (e) {
      // writeSidecar leaves its temporary file when the write fails (a full disk): nothing of the copy may stay.
      for (const path of [this.sidecarPath(newHandle) + ".tmp", this.sidecarPath(newHandle), final]) await this.disk.unlink(path).catch(() => {});
      throw e;
    }
  }

  // ------------------------------------------------------------------------
  // Quarantine (chunkserver/src/quarantine.ts moves the files)
  // ------------------------------------------------------------------------

  /**
   * Stops serving the chunk and hands its files to `move` (which takes them
   * out of this directory), under the chunk's lock, so no operation sees it
   * half gone. The data is synced and the sidecar marked clean first: its
   * CRCs stay trusted wherever the files go. If `move` fails, the chunk is
   * served again as before.
   */
  async detach(handle: string, move: (files: { chunk: string; sidecar: string }, info: ChunkInfo) => Promise<void>): Promise<void> {
    await this.locked(handle, async (st) => {
      // A poisoned replica is never marked clean (see syncIdle); it moves aside as it is.
      if (!st.clean && !st.bad) {
        await this.withFile(handle, (fh) => this.syncData(handle, st, fh)); // a failure poisons it, as any sync
        st.clean = true;
        await this.writeSidecar(handle, st);
      }
      const info = this.get(handle)!;
      this.chunks.delete(handle);
      try {
        await this.files.forget(this.chunkPath(handle));
        await move({ chunk: this.chunkPath(handle), sidecar: this.sidecarPath(handle) }, info);
      } catch (e) {
        this.chunks.set(handle, st);
        throw e;
      }
      this.corrupt.delete(handle);
    }, true); // a poisoned replica is quarantined too, as it is
  }

  /** Where `adopt` expects a chunk's files to be put. */
  filesOf(handle: string): { chunk: string; sidecar: string } {
    return { chunk: this.chunkPath(handle), sidecar: this.sidecarPath(handle) };
  }

  /** Loads a chunk whose files were put back into this directory (see filesOf) and serves it. */
  async adopt(handle: string): Promise<ChunkInfo> {
    checkHandle(handle);
    if (this.chunks.has(handle)) throw new GfsError("EEXIST", `chunk ${handle} already here`);
    await this.loadChunk(handle, true);
    const info = this.get(handle);
    if (!info) throw new GfsError("EIO", `chunk ${handle} could not be loaded`);
    return info;
  }

  /** Syncs and marks clean every chunk not mutated for `idleMs` (0: all). */
  async markIdleClean(idleMs: number): Promise<number> {
    let n = 0;
    for (const [handle, st] of [...this.chunks]) {
      // A poisoned replica is never marked clean: a datasync that succeeds after one that failed proves nothing.
      if (st.clean || st.bad || this.now() - st.lastMutationMs < idleMs) continue;
      await this.locked(handle, async () => {
        if (st.clean || st.bad || this.now() - st.lastMutationMs < idleMs) return;
        await this.withFile(handle, (fh) => this.syncData(handle, st, fh));
        st.clean = true;
        try {
          await this.writeSidecar(handle, st);
        } catch (e) {
          st.clean = false;
          throw e;
        }
        n++;
      }).catch((e) => {
        if (!(e instanceof GfsError && (e.errno === "ENOENT" || st.bad))) throw e;
      });
    }
    return n;
  }

  /** Marks everything clean (the next start trusts the sidecars) and closes the files. */
  async close(): Promise<void> {
    await this.markIdleClean(0);
    await this.files.closeAll();
    await this.dirSync.close();
  }
}

/** CRC32C over a replica's block CRCs: equal for replicas with equal bytes; never 0 (0 means "none" on the wire). */
function crcDigest(crcs: Uint32Array): number {
  return crc32c(Buffer.from(crcs.buffer, crcs.byteOffset, crcs.byteLength)) || 1;
}

function ignoreMissing(e: NodeJS.ErrnoException): void {
  if (e.code !== "ENOENT") throw e;
}

async function readFully(fh: DiskFile, buf: Buffer, n: number, position: number): Promise<number> {
  let got = 0;
  while (got < n) {
    const { bytesRead } = await fh.read(buf, got, n - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

async function writeFully(fh: DiskFile, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
