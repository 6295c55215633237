// Which master a client of a replicated master calls next (issue 16).
import { describe, expect, it } from "vitest";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { GfsError, notActiveError } from "@gfs/common";
import { callKindOf, classifyFailure, MasterSet } from "../src/master-set";

const A = "10.0.0.1:9000";
const B = "10.0.0.2:9000";
const C = "10.0.0.3:9000";
const opts = { failoverWaitMs: 30_000, backoffInitialMs: 50, backoffMaxMs: 1_000 };
const refused = (hint?: string) => notActiveError("Create /f", hint);
const unreachable = () => new GfsError("EIO", "call stream to Master lost: No connection established. Last error: connect ECONNREFUSED", GrpcStatus.UNAVAILABLE);
const lostInFlight = () => new GfsError("EIO", "call stream to Master lost: Connection dropped", GrpcStatus.UNAVAILABLE);

describe("master set", () => {
  it("reads are any master's (FindChunks only for reading); mutations are the active's, idempotent ones marked so", () => {
    for (const m of ["Stat", "ReadDir", "StatFs", "Status", "Fsck"]) expect(callKindOf(m, {})).toBe("read");
    expect(callKindOf("FindChunks", { forWriting: false })).toBe("read");
    expect(callKindOf("FindChunks", { forWriting: true })).toBe("idempotent");
    for (const m of ["GetLease", "AddChunk", "ExtendFile", "ReportBadReplica"]) expect(callKindOf(m, {})).toBe("idempotent");
    for (const m of ["Symlink", "Rename", "Delete", "Truncate", "ConfirmGc"]) expect(callKindOf(m, {})).toBe("once");
    // Idempotent by request: a non-exclusive create answers an existing file as it is, mkdir -p an existing directory.
    expect(callKindOf("Create", { exclusive: false })).toBe("idempotent");
    expect(callKindOf("Create", { exclusive: true })).toBe("once");
    expect(callKindOf("CreateForWriting", { exclusive: true })).toBe("once");
    expect(callKindOf("Mkdir", { parents: true })).toBe("idempotent");
    expect(callKindOf("Mkdir", { parents: false })).toBe("once");
    expect(callKindOf("SetAttributes", { setMode: true, mode: 0o600 })).toBe("idempotent");
    expect(callKindOf("SetAttributes", { mtimeNow: true })).toBe("once");
  });

  it("failures are told apart: a shadow's refusal with its hint, a connection never made, a call lost in flight, the master's own answer", () => {
    expect(classifyFailure(refused(B))).toEqual({ t: "not-active", hint: B });
    expect(classifyFailure(refused())).toEqual({ t: "not-active", hint: undefined });
    expect(classifyFailure(unreachable())).toEqual({ t: "unreachable", delivered: false });
    expect(classifyFailure(lostInFlight())).toEqual({ t: "unreachable", delivered: true });
    expect(classifyFailure(new GfsError("EIO", "Deadline exceeded", GrpcStatus.DEADLINE_EXCEEDED))).toEqual({ t: "unreachable", delivered: true });
    expect(classifyFailure(new GfsError("ENOENT", "/f"))).toEqual({ t: "answer" });
    // The master's EAGAIN is its answer (retried by the caller's own rules), not a transport failure.
    expect(classifyFailure(new GfsError("EAGAIN", "master restarted recently"))).toEqual({ t: "answer" });
    // A replicated master between roles did nothing with the call: the next master is tried.
    expect(classifyFailure(new GfsError("EAGAIN", "the master is starting"))).toEqual({ t: "unreachable", delivered: false });
    // A call cut off by a master stopping may have been done.
    expect(classifyFailure(new GfsError("EIO", "Cancelled on client", GrpcStatus.CANCELLED))).toEqual({ t: "unreachable", delivered: true });
  });

  it("a shadow's refusal sends the call to the active it names at once, and later calls start there", () => {
    const set = new MasterSet([A, B, C], opts);
    const { plan, address } = set.begin("Create", { exclusive: true }, 0);
    expect(address).toBe(A);
    expect(set.failed(plan, A, refused(C), 10)).toEqual({ t: "call", address: C, waitMs: 0 });
    set.succeeded(plan, C);
    expect(set.begin("Mkdir", {}, 20).address).toBe(C);
  });

  it("a named active not in the list is called and remembered", () => {
    const D = "10.0.0.4:9000";
    const set = new MasterSet([A, B], opts);
    const { plan } = set.begin("Create", {}, 0);
    expect(set.failed(plan, A, refused(D), 0)).toEqual({ t: "call", address: D, waitMs: 0 });
    expect(set.addresses).toContain(D);
  });

  it("transport failures go round robin, with backoff after every master failed once, until client_failover_wait_ms, then one clear error", () => {
    const set = new MasterSet([A, B, C], opts);
    const { plan } = set.begin("Create", {}, 0);
    expect(set.failed(plan, A, unreachable(), 0)).toEqual({ t: "call", address: B, waitMs: 0 });
    expect(set.failed(plan, B, unreachable(), 0)).toEqual({ t: "call", address: C, waitMs: 0 });
    const third = set.failed(plan, C, unreachable(), 0);
    expect(third.t).toBe("call");
    expect(third.t === "call" && third.waitMs).toBe(50);
    let now = 0;
    let next = third;
    while (next.t === "call") {
      now += next.waitMs;
      next = set.failed(plan, next.address, unreachable(), now);
    }
    expect(next.t).toBe("fail");
    expect(now).toBeLessThanOrEqual(30_000);
    expect(next.t === "fail" && next.error.message).toMatch(/^EIO: Create: no master answered of 10\.0\.0\.1:9000,10\.0\.0\.2:9000,10\.0\.0\.3:9000 within 30000 ms/);
    expect(next.t === "fail" && next.error.grpcCode).toBe(GrpcStatus.UNAVAILABLE);
  });

  it("while no master is active (an election under way) refusals without a hint are waited out, not failed at once", () => {
    const set = new MasterSet([A, B], opts);
    const { plan } = set.begin("Create", {}, 0);
    expect(set.failed(plan, A, refused(), 0)).toEqual({ t: "call", address: B, waitMs: 0 });
    const again = set.failed(plan, B, refused(), 0);
    expect(again.t).toBe("call");
    expect(again.t === "call" && again.waitMs).toBeGreaterThan(0);
  });

  it("a non-idempotent mutation that may have reached a master that then died fails clearly and is not sent again", () => {
    const set = new MasterSet([A, B], opts);
    const { plan } = set.begin("Rename", {}, 0);
    const next = set.failed(plan, A, lostInFlight(), 0);
    expect(next.t).toBe("fail");
    expect(next.t === "fail" && next.error.message).toMatch(/^EIO: Rename sent to master 10\.0\.0\.1:9000 got no answer .*may or may not have been done/);
  });

  it("a read or an idempotent call lost in flight is retried on another master", () => {
    const set = new MasterSet([A, B], opts);
    const read = set.begin("Stat", {}, 0);
    expect(set.failed(read.plan, A, lostInFlight(), 0)).toEqual({ t: "call", address: B, waitMs: 0 });
    const lease = set.begin("GetLease", {}, 0);
    expect(set.failed(lease.plan, lease.address, lostInFlight(), 0).t).toBe("call");
  });

  it("a read answered by a shadow does not make it the believed active; a mutation's answer does", () => {
    const set = new MasterSet([A, B], opts);
    set.succeeded(set.begin("Stat", {}, 0).plan, B);
    expect(set.believedActive).toBe(A);
    set.succeeded(set.begin("Create", {}, 0).plan, B);
    expect(set.believedActive).toBe(B);
  });

  it("the master's own answer is the call's result: no other master is asked", () => {
    const set = new MasterSet([A, B], opts);
    const { plan } = set.begin("Stat", {}, 0);
    expect(set.failed(plan, A, new GfsError("ENOENT", "/nope"), 0)).toEqual({ t: "rethrow" });
  });
});
