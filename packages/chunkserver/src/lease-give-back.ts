// Giving a lease back to the master when it revokes it (to copy the chunk,
// GFS §4.3 with §3.1's leases): the primary orders no new mutation from the
// revocation on (the lease view drops the lease), and answers only once every
// mutation it had already ordered has finished on all replicas, so a copy
// made after the answer misses nothing. Pure bookkeeping: the caller says
// when a mutation is ordered and when it finished; this says which
// revocations may be answered.

export class LeaseGiveBack {
  /** handle -> the mutations (caller's keys) ordered and not yet finished. */
  private readonly inFlight = new Map<string, Set<number>>();
  /** Revocations waiting (caller's keys) -> the mutations they wait for. */
  private readonly revokes = new Map<number, { handle: string; waitFor: Set<number> }>();

  /** The primary ordered mutation `key` of `handle` (before anything of it is sent or applied). */
  ordered(handle: string, key: number): void {
    const set = this.inFlight.get(handle) ?? new Set<number>();
    set.add(key);
    this.inFlight.set(handle, set);
  }

  /** Mutation `key` finished (everywhere, and its lease given up if it failed): the revocations now answerable. */
  finished(handle: string, key: number): number[] {
    const set = this.inFlight.get(handle);
    set?.delete(key);
    if (set?.size === 0) this.inFlight.delete(handle);
    const answerable: number[] = [];
    for (const [revoke, r] of this.revokes) {
      if (r.handle !== handle || !r.waitFor.delete(key) || r.waitFor.size > 0) continue;
      this.revokes.delete(revoke);
      answerable.push(revoke);
    }
    return answerable;
  }

  /**
   * Revocation `key` of `handle` (the lease already dropped): true if it can
   * be answered now, false if it waits for the mutations ordered before it.
   */
  revoke(handle: string, key: number): boolean {
    const waitFor = new Set(this.inFlight.get(handle) ?? []);
    if (waitFor.size === 0) return true;
    this.revokes.set(key, { handle, waitFor });
    return false;
  }

  /** Mutations of `handle` ordered and not finished. */
  pending(handle: string): number {
    return this.inFlight.get(handle)?.size ?? 0;
  }
}
