// Mount sessions and the files they hold open (issue 19): the master's side of
// "a file unlinked while open lives on until its last close". Pure: every
// input (the clock included) is an argument, every decision a return value.
//
// A mount process picks a random session id and names it on each open (Stat
// with access, Create); it renews the session every session_renew_ms with the
// inodes whose last descriptor it closed. A delete or rename that unlinks an
// inode for the last time keeps it as an orphan while any live session holds
// it (master-service.ts); the orphan is reclaimed once none does: at the close
// that releases the last holder, when the last holding session expires (the
// mount died), or, after a master start or promotion, once a full lease has
// passed without anyone claiming it (sessions re-register in that window:
// KeepSession answers `unknown` and the mount sends its full open set).

import { GfsError } from "@gfs/common";

/** Who a session belongs to: the peer (certificate role and name) that made it. */
export type PeerKey = string;

interface Session {
  peer: PeerKey;
  renewedMs: number;
  open: Set<number>;
  /**
   * Made by an open (Stat/Create) rather than a full KeepSession: this master does not know
   * everything the session holds (it restarted or was promoted), so KeepSession says `unknown`
   * until the mount sends its full set.
   */
  partial: boolean;
}

export interface OpenSessionsOptions {
  /** A session not renewed for this long is gone, with everything it held. */
  leaseMs: number;
  /** When this master started serving (recovered or promoted): no orphan is reclaimed before startedMs + leaseMs. */
  startedMs: number;
  /** Sessions one master keeps at most (a new one beyond: EAGAIN). */
  sessionsMax: number;
  /** Inodes one session holds open at most (an open beyond: EAGAIN, as @gfs/common has no EMFILE). */
  openPerSessionMax: number;
  /** Live sessions one peer keeps at most (a new one beyond: EAGAIN); peers in `sharedPeers` are exempt. */
  sessionsPerPeerMax?: number;
  /** Peers that stand for many hosts (every insecure peer is one key): a per-peer limit would be a cluster-wide one. */
  sharedPeers?: ReadonlySet<PeerKey>;
  /** Holds over all sessions at most (a hold beyond: EAGAIN): bounds the table's memory whatever peers claim. */
  holdsMax?: number;
}

export interface KeepRequest {
  closed: readonly number[];
  open: readonly number[];
  full: boolean;
}

/** Longest session id accepted (the mount's are 32 hex digits). */
export const SESSION_ID_BYTES_MAX = 128;

export class OpenSessions {
  private readonly sessions = new Map<string, Session>();
  /** inode id -> how many live sessions hold it open. */
  private readonly holders = new Map<number, number>();
  /** peer -> inode id -> how many of its live sessions hold it (heldBy is asked on every inode-path call). */
  private readonly byPeer = new Map<PeerKey, Map<number, number>>();
  /** peer -> how many live sessions it has. */
  private readonly sessionsOf = new Map<PeerKey, number>();
  /** Holds over all sessions (the sum of every session's open set). */
  private holdCount = 0;

  constructor(private readonly o: OpenSessionsOptions) {}

  /** Whether the window after a start in which sessions re-register is over (orphans may be reclaimed). */
  graceOver(now: number): boolean {
    return now >= this.o.startedMs + this.o.leaseMs;
  }

  get leaseMs(): number {
    return this.o.leaseMs;
  }

  get openPerSessionMax(): number {
    return this.o.openPerSessionMax;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Whether any live session holds inode `id` open. */
  holds(id: number): boolean {
    return (this.holders.get(id) ?? 0) > 0;
  }

  /** Whether a live session of `peer` holds inode `id` open (the right to address it by inode path). */
  heldBy(peer: PeerKey, id: number): boolean {
    return (this.byPeer.get(peer)?.get(id) ?? 0) > 0;
  }

  /** Every inode some live session holds. */
  held(): number[] {
    return [...this.holders.keys()];
  }

  /** An open (Stat with access, Create) by `sessionId` of `peer`: the session holds `id` from now on. */
  opened(sessionId: string, peer: PeerKey, id: number, now: number): void {
    const s = this.session(sessionId, peer, now, true);
    s.renewedMs = now;
    this.hold(s, id);
  }

  /**
   * A renewal. Returns `unknown` when this master does not know all the session holds (send `full`),
   * and the inodes no live session holds any more because of it (candidates for reclaim).
   */
  keep(sessionId: string, peer: PeerKey, req: KeepRequest, now: number): { unknown: boolean; released: number[] } {
    const s = this.session(sessionId, peer, now, !req.full);
    s.renewedMs = now;
    const released: number[] = [];
    if (req.full) {
      if (req.open.length > this.o.openPerSessionMax) throw new GfsError("EAGAIN", `session ${sessionId} claims ${req.open.length} open files, over ${this.o.openPerSessionMax}`);
      const next = new Set(req.open.filter(validId));
      const holdsMax = this.o.holdsMax ?? Infinity;
      if (this.holdCount - s.open.size + next.size > holdsMax) throw new GfsError("EAGAIN", `sessions hold ${holdsMax} open files at most in all; try again later`);
      for (const id of s.open) if (!next.has(id)) this.drop(s, id, released);
      for (const id of next) this.hold(s, id);
      s.partial = false;
    }
    for (const id of req.closed) if (validId(id)) this.drop(s, id, released);
    return { unknown: s.partial, released };
  }

  /** Sessions not renewed within the lease are gone; returns the inodes no live session holds any more. */
  expire(now: number): { expired: string[]; released: number[] } {
    const expired: string[] = [];
    const released: number[] = [];
    for (const [id, s] of this.sessions) {
      if (now - s.renewedMs < this.o.leaseMs) continue;
      expired.push(id);
      for (const inode of [...s.open]) this.drop(s, inode, released);
      this.forget(id, s);
    }
    return { expired, released };
  }

  private session(sessionId: string, peer: PeerKey, now: number, partial: boolean): Session {
    if (sessionId.length === 0 || Buffer.byteLength(sessionId) > SESSION_ID_BYTES_MAX) {
      throw new GfsError("EINVAL", `bad session id (1 to ${SESSION_ID_BYTES_MAX} bytes)`);
    }
    let s = this.sessions.get(sessionId);
    if (s) {
      // A peer may lie: a session is its maker's alone.
      if (s.peer !== peer) throw new GfsError("EACCES", `permission denied: session ${sessionId} belongs to another peer`);
      return s;
    }
    if (this.sessions.size >= this.o.sessionsMax) throw new GfsError("EAGAIN", `too many mount sessions (${this.o.sessionsMax}); try again later`);
    const perPeer = this.o.sharedPeers?.has(peer) ? Infinity : this.o.sessionsPerPeerMax ?? Infinity;
    const mine = this.sessionsOf.get(peer) ?? 0;
    if (mine >= perPeer) throw new GfsError("EAGAIN", `peer ${peer} has ${perPeer} live sessions already; try again later`);
    s = { peer, renewedMs: now, open: new Set(), partial };
    this.sessions.set(sessionId, s);
    this.sessionsOf.set(peer, mine + 1);
    return s;
  }

  private forget(sessionId: string, s: Session): void {
    this.sessions.delete(sessionId);
    const left = (this.sessionsOf.get(s.peer) ?? 1) - 1;
    if (left > 0) this.sessionsOf.set(s.peer, left);
    else this.sessionsOf.delete(s.peer);
  }

  private hold(s: Session, id: number): void {
    if (!validId(id) || s.open.has(id)) return;
    if (s.open.size >= this.o.openPerSessionMax) throw new GfsError("EAGAIN", `a session holds at most ${this.o.openPerSessionMax} open files`);
    if (this.holdCount >= (this.o.holdsMax ?? Infinity)) throw new GfsError("EAGAIN", `sessions hold ${this.o.holdsMax} open files at most in all; try again later`);
    s.open.add(id);
    this.holdCount++;
    this.holders.set(id, (this.holders.get(id) ?? 0) + 1);
    let mine = this.byPeer.get(s.peer);
    if (!mine) this.byPeer.set(s.peer, (mine = new Map()));
    mine.set(id, (mine.get(id) ?? 0) + 1);
  }

  private drop(s: Session, id: number, released: number[]): void {
    if (!s.open.delete(id)) return;
    this.holdCount--;
    const mine = this.byPeer.get(s.peer)!;
    const left = mine.get(id)! - 1;
    if (left > 0) mine.set(id, left);
    else if (mine.delete(id) && mine.size === 0) this.byPeer.delete(s.peer);
    const n = (this.holders.get(id) ?? 1) - 1;
    if (n > 0) {
      this.holders.set(id, n);
    } else {
      this.holders.delete(id);
      released.push(id);
    }
  }
}

const validId = (id: number): boolean => Number.isSafeInteger(id) && id > 0;

/**
 * The inodes a delete or rename that unlinks `unlinked` for the last time keeps as orphans: those a
 * live session holds. Right after a master start a session holding one may not have re-registered
 * yet (it does at its next renewal, within session_renew_ms): a delete in that window frees the file.
 * Keeping every unlinked inode then instead would hold back the chunks of every delete for a lease
 * after each start, sessions or not.
 */
export function keptOf(unlinked: readonly number[], sessions: OpenSessions): number[] {
  return unlinked.filter((id) => sessions.holds(id));
}

/** Of the current orphans, those to reclaim now: none during the grace after a start, else those no live session holds. */
export function reclaimable(orphans: readonly number[], sessions: OpenSessions, now: number): number[] {
  if (!sessions.graceOver(now)) return [];
  return orphans.filter((id) => !sessions.holds(id));
}
