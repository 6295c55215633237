// The chunkserver's own view of the leases it holds (GFS §3.1). It counts
// conservatively: a grant from when it was received, an extension from when
// the heartbeat that asked for it was sent, both no later than the master's
// own clock starts counting, so this server stops acting as primary before
// the master could hand the lease to anyone else.
//
// It also keeps, per chunk, the token of the grant its current version came
// with (on every replica, primary or not): a secondary applies only mutations
// carrying that token, so only the primary the master named for that version
// and lease can order them. Every replica of the grant learns the token, so
// under mutual TLS the sender must also be the primary itself (its
// certificate names the grant's primary id): another secondary knowing the
// token cannot order mutations.
import { GfsError, type Peer, type ServerAddress__Output } from "@gfs/common";

interface Lease {
  version: number;
  expiresAtMs: number;
  /** Mutated since the lease was granted or last extended: worth extending. */
  mutated: boolean;
  token: string;
  /** The secondaries the master named with the grant: the only replicas this primary orders mutations to. */
  secondaries: ServerAddress__Output[];
}

/** A lease this server holds, as reported to a (restarted) master at registration. */
export interface HeldLeaseReport {
  handle: string;
  version: number;
  remainingMs: number;
  leaseToken: string;
  secondaries: ServerAddress__Output[];
}

export class LeaseView {
  private readonly leases = new Map<string, Lease>();
  /** handle -> the version, token and primary of the grant this replica last heard of. */
  private readonly tokens = new Map<string, { version: number; token: string; primaryId: string }>();

  constructor(private readonly now: () => number, private readonly extensionWindowMs: number) {}

  /** SetChunkVersion with lease_ms > 0, counted from `receivedAtMs`. */
  grant(handle: string, version: number, leaseMs: number, receivedAtMs: number = this.now(), token = "", secondaries: ServerAddress__Output[] = []): void {
    this.leases.set(handle, { version, expiresAtMs: receivedAtMs + leaseMs, mutated: false, token, secondaries });
  }

  /**
   * Any SetChunkVersion: the grant this version belongs to and its primary's
   * server id (token empty: none known, apply nothing).
   */
  setGrantToken(handle: string, version: number, token: string, primaryId: string): void {
    if (token) this.tokens.set(handle, { version, token, primaryId });
    else this.tokens.delete(handle);
  }

  /**
   * Throws EPERM unless `token` is the one the master gave this replica with
   * the chunk's `version`, and `sender` (the caller's certificate) is that
   * grant's primary. An insecure peer (plaintext cluster) cannot be told apart: the token alone decides.
   */
  checkOrderedByLeaseHolder(handle: string, version: number, token: string, sender: Peer): void {
    const t = this.tokens.get(handle);
    if (!t || t.version !== version || !token || t.token !== token) {
      throw new GfsError("EPERM", `mutation of chunk ${handle} at version ${version} not ordered by the chunk's lease holder`);
    }
    if (sender.role !== "insecure" && (sender.role !== "chunkserver" || sender.name !== t.primaryId)) {
      throw new GfsError("EPERM", `mutation of chunk ${handle} at version ${version} not ordered by the chunk's lease holder `
        + `(primary "${t.primaryId}"; sent by ${sender.role} "${sender.name}")`);
    }
  }

  /** The token to forward with the mutations this primary orders (checkPrimary first). */
  tokenOf(handle: string): string {
    return this.leases.get(handle)?.token ?? "";
  }

  /**
   * Throws EINVAL unless `secondaries` are exactly the ones the master named
   * with this lease (by server id when given, else address; any order).
   */
  checkSecondaries(handle: string, version: number, secondaries: ServerAddress__Output[]): void {
    const l = this.leases.get(handle);
    if (!l || l.version !== version) throw new GfsError("ESTALE", `not primary for chunk ${handle} at version ${version}`);
    // The address must match too: the primary forwards the mutation, with the lease token, to the
    // addresses the write names, so right ids with other addresses would send it elsewhere.
    const matches = (s: ServerAddress__Output, m: ServerAddress__Output) => s.address === m.address && (!s.serverId || s.serverId === m.serverId);
    const same = secondaries.length === l.secondaries.length
      && secondaries.every((s) => l.secondaries.some((m) => matches(s, m)))
      && l.secondaries.every((m) => secondaries.some((s) => matches(s, m)));
    if (!same) {
      throw new GfsError("EINVAL", `chunk ${handle}: the write names secondaries [${secondaries.map((s) => s.serverId || s.address).join(", ")}], `
        + `the master granted the lease with [${l.secondaries.map((s) => s.serverId || s.address).join(", ")}]`);
    }
  }

  /** The server id the master named with this lease for the secondary at `address` (undefined: none known). */
  secondaryIdOf(handle: string, address: string): string | undefined {
    return this.leases.get(handle)?.secondaries.find((s) => s.address === address)?.serverId || undefined;
  }

  /** Unexpired leases held now, for the master at registration. */
  held(): HeldLeaseReport[] {
    const now = this.now();
    const out: HeldLeaseReport[] = [];
    for (const [handle, l] of this.leases) {
      if (now < l.expiresAtMs && l.token) out.push({ handle, version: l.version, remainingMs: l.expiresAtMs - now, leaseToken: l.token, secondaries: l.secondaries });
    }
    return out;
  }

  /** A LeaseExtension on a heartbeat reply, counted from when that heartbeat was sent. */
  extend(handle: string, version: number, leaseMs: number, heartbeatSentAtMs: number): boolean {
    const l = this.leases.get(handle);
    if (!l || l.version !== version) return false;
    l.expiresAtMs = Math.max(l.expiresAtMs, heartbeatSentAtMs + leaseMs);
    l.mutated = false;
    return true;
  }

  /** Gives the lease up (after a failed mutation, a version change, or deletion). */
  drop(handle: string): void {
    this.leases.delete(handle);
  }

  /** The chunk was deleted: forget its lease and grant token. */
  forget(handle: string): void {
    this.leases.delete(handle);
    this.tokens.delete(handle);
  }

  isPrimary(handle: string, version: number): boolean {
    const l = this.leases.get(handle);
    return !!l && l.version === version && this.now() < l.expiresAtMs;
  }

  /** Throws ESTALE unless this server holds an unexpired lease on the chunk at `version`. */
  checkPrimary(handle: string, version: number): void {
    if (!this.isPrimary(handle, version)) throw new GfsError("ESTALE", `not primary for chunk ${handle} at version ${version}`);
  }

  noteMutation(handle: string): void {
    const l = this.leases.get(handle);
    if (l) l.mutated = true;
  }

  /** Unexpired leases in use whose remaining time is under the extension window: ask the master to extend them. */
  extensionHandles(): string[] {
    const now = this.now();
    const out: string[] = [];
    for (const [handle, l] of this.leases) {
      if (now >= l.expiresAtMs) {
        this.leases.delete(handle);
        continue;
      }
      if (l.mutated && l.expiresAtMs - now < this.extensionWindowMs) out.push(handle);
    }
    return out;
  }

  remainingMs(handle: string): number {
    const l = this.leases.get(handle);
    return l ? Math.max(0, l.expiresAtMs - this.now()) : 0;
  }
}
