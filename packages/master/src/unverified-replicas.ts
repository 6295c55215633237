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
//     verified replica reported (registration, fresh copy) condemns released
//     replicas too: they were only the best left, and one may be short (it
//     crashed in its window) while the verified one holds every write.
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

  /** A server registers again (its report replaces what it said before) or its replicas are gone. */
  forgetServer(serverId: string): void {
    for (const m of [this.held, this.released, this.condemned, this.outranked]) {
      for (const [handle, ids] of m) {
        ids.delete(serverId);
        if (ids.size === 0) m.delete(handle);
      }
    }
  }

  /** `serverId`'s replica of `handle` is known bad (its server found it corrupt): no longer held, released or condemned. */
  forgetReplica(serverId: string, handle: string): void {
    for (const m of [this.held, this.released, this.condemned, this.outranked]) {
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
    for (const r of reports) {
      if (r.corrupt) {
        out.push({ kind: "corrupt", handle: r.handle, serverId, why: "reported corrupt by its own server (short on disk or a failed datasync)" });
        continue;
      }
      if (!view.isCurrent(serverId, r.handle)) continue; // stale: deleted as such once a current replica exists
      if (r.unverified) {
        const digest = r.crcDigest ? `${r.length ?? 0}:${r.crcDigest}` : undefined;
        this.released.get(r.handle)?.delete(serverId);
        add(this.held, r.handle, serverId, digest);
        out.push({ kind: "hold", handle: r.handle, serverId });
      } else {
        this.condemned.get(r.handle)?.delete(serverId);
        this.outranked.get(r.handle)?.delete(serverId);
        out.push(...this.verified(r.handle, serverId, "a verified replica was reported", registering));
      }
    }
    out.push(...this.releaseOrphans(view));
    return out;
  }

  /**
   * A heartbeat from `serverId`: its good replicas are evidence against the held-back ones of the same chunks.
   * Only held-back replicas (few, and only for a heartbeat interval or so) are looked at, so a heartbeat costs
   * next to nothing; released ones were accepted (their server was told) and are never condemned by one.
   */
  onHeartbeat(serverId: string, view: ReplicaView): ReplicaVerdict[] {
    const out: ReplicaVerdict[] = [];
    for (const handle of [...this.held.keys()]) {
      this.prune(handle, view);
      if (this.held.get(handle)?.has(serverId) || this.released.get(handle)?.has(serverId)) continue;
      if (view.goodHolders(handle).includes(serverId)) out.push(...this.verified(handle, serverId, "a server holding a verified replica is alive"));
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
      for (const id of [...ids.keys()]) if (!view.isCurrent(id, handle)) ids.delete(id);
      if (ids.size === 0) m.delete(handle);
    }
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
