// Bad-replica reports from clients are claims, not facts (issue 13): a reader
// may be buggy or hostile, and a replica deleted on its word alone lets any
// reader destroy a file (report replicas 1 and 2, they are deleted; report 3,
// it is marked corrupt). So a report only asks the replica's own server to
// verify it: the order rides on that server's next heartbeat answer
// (HeartbeatResponse.verify_chunks), and the server reports the replica
// corrupt through its own path (HeartbeatRequest.corrupt_chunks) only if its
// checksums or recorded length say so.
//
// Two pure pieces, wired by master-state.ts and master-service.ts:
// - VerifyQueue: per server, the replicas to verify; deduplicated, bounded
//   per server, handed out a few per heartbeat, and a replica verified lately
//   is not verified again on every report (each verification reads a chunk).
// - ReporterLimit: reports per reporter (certificate name) per minute.

export interface VerifyQueueSettings {
  verify_chunks_queued_max: number;
  verify_chunks_per_heartbeat_max: number;
  verify_chunk_repeat_after_ms: number;
}

export type VerifyRequestOutcome = "queued" | "already queued" | "verified lately" | "queue full";

export class VerifyQueue {
  /** serverId -> handles waiting, in arrival order. */
  private readonly waiting = new Map<string, Set<string>>();
  /** `${serverId}/${handle}` -> when its verification was sent. */
  private readonly sent = new Map<string, number>();

  constructor(private readonly settings: VerifyQueueSettings) {
    if (!(settings.verify_chunks_queued_max > 0) || !(settings.verify_chunks_per_heartbeat_max > 0) || !(settings.verify_chunk_repeat_after_ms >= 0)) {
      throw new Error("verify queue: limits must be positive");
    }
  }

  request(serverId: string, handle: string, now: number): VerifyRequestOutcome {
    const q = this.waiting.get(serverId);
    if (q?.has(handle)) return "already queued";
    const at = this.sent.get(`${serverId}/${handle}`);
    if (at !== undefined && now - at < this.settings.verify_chunk_repeat_after_ms) return "verified lately";
    if ((q?.size ?? 0) >= this.settings.verify_chunks_queued_max) return "queue full";
    if (q) q.add(handle);
    else this.waiting.set(serverId, new Set([handle]));
    return "queued";
  }

  /** The verifications to send with this server's heartbeat answer (oldest first), at most the per-heartbeat bound. */
  take(serverId: string, now: number): string[] {
    this.expire(now);
    const q = this.waiting.get(serverId);
    if (!q) return [];
    const out: string[] = [];
    for (const h of q) {
      if (out.length >= this.settings.verify_chunks_per_heartbeat_max) break;
      out.push(h);
    }
    for (const h of out) {
      q.delete(h);
      this.sent.delete(`${serverId}/${h}`); // re-inserted last: the map stays in send order
      this.sent.set(`${serverId}/${h}`, now);
    }
    if (q.size === 0) this.waiting.delete(serverId);
    return out;
  }

  /** A server that re-registers or dies: its waiting verifications go (a new report asks again). */
  forgetServer(serverId: string): void {
    this.waiting.delete(serverId);
  }

  waitingFor(serverId: string): number {
    return this.waiting.get(serverId)?.size ?? 0;
  }

  private expire(now: number): void {
    for (const [k, at] of this.sent) {
      if (now - at < this.settings.verify_chunk_repeat_after_ms) break; // insertion order is send order
      this.sent.delete(k);
    }
  }
}

/** Fixed one-minute windows per reporter; bounded (the oldest reporter is forgotten first). */
export class ReporterLimit {
  private readonly windows = new Map<string, { start: number; count: number; dropped: number }>();

  constructor(private readonly perMinute: number, private readonly trackedMax: number) {
    if (!(perMinute > 0) || !(trackedMax > 0)) throw new Error("reporter limit: limits must be positive");
  }

  /**
   * Whether this report is let through; `droppedBefore` is how many were dropped
   * in the reporter's previous window when a new one starts (to log once).
   */
  admit(reporter: string, now: number): { ok: boolean; firstDrop: boolean; droppedBefore: number } {
    let w = this.windows.get(reporter);
    let droppedBefore = 0;
    if (!w || now - w.start >= 60_000) {
      droppedBefore = w?.dropped ?? 0;
      this.windows.delete(reporter);
      w = { start: now, count: 0, dropped: 0 };
      this.windows.set(reporter, w);
      while (this.windows.size > this.trackedMax) this.windows.delete(this.windows.keys().next().value!);
    }
    if (w.count < this.perMinute) {
      w.count++;
      return { ok: true, firstDrop: false, droppedBefore };
    }
    w.dropped++;
    return { ok: false, firstDrop: w.dropped === 1, droppedBefore };
  }
}
