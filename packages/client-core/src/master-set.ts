// Which master of a replicated set (issue 16: --master A,B,C) a client calls
// next. Pure: the caller (master-calls.ts) makes the calls, reads the clock
// and sleeps; this decides.
//
// - A call goes first to the master believed active (the last that took a
//   mutation, or the one a shadow named). Reads may be answered by any
//   master: when the active is unreachable they go on to a shadow.
// - ENOTACTIVE (a shadow refused a mutation: nothing was done) moves the call
//   to the address the refusal names, else to the next master.
// - A transport failure moves the call to the next master, round robin, with
//   backoff once every master failed in a round, until client_failover_wait_ms
//   has passed since the call began; then it fails with one clear error.
// - A mutation that may have reached a master that then died is retried
//   elsewhere only if doing it twice is harmless (idempotent); otherwise it
//   fails saying it may or may not have been done: never reported as success
//   without an answer, never silently done twice.
import { activeMasterHint, GfsError, type Errno } from "@gfs/common";
import { status as GrpcStatus } from "@grpc/grpc-js";

/** read: any master may answer; idempotent: the active, safe to send again; once: the active, at most once. */
export type CallKind = "read" | "idempotent" | "once";

/** Calls a shadow answers (stat, readdir, lookups, FindChunks for reading, statfs, status, fsck). */
const reads = new Set(["Stat", "ReadDir", "StatFs", "Status", "Fsck", "FindChunks", "GetXattr", "ListXattr"]);
/** Mutations whose repetition changes nothing more (a lease, a chunk at an index, a size at least N, a report). */
const idempotent = new Set(["GetLease", "AddChunk", "ExtendFile", "ReportBadReplica", "ReleaseLease", "KeepSession"]);

/**
 * Mutations idempotent by their request: a non-exclusive create (an existing
 * file is answered as it is), mkdir -p (an existing directory is fine),
 * attributes set to given values (not "now").
 */
const idempotentWhen: Record<string, (r: Record<string, unknown>) => boolean> = {
  Create: (r) => !r.exclusive,
  CreateForWriting: (r) => !r.exclusive,
  Mkdir: (r) => !!r.parents,
  SetAttributes: (r) => !r.atimeNow && !r.mtimeNow,
  // setxattr without XATTR_CREATE / XATTR_REPLACE: the same value set twice is the same state.
  SetXattr: (r) => !r.flags,
  // Issue 20, quota lane: a quota set to given limits twice is the same quota (its grace start stays).
  SetQuota: () => true,
};

/** How a master call may be routed and retried. */
export function callKindOf(method: string, request: unknown): CallKind {
  const r = (request ?? {}) as Record<string, unknown>;
  if (method === "FindChunks") return r.forWriting ? "idempotent" : "read";
  // An open by a mount session (issue 19) registers it with the active master, which alone keeps sessions.
  if (method === "Stat" && r.sessionId) return "idempotent";
  if (method === "GetQuota" || method === "ListQuotas") return "read"; // issue 20, quota lane: a shadow answers them too
  if (reads.has(method)) return "read";
  return idempotent.has(method) || idempotentWhen[method]?.(r) ? "idempotent" : "once";
}

/** What went wrong with one call to one master. */
export type Failure =
  | { t: "not-active"; hint: string | undefined }
  /** The master could not be reached or did not answer; `delivered`: the request may have reached it. */
  | { t: "unreachable"; delivered: boolean }
  /** The master's own answer (ENOENT, EACCES...): the call's result. */
  | { t: "answer" };

/**
 * Connection failures that mean the request never left this process (no
 * connection to the master was made), as grpc-js and Node word them.
 */
const neverSent = /No connection established|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|Name resolution failed|connect ETIMEDOUT/;

/** A replicated master between roles (it bound its port, no role serves yet): it did nothing with the call. */
const betweenRoles = /^EAGAIN: the master is starting/;

export function classifyFailure(e: GfsError): Failure {
  if (e.errno === "ENOTACTIVE") return { t: "not-active", hint: activeMasterHint(e) };
  if (betweenRoles.test(e.message)) return { t: "unreachable", delivered: false };
  // A transport failure carries no errno of its own (EIO with the transport's code); a master's EAGAIN is its answer.
  // CANCELLED: the call was cut off by a master stopping (as far as this client knows, it may have been done).
  if (e.errno === "EIO" && (e.grpcCode === GrpcStatus.UNAVAILABLE || e.grpcCode === GrpcStatus.DEADLINE_EXCEEDED || e.grpcCode === GrpcStatus.CANCELLED)) {
    return { t: "unreachable", delivered: e.grpcCode !== GrpcStatus.UNAVAILABLE || !neverSent.test(e.message) };
  }
  return { t: "answer" };
}

export interface MasterSetOptions {
  /** client_failover_wait_ms */
  failoverWaitMs: number;
  /** client_failover_backoff_initial_ms; doubles each round, up to backoffMaxMs. */
  backoffInitialMs: number;
  backoffMaxMs?: number;
}

/** One call's progress through the set. */
export interface CallPlan {
  readonly method: string;
  readonly kind: CallKind;
  readonly startedMs: number;
  /** Masters tried in this round. */
  tried: Set<string>;
  rounds: number;
}

export type Next =
  /** Call `address` after `waitMs`. */
  | { t: "call"; address: string; waitMs: number }
  /** Give the master's own error to the caller as it is. */
  | { t: "rethrow" }
  /** Fail with `error`. */
  | { t: "fail"; error: GfsError };

export class MasterSet {
  /** Every master known: the configured ones, then any a shadow named. */
  readonly addresses: string[];
  /** The master believed active. */
  private active: string;

  constructor(addresses: readonly string[], private readonly o: MasterSetOptions) {
    if (addresses.length === 0) throw new Error("invariant: a master set needs at least one address");
    this.addresses = [...addresses];
    this.active = addresses[0];
  }

  /** The master believed active now. */
  get believedActive(): string {
    return this.active;
  }

  begin(method: string, request: unknown, nowMs: number): { plan: CallPlan; address: string } {
    return { plan: { method, kind: callKindOf(method, request), startedMs: nowMs, tried: new Set(), rounds: 1 }, address: this.active };
  }

  /** `address` answered the call: a mutation's answer proves it active (a read's does not: shadows answer reads). */
  succeeded(plan: CallPlan, address: string): void {
    if (plan.kind !== "read") this.active = address;
  }

  /** The call to `address` failed with `e`: where to go next, or how to fail. */
  failed(plan: CallPlan, address: string, e: GfsError, nowMs: number): Next {
    const f = classifyFailure(e);
    if (f.t === "answer") return { t: "rethrow" };
    plan.tried.add(address);
    if (f.t === "unreachable" && f.delivered && plan.kind === "once") {
      return {
        t: "fail",
        error: new GfsError("EIO", `${plan.method} sent to master ${address} got no answer (${e.message.replace(/^E[A-Z]+: /, "")}); ` +
          "it may or may not have been done, and is not sent again (not idempotent)", e.grpcCode),
      };
    }
    let next: string | undefined;
    if (f.t === "not-active" && f.hint && f.hint !== address && !plan.tried.has(f.hint)) {
      if (!this.addresses.includes(f.hint)) this.addresses.push(f.hint);
      next = f.hint;
    }
    if (this.active === address) this.active = next ?? this.after(address);
    if (next) return { t: "call", address: next, waitMs: 0 };
    next = this.addresses.find((a) => !plan.tried.has(a) && a !== address) ?? undefined;
    let waitMs = 0;
    if (next === undefined) {
      // Every master failed this call once: pause, then a new round from the one believed active.
      waitMs = Math.min(this.o.backoffMaxMs ?? 1_000, this.o.backoffInitialMs * 2 ** (plan.rounds - 1));
      plan.rounds++;
      plan.tried.clear();
      next = this.active;
    }
    if (nowMs + waitMs - plan.startedMs > this.o.failoverWaitMs) {
      const what = f.t === "not-active" ? "no active master took it" : "no master answered";
      return {
        t: "fail",
        error: new GfsError("EIO" as Errno, `${plan.method}: ${what} of ${this.addresses.join(",")} within ${this.o.failoverWaitMs} ms ` +
          `(last, from ${address}: ${e.message})`, GrpcStatus.UNAVAILABLE),
      };
    }
    return { t: "call", address: next, waitMs };
  }

  /** The master after `address` in round-robin order. */
  private after(address: string): string {
    const i = this.addresses.indexOf(address);
    return this.addresses[(i + 1) % this.addresses.length];
  }
}
