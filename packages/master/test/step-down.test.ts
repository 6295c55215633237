import { describe, expect, it } from "vitest";
import { StepDownRule } from "../src/step-down";

const settings = { step_down_after_ms: 6_000, election_ttl_ms: 10_000 };

describe("step-down rule", () => {
  it("refuses a step-down delay that is not below the lease TTL", () => {
    expect(() => new StepDownRule({ step_down_after_ms: 10_000, election_ttl_ms: 10_000 }, 0)).toThrow(/below election_ttl_ms/);
    expect(() => new StepDownRule({ step_down_after_ms: 0, election_ttl_ms: 10_000 }, 0)).toThrow(/positive/);
  });

  it("counts from the start (the lease grant) until a keep-alive succeeds", () => {
    const r = new StepDownRule(settings, 1_000);
    expect(r.reason(6_999)).toBeUndefined();
    expect(r.reason(7_000)).toMatch(/no keep-alive/);
  });

  it("measures from when the successful keep-alive was sent, not from its late answer", () => {
    const r = new StepDownRule(settings, 0);
    r.keepAliveSucceeded(2_000, 5_500); // sent at 2 s, answered 3.5 s later
    expect(r.deadlineMs()).toBe(8_000);
    expect(r.reason(7_999)).toBeUndefined();
    expect(r.reason(8_000)).toBeDefined();
  });

  it("an answer to an older keep-alive arriving late does not move the deadline back", () => {
    const r = new StepDownRule(settings, 0);
    r.keepAliveSucceeded(3_000, 3_100);
    r.keepAliveSucceeded(1_000, 3_200);
    expect(r.lastSuccessSentMs()).toBe(3_000);
    expect(r.deadlineMs()).toBe(9_000);
  });

  it("stays down once down: a keep-alive answered after the deadline does not bring acknowledging back", () => {
    const r = new StepDownRule(settings, 0);
    expect(r.reason(6_500)).toBeDefined();
    r.keepAliveSucceeded(6_000, 6_600);
    expect(r.reason(6_700)).toBeDefined();
    expect(r.deadlineMs()).toBe(6_000);
  });

  it("a lost lease stops acknowledging at once, keeping the first reason", () => {
    const r = new StepDownRule(settings, 0);
    r.leaseLost("etcd lease lost: revoked");
    r.leaseLost("election key deleted");
    expect(r.reason(1)).toBe("etcd lease lost: revoked");
  });
});
