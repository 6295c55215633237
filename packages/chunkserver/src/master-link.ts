// The chunkserver's side of the master protocol: register (retrying until the
// master answers), then heartbeat forever, re-registering when the master asks
// (it restarted and forgot us). What a heartbeat carries and what to do with
// the reply are supplied by the caller. With several masters (issue 16) the
// chunkserver keeps one link per master (MasterLinks) and each hook is told
// which master's link calls it (its key: "" with a single master).
import {
  defaults, masterDefinition, realEnv, sleep, type Env, newMasterClient, promiseClient, type HeartbeatRequest, type HeartbeatResponse__Output,
  type Logger, type MasterClient, type PromiseClient, type RegisterRequest, type RegisterResponse__Output,
} from "@gfs/common";

export interface MasterLinkHooks {
  registration(master: string): Promise<RegisterRequest>;
  onRegistered(res: RegisterResponse__Output, master: string): Promise<void>;
  heartbeat(master: string): Promise<HeartbeatRequest>;
  onHeartbeat(req: HeartbeatRequest, res: HeartbeatResponse__Output, master: string): Promise<void>;
  /** A heartbeat that failed: what it carried must be sent again. */
  onHeartbeatFailed(req: HeartbeatRequest, master: string): void;
}

export interface MasterLinkOptions {
  /** Names this master to the hooks ("" with a single master). */
  key?: string;
  /** A heartbeat failed after one that succeeded (the master died or stepped away): the other links beat at once. */
  onBeatFailed?: () => void;
  /** The role a Register or Heartbeat reply of this master named (MASTER_ROLE_...). */
  onReply?: (role: string) => void;
  /** While true, beat every heartbeat_retry_ms (no active master is known: find the new one at once). */
  hurry?: () => boolean;
}

export class MasterLink {
  readonly master: PromiseClient<MasterClient>;
  private timer: unknown;
  private stopped = false;
  /** The last heartbeat failed: the next comes after heartbeat_retry_ms, so a restarted master hears from us at once. */
  private lastFailed = false;
  intervalMs: number;
  readonly key: string;
  /** Registered at least once (MasterLinks: registered with at least one master). */
  registered = false;
  /** When this master last answered a Register or Heartbeat (env time; undefined: never). A metric's source. */
  lastReplyMs: number | undefined;

  constructor(readonly address: string, private readonly hooks: MasterLinkHooks, private readonly log: Logger, intervalMs: number,
    private readonly env: Env = realEnv, master?: PromiseClient<MasterClient>, private readonly o: MasterLinkOptions = {}) {
    // `master`: a client of the caller's making (the simulator's, over its network).
    this.master = master ?? promiseClient(newMasterClient(address), masterDefinition());
    this.intervalMs = intervalMs;
    this.key = o.key ?? "";
  }

  /** Registers, retrying for up to `waitMs`; throws a one-line error if the master never answers. */
  async start(waitMs: number, masterAddress: string): Promise<void> {
    const deadline = this.env.now() + waitMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.register();
        break;
      } catch (e) {
        if (this.stopped || this.env.now() >= deadline) throw new Error(`cannot register with master at ${masterAddress}: ${(e as Error).message}`);
        this.log.warn("register failed, retrying", { attempt, error: (e as Error).message });
        await sleep(this.env, Math.min(1000, 100 * attempt));
      }
    }
    this.schedule();
  }

  private async register(): Promise<void> {
    const req = await this.hooks.registration(this.key);
    const res = await this.master.Register(req, { timeoutMs: 5_000 });
    this.lastReplyMs = this.env.now();
    this.intervalMs = res.heartbeatIntervalMs || this.intervalMs;
    await this.hooks.onRegistered(res, this.key);
    this.registered = true;
    this.o.onReply?.(String(res.masterRole ?? ""));
  }

  private schedule(): void {
    if (this.stopped) return;
    const delay = this.lastFailed || this.o.hurry?.() ? Math.min(this.intervalMs, defaults.heartbeat_retry_ms) : this.intervalMs;
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
    const req = await this.hooks.heartbeat(this.key);
    try {
      const res = await this.master.Heartbeat(req, { timeoutMs: Math.max(1000, this.intervalMs) });
      this.lastReplyMs = this.env.now();
      this.lastFailed = false;
      if (res.reregister) {
        this.log.info("master asked to re-register", this.key ? { master: this.address } : {});
        await this.register();
        return;
      }
      await this.hooks.onHeartbeat(req, res, this.key);
      this.o.onReply?.(String(res.masterRole ?? ""));
    } catch (e) {
      const wasFailing = this.lastFailed;
      this.lastFailed = true;
      this.hooks.onHeartbeatFailed(req, this.key);
      // Once when it starts failing, then once a minute while it goes on (it retries every heartbeat_retry_ms).
      const now = this.env.now();
      if (!wasFailing || now - this.failureLoggedMs >= 60_000) {
        this.failureLoggedMs = now;
        this.log.warn("heartbeat failed", { error: (e as Error).message, ...(this.key ? { master: this.address } : {}) });
      }
      if (!wasFailing) this.o.onBeatFailed?.();
    }
  }

  private failureLoggedMs = 0;

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.env.clearTimer(this.timer);
  }
}

/**
 * One MasterLink per master of the chunkserver's --master list (issue 16):
 * each registers and heartbeats on its own; the hooks (ChunkServerNode) judge
 * each reply by the master's role and epoch (master-epoch.ts). When one
 * master stops answering, the others beat at once: if it was the active, the
 * new active answers "reregister" and learns this server's chunks and held
 * leases without waiting a heartbeat interval.
 */
export class MasterLinks {
  readonly links: MasterLink[];
  /** The master whose last reply said it is the active (or single) one; undefined while none is known. */
  private activeAt: string | undefined;

  /** `addresses`: the masters; `makeLink` builds one link (its key is its address when there are several, else ""). */
  constructor(readonly addresses: readonly string[], private readonly env: Env,
    makeLink: (address: string, o: MasterLinkOptions) => MasterLink) {
    if (addresses.length === 0) throw new Error("invariant: a chunkserver needs at least one master");
    const several = addresses.length > 1;
    this.links = addresses.map((a) => makeLink(a, {
      key: several ? a : "",
      // Only links already registered: the others are retrying their registration anyway.
      onBeatFailed: several ? () => {
        if (this.activeAt === a) this.activeAt = undefined; // the active stopped answering: look for the next one
        for (const l of this.links) if (l.address !== a && l.registered) l.beatSoon();
      } : undefined,
      onReply: several ? (role) => {
        if (role === "MASTER_ROLE_ACTIVE" || role === "MASTER_ROLE_SINGLE") this.activeAt = a;
        else if (this.activeAt === a) this.activeAt = undefined; // it stepped down
      } : undefined,
      // With no active master known, every link beats every heartbeat_retry_ms: the new active answers
      // "reregister" within half a second of its election, not a heartbeat interval later.
      hurry: several ? () => this.activeAt === undefined : undefined,
    }));
  }

  /** The keys the links report under (for ReportJournal). */
  static keysOf(addresses: readonly string[]): string[] {
    return addresses.length > 1 ? [...addresses] : [""];
  }

  /**
   * Resolves once registered with at least one master; throws a one-line
   * error if none answered within `waitMs`. With several masters, those not
   * reached keep trying in the background (a master may come up later).
   */
  async start(waitMs: number): Promise<MasterLink> {
    if (this.links.length === 1) {
      await this.links[0].start(waitMs, this.links[0].address);
      return this.links[0];
    }
    let timer: unknown;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.env.setTimer(() => reject(new Error(`cannot register with any master of ${this.addresses.join(",")} within ${waitMs} ms`)), waitMs);
    });
    const first = Promise.any(this.links.map((l) => l.start(Number.POSITIVE_INFINITY, l.address).then(() => l)));
    try {
      return await Promise.race([first, timeout]);
    } catch (e) {
      this.stop();
      throw e;
    } finally {
      this.env.clearTimer(timer);
    }
  }

  /** The link of `key` (the master last obeyed), else the first registered one. */
  linkOf(key: string | undefined): MasterLink {
    return this.links.find((l) => l.key === key) ?? this.links.find((l) => l.registered) ?? this.links[0];
  }

  /** One heartbeat to every master now. */
  async beat(): Promise<void> {
    await Promise.all(this.links.map((l) => l.beat()));
  }

  beatSoon(): void {
    for (const l of this.links) l.beatSoon();
  }

  stop(): void {
    for (const l of this.links) l.stop();
  }
}
