// The chunkserver's own view of the leases it holds (GFS §3.1). It counts
// conservatively: a grant from when it was received, an extension from when
// the heartbeat that asked for it was sent, both no later than the master's
// own clock starts counting, so this server stops acting as primary before
// the master could hand the lease to anyone else.
import { GfsError } from "@gfs/common";

interface Lease {
  version: number;
  expiresAtMs: number;
  /** Mutated since the lease was granted or last extended: worth extending. */
  mutated: boolean;
}

export class LeaseView {
  private readonly leases = new Map<string, Lease>();

  constructor(private readonly now: () => number, private readonly extensionWindowMs: number) {}

  /** SetChunkVersion with lease_ms > 0, counted from `receivedAtMs`. */
  grant(handle: string, version: number, leaseMs: number, receivedAtMs: number = this.now()): void {
    this.leases.set(handle, { version, expiresAtMs: receivedAtMs + leaseMs, mutated: false });
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
