import { describe, expect, it } from "vitest";
import { UnverifiedReplicas } from "../src/unverified-replicas";

const H = "00000000000000aa";

describe("replicas their own server reports as corrupt or unverified", () => {
  it("a replica reported corrupt (short on disk, failed datasync) is judged corrupt", () => {
    const u = new UnverifiedReplicas();
    const v = u.judge("a", [{ handle: H, corrupt: true }], () => ["a", "b"], () => true);
    expect(v).toEqual([expect.objectContaining({ kind: "corrupt", handle: H, serverId: "a" })]);
  });

  it("an unverified replica is corrupt when a verified replica exists elsewhere", () => {
    const u = new UnverifiedReplicas();
    expect(u.judge("a", [{ handle: H, unverified: true }], () => ["a", "b"], () => true))
      .toEqual([expect.objectContaining({ kind: "corrupt", serverId: "a" })]);
    expect(u.keptFor(H)).toEqual([]);
  });

  it("unverified replicas are the best left while no verified replica exists, and are dropped once one is reported", () => {
    const u = new UnverifiedReplicas();
    expect(u.judge("a", [{ handle: H, unverified: true }], () => ["a"], () => true)).toEqual([{ kind: "kept-unverified", handle: H, serverId: "a" }]);
    // b's replica counts as good to the chunk table, but it is kept unverified too: not a verified one.
    expect(u.judge("b", [{ handle: H, unverified: true }], () => ["a", "b"], () => true)).toEqual([{ kind: "kept-unverified", handle: H, serverId: "b" }]);
    expect(u.keptFor(H)).toEqual(["a", "b"]);
    // A verified replica (a fresh copy, or a server re-registering with one) ends their use.
    expect(u.judge("c", [{ handle: H }], () => ["a", "b", "c"], () => true)).toEqual([
      expect.objectContaining({ kind: "corrupt", serverId: "a" }), expect.objectContaining({ kind: "corrupt", serverId: "b" }),
    ]);
    expect(u.keptFor(H)).toEqual([]);
  });

  it("a server registering again takes back what it said; a stale verified report does not end their use", () => {
    const u = new UnverifiedReplicas();
    u.judge("a", [{ handle: H, unverified: true }], () => [], () => true);
    u.judge("b", [{ handle: H, unverified: true }], () => [], () => true);
    u.forgetServer("a");
    expect(u.keptFor(H)).toEqual(["b"]);
    expect(u.judge("c", [{ handle: H }], () => ["b"], () => false)).toEqual([]);
    expect(u.keptFor(H)).toEqual(["b"]);
  });
});
