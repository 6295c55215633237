// When an active master must stop acknowledging mutations: a pure rule over
// the send times of keep-alives of its etcd election lease (issue 16).
//
// etcd renews a lease to its full TTL when it answers a keep-alive, which is
// after the keep-alive was sent. So once a keep-alive sent at S has
// succeeded, the lease (and the election key it holds) lives at least until
// S + TTL, and no other master can be elected before then. Measuring from the
// send, never from the answer (which may come late), the active master
// stops at S + step_down_after_ms < S + TTL: before anyone else can win, even
// if etcd itself is cut off or frozen. Once down, it stays down for the rest
// of the term: a late answer does not bring acknowledging back.

export interface StepDownSettings {
  step_down_after_ms: number;
  election_ttl_ms: number;
}

export class StepDownRule {
  private lastOkSentMs: number;
  private downWhy: string | undefined;

  /** `startMs`: when a keep-alive that succeeded was sent (the coordinator sends one on winning). */
  constructor(private readonly settings: StepDownSettings, startMs: number) {
    if (!(settings.step_down_after_ms > 0 && settings.step_down_after_ms < settings.election_ttl_ms)) {
      throw new Error(`step_down_after_ms (${settings.step_down_after_ms}) must be positive and below election_ttl_ms (${settings.election_ttl_ms})`);
    }
    this.lastOkSentMs = startMs;
  }

  /** A keep-alive sent at `sentMs` was answered with the lease alive. Ignored once down. */
  keepAliveSucceeded(sentMs: number, nowMs: number): void {
    if (this.reason(nowMs) !== undefined) return;
    if (sentMs > this.lastOkSentMs) this.lastOkSentMs = sentMs;
  }

  /** etcd says the lease is gone (expired, revoked, the election key deleted). */
  leaseLost(why: string): void {
    this.downWhy ??= why;
  }

  /** Why acknowledging must stop at `nowMs`; undefined while it may go on. Latches. */
  reason(nowMs: number): string | undefined {
    if (this.downWhy === undefined && nowMs >= this.deadlineMs()) {
      this.downWhy = `no keep-alive of the etcd lease sent in the last ${this.settings.step_down_after_ms} ms succeeded ` +
        `(last one sent ${Math.round(nowMs - this.lastOkSentMs)} ms ago; the lease may expire ${this.settings.election_ttl_ms} ms after it)`;
    }
    return this.downWhy;
  }

  /** When reason() turns defined if no further keep-alive succeeds. */
  deadlineMs(): number {
    return this.lastOkSentMs + this.settings.step_down_after_ms;
  }

  /** Send time of the newest successful keep-alive (or the start). */
  lastSuccessSentMs(): number {
    return this.lastOkSentMs;
  }
}
