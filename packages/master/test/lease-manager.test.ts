import { describe, expect, it } from "vitest";
import { LeaseManager } from "../src/lease-manager";

const H = "00000000000000aa";
const cands = [{ serverId: "a", load: 5 }, { serverId: "b", load: 1 }, { serverId: "c", load: 1 }];

/** Decides and grants at `now`, as the master does once the replicas answered. */
function grantNow(lm: LeaseManager, version: number, now: number) {
  const d = lm.decide(H, version, cands, now);
  if (d?.kind !== "grant") throw new Error("expected a grant decision");
  return lm.grant(H, d.primaryId, d.version, now);
}

describe("lease manager", () => {
  it("the primary is the least-loaded replica, ties by id", () => {
    const lm = new LeaseManager(1000);
    expect(lm.decide(H, 1, cands, 0)).toEqual({ kind: "grant", version: 2, primaryId: "b" });
  });

  it("a lease is not re-granted before expiry", () => {
    const lm = new LeaseManager(1000);
    const l = grantNow(lm, 1, 0);
    expect(lm.decide(H, 2, cands, 999)).toEqual({ kind: "current", lease: l });
    // Even if the holder looks dead and only other candidates remain.
    expect(lm.decide(H, 2, [{ serverId: "c", load: 0 }], 999)?.kind).toBe("current");
    expect(() => lm.grant(H, "c", 3, 999)).toThrow(/still leased/);
    expect(lm.decide(H, 2, cands, 1000)?.kind).toBe("grant");
  });

  it("an extension keeps the same primary", () => {
    const lm = new LeaseManager(1000);
    const l = grantNow(lm, 1, 0);
    const ext = lm.extend(H, l.primaryId, l.version, 800);
    expect(ext).toMatchObject({ primaryId: l.primaryId, version: l.version, expiresMs: 1800 });
    expect(lm.decide(H, 2, cands, 1500)).toMatchObject({ kind: "current", lease: { primaryId: l.primaryId } });
  });

  it("only the current holder at the current version gets an extension", () => {
    const lm = new LeaseManager(1000);
    const l = grantNow(lm, 1, 0);
    expect(lm.extend(H, "a", l.version, 500)).toBeUndefined();
    expect(lm.extend(H, l.primaryId, l.version - 1, 500)).toBeUndefined();
    expect(lm.extend(H, l.primaryId, l.version, 1000)).toBeUndefined(); // already expired
    expect(lm.current(H, 1000)).toBeUndefined();
  });

  it("every grant bumps the version", () => {
    const lm = new LeaseManager(1000);
    const versions: number[] = [];
    let now = 0;
    for (let i = 0; i < 4; i++) {
      versions.push(grantNow(lm, 1, now).version); // chunk version unchanged on purpose: the manager still moves up
      now += 1000;
    }
    expect(versions).toEqual([2, 3, 4, 5]);
    expect(() => lm.grant(H, "b", 5, now)).toThrow(/must be above/);
  });

  it("a failed grant's version is never reused", () => {
    const lm = new LeaseManager(1000);
    const d1 = lm.decide(H, 4, cands, 0); // replicas never answered; nothing granted
    const d2 = lm.decide(H, 4, cands, 0);
    expect(d1).toMatchObject({ version: 5 });
    expect(d2).toMatchObject({ version: 6 });
  });

  it("a released lease can be granted again at once with a new version", () => {
    const lm = new LeaseManager(1000);
    const l = grantNow(lm, 1, 0);
    expect(lm.release(H, "a", l.version)).toBe(false); // not the holder
    expect(lm.release(H, l.primaryId, l.version)).toBe(true);
    const again = grantNow(lm, l.version, 10);
    expect(again.version).toBe(l.version + 1);
  });

  it("a fence's version is never reused: later grants go above it, and no lease at or below it is honoured", () => {
    const lm = new LeaseManager(1000);
    lm.decide(H, 4, cands, 0); // a grant decision at 5 that failed
    expect(lm.issuedVersion(H)).toBe(5);
    lm.reserveVersion(H, 6);
    expect(() => lm.reserveVersion(H, 6)).toThrow(/must be above 6/);
    expect(lm.canGrant(H, 6)).toBe(false);
    expect(lm.decide(H, 6, cands, 0)).toMatchObject({ kind: "grant", version: 7 });
  });
});
