// What the kernel was last told about each path, so an open can tell whether
// the kernel's cached attributes are stale.
//
// The kernel keeps the attributes we answer (LOOKUP and GETATTR both reach our
// getattr through libfuse 2's path API) for attr_timeout. That makes `ls -l`
// and `find` one call per entry or none, instead of two each; but a reader on
// this mount could then read a file another mount rewrote only up to the size
// the kernel cached (it asks again on a read past the end only once its copy
// expired), and `stat` after the open would show the old size. libfuse 2's
// path API gives us no inode number to invalidate. So at open, which always
// asks the master (close-to-open), the fresh attributes are compared with what
// we told the kernel within its timeout; when they differ the open fails with
// ESTALE once, and the kernel, as it does for NFS, walks the path again with
// LOOKUP_REVAL: the revalidating LOOKUP carries the fresh attributes, and the
// retried open succeeds with the kernel's copy up to date.
import type { FuseStat } from "./file-attributes";

export interface KernelAttributesOptions {
  /** How long the kernel keeps an answer (the attr_timeout given to libfuse). */
  attrTimeoutMs: number;
  now: () => number;
  /** Paths remembered at most; answers older than the timeout are swept first. */
  entriesMax?: number;
}

interface Told { size: number; mtime: number; mode: number; uid: number; gid: number; atMs: number }

/** An answer is trusted by the kernel from when it reads it: count our clock's answer as this much longer. */
const TIMEOUT_MARGIN = 1.5;
/** After an ESTALE for a path, the kernel's retry must not get another one (it retries only once). */
const RETRY_WINDOW_MS = 2_000;

export class KernelAttributes {
  private readonly told = new Map<string, Told>();
  /** "pid\0path" -> when that task's open of it got ESTALE (its retry passes). */
  private readonly staled = new Map<string, number>();
  private readonly entriesMax: number;
  private readonly keepMs: number;

  constructor(private readonly o: KernelAttributesOptions) {
    this.entriesMax = o.entriesMax ?? 200_000;
    this.keepMs = o.attrTimeoutMs * TIMEOUT_MARGIN;
  }

  /** We answered the kernel `stat` for `path` (getattr, fgetattr). */
  answered(path: string, stat: FuseStat): void {
    if (this.o.attrTimeoutMs <= 0) return;
    this.told.delete(path); // re-inserted last: the Map stays in answer order for the sweep
    this.told.set(path, { size: stat.size, mtime: stat.mtime, mode: stat.mode, uid: stat.uid, gid: stat.gid, atMs: this.o.now() });
    if (this.told.size > this.entriesMax) this.sweep();
  }

  /**
   * Whether an open of `path`, whose attributes are now `fresh`, must fail with ESTALE so the
   * kernel revalidates: the kernel may hold other attributes, and did not just retry.
   */
  mustRevalidate(path: string, fresh: FuseStat, pid: number): boolean {
    const now = this.o.now();
    // The kernel's retry after an ESTALE (its revalidating lookup done) comes from the same task: that
    // one open passes, even if the file changed again meanwhile (other writers), since a second ESTALE
    // would reach the application. Opens by anyone else are checked as usual.
    const key = `${pid}\0${path}`;
    const last = this.staled.get(key);
    if (last !== undefined) {
      this.staled.delete(key);
      if (now - last < RETRY_WINDOW_MS) return false;
    }
    const t = this.told.get(path);
    if (!t || now - t.atMs > this.keepMs) return false;
    if (t.size === fresh.size && t.mtime === fresh.mtime && t.mode === fresh.mode && t.uid === fresh.uid && t.gid === fresh.gid) return false;
    this.staled.set(key, now);
    if (this.staled.size > 1024) for (const [p, at] of this.staled) if (now - at >= RETRY_WINDOW_MS) this.staled.delete(p);
    return true;
  }

  /**
   * This mount removed `path` (the kernel dropped its name), or wrote or truncated it (the kernel
   * drops the attributes it held after a write through it, and our answer would be outdated).
   */
  forget(path: string): void {
    this.told.delete(path);
  }

  /** This mount renamed `from` to `to`: the kernel's inodes (and what they hold) moved with the names. */
  moved(from: string, to: string): void {
    const prefix = from === "/" ? "/" : from + "/";
    for (const [p, t] of [...this.told]) {
      if (p !== from && !p.startsWith(prefix)) continue;
      this.told.delete(p);
      this.told.set(to + p.slice(from.length), t);
    }
  }

  get size(): number {
    return this.told.size;
  }

  private sweep(): void {
    const now = this.o.now();
    for (const [p, t] of this.told) {
      if (now - t.atMs <= this.keepMs) break; // answer order: the rest are newer
      this.told.delete(p);
    }
    // Still full of answers the kernel may hold: forgetting one could let a stale size through, so
    // keep them; the map is bounded by how many paths the kernel can be told about in one timeout.
  }
}
