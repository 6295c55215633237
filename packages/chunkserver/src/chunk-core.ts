// The chunkserver's mutation pipeline as one pure state machine: inputs
// (a client's Write or RecordAppend at the primary, a forwarded
// ApplyMutation at a secondary, a local apply or a secondary's answer that
// finished, a gap wait that ran out, a revocation, a version order, a copy
// order) go in with the time; effects come out (apply this mutation here,
// forward it to that secondary, answer or refuse a request, give the lease
// back to the master, wait until T, fetch a chunk). It does no I/O and reads
// no clock: chunkserver-service.ts carries the effects out and feeds their
// outcomes back in; test/golden.test.ts drives it from scripts. Each
// decision lives in its own module (primary-mutation, replica-order,
// lease-give-back, version-grant, copy-orders); this only routes.
//
// Every request carries the caller's key (a number unique per request);
// effects name the request they belong to by it.
import { fromServiceError, GfsError, type Peer, type ReplicationOrder__Output, type ServerAddress__Output } from "@gfs/common";
import { CopyOrders, type CopyStep, type HeldReplica } from "./copy-orders";
import type { LeaseView } from "./lease";
import { LeaseGiveBack } from "./lease-give-back";
import { PrimarySerials } from "./mutation-order";
import { checkChunkAt, failureOf, planClientMutation, type ClientAnswer, type ClientMutation, type Mutation, type PrimaryContext } from "./primary-mutation";
import { ReplicaOrder, type OrderStep } from "./replica-order";
import { applyGrant, planVersion, type StoreStep, type VersionOrder } from "./version-grant";

export type Effect =
  /** Apply the mutation to this replica now; then call applied(key). */
  | { t: "apply"; key: number; mutation: Mutation }
  /** Send ApplyMutation to a secondary (its id, if the grant named it); then call forwarded(key, index). */
  | { t: "forward"; key: number; index: number; to: ServerAddress__Output; serverId: string | undefined; mutation: Mutation; leaseToken: string }
  /** Tell the master this primary gives the lease up; then call released(key) (whether the master heard or not). */
  | { t: "release"; key: number; handle: string; version: number }
  | { t: "answer"; key: number; value: ClientAnswer | { chunkLength: number } | Record<string, never> }
  | { t: "refuse"; key: number; error: Error }
  /** Mutation `key` waits for its predecessors: call expire(handle, version, serial) at untilMs. */
  | { t: "wait"; key: number; handle: string; version: number; serial: number; untilMs: number }
  | { t: "unwait"; key: number }
  /** The pushed data under dataId was applied: free it. */
  | { t: "drop-data"; dataId: string }
  /** Do the store's part of a version order; then call versionStored(key). */
  | { t: "store-version"; key: number; handle: string; version: number; step: StoreStep; acceptUnverified: boolean }
  /** Fetch a copy of the chunk from the order's source and install it; then call copied(order). */
  | { t: "fetch"; order: ReplicationOrder__Output }
  /** The chunk appeared or changed version: report it on the next heartbeat. */
  | { t: "changed"; handle: string }
  | { t: "log"; level: "info" | "warn"; message: string; fields: Record<string, unknown> };

/** A forwarded mutation as a secondary receives it. */
export interface ForwardedMutation extends Mutation {
  leaseToken: string;
  /** Who sent it (the caller's certificate). */
  sender: Peer;
}

interface PrimaryOp {
  role: "primary";
  mutation: Mutation;
  answer: ClientAnswer;
  /** Where each replica is, for messages: this primary first, then the secondaries in the write's order. */
  where: string[];
  results: Array<GfsError | null | undefined>;
  outstanding: number;
  /** Set once a replica failed: what the client hears after the lease is given back. */
  failure?: GfsError;
}

interface SecondaryOp {
  role: "secondary";
  mutation: Mutation;
}

interface VersionOp {
  role: "version";
  order: VersionOrder;
  receivedAtMs: number;
  changed: boolean;
}

export interface ChunkCoreConfig {
  serverId: string;
  leases: LeaseView;
  gapWaitMs: number;
}

export class ChunkCore {
  private readonly serials = new PrimarySerials();
  private readonly order: ReplicaOrder;
  private readonly giveBack = new LeaseGiveBack();
  private readonly copies = new CopyOrders();
  private readonly ops = new Map<number, PrimaryOp | SecondaryOp | VersionOp>();

  constructor(private readonly config: ChunkCoreConfig) {
    this.order = new ReplicaOrder(config.gapWaitMs);
  }

  private get leases(): LeaseView {
    return this.config.leases;
  }

  /** A client's Write or RecordAppend, at the server it names as primary. */
  clientMutation(nowMs: number, key: number, m: ClientMutation, ctx: Omit<PrimaryContext, "serverId">): Effect[] {
    let plan;
    try {
      plan = planClientMutation(this.leases, this.serials, { ...ctx, serverId: this.config.serverId }, m);
    } catch (e) {
      return [refusal(key, e)];
    }
    if (plan.t === "answer") return [{ t: "answer", key, value: plan.answer }];
    const mu = plan.mutation;
    // Registered before anything is sent, so a revocation from now on waits for this mutation.
    this.giveBack.ordered(mu.handle, key);
    this.leases.noteMutation(mu.handle);
    const n = 1 + m.secondaries.length;
    this.ops.set(key, {
      role: "primary", mutation: mu, answer: plan.answer, results: new Array<undefined>(n).fill(undefined), outstanding: n,
      where: [`primary ${this.config.serverId}`, ...m.secondaries.map((s) => `secondary ${s.address}`)],
    });
    // §3.1: the primary applies in serial order and forwards to every secondary the grant named (the write named the same ones).
    const leaseToken = this.leases.tokenOf(mu.handle);
    const forwards: Effect[] = m.secondaries.map((to, i) => ({
      t: "forward", key, index: i + 1, to, serverId: this.leases.secondaryIdOf(mu.handle, to.address), mutation: mu, leaseToken,
    }));
    return [...this.steps(this.order.arrive(nowMs, key, mu.handle, mu.version, mu.serial)), ...forwards];
  }

  /** A secondary's half: an ApplyMutation from the chunk's primary. */
  forwardedMutation(nowMs: number, key: number, m: ForwardedMutation, chunk: { version: number } | undefined): Effect[] {
    try {
      checkChunkAt(m.handle, m.version, chunk);
      // Before the order: a mutation nobody with the lease ordered must not even use up a serial.
      this.leases.checkOrderedByLeaseHolder(m.handle, m.version, m.leaseToken, m.sender);
    } catch (e) {
      return [refusal(key, e)];
    }
    const { leaseToken: _t, sender: _s, ...mutation } = m;
    this.ops.set(key, { role: "secondary", mutation });
    return this.steps(this.order.arrive(nowMs, key, m.handle, m.version, m.serial));
  }

  /** The local apply of mutation `key` finished (error: it failed; its serial is used up either way). */
  applied(key: number, error?: Error): Effect[] {
    const op = this.ops.get(key);
    if (!op || op.role === "version") throw new Error(`invariant: applied() for mutation ${key}, which was not applying`);
    const m = op.mutation;
    const out: Effect[] = [];
    if (op.role === "primary") {
      out.push(...this.result(key, 0, error));
    } else {
      this.ops.delete(key);
      if (error) out.push({ t: "refuse", key, error });
      else {
        out.push({ t: "answer", key, value: {} });
        if (m.kind === "WRITE" && !m.inline && m.dataId) out.push({ t: "drop-data", dataId: m.dataId });
      }
    }
    return [...out, ...this.steps(this.order.finished(key, m.handle, m.version, m.serial))];
  }

  /** Secondary `index` of mutation `key` answered. */
  forwarded(key: number, index: number, error?: Error): Effect[] {
    return this.result(key, index, error);
  }

  /** The master heard (or could not hear) that the lease of mutation `key`'s chunk is given up. */
  released(key: number): Effect[] {
    const op = this.ops.get(key);
    if (op?.role !== "primary" || !op.failure) throw new Error(`invariant: released() for mutation ${key}, which gave no lease up`);
    this.ops.delete(key);
    return [{ t: "refuse", key, error: op.failure }, ...this.finish(op.mutation.handle, key)];
  }

  /** The gap wait of a mutation may be over. */
  expire(nowMs: number, handle: string, version: number, serial: number): Effect[] {
    return this.steps(this.order.expire(nowMs, handle, version, serial));
  }

  /**
   * RevokeLease: no new mutation is ordered from now, and the answer waits
   * for those already ordered, so a copy made after it misses nothing.
   */
  revoke(key: number, handle: string, version: number): Effect[] {
    const out: Effect[] = [];
    if (this.leases.isPrimary(handle, version)) {
      this.leases.drop(handle);
      this.serials.forget(handle);
      out.push({ t: "log", level: "info", message: "lease revoked by the master", fields: { handle, version } });
    }
    if (this.giveBack.revoke(handle, key)) out.push({ t: "answer", key, value: {} });
    return out;
  }

  /** SetChunkVersion (or one chunk of CreateChunks) from the master. */
  setVersion(nowMs: number, key: number, order: VersionOrder, existing: { version: number } | undefined, replication: number): Effect[] {
    let step: StoreStep;
    try {
      step = planVersion(order, existing, this.config.serverId, replication);
    } catch (e) {
      return [refusal(key, e)];
    }
    this.ops.set(key, { role: "version", order, receivedAtMs: nowMs, changed: !existing || existing.version !== order.version });
    return [{ t: "store-version", key, handle: order.handle, version: order.version, step, acceptUnverified: order.acceptUnverified === true }];
  }

  /** The store did (or failed) its part of version order `key`; the chunk is now `chunkLength` bytes. */
  versionStored(key: number, error: Error | undefined, chunkLength: number): Effect[] {
    const op = this.ops.get(key);
    if (op?.role !== "version") throw new Error(`invariant: versionStored() for request ${key}, which is no version order`);
    this.ops.delete(key);
    if (error) return [{ t: "refuse", key, error }];
    const out: Effect[] = op.changed ? [{ t: "changed", handle: op.order.handle }] : [];
    applyGrant(this.leases, op.order, op.receivedAtMs);
    return [...out, { t: "answer", key, value: { chunkLength } }];
  }

  /** A copy order from a heartbeat answer; `held` is the replica here, if any. */
  copyOrder(order: ReplicationOrder__Output, held: HeldReplica | undefined): Effect[] {
    return this.copyStep(this.copies.order(order, held));
  }

  /** The fetch of `order` finished. */
  copied(order: ReplicationOrder__Output, error: Error | undefined, held: HeldReplica | undefined): Effect[] {
    const fields = { handle: order.handle, version: order.version, source: order.source?.address };
    const out: Effect[] = error
      ? [{ t: "log", level: "warn", message: "replication failed", fields: { ...fields, error: error.message } }]
      : [{ t: "changed", handle: order.handle }, { t: "log", level: "info", message: "replicated chunk", fields }];
    const next = this.copies.finished(order.handle, !error, held);
    return next ? [...out, ...this.copyStep(next)] : out;
  }

  /** The chunk was deleted or quarantined (master's order): forget its lease and order. */
  forget(handle: string): Effect[] {
    this.leases.forget(handle);
    this.serials.forget(handle);
    return this.steps(this.order.forget(handle));
  }

  private copyStep(s: CopyStep): Effect[] {
    if (s.t === "fetch") return [{ t: "fetch", order: s.order }];
    if (s.t === "queued") return [];
    return [{ t: "log", level: "info", message: "copy order for a chunk already held; nothing to fetch", fields: { handle: s.order.handle, version: s.order.version, held: s.heldVersion } }];
  }

  /** Replica `index` of primary mutation `key` finished; when all have, the client's answer or the lease's give-back. */
  private result(key: number, index: number, error?: Error): Effect[] {
    const op = this.ops.get(key);
    if (op?.role !== "primary" || op.results[index] !== undefined) throw new Error(`invariant: result ${index} of mutation ${key} unexpected`);
    op.results[index] = error ? fromServiceError(error) : null;
    if (--op.outstanding > 0) return [];
    const m = op.mutation;
    const failedAt = op.results.findIndex((r) => r);
    if (failedAt < 0) {
      this.ops.delete(key);
      const out: Effect[] = [{ t: "answer", key, value: op.answer }];
      if (m.dataId) out.push({ t: "drop-data", dataId: m.dataId });
      return [...out, ...this.finish(m.handle, key)];
    }
    // On any failure the lease is given up, so the master can grant a new one (new version)
    // promptly and replicas that missed the mutation become stale.
    const cause = op.results[failedAt]!;
    op.failure = failureOf(m, op.where[failedAt]!, failedAt, cause);
    this.leases.drop(m.handle);
    this.serials.forget(m.handle);
    return [
      { t: "log", level: "warn", message: "mutation failed; giving up the lease", fields: {
        handle: m.handle, version: m.version, serial: m.serial, kind: m.kind, where: op.where[failedAt], error: cause.message,
      } },
      { t: "release", key, handle: m.handle, version: m.version },
    ];
  }

  /** Primary mutation `key` is over: revocations waiting only for it may be answered. */
  private finish(handle: string, key: number): Effect[] {
    return this.giveBack.finished(handle, key).map((revoke): Effect => ({ t: "answer", key: revoke, value: {} }));
  }

  private steps(steps: OrderStep[]): Effect[] {
    const out: Effect[] = [];
    for (const s of steps) {
      const op = this.ops.get(s.key);
      if (s.t === "wait" || s.t === "unwait") {
        out.push(s);
      } else if (op?.role === "primary") {
        out.push(...(s.t === "run" ? [{ t: "apply", key: s.key, mutation: op.mutation } as Effect] : this.result(s.key, 0, s.error)));
      } else if (op?.role === "secondary") {
        if (s.t === "run") out.push({ t: "apply", key: s.key, mutation: op.mutation });
        else {
          this.ops.delete(s.key);
          out.push({ t: "refuse", key: s.key, error: s.error });
        }
      } else {
        throw new Error(`invariant: order step for unknown mutation ${s.key}`);
      }
    }
    return out;
  }
}

/** A refusal from a check; anything but a GfsError is a bug and goes on up. */
function refusal(key: number, e: unknown): Effect {
  if (!(e instanceof GfsError)) throw e;
  return { t: "refuse", key, error: e };
}
