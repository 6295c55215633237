// The replicated master's link to etcd (issue 16): the election of the active
// master, its epoch, the step-down timer, and the in-sync set. etcd does the
// consensus; this file only wires the etcd3 client to the master's needs.
//
// Keys, under `prefix` (default "/gfs/"):
//   election/master/<lease id>  one per campaigning master, value {id, address},
//                               on its lease; the one created first leads
//                               (etcd3's Election, the Go client's recipe)
//   in-sync                     {epoch, members}: written only by the leader,
//                               in a transaction guarded by its election key
//
// The epoch of an active master is its election key's create revision: a key
// created later has a higher revision, and a master leads only once every
// older key is gone, so epochs strictly grow across elections.
//
// Transport: plain http to etcd on 127.0.0.1 is what runs today (the etcd of
// `scripts/mount.sh` and of the tests listens on loopback only). `tls` takes
// the CA (and a client certificate) for https:// endpoints of a real
// deployment; the etcd3 client then speaks TLS, nothing else changes.
import { performance } from "node:perf_hooks";
import { noop } from "cockatiel";
import { Etcd3, type Campaign, type Election, type Watcher } from "etcd3";
import { defaults, type Logger } from "@gfs/common";
import { StepDownRule } from "./step-down";

export interface LeaderInfo { id: string; address: string; epoch: number }

export interface CoordinatorOptions {
  endpoints: string[];
  /** Key prefix of this cluster in etcd; default "/gfs/". */
  prefix?: string;
  ttlMs: number;
  stepDownAfterMs: number;
  log: Logger;
  /** Monotonic milliseconds; default performance.now (a wall clock may step). */
  clock?: () => number;
  keepAliveIntervalMs?: number;
  retryMs?: number;
  callTimeoutMs?: number;
  /** For https:// endpoints: PEM CA, and the client's key and certificate if etcd asks for one. */
  tls?: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer };
}

interface Candidate { id: string; address: string }

/** One campaign: from its election key's creation to its resignation. */
interface Ballot {
  me: Candidate;
  campaign: Campaign;
  key: string;
  leaseId: string;
  epoch: number;
  /** Set if the lease was lost before taking office. */
  lost?: string;
  timers: NodeJS.Timeout[];
  unwatch?: () => void;
  over: boolean;
}

/** A leadership: a won ballot in office, with its step-down rule. */
interface Term extends Ballot { rule: StepDownRule }

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class EtcdCoordinator {
  private term: Term | undefined;
  /** The campaign in progress, until it takes office. */
  private pending: Ballot | undefined;
  private campaigning = false;
  /** Rejects the campaign in progress (resign or close). */
  private abortCampaign: ((why: Error) => void) | undefined;
  private readonly stepDownCallbacks: Array<(why: string) => void> = [];
  private readonly watchers = new Set<() => void>();
  private closed = false;
  private readonly electionPrefix: string;
  private readonly inSyncKey: string;
  private readonly election: Election;
  private readonly clock: () => number;
  private readonly keepAliveIntervalMs: number;
  private readonly retryMs: number;

  private constructor(private readonly client: Etcd3, private readonly o: CoordinatorOptions) {
    const prefix = o.prefix ?? "/gfs/";
    // etcd leases count whole seconds; rounding up keeps the lease at least as long as asked.
    const ttlSeconds = Math.max(1, Math.ceil(o.ttlMs / 1000));
    this.election = client.namespace(prefix).election("master", ttlSeconds);
    this.electionPrefix = `${prefix}election/master/`;
    this.inSyncKey = `${prefix}in-sync`;
    this.clock = o.clock ?? (() => performance.now());
    this.keepAliveIntervalMs = o.keepAliveIntervalMs ?? defaults.election_keepalive_interval_ms;
    this.retryMs = o.retryMs ?? defaults.election_retry_ms;
    // Checked here too, so a bad pair of flags fails at start, not at the first election.
    new StepDownRule({ step_down_after_ms: o.stepDownAfterMs, election_ttl_ms: o.ttlMs }, 0);
  }

  /** Connects and checks etcd answers (a clear error naming the endpoints if not). */
  static async connect(o: CoordinatorOptions): Promise<EtcdCoordinator> {
    const callTimeoutMs = o.callTimeoutMs ?? defaults.etcd_call_timeout_ms;
    const client = new Etcd3({
      hosts: o.endpoints,
      credentials: o.tls,
      dialTimeout: callTimeoutMs,
      // Unary calls get a deadline; streams (watches, keep-alives) live on.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
      // No per-host circuit breaker: etcd3's default one refused every call for 5 s after a few failed ones, so a
      // master kept failing its eligibility checks and campaigns well after etcd was back (seen in the failover
      // tests under load). This module retries at its own pace (election_retry_ms); the global retry policy stays.
      faultHandling: { host: () => noop },
    });
    try {
      await client.maintenance.status();
    } catch (e) {
      client.close();
      throw new Error(`etcd at ${o.endpoints.join(",")} does not answer: ${message(e)}`);
    }
    return new EtcdCoordinator(client, o);
  }

  /**
   * Campaigns until elected while eligible: waits until eligible() says yes,
   * campaigns, and once elected asks again (the in-sync set cannot change
   * under a leader, only the leader writes it), resigning and starting over if
   * no longer eligible. Resolves with the epoch once this master leads, its
   * step-down timer running; rejects only on resign() or close().
   */
  async campaign(me: Candidate, eligible: () => Promise<boolean>): Promise<{ epoch: number }> {
    if (this.campaigning || (this.term && !this.term.over)) throw new Error("already campaigning or leading");
    this.campaigning = true;
    let abortedWhy: Error | undefined;
    const aborted = new Promise<never>((_, reject) => {
      this.abortCampaign = (why) => { abortedWhy = why; reject(why); };
    });
    aborted.catch(() => undefined);
    const guard = <T>(p: Promise<T>) => Promise.race([p, aborted]);
    try {
      let waitingLogged = false;
      for (;;) {
        this.throwIfClosed();
        if (!(await guard(this.askEligible(eligible)))) {
          if (!waitingLogged) this.o.log.info("not eligible to lead (not in the in-sync set); waiting", { id: me.id });
          waitingLogged = true;
          await guard(sleep(this.retryMs));
          continue;
        }
        waitingLogged = false;
        const ballot = await guard(this.runOnce(me)).catch((e) => {
          if (abortedWhy) throw abortedWhy;
          this.o.log.warn("campaign failed; retrying", { id: me.id, error: message(e) });
          return undefined;
        });
        if (!ballot) { await guard(sleep(this.retryMs)); continue; }
        const term = (await guard(this.askEligible(eligible))) ? await guard(this.takeOffice(ballot)) : "not eligible after winning";
        // (ballot.lost again: the lease may have gone while the race above settled)
        const notTaken = typeof term === "string" ? term : ballot.lost;
        if (notTaken !== undefined || typeof term === "string") {
          this.o.log.warn("elected but not taking office; resigning", { id: me.id, epoch: ballot.epoch, why: notTaken });
          await guard(this.endTerm(ballot));
          await guard(sleep(this.retryMs));
          continue;
        }
        this.pending = undefined;
        this.term = term;
        this.startKeepAlives(term);
        this.o.log.info("elected active master", { id: me.id, epoch: term.epoch });
        return { epoch: term.epoch };
      }
    } finally {
      // A campaign cut short (resign, close) leaves no election key behind.
      const p = this.pending;
      this.pending = undefined;
      if (p && !p.over) await this.endTerm(p).catch((e) => this.o.log.warn("withdrawing a campaign failed", { error: message(e) }));
      this.campaigning = false;
      this.abortCampaign = undefined;
    }
  }

  /** The election's leader now (the oldest election key), or undefined if none. */
  async leader(): Promise<LeaderInfo | undefined> {
    const res = await this.client.getAll().prefix(this.electionPrefix).sort("Create", "Ascend").limit(1).exec();
    const kv = res.kvs[0];
    if (!kv) return undefined;
    const v = parseCandidate(kv.value.toString(), kv.key.toString());
    return { id: v.id, address: v.address, epoch: Number(kv.create_revision) };
  }

  /** Calls cb with the leader now and on every change (a new id, address or epoch). Returns a stop function. */
  watchLeader(cb: (l: LeaderInfo | undefined) => void): () => void {
    let stopped = false;
    let last = "unset";
    let watcher: Watcher | undefined;
    // Serialized, so a slow read cannot overwrite a newer one.
    let chain = Promise.resolve();
    const refresh = () => {
      chain = chain.then(async () => {
        if (stopped) return;
        try {
          const l = await this.leader();
          const k = l ? `${l.id} ${l.address} ${l.epoch}` : "none";
          if (!stopped && k !== last) { last = k; cb(l); }
        } catch (e) {
          this.o.log.warn("reading the election leader failed", { error: message(e) });
        }
      });
    };
    const stop = () => { stopped = true; this.watchers.delete(stop); void watcher?.cancel().catch(() => undefined); };
    this.watchers.add(stop);
    this.client.watch().prefix(this.electionPrefix).create().then((w) => {
      watcher = w;
      if (stopped) { void w.cancel().catch(() => undefined); return; }
      // "connected" also follows every reconnect, when events may have been missed.
      w.on("connected", refresh).on("put", refresh).on("delete", refresh);
      w.on("error", (e) => this.o.log.warn("election watch error", { error: message(e) }));
      refresh();
    }, (e) => this.o.log.error("cannot watch the election", { error: message(e) }));
    return stop;
  }

  /** True while this master leads and its step-down rule allows acknowledging mutations. */
  canAcknowledge(): boolean {
    const t = this.term;
    if (!t || t.over) return false;
    const why = t.rule.reason(this.clock());
    if (why !== undefined) { queueMicrotask(() => this.stepDown(t, why)); return false; }
    return true;
  }

  /** `cb` is called once per term, when acknowledging stops (timer, lost lease, lost key); not on resign(). */
  onStepDown(cb: (why: string) => void): void {
    this.stepDownCallbacks.push(cb);
  }

  /** Send time (on the clock) of the newest keep-alive that succeeded in this term; undefined when not leading. */
  lastKeepAliveSentMs(): number | undefined {
    return this.term && !this.term.over ? this.term.rule.lastSuccessSentMs() : undefined;
  }

  async readInSync(): Promise<{ epoch: number; members: string[] } | undefined> {
    const raw = await this.client.get(this.inSyncKey).string();
    if (raw === null) return undefined;
    return parseInSync(raw, this.inSyncKey);
  }

  /**
   * Records the in-sync set {our epoch, members}, in one transaction that
   * succeeds only while our election key (with our epoch as its create
   * revision) still exists: only the leader of this term can write it.
   */
  async writeInSync(members: string[]): Promise<void> {
    const t = this.term;
    if (!t || t.over || !this.canAcknowledge()) throw new Error("in-sync set not written: this master is not the active master");
    if (!members.includes(t.me.id)) throw new Error(`in-sync set ${JSON.stringify(members)} lacks the active master ${t.me.id} itself`);
    const value = JSON.stringify({ epoch: t.epoch, members });
    const res = await this.client.if(t.key, "Create", "==", t.epoch).then(this.client.put(this.inSyncKey).value(value)).commit();
    if (!res.succeeded) {
      const why = `election key ${t.key} of epoch ${t.epoch} is gone`;
      this.stepDown(t, why);
      throw new Error(`in-sync set not written: ${why} (no longer the active master)`);
    }
  }

  /** Gives up leadership (or a campaign in progress). onStepDown is not called. */
  async resign(): Promise<void> {
    this.abortCampaign?.(new Error("campaign ended by resign()"));
    const t = this.term ?? this.pending;
    this.term = undefined;
    if (t && !t.over) await this.endTerm(t);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stop of [...this.watchers]) stop();
    try { await this.resign(); } catch (e) { this.o.log.warn("resign on close failed", { error: message(e) }); }
    this.client.close();
  }

  // --- the shell's parts

  private throwIfClosed(): void {
    if (this.closed) throw new Error("coordinator closed");
  }

  private async askEligible(eligible: () => Promise<boolean>): Promise<boolean> {
    try {
      return await eligible();
    } catch (e) {
      this.o.log.warn("eligibility check failed; counting as not eligible", { error: message(e) });
      return false;
    }
  }

  /** One campaign, resolved once elected (rejected on a campaign error). */
  private async runOnce(me: Candidate): Promise<Ballot> {
    const campaign = this.election.campaign(JSON.stringify({ id: me.id, address: me.address }));
    const term: Ballot = { me, campaign, key: "", leaseId: "", epoch: 0, timers: [], over: false };
    this.pending = term;
    // Always listened to: an unheard 'error' event would throw. It means the lease is lost.
    campaign.on("error", (e) => {
      const why = `etcd lease lost: ${message(e)}`;
      if (this.term === term) this.stepDown(this.term, why); else term.lost ??= why;
    });
    try {
      await campaign.wait();
      term.key = await campaign.getCampaignKey();
      term.leaseId = term.key.slice(this.electionPrefix.length);
      const kv = (await this.client.get(term.key).exec()).kvs[0];
      if (!kv) throw new Error(`election key ${term.key} vanished on winning`);
      term.epoch = Number(kv.create_revision);
      return term;
    } catch (e) {
      this.pending = undefined;
      await this.endTerm(term).catch(() => undefined);
      throw e;
    }
  }

  /**
   * After winning: the term's step-down timer starts at the send of a
   * keep-alive that succeeded (however long the campaign waited before).
   * Returns the term, or why it cannot be taken.
   */
  private async takeOffice(ballot: Ballot): Promise<Term | string> {
    const sentMs = this.clock();
    try {
      if (!(await this.keepAliveOnce(ballot))) return "etcd says the election lease expired";
    } catch (e) {
      return `keep-alive failed: ${message(e)}`;
    }
    if (ballot.lost !== undefined) return ballot.lost;
    const rule = new StepDownRule({ step_down_after_ms: this.o.stepDownAfterMs, election_ttl_ms: this.o.ttlMs }, sentMs);
    return rule.reason(this.clock()) ?? Object.assign(ballot, { rule });
  }

  private startKeepAlives(term: Term): void {
    const armStepDownTimer = () => {
      const t = setTimeout(() => {
        const why = term.rule.reason(this.clock());
        if (why !== undefined) this.stepDown(term, why); else armStepDownTimer();
      }, Math.max(0, term.rule.deadlineMs() - this.clock()));
      term.timers.push(t);
    };
    const probe = () => {
      const sentMs = this.clock();
      this.keepAliveOnce(term).then((alive) => {
        if (!alive) this.stepDown(term, "etcd says the election lease expired");
        else term.rule.keepAliveSucceeded(sentMs, this.clock());
      }, (e) => {
        if (!term.over) this.o.log.warn("keep-alive of the election lease failed", { epoch: term.epoch, error: message(e) });
      });
    };
    term.timers.push(setInterval(probe, this.keepAliveIntervalMs));
    armStepDownTimer();
    // The key can also go with the lease alive (deleted by hand): then another master can win, so stop.
    this.client.watch().key(term.key).startRevision(String(term.epoch)).create().then((w) => {
      if (term.over) { void w.cancel().catch(() => undefined); return; }
      term.unwatch = () => void w.cancel().catch(() => undefined);
      w.on("delete", () => this.stepDown(term, `election key ${term.key} was deleted`));
      w.on("error", (e) => this.o.log.warn("watch of the election key failed", { error: message(e) }));
    }, (e) => this.o.log.warn("cannot watch the election key", { error: message(e) }));
  }

  /**
   * One keep-alive on a stream of its own, so its answer is the answer to this
   * send (etcd3's own keep-alive loop also runs, but does not say which send
   * an answer belongs to). False: etcd answered that the lease is gone.
   */
  private async keepAliveOnce(term: Ballot): Promise<boolean> {
    const stream = await this.client.leaseClient.leaseKeepAlive({ deadline: Date.now() + this.o.stepDownAfterMs });
    try {
      const res = await new Promise<{ TTL: string }>((resolve, reject) => {
        stream.on("data", resolve);
        stream.on("error", reject);
        stream.write({ ID: term.leaseId });
      });
      return Number(res.TTL) > 0;
    } finally {
      stream.end();
    }
  }

  private stepDown(term: Term, why: string): void {
    if (term.over) return;
    term.rule.leaseLost(why);
    if (this.term === term) this.term = undefined;
    this.o.log.warn("stepping down: no longer acknowledging mutations", { id: term.me.id, epoch: term.epoch, why });
    void this.endTerm(term).catch((e) => this.o.log.warn("resigning after step-down failed", { error: message(e) }));
    for (const cb of this.stepDownCallbacks) {
      try { cb(why); } catch (e) { this.o.log.error("step-down callback threw", { error: message(e) }); }
    }
  }

  /** Stops the term's timers and revokes its lease (deleting its election key). */
  private async endTerm(term: Ballot): Promise<void> {
    term.over = true;
    for (const t of term.timers) clearTimeout(t);
    term.timers.length = 0;
    term.unwatch?.();
    await term.campaign.resign();
  }
}

function parseCandidate(raw: string, key: string): { id: string; address: string } {
  let v: unknown;
  try { v = JSON.parse(raw); } catch { v = undefined; }
  const o = v as { id?: unknown; address?: unknown } | undefined;
  if (!o || typeof o.id !== "string" || typeof o.address !== "string") throw new Error(`etcd key ${key} holds a malformed candidate: ${raw.slice(0, 200)}`);
  return { id: o.id, address: o.address };
}

function parseInSync(raw: string, key: string): { epoch: number; members: string[] } {
  let v: unknown;
  try { v = JSON.parse(raw); } catch { v = undefined; }
  const o = v as { epoch?: unknown; members?: unknown } | undefined;
  if (!o || !Number.isSafeInteger(o.epoch) || !Array.isArray(o.members) || !o.members.every((m) => typeof m === "string")) {
    throw new Error(`etcd key ${key} holds a malformed in-sync set: ${raw.slice(0, 200)}`);
  }
  return { epoch: o.epoch as number, members: o.members as string[] };
}
