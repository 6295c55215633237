// Primary leases, pure and clock-free (every call takes `now`). At most one
// unexpired lease per chunk, and it is never handed to another replica before
// it expires, even if its holder looks dead: the holder may still be ordering
// mutations, and two primaries would break consistency.
//
// Every grant uses a version above any version ever sent for the chunk (even
// by a grant that failed), so a replica that heard of a failed grant can
// never be mistaken for the holder of a later one.
//
// The master's view of a lease must outlast the primary's own view, so the
// caller passes the times that make it so: a grant counts from AFTER the
// SetChunkVersion call to the primary returned (the primary counts from
// receipt), and an extension from when the master processed the heartbeat
// (the primary counts from when it sent it).

export interface Lease {
  handle: string;
  primaryId: string;
  version: number;
  expiresMs: number;
  /** The grant's secret token: replicas apply only mutations carrying it. Never shown to clients. */
  token: string;
  /** The grant's replica set (server ids, the primary included), as sent to the replicas. */
  replicas: string[];
}

export interface GrantDetails {
  token: string;
  replicas: string[];
}

export type LeaseDecision =
  | { kind: "current"; lease: Lease }
  | { kind: "grant"; version: number; primaryId: string };

export interface LeaseCandidate {
  serverId: string;
  load: number;
}

export class LeaseManager {
  private readonly leases = new Map<string, Lease>();
  /** The highest version a grant decision handed out per chunk, granted or not. */
  private readonly lastIssuedVersion = new Map<string, number>();
  /** The version of each chunk's last grant: a new grant must be above it. */
  private readonly lastGrantVersion = new Map<string, number>();
  /** The version of each chunk's last grant decision that gave no lease because a replica missed the bump. */
  private readonly lastFailedGrant = new Map<string, number>();

  constructor(private readonly leaseMs: number) {}

  /** Unexpired leases (a metric, read at scrape time). */
  heldCount(now: number): number {
    let n = 0;
    for (const l of this.leases.values()) if (l.expiresMs > now) n++;
    return n;
  }

  current(handle: string, now: number): Lease | undefined {
    const l = this.leases.get(handle);
    if (!l) return undefined;
    if (l.expiresMs > now) return l;
    this.leases.delete(handle);
    return undefined;
  }

  /**
   * Whether a lease is current or a new one must be granted, and to whom: at
   * a version above every one used before, to the least-loaded candidate
   * (ties by id). A grant decision reserves its version.
   */
  decide(handle: string, chunkVersion: number, candidates: LeaseCandidate[], now: number): LeaseDecision | undefined {
    const lease = this.current(handle, now);
    if (lease) return { kind: "current", lease };
    if (candidates.length === 0) return undefined;
    const primary = [...candidates].sort((a, b) => a.load - b.load || (a.serverId < b.serverId ? -1 : a.serverId > b.serverId ? 1 : 0))[0];
    const version = Math.max(chunkVersion, this.lastIssuedVersion.get(handle) ?? 0) + 1;
    this.lastIssuedVersion.set(handle, version);
    return { kind: "grant", version, primaryId: primary.serverId };
  }

  grant(handle: string, primaryId: string, version: number, now: number, details: GrantDetails = { token: "", replicas: [primaryId] }): Lease {
    const cur = this.current(handle, now);
    if (cur) throw new Error(`invariant: chunk ${handle} still leased to ${cur.primaryId} until ${cur.expiresMs}`);
    if (!this.canGrant(handle, version)) throw new Error(`invariant: lease of ${handle} at version ${version} must be above ${this.lastGrantVersion.get(handle)}`);
    if (!details.replicas.includes(primaryId)) throw new Error(`invariant: lease of ${handle}: primary ${primaryId} not in its replica set`);
    const lease: Lease = { handle, primaryId, version, expiresMs: now + this.leaseMs, token: details.token, replicas: [...details.replicas].sort() };
    this.leases.set(handle, lease);
    this.lastGrantVersion.set(handle, version);
    return lease;
  }

  /** Whether a grant at `version` would be above every grant made so far (a reported lease may be honoured). */
  canGrant(handle: string, version: number): boolean {
    return version > (this.lastGrantVersion.get(handle) ?? 0);
  }

  /** The highest version issued for the chunk so far (by a grant decision, a grant, or a fence), 0 if none. */
  issuedVersion(handle: string): number {
    return Math.max(this.lastIssuedVersion.get(handle) ?? 0, this.lastGrantVersion.get(handle) ?? 0);
  }

  /**
   * A fence (fencing.ts) issues `version` without a grant: no later grant or
   * fence may reuse it, and no lease at or below it may be honoured.
   */
  reserveVersion(handle: string, version: number): void {
    if (!(version > this.issuedVersion(handle))) throw new Error(`invariant: version ${version} of ${handle} must be above ${this.issuedVersion(handle)}`);
    this.lastIssuedVersion.set(handle, version);
    this.lastGrantVersion.set(handle, version);
  }

  /** A grant at `version` was refused: a replica of its set did not take the version. */
  grantFailed(handle: string, version: number): void {
    this.lastFailedGrant.set(handle, version);
  }

  /**
   * Whether this master saw its grant at `version` fail and has granted (or
   * honoured) no lease at or above it since: then no lease at `version` was
   * ever handed out. False after a restart (it cannot know).
   */
  failedUnleased(handle: string, version: number): boolean {
    return this.lastFailedGrant.get(handle) === version && (this.lastGrantVersion.get(handle) ?? 0) < version;
  }

  /** Whether this master granted (or honoured) any lease of the chunk since it started. */
  everGranted(handle: string): boolean {
    return this.lastGrantVersion.has(handle);
  }

  /** Extends the current lease if `primaryId` holds it at `version`; otherwise nothing. */
  extend(handle: string, primaryId: string, version: number, now: number): Lease | undefined {
    const l = this.current(handle, now);
    if (!l || l.primaryId !== primaryId || l.version !== version) return undefined;
    l.expiresMs = Math.max(l.expiresMs, now + this.leaseMs);
    return l;
  }

  /** The holder gives the lease up early; a mismatch (old version, other server) changes nothing. */
  release(handle: string, primaryId: string, version: number): boolean {
    const l = this.leases.get(handle);
    if (!l || l.primaryId !== primaryId || l.version !== version) return false;
    this.leases.delete(handle);
    return true;
  }

  /**
   * Issue 18: a chunkserver left (SIGTERM) after finishing its mutations and ordering no new one: the leases it
   * holds as primary are over. Returns their handles.
   */
  releaseAllOf(primaryId: string): string[] {
    const out: string[] = [];
    for (const [h, l] of this.leases) if (l.primaryId === primaryId) out.push(h);
    for (const h of out) this.leases.delete(h);
    return out;
  }

  /** The chunk is gone (garbage). */
  forget(handle: string): void {
    this.leases.delete(handle);
    this.lastGrantVersion.delete(handle);
    this.lastIssuedVersion.delete(handle);
    this.lastFailedGrant.delete(handle);
  }
}
