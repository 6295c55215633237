// The chunkserver's side of the master protocol: register (retrying until the
// master answers), then heartbeat forever, re-registering when the master asks
// (it restarted and forgot us). What a heartbeat carries and what to do with
// the reply are supplied by the caller.
import {
  defaults, masterDefinition, realEnv, sleep, type Env, newMasterClient, promiseClient, type HeartbeatRequest, type HeartbeatResponse__Output,
  type Logger, type MasterClient, type PromiseClient, type RegisterRequest, type RegisterResponse__Output,
} from "@gfs/common";

export interface MasterLinkHooks {
  registration(): Promise<RegisterRequest>;
  onRegistered(res: RegisterResponse__Output): Promise<void>;
  heartbeat(): Promise<HeartbeatRequest>;
  onHeartbeat(req: HeartbeatRequest, res: HeartbeatResponse__Output): Promise<void>;
  /** A heartbeat that failed: what it carried must be sent again. */
  onHeartbeatFailed(req: HeartbeatRequest): void;
}

export class MasterLink {
  readonly master: PromiseClient<MasterClient>;
  private timer: unknown;
  private stopped = false;
  /** The last heartbeat failed: the next comes after heartbeat_retry_ms, so a restarted master hears from us at once. */
  private lastFailed = false;
  intervalMs: number;

  constructor(masterAddress: string, private readonly hooks: MasterLinkHooks, private readonly log: Logger, intervalMs: number,
    private readonly env: Env = realEnv, master?: PromiseClient<MasterClient>) {
    // `master`: a client of the caller's making (the simulator's, over its network).
    this.master = master ?? promiseClient(newMasterClient(masterAddress), masterDefinition());
    this.intervalMs = intervalMs;
  }

  /** Registers, retrying for up to `waitMs`; throws a one-line error if the master never answers. */
  async start(waitMs: number, masterAddress: string): Promise<void> {
    const deadline = this.env.now() + waitMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.register();
        break;
      } catch (e) {
        if (this.env.now() >= deadline) throw new Error(`cannot register with master at ${masterAddress}: ${(e as Error).message}`);
        this.log.warn("register failed, retrying", { attempt, error: (e as Error).message });
        await sleep(this.env, Math.min(1000, 100 * attempt));
      }
    }
    this.schedule();
  }

  private async register(): Promise<void> {
    const req = await this.hooks.registration();
    const res = await this.master.Register(req, { timeoutMs: 5_000 });
    this.intervalMs = res.heartbeatIntervalMs || this.intervalMs;
    await this.hooks.onRegistered(res);
  }

  private schedule(): void {
    if (this.stopped) return;
    const delay = this.lastFailed ? Math.min(this.intervalMs, defaults.heartbeat_retry_ms) : this.intervalMs;
    this.timer = this.env.setTimer(() => void this.beat().finally(() => this.schedule()), delay);
  }

  private reporting = false;
  private reportAgain = false;

  /**
   * An extra heartbeat at once, to report news the master waits for (a
   * finished copy: until the master hears of it the chunk counts as short of
   * a replica, and a new lease on it waits too). One at a time; asked again
   * meanwhile, one more follows.
   */
  beatSoon(): void {
    if (this.stopped) return; // shutting down: the store may be closing, and nobody waits for the report
    if (this.reporting) {
      this.reportAgain = true;
      return;
    }
    this.reporting = true;
    void this.beat().catch(() => {}).then(() => {
      this.reporting = false;
      if (this.reportAgain) {
        this.reportAgain = false;
        this.beatSoon();
      }
    });
  }

  /** One heartbeat now (also used to report urgent news without waiting). */
  async beat(): Promise<void> {
    const req = await this.hooks.heartbeat();
    try {
      const res = await this.master.Heartbeat(req, { timeoutMs: Math.max(1000, this.intervalMs) });
      this.lastFailed = false;
      if (res.reregister) {
        this.log.info("master asked to re-register");
        await this.register();
        return;
      }
      await this.hooks.onHeartbeat(req, res);
    } catch (e) {
      this.lastFailed = true;
      this.hooks.onHeartbeatFailed(req);
      this.log.warn("heartbeat failed", { error: (e as Error).message });
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.env.clearTimer(this.timer);
  }
}
