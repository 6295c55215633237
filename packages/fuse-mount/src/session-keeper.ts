// The mount's session at the master (issue 19): which inodes this mount has
// open, renewed every session_renew_ms with those whose last descriptor closed
// since. While the session lives, the master keeps a file unlinked (here or on
// another mount) as an orphan instead of freeing it, so the descriptors still
// read and write it; the close of the last one lets the master reclaim it.
//
// Opens register themselves (the Stat or Create that opens names the session);
// this only reports closes and renews. A master that does not know the session
// (it restarted, or another took over) answers `unknown`: the next renewal, at
// once, carries every inode open here (`full`).
import type { Logger } from "@gfs/common";

/** A failed renewal is tried again this soon (a master restarting comes back within a few). */
const RETRY_MS = 250;

export interface KeepCall {
  (req: { closed: number[]; open: number[]; full: boolean }): Promise<{ unknown: boolean }>;
}

export interface SessionKeeperOptions {
  keep: KeepCall;
  renewMs: number;
  log: Logger;
}

/** What the mount's operations tell the session (operations.ts). */
export interface OpenInodes {
  /** A descriptor of inode `id` was opened (its open already registered it at the master). */
  opened(id: number): void;
  /** A descriptor of inode `id` was closed. */
  released(id: number): void;
  /**
   * Before an open asks the master: a renewal carrying closes (or a full set) on its way, to wait for (else the open's
   * registration may reach the master first and the close, applied after it, would drop the hold of a
   * file open again here); undefined when there is none (no wait at all, the common case).
   */
  beforeOpen?(): Promise<void> | undefined;
}

export class SessionKeeper implements OpenInodes {
  /** inode id -> descriptors open here. */
  private readonly open = new Map<number, number>();
  /** Inodes whose last descriptor closed since the last renewal the master answered. */
  private closed = new Set<number>();
  /** The master must hear the whole open set (it did not know the session, or a close raced an open); first of all, to make the session. */
  private fullDue = true;
  private inFlight: Promise<void> | undefined;
  /** The renewal on its way when it carries closes or a full set (opens wait for it: beforeOpen). */
  private closesInFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: SessionKeeperOptions) {}

  opened(id: number): void {
    this.open.set(id, (this.open.get(id) ?? 0) + 1);
    this.closed.delete(id);
  }

  released(id: number): void {
    const n = (this.open.get(id) ?? 0) - 1;
    if (n > 0) {
      this.open.set(id, n);
      return;
    }
    this.open.delete(id);
    this.closed.add(id);
  }

  beforeOpen(): Promise<void> | undefined {
    return this.closesInFlight;
  }

  /** Inodes open here now. */
  openInodes(): number[] {
    return [...this.open.keys()];
  }

  start(): void {
    this.timer = setInterval(() => void this.renew(), this.o.renewMs);
    this.timer.unref();
    void this.renew(); // the session exists at the master from the start
  }

  /** One renewal (a renewal already on its way is shared). Never rejects: a failed one is retried at the next. */
  renew(): Promise<void> {
    this.inFlight ??= this.renewOnce().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async renewOnce(): Promise<void> {
    const closed = [...this.closed];
    const full = this.fullDue;
    this.closed.clear();
    this.fullDue = false;
    let again = false;
    try {
      const sent = this.o.keep({ closed, open: full ? this.openInodes() : [], full });
      // A full set replaces the master's: an open registered before it lands, and missing from it, would be dropped too.
      if (closed.length > 0 || full) this.closesInFlight = sent.then(() => undefined, () => undefined).finally(() => (this.closesInFlight = undefined));
      const res = await sent;
      // An open of an inode we reported closed may have reached the master before the close did: resend all.
      again = res.unknown || closed.some((id) => this.open.has(id));
      if (again) this.fullDue = true;
      if (res.unknown && !full) this.o.log.info("the master did not know this mount's session; sending the files open here", { open: this.open.size });
    } catch (e) {
      for (const id of closed) if (!this.open.has(id)) this.closed.add(id);
      if (full) this.fullDue = true;
      this.o.log.warn("mount session renewal failed; retrying", { error: (e as Error).message });
      // A restarted master reclaims what no session claimed within one lease: try again soon, not a renewal later.
      if (!this.stopped) setTimeout(() => void this.renew(), Math.min(this.o.renewMs, RETRY_MS)).unref();
    }
    if (again && !this.stopped) setImmediate(() => void this.renew());
  }

  /**
   * At unmount: every inode still open counts as closed (the process is leaving), so the master
   * reclaims orphans only this mount held at once rather than after the lease. Best effort.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.inFlight;
    for (const id of this.open.keys()) this.closed.add(id);
    this.open.clear();
    if (this.closed.size > 0) await this.renew();
  }
}
