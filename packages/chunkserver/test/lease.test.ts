import { describe, expect, it } from "vitest";
import { insecurePeer } from "@gfs/common";
import { LeaseView } from "../src/lease";

const H = "00000000000000aa";

function view() {
  const clock = { now: 10_000 };
  const leases = new LeaseView(() => clock.now, 30_000);
  return { clock, leases };
}

describe("lease view", () => {
  it("a chunkserver refuses to act as primary without a lease", () => {
    const { leases } = view();
    expect(leases.isPrimary(H, 1)).toBe(false);
    expect(() => leases.checkPrimary(H, 1)).toThrow(`ESTALE: not primary for chunk ${H} at version 1`);
  });

  it("a lease counts from receipt, is bound to its version and expires", () => {
    const { clock, leases } = view();
    leases.grant(H, 4, 60_000);
    expect(leases.isPrimary(H, 4)).toBe(true);
    expect(leases.isPrimary(H, 3)).toBe(false);
    expect(leases.isPrimary(H, 5)).toBe(false);
    clock.now += 59_999;
    expect(leases.isPrimary(H, 4)).toBe(true);
    clock.now += 1;
    expect(() => leases.checkPrimary(H, 4)).toThrow(/ESTALE/);
  });

  it("an extension counts from when the heartbeat was sent, not from when the reply came", () => {
    const { clock, leases } = view();
    leases.grant(H, 1, 60_000);
    clock.now += 40_000;
    const sentAt = clock.now;
    clock.now += 3_000; // the reply takes a while
    expect(leases.extend(H, 1, 60_000, sentAt)).toBe(true);
    expect(leases.remainingMs(H)).toBe(57_000);
    clock.now += 57_000;
    expect(leases.isPrimary(H, 1)).toBe(false);
  });

  it("an extension for another version is ignored", () => {
    const { clock, leases } = view();
    leases.grant(H, 1, 60_000);
    expect(leases.extend(H, 2, 60_000, clock.now + 50_000)).toBe(false);
    expect(leases.remainingMs(H)).toBe(60_000);
  });

  it("asks for an extension only for mutated leases running out within the window", () => {
    const { clock, leases } = view();
    leases.grant(H, 1, 60_000);
    leases.grant("00000000000000bb", 1, 60_000);
    leases.noteMutation(H);
    expect(leases.extensionHandles()).toEqual([]); // 60 s left, window 30 s
    clock.now += 31_000;
    expect(leases.extensionHandles()).toEqual([H]); // the idle one is not extended
    leases.extend(H, 1, 60_000, clock.now);
    expect(leases.extensionHandles()).toEqual([]); // extended: not mutated since
  });

  it("a dropped lease is gone at once", () => {
    const { leases } = view();
    leases.grant(H, 1, 60_000);
    leases.drop(H);
    expect(leases.isPrimary(H, 1)).toBe(false);
  });

  it("only the lease holder orders mutations: a replica accepts only the token of its current version's grant", () => {
    const { leases } = view();
    expect(() => leases.checkOrderedByLeaseHolder(H, 4, "t4", insecurePeer)).toThrow(/EPERM.*not ordered by the chunk's lease holder/);
    leases.setGrantToken(H, 4, "t4", "cs0");
    leases.checkOrderedByLeaseHolder(H, 4, "t4", insecurePeer);
    expect(() => leases.checkOrderedByLeaseHolder(H, 4, "", insecurePeer)).toThrow(/EPERM/);
    expect(() => leases.checkOrderedByLeaseHolder(H, 4, "t5", insecurePeer)).toThrow(/EPERM/);
    expect(() => leases.checkOrderedByLeaseHolder(H, 5, "t4", insecurePeer)).toThrow(/EPERM/);
    leases.setGrantToken(H, 5, "", ""); // a re-announced version with no known lease: nothing is accepted
    expect(() => leases.checkOrderedByLeaseHolder(H, 5, "t4", insecurePeer)).toThrow(/EPERM/);
  });

  it("only the primary orders mutations: under mutual TLS a secondary that knows the grant's token is still refused", () => {
    const { leases } = view();
    leases.setGrantToken(H, 4, "t4", "cs0");
    // Every replica of the grant heard the token; only the primary's certificate may use it.
    leases.checkOrderedByLeaseHolder(H, 4, "t4", { role: "chunkserver", name: "cs0" });
    expect(() => leases.checkOrderedByLeaseHolder(H, 4, "t4", { role: "chunkserver", name: "cs1" }))
      .toThrow(/EPERM.*not ordered by the chunk's lease holder \(primary "cs0"; sent by chunkserver "cs1"\)/);
    expect(() => leases.checkOrderedByLeaseHolder(H, 4, "t4", { role: "admin", name: "cs0" })).toThrow(/EPERM/);
  });

  it("a primary orders only to the secondaries its lease was granted with, and reports its leases with token and secondaries", () => {
    const { clock, leases } = view();
    const b = { serverId: "b", address: "127.0.0.1:2", rack: "", dataAddress: "" };
    const c = { serverId: "c", address: "127.0.0.1:3", rack: "", dataAddress: "" };
    leases.grant(H, 4, 60_000, clock.now, "tok", [b, c]);
    leases.checkSecondaries(H, 4, [c, b]);
    leases.checkSecondaries(H, 4, [{ serverId: "", address: c.address, rack: "", dataAddress: "" }, b]);
    expect(() => leases.checkSecondaries(H, 4, [b])).toThrow(/EINVAL.*granted the lease with/);
    expect(() => leases.checkSecondaries(H, 4, [])).toThrow(/EINVAL/);
    expect(() => leases.checkSecondaries(H, 4, [b, { serverId: "d", address: "127.0.0.1:4", rack: "", dataAddress: "" }])).toThrow(/EINVAL/);
    // The granted ids at other addresses: the mutation (and its token) would go elsewhere.
    expect(() => leases.checkSecondaries(H, 4, [b, { ...c, address: "127.0.0.1:9" }])).toThrow(/EINVAL.*granted the lease with/);
    expect(leases.tokenOf(H)).toBe("tok");
    clock.now += 1_000;
    expect(leases.held()).toEqual([{ handle: H, version: 4, remainingMs: 59_000, leaseToken: "tok", secondaries: [b, c] }]);
    clock.now += 60_000;
    expect(leases.held()).toEqual([]);
  });
});
