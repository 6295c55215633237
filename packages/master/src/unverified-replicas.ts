// Replicas a chunkserver reports as corrupt or unverified (issue 12, finding 3;
// see packages/chunkserver/src/chunk-store.ts).
//
// - corrupt: known bad on its server (its file is shorter than the length its
//   clean sidecar records, or a datasync of it failed). Marked corrupt like a
//   checksum failure: never handed out, deleted once a good copy exists, then
//   re-copied.
// - unverified: written in the window before a crash, and some of its blocks
//   no longer match the CRCs its server had recorded (a write of the window,
//   or a bit flip: it cannot tell). It is held back (not handed out, not a
//   copy source, not deleted) until the evidence is in:
//   * a verified replica of the chunk shows up: a server registering with one,
//     a fresh copy, or a heartbeat from a server holding a good replica (its
//     process has run since it registered, so its replica is as verified as
//     when it registered). Then the unverified ones are corrupt: deleted and
//     re-copied.
//   * no live server other than unverified ones holds a good replica (every
//     replica crashed inside its window; a grant-set member only behind the
//     version bump of a grant under way counts as holding one: seed 487). Then their digests (CRC32C over
//     their block CRCs, and their length) are compared: if a strict majority
//     of at least two agrees, the others are corrupt (a bit flip in one copy
//     does not repeat in another); without such a majority, those shorter
//     than the longest are (a crash loses unsynced appends, a tail; seed 119), kept until two
//     good copies exist and held again only if no released replica is good;
//     the rest are released: used as the best
//     of what is left, and their servers told so (a SetChunkVersion of the
//     version they have), which is when they serve them again.
//   * a replica condemned as above is not deleted while the verified one is
//     the only good replica of its chunk (it may be damaged too: a bit flip
//     or a cut no one has read yet): deleted once a second good copy exists,
//     and, if the verified replica is found bad before then, held back again
//     and released as the best left like any other (seeds 90, 100). A
//     verified replica reported at registration, or by the first heartbeat of
//     a server declared dead (cut off, not restarted: seed 549; its replica
//     current, or only behind a grant's bump under way), condemns
//     released replicas too: they were only the best left, and one may be
//     short (it crashed in its window) while the verified one holds every write.
//   The master's view of the other replicas at registration is not evidence:
//   their servers may have crashed at the same moment without having been
//   declared dead yet, and deleting on that view could delete the good copies
//   and keep a bad one.
//
// This module only decides; the master applies the verdicts.

export interface ReportedReplica {
  handle: string;
  length?: number;
  corrupt?: boolean;
  unverified?: boolean;
  /** CRC32C over the replica's block CRCs (0 or absent: not sent). */
  crcDigest?: number;
}

/** serverId -> what its replica's bytes digest to (undefined: unknown). */
type Members = Map<string, string | undefined>;

export type ReplicaVerdict =
  /**
   * Known bad: mark corrupt (never handed out; deleted once a good copy exists). `keep`: condemned only
   * because a verified replica was heard; deleted once two good copies exist (see above).
   */
  | { kind: "corrupt"; handle: string; serverId: string; why: string; keep?: boolean }
  /** Unverified: not handed out, not deleted, until the evidence is in. */
  | { kind: "hold"; handle: string; serverId: string }
  /** Unverified, and no verified replica is left: use it as the best left. */
  | { kind: "release"; handle: string; serverId: string };

/** What the master's chunk table says, for one server and chunk. */
export interface ReplicaView {
  /** Servers with a live, current, not corrupt (and not held back) replica of the chunk. */
  goodHolders(handle: string): string[];
  /** Whether `serverId`'s replica is at the chunk's current version. */
  isCurrent(serverId: string, handle: string): boolean;
  /**
   * True while a server that may hold a replica of the chunk has not
   * reported to this master since it started (a restarted master, before a
   * silent server would be dead): no good holder known is no evidence then,
   * so nothing is released yet.
   */
  reportsPending?(handle: string): boolean;
  /**
   * Servers with a live, not corrupt (and not held back) replica of the chunk
   * that have not confirmed the version bump of a grant under way yet. Not
   * good holders for that moment, but verified replicas all the same: while
   * one is alive, a verified replica is left, and nothing is released (seed
   * 487: the unverified replica registered 2 ms before the good ones confirmed).
   */
  behindHolders?(handle: string): string[];
}

export class UnverifiedReplicas {
  /** handle -> servers whose unverified replica is held back. */
  private readonly held = new Map<string, Members>();
  /** handle -> servers whose unverified replica is in use for want of a verified one. */
  private readonly released = new Map<string, Members>();
  /** handle -> servers whose unverified replica was condemned for a verified one, and is kept while that is the only good one. */
  private readonly condemned = new Map<string, Members>();
  /** handle -> condemned replicas shorter than a released one (no majority decided): kept while a released one is good. */
  private readonly outranked = new Map<string, Members>();
  /**
   * handle -> condemned replicas no longer in the chunk table (their deletion queued), and replicas outvoted by a
   * majority that agrees: their server holds them until it deletes them, and if it registers first it reports them
   * again, clean on its disk if they had been released (accepted), so as verified replicas. Forgotten when their
   * server reports them removed or a fresh copy.
   */
  private readonly deleting = new Map<string, Members>();

  /**
   * A server registers again (its report replaces what it said before) or its replicas are gone. `registering`:
   * its released, condemned and outranked replicas are remembered until its report is judged (onReports): a
   * released replica its server was told to accept is clean on its disk from then on, and a restart does not make
   * it any more verified than it was (seed 549: cs1's released replica of 8add48b6, condemned for cs2's at 25.6 s,
   * came back at 50.7 s as verified, was granted a lease, and the record appends it took as primary at its shorter
   * end overwrote an acknowledged append on the others).
   */
  forgetServer(serverId: string, registering = false): void {
    for (const m of registering ? [this.held] : [this.held, this.released, this.condemned, this.outranked, this.deleting]) {
      for (const [handle, ids] of m) {
        ids.delete(serverId);
        if (ids.size === 0) m.delete(handle);
      }
    }
  }

  /** `serverId`'s replica of `handle` is known bad (its server found it corrupt) or gone: no longer held, released or condemned. */
  forgetReplica(serverId: string, handle: string): void {
    for (const m of [this.held, this.released, this.condemned, this.outranked, this.deleting]) {
      const ids = m.get(handle);
      ids?.delete(serverId);
      if (ids?.size === 0) m.delete(handle);
    }
  }

  /**
   * Replicas `serverId` reports at registration (`registering`), or as added in a heartbeat (a fresh copy,
   * perhaps made from a released replica: no evidence against released ones).
   */
  onReports(serverId: string, reports: readonly ReportedReplica[], view: ReplicaView, registering = false): ReplicaVerdict[] {
    const out: ReplicaVerdict[] = [];
    if (registering) {
      // What the server no longer reports (or reports corrupt, or stale) is forgotten; the rest is judged below.
      const current = new Set(reports.filter((r) => !r.corrupt && view.isCurrent(serverId, r.handle)).map((r) => r.handle));
      for (const m of [this.released, this.condemned, this.outranked, this.deleting]) {
        for (const [handle, ids] of [...m]) {
          if (current.has(handle) || !ids.has(serverId)) continue;
          ids.delete(serverId);
          if (ids.size === 0) m.delete(handle);
        }
      }
    }
    for (const r of reports) {
      if (r.corrupt) {
        out.push({ kind: "corrupt", handle: r.handle, serverId, why: "reported corrupt by its own server (short on disk or a failed datasync)" });
        continue;
      }
      if (!view.isCurrent(serverId, r.handle)) continue; // stale: deleted as such once a current replica exists
      if (r.unverified) {
        const digest = r.crcDigest ? `${r.length ?? 0}:${r.crcDigest}` : undefined;
        this.forgetReplica(serverId, r.handle);
        add(this.held, r.handle, serverId, digest);
        out.push({ kind: "hold", handle: r.handle, serverId });
      } else if (registering && (this.condemned.get(r.handle)?.has(serverId) || this.deleting.get(r.handle)?.has(serverId))) {
        // Its server took it for verified (it was accepted as the best left, then condemned): condemned still.
        const digest = this.deleting.get(r.handle)?.get(serverId);
        if (this.deleting.get(r.handle)?.has(serverId)) add(this.condemned, r.handle, serverId, digest);
        this.forgetFrom(this.deleting, serverId, r.handle);
        out.push({ kind: "corrupt", handle: r.handle, serverId, why: "unverified since a crash, released as the best left and condemned for a verified replica before its server registered again", keep: true });
      } else if (registering && this.released.get(r.handle)?.has(serverId)) {
        // Still only the best left: no evidence against the others, and condemned by a verified replica as before.
      } else {
        this.forgetFrom(this.condemned, serverId, r.handle);
        this.forgetFrom(this.outranked, serverId, r.handle);
        this.forgetFrom(this.deleting, serverId, r.handle); // a fresh copy replaced it
        out.push(...this.verified(r.handle, serverId, "a verified replica was reported", registering));
      }
    }
    out.push(...this.releaseOrphans(view));
    return out;
  }

  /**
   * A heartbeat from `serverId`: its good replicas are evidence against the held-back ones of the same chunks.
   * Only held-back replicas (few, and only for a heartbeat interval or so) are looked at, so a heartbeat costs
   * next to nothing; released ones were accepted (their server was told) and are not condemned by one,
   * except the first heartbeat of a server declared dead (`aliveAgain`): its good replicas are then reported
   * as at a registration. A replica is released only while no live verified one is left, so one whose server was
   * dead only for a partition (no restart, so no registration) may hold a write the released one lost
   * (seed 549: cs1's replica of 7877c533, released at 22.8 s while cs2 was cut off from the master, lacked an
   * acknowledged unsynced write its crash lost; cs2, alive again at 25.6 s, held it, and cs1 served the old bytes).
   */
  onHeartbeat(serverId: string, view: ReplicaView, aliveAgain = false): ReplicaVerdict[] {
    const out: ReplicaVerdict[] = [];
    const handles = new Set([...this.held.keys(), ...(aliveAgain ? this.released.keys() : [])]);
    for (const handle of handles) {
      this.prune(handle, view);
      if (this.held.get(handle)?.has(serverId) || this.released.get(handle)?.has(serverId)) continue;
      if (!this.held.has(handle) && !this.released.has(handle)) continue;
      // Alive again while a grant's version bump is on its way to it: behind, yet as verified as a good holder (seed
      // 487), so evidence against a released replica all the same (seed 549 with the trash on: cs1's released replica
      // of 29b83297, empty since its crash, bumped by a grant whose order to cut-off cs2 was still on its way).
      if (view.goodHolders(handle).includes(serverId) || (aliveAgain && (view.behindHolders?.(handle) ?? []).includes(serverId))) {
        out.push(...this.verified(handle, serverId, aliveAgain ? "a server holding a verified replica is alive again" : "a server holding a verified replica is alive", aliveAgain));
      }
    }
    out.push(...this.releaseOrphans(view));
    return out;
  }

  /** Servers whose unverified replica of `handle` is held back / released (fsck, tests). */
  heldFor(handle: string): string[] { return [...(this.held.get(handle)?.keys() ?? [])].sort(); }
  releasedFor(handle: string): string[] { return [...(this.released.get(handle)?.keys() ?? [])].sort(); }
  condemnedFor(handle: string): string[] { return [...(this.condemned.get(handle)?.keys() ?? [])].sort(); }
  isCondemned(handle: string, serverId: string): boolean { return !!this.condemned.get(handle)?.has(serverId); }

  /**
   * Held-back replicas are condemned, and on a verified report (`released`)
   * the released ones too: a released replica was only the best left, and may
   * lack a write the verified one holds (seed 90: a short one was released
   * a moment before the verified one registered, then copied). If it was the
   * source of the verified copy, only a copy is lost. Condemned replicas are
   * kept while the verified one is the only good copy.
   */
  private verified(handle: string, by: string, why: string, released = false): ReplicaVerdict[] {
    const members: Members = new Map([...(released ? this.released.get(handle) ?? [] : []), ...(this.held.get(handle) ?? [])]);
    members.delete(by);
    this.held.delete(handle);
    this.released.delete(handle);
    this.outranked.delete(handle); // condemned for a verified replica now: held again only if that one fails
    for (const [id, digest] of members) add(this.condemned, handle, id, digest);
    return [...members.keys()].map((serverId) => ({ kind: "corrupt", handle, serverId, why: `unverified since a crash; ${why}`, keep: true }));
  }

  /** Forgets replicas that are gone or no longer current (deleted chunk, stale, removed). */
  private prune(handle: string, view: ReplicaView): void {
    for (const m of [this.held, this.released, this.condemned, this.outranked]) {
      const ids = m.get(handle);
      if (!ids) continue;
      for (const [id, digest] of [...ids]) {
        if (view.isCurrent(id, handle)) continue;
        ids.delete(id);
        if (m === this.condemned) add(this.deleting, handle, id, digest); // its deletion queued (or it went stale)
      }
      if (ids.size === 0) m.delete(handle);
    }
  }

  private forgetFrom(m: Map<string, Members>, serverId: string, handle: string): void {
    const ids = m.get(handle);
    ids?.delete(serverId);
    if (ids?.size === 0) m.delete(handle);
  }

  /**
   * Held-back replicas of chunks no live verified replica is left of: compared
   * with each other (and with those already released); a minority that differs
   * from a strict majority of at least two is corrupt, the rest are released as
   * the best left. Releases come first, so the corrupt ones have good copies.
   */
  private releaseOrphans(view: ReplicaView): ReplicaVerdict[] {
    // Verified replicas left: good ones, and those only behind the version bump of a grant under way (it made the
    // good ones look gone for a moment when an unverified replica registered; seed 487).
    const verifiedHolders = (handle: string) => [...view.goodHolders(handle), ...(view.behindHolders?.(handle) ?? [])];
    const releases: ReplicaVerdict[] = [];
    const condemned: ReplicaVerdict[] = [];
    // Condemned for a verified replica that is no longer good (found damaged, or its server dead): held back again.
    for (const handle of [...this.condemned.keys()]) {
      this.prune(handle, view);
      const ids = this.condemned.get(handle);
      if (!ids) continue;
      const held = this.held.get(handle), released = this.released.get(handle), outranked = this.outranked.get(handle);
      // Outranked by a longer released replica: held again only once no released one is good either.
      const byLength = !!outranked && [...ids.keys()].every((id) => outranked.has(id));
      if (verifiedHolders(handle).some((id) => !ids.has(id) && !held?.has(id) && (byLength || !released?.has(id)))) continue;
      this.condemned.delete(handle);
      this.outranked.delete(handle);
      for (const [id, digest] of ids) add(this.held, handle, id, digest);
    }
    for (const [handle, held] of [...this.held]) {
      const released = this.released.get(handle) ?? new Map<string, string | undefined>();
      if (verifiedHolders(handle).some((id) => !held.has(id) && !released.has(id))) continue;
      if (view.reportsPending?.(handle)) continue;
      const members: Members = new Map([...released, ...held]);
      const groups = new Map<string, string[]>();
      for (const [id, digest] of members) if (digest !== undefined) groups.set(digest, [...(groups.get(digest) ?? []), id]);
      let majority: string[] = [];
      for (const g of groups.values()) if (g.length > majority.length) majority = g;
      const decisive = majority.length >= 2 && majority.length * 2 > members.size;
      // No majority, and the replicas differ in length: only the longest are released. Synced writes are on every
      // replica; what a crash in the window loses is unsynced (appends: a tail), so the longest holds the most that
      // can be kept, and releasing all served whichever a client asked (seed 119: a short replica whose bit flip its restart had blessed with recomputed CRCs, beside a
      // longer one holding the same acknowledged append intact). The shorter ones are kept until two good copies exist.
      const lengthOf = (d: string | undefined) => (d === undefined ? undefined : Number(d.split(":")[0]));
      const known = [...members.values()].every((d) => d !== undefined);
      const longest = Math.max(...[...members.values()].map((d) => lengthOf(d) ?? 0));
      const byLength = !decisive && known && [...members.values()].some((d) => lengthOf(d) !== longest);
      this.held.delete(handle);
      for (const [id, digest] of members) {
        if (decisive && digest !== undefined && !majority.includes(id)) {
          released.delete(id);
          // Its server may have been told it is accepted (released before, or the order still on its way): clean on
          // its disk then, so if it registers again before deleting it, it reports it as verified. Condemned still.
          add(this.deleting, handle, id, digest);
          condemned.push({ kind: "corrupt", handle, serverId: id, why: `unverified since a crash, and its bytes differ from ${majority.length} of ${members.size} replicas that agree` });
        } else if (byLength && lengthOf(digest) !== longest) {
          released.delete(id);
          add(this.condemned, handle, id, digest);
          add(this.outranked, handle, id, digest);
          condemned.push({ kind: "corrupt", handle, serverId: id, why: `unverified since a crash, and shorter (${lengthOf(digest)} bytes) than an unverified replica of ${longest} bytes, with no majority that agrees`, keep: true });
        } else if (held.has(id)) {
          released.set(id, digest);
          releases.push({ kind: "release", handle, serverId: id });
        }
      }
      if (released.size > 0) this.released.set(handle, released); else this.released.delete(handle);
    }
    return [...releases, ...condemned];
  }
}

function add(m: Map<string, Members>, handle: string, serverId: string, digest: string | undefined): void {
  const s = m.get(handle);
  if (s) s.set(serverId, digest); else m.set(handle, new Map([[serverId, digest]]));
}
