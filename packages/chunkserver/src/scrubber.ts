// The idle-time scrubber (GFS §5.2): reads cold chunks through the store's
// verified read path at a bounded rate, so corruption in rarely read data is
// found (and reported to the master through the store's onCorrupt hook) before
// a client needs it or before the last good replica is gone.

export interface ScrubbableStore {
  list(): Array<{ handle?: string }>;
  get(handle: string): { length: number; lastMutationMs: number } | undefined;
  read(handle: string, offset: number, length: number): Promise<unknown>;
}

export interface ScrubberSettings {
  scrub_bytes_per_sec: number;
  scrub_cold_after_ms: number;
  scrub_repeat_after_ms: number;
}

const readPieceBytes = 1024 * 1024;

export class Scrubber {
  /** handle -> when it was last fully verified. */
  private readonly verifiedAt = new Map<string, number>();
  private running = false;

  constructor(
    private readonly store: ScrubbableStore,
    private readonly settings: ScrubberSettings,
    private readonly now: () => number,
    /** True while clients are being served: the scrubber only uses idle time. */
    private readonly busy: () => boolean,
  ) {}

  /** The next chunk due: cold, not verified recently; the longest unverified first. */
  nextDue(): string | undefined {
    const t = this.now();
    let best: string | undefined;
    let bestAt = Infinity;
    for (const { handle } of this.store.list()) {
      if (!handle) continue;
      const info = this.store.get(handle);
      if (!info || info.length === 0 || t - info.lastMutationMs < this.settings.scrub_cold_after_ms) continue;
      const at = this.verifiedAt.get(handle) ?? -Infinity;
      if (t - at < this.settings.scrub_repeat_after_ms) continue;
      if (at < bestAt) { best = handle; bestAt = at; }
    }
    return best;
  }

  /**
   * One round: verifies up to one second's budget of bytes. Returns the bytes
   * verified. A checksum failure ends that chunk's scan (the store reports it).
   */
  async round(): Promise<number> {
    if (this.running || this.busy()) return 0;
    this.running = true;
    let budget = this.settings.scrub_bytes_per_sec;
    let done = 0;
    try {
      while (budget > 0) {
        const handle = this.nextDue();
        if (!handle) break;
        const length = this.store.get(handle)?.length ?? 0;
        let offset = 0;
        try {
          while (offset < length && !this.busy()) {
            const n = Math.min(readPieceBytes, length - offset);
            await this.store.read(handle, offset, n);
            offset += n;
            done += n;
            budget -= n;
          }
        } catch {
          // Corrupt (already reported by the store) or deleted meanwhile: either way, done with it.
          offset = length;
        }
        if (offset < length) break; // clients arrived: resume later
        this.verifiedAt.set(handle, this.now());
      }
    } finally {
      this.running = false;
    }
    return done;
  }

  forget(handle: string): void {
    this.verifiedAt.delete(handle);
  }
}
