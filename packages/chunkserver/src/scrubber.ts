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

/** "bad": a checksum or length failure (reported by the store), or a replica already known bad or unverified here. */
export type WholeVerdict = "good" | "bad" | "gone" | "stopped";

/**
 * Reads the whole replica through the store's verified read path: every block
 * against its CRC, and every byte up to the recorded length must be in the
 * file (a short file fails as a checksum mismatch). A mismatch is reported to
 * the master by the store itself (its onCorrupt hook). `stop` ends the scan early.
 */
export async function verifyWhole(store: Pick<ScrubbableStore, "get" | "read">, handle: string, stop: () => boolean = () => false): Promise<{ verdict: WholeVerdict; bytes: number; error?: string }> {
  const length = store.get(handle)?.length;
  if (length === undefined) return { verdict: "gone", bytes: 0 };
  let offset = 0;
  try {
    while (offset < length) {
      if (stop()) return { verdict: "stopped", bytes: offset };
      const n = Math.min(readPieceBytes, length - offset);
      await store.read(handle, offset, n);
      offset += n;
    }
  } catch (e) {
    const err = e as { errno?: string; message?: string };
    return { verdict: err.errno === "ENOENT" ? "gone" : "bad", bytes: offset, error: err.message };
  }
  return { verdict: "good", bytes: offset };
}

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
        const r = await verifyWhole(this.store, handle, this.busy);
        done += r.bytes;
        budget -= r.bytes;
        // Corrupt (already reported by the store) or deleted meanwhile: either way, done with it.
        if (r.verdict === "stopped") break; // clients arrived: resume later
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
