// MasterLink (chunkserver/src/master-link.ts) on an Env and a given master
// client: register (retrying), then heartbeat, re-registering when asked.
// A copy because master-link.ts makes its own gRPC client and uses real
// timers; once it takes an Env and a client (cscore is changing it), the
// simulator should use it instead.
import type { Env, HeartbeatRequest, HeartbeatResponse__Output, Logger, RegisterRequest, RegisterResponse__Output } from "@gfs/common";
import { defaults } from "@gfs/common";

export interface SimLinkHooks {
  registration(): Promise<RegisterRequest>;
  onRegistered(res: RegisterResponse__Output): Promise<void>;
  heartbeat(): Promise<HeartbeatRequest>;
  onHeartbeat(req: HeartbeatRequest, res: HeartbeatResponse__Output): Promise<void>;
  onHeartbeatFailed(req: HeartbeatRequest): void;
}

type Master = Record<string, (req: unknown, o?: { timeoutMs?: number }) => Promise<any>>;

export class SimLink {
  private registered = false;
  private lastFailed = false;

  constructor(private readonly env: Env, readonly master: Master, private readonly hooks: SimLinkHooks, private readonly log: Logger,
    public intervalMs: number) {}

  /** Registers (retrying forever, as a chunkserver started before its master would until master_wait_ms), then heartbeats. */
  start(attempt = 1): void {
    void this.register().then(() => { this.registered = true; this.schedule(); }, (e) => {
      this.log.warn("register failed, retrying", { attempt, error: (e as Error).message });
      this.env.setTimer(() => this.start(attempt + 1), Math.min(1000, 100 * attempt));
    });
  }

  private async register(): Promise<void> {
    const req = await this.hooks.registration();
    const res = await this.master.Register(req, { timeoutMs: 5_000 }) as RegisterResponse__Output;
    this.intervalMs = res.heartbeatIntervalMs || this.intervalMs;
    await this.hooks.onRegistered(res);
  }

  private schedule(): void {
    const delay = this.lastFailed ? Math.min(this.intervalMs, defaults.heartbeat_retry_ms) : this.intervalMs;
    this.env.setTimer(() => void this.beat().finally(() => this.schedule()), delay);
  }

  async beat(): Promise<void> {
    if (!this.registered) return;
    const req = await this.hooks.heartbeat();
    try {
      const res = await this.master.Heartbeat(req, { timeoutMs: Math.max(1000, this.intervalMs) }) as HeartbeatResponse__Output;
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
}
