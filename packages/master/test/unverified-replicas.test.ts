import { describe, expect, it } from "vitest";
import { UnverifiedReplicas, type ReplicaView } from "../src/unverified-replicas";

const H = "00000000000000aa";

/** A chunk table in miniature: who holds a good replica (not held back), who is current. */
function view(good: string[], current = ["a", "b", "c", "d"]): ReplicaView & { good: string[] } {
  const v = { good, goodHolders: () => v.good, isCurrent: (id: string) => current.includes(id) };
  return v;
}

describe("replicas their own server reports as corrupt or unverified", () => {
  it("a replica reported corrupt (short on disk, failed datasync) is judged corrupt", () => {
    const u = new UnverifiedReplicas();
    expect(u.onReports("a", [{ handle: H, corrupt: true }], view(["b"]))).toEqual([expect.objectContaining({ kind: "corrupt", handle: H, serverId: "a" })]);
  });

  it("an unverified replica is held back at registration, not judged on the master's old view of the others", () => {
    const u = new UnverifiedReplicas();
    // b and c look good, but may have crashed at the same moment: no deletion yet.
    expect(u.onReports("a", [{ handle: H, unverified: true }], view(["b", "c"]))).toEqual([{ kind: "hold", handle: H, serverId: "a" }]);
    expect(u.heldFor(H)).toEqual(["a"]);
  });

  it("a heartbeat from a server holding a good replica is the evidence: the held-back replica is corrupt", () => {
    const u = new UnverifiedReplicas();
    u.onReports("a", [{ handle: H, unverified: true }], view(["b", "c"]));
    expect(u.onHeartbeat("b", view(["b", "c"]))).toEqual([expect.objectContaining({ kind: "corrupt", handle: H, serverId: "a" })]);
    expect(u.heldFor(H)).toEqual([]);
  });

  it("every replica crashed in its window: all are held back until the last registers, then released as the best left", () => {
    const u = new UnverifiedReplicas();
    const v = view(["b", "c"]);
    expect(u.onReports("a", [{ handle: H, unverified: true }], v)).toEqual([{ kind: "hold", handle: H, serverId: "a" }]);
    v.good = ["c"]; // b registered again: its old entry is replaced, and its replica is held back too
    expect(u.onReports("b", [{ handle: H, unverified: true }], v)).toEqual([{ kind: "hold", handle: H, serverId: "b" }]);
    v.good = [];
    expect(u.onReports("c", [{ handle: H, unverified: true }], v)).toEqual([
      { kind: "hold", handle: H, serverId: "c" },
      { kind: "release", handle: H, serverId: "a" }, { kind: "release", handle: H, serverId: "b" }, { kind: "release", handle: H, serverId: "c" },
    ]);
    expect(u.releasedFor(H)).toEqual(["a", "b", "c"]);
    // Released replicas are good to the chunk table; a heartbeat from one of them proves nothing.
    v.good = ["a", "b", "c"];
    expect(u.onHeartbeat("a", v)).toEqual([]);
    // Released replicas were accepted: a verified replica showing up later (perhaps a fresh copy made
    // from one of them) condemns none of them.
    v.good = ["a", "b", "c", "d"];
    expect(u.onReports("d", [{ handle: H }], v)).toEqual([]);
  });

  it("every replica crashed in its window: a replica whose bytes differ from a majority that agrees is corrupt (a bit flip does not repeat)", () => {
    const u = new UnverifiedReplicas();
    const v = view(["b", "c"]);
    u.onReports("a", [{ handle: H, unverified: true, length: 900, crcDigest: 111 }], v);
    v.good = ["c"];
    u.onReports("b", [{ handle: H, unverified: true, length: 900, crcDigest: 222 }], v);
    v.good = [];
    expect(u.onReports("c", [{ handle: H, unverified: true, length: 900, crcDigest: 222 }], v)).toEqual([
      { kind: "hold", handle: H, serverId: "c" },
      { kind: "release", handle: H, serverId: "b" }, { kind: "release", handle: H, serverId: "c" },
      expect.objectContaining({ kind: "corrupt", handle: H, serverId: "a" }),
    ]);
    expect(u.releasedFor(H)).toEqual(["b", "c"]);
  });

  it("no strict majority of two that agree (1 against 1, or digests unknown): all are released, none condemned", () => {
    const u = new UnverifiedReplicas();
    const v = view(["b"]);
    u.onReports("a", [{ handle: H, unverified: true, length: 900, crcDigest: 111 }], v);
    v.good = [];
    expect(u.onReports("b", [{ handle: H, unverified: true, length: 900, crcDigest: 222 }], v).map((x) => `${x.kind}:${x.serverId}`))
      .toEqual(["hold:b", "release:a", "release:b"]);
    const w = new UnverifiedReplicas();
    w.onReports("a", [{ handle: H, unverified: true }], view(["b"]));
    expect(w.onReports("b", [{ handle: H, unverified: true }], view([])).map((x) => `${x.kind}:${x.serverId}`)).toEqual(["hold:b", "release:a", "release:b"]);
  });

  it("no majority, lengths differ: only the longest is released; the shorter are kept until two good copies, then held again only if the longest fails (seed 119)", () => {
    const u = new UnverifiedReplicas();
    const v = view(["b"]);
    // a: every acknowledged append, intact; b: shorter, a bit flip its restart blessed with recomputed CRCs.
    u.onReports("a", [{ handle: H, unverified: true, length: 9144, crcDigest: 111 }], v);
    v.good = [];
    expect(u.onReports("b", [{ handle: H, unverified: true, length: 7822, crcDigest: 222 }], v)).toEqual([
      { kind: "hold", handle: H, serverId: "b" },
      { kind: "release", handle: H, serverId: "a" },
      expect.objectContaining({ kind: "corrupt", handle: H, serverId: "b", keep: true }),
    ]);
    expect(u.releasedFor(H)).toEqual(["a"]);
    expect(u.condemnedFor(H)).toEqual(["b"]);
    v.good = ["a"]; // released: good to the chunk table
    expect(u.onHeartbeat("a", v)).toEqual([]); // not held again while the released one is good
    // A third, as short, does not agree with b: no majority, condemned too.
    expect(u.onReports("c", [{ handle: H, unverified: true, length: 7822, crcDigest: 333 }], v).map((x) => `${x.kind}:${x.serverId}`))
      .toEqual(["hold:c", "corrupt:c"]);
    expect(u.releasedFor(H)).toEqual(["a"]);
    // The longest found bad: the shorter ones are the best left again.
    u.forgetReplica("a", H);
    v.good = [];
    expect(u.onHeartbeat("d", v).map((x) => `${x.kind}:${x.serverId}`)).toEqual(["release:b", "release:c"]);
  });

  it("verified replicas only behind the version bump of a grant under way are verified replicas left: nothing is released (seed 487)", () => {
    const u = new UnverifiedReplicas();
    // b and c took the chunk's versions up to the last, and a grant's bump is on its way to them: not current
    // for a moment (no good holder), yet they hold every acknowledged write, unlike a's replica.
    const v = Object.assign(view([]), { behind: ["b", "c"], behindHolders: () => v.behind });
    expect(u.onReports("a", [{ handle: H, unverified: true }], v, true)).toEqual([{ kind: "hold", handle: H, serverId: "a" }]);
    expect(u.releasedFor(H)).toEqual([]);
    // The bump confirmed: b and c are good, and a heartbeat from one condemns a's replica.
    v.behind = [];
    v.good = ["b", "c"];
    expect(u.onHeartbeat("b", v)).toEqual([expect.objectContaining({ kind: "corrupt", handle: H, serverId: "a", keep: true })]);
    // Were they gone instead (dead, found bad), a would be released as the best left.
    const w = new UnverifiedReplicas();
    const x = Object.assign(view([]), { behind: ["b"], behindHolders: () => x.behind });
    w.onReports("a", [{ handle: H, unverified: true }], x, true);
    x.behind = [];
    expect(w.onHeartbeat("c", x)).toEqual([{ kind: "release", handle: H, serverId: "a" }]);
  });

  it("replicas released one by one (their peers already dead) are compared as the later ones come", () => {
    const u = new UnverifiedReplicas();
    const v = view([]);
    expect(u.onReports("a", [{ handle: H, unverified: true, length: 900, crcDigest: 111 }], v).map((x) => `${x.kind}:${x.serverId}`)).toEqual(["hold:a", "release:a"]);
    v.good = ["a"]; // released: good to the chunk table
    expect(u.onReports("b", [{ handle: H, unverified: true, length: 900, crcDigest: 222 }], v).map((x) => `${x.kind}:${x.serverId}`)).toEqual(["hold:b", "release:b"]);
    v.good = ["a", "b"];
    expect(u.onReports("c", [{ handle: H, unverified: true, length: 900, crcDigest: 222 }], v).map((x) => `${x.kind}:${x.serverId}`))
      .toEqual(["hold:c", "release:c", "corrupt:a"]);
  });

  it("a server declared dead (cut off, not restarted) heard again: its verified replica condemns the released one, kept until two good copies (seed 549)", () => {
    const u = new UnverifiedReplicas();
    const v = view(["b"]);
    // a crashed in its window and lost an acknowledged unsynced write; b (holding it) is cut off and declared dead.
    u.onReports("a", [{ handle: H, unverified: true, length: 800, crcDigest: 111 }], v, true);
    v.good = [];
    expect(u.onHeartbeat("c", v)).toEqual([{ kind: "release", handle: H, serverId: "a" }]);
    v.good = ["a"];
    // An ordinary heartbeat of the released replica's server, or of one holding no replica, proves nothing.
    expect(u.onHeartbeat("a", v)).toEqual([]);
    expect(u.onHeartbeat("c", v, true)).toEqual([]);
    // b's partition heals: its first heartbeat (alive again, no registration) reports its good replica.
    v.good = ["a", "b"];
    expect(u.onHeartbeat("b", v, true)).toEqual([expect.objectContaining({ kind: "corrupt", handle: H, serverId: "a", keep: true })]);
    expect(u.releasedFor(H)).toEqual([]);
    expect(u.condemnedFor(H)).toEqual(["a"]);
    // Without the alive-again mark a heartbeat leaves released replicas alone (they were accepted).
    const w = new UnverifiedReplicas();
    w.onReports("a", [{ handle: H, unverified: true }], view([]), true);
    expect(w.onHeartbeat("b", view(["a", "b"]))).toEqual([]);
    expect(w.releasedFor(H)).toEqual(["a"]);
  });

  it("a server declared dead heard again while a grant's bump is on its way to it (behind, not current): its verified replica condemns the released one (seed 549, trash on)", () => {
    const u = new UnverifiedReplicas();
    // a took a grant's bump, then crashed in its window (its replica lost acknowledged unsynced writes); the bump's
    // order to b (cut off, holding every write) is still on its way; b is declared dead, so a is released.
    const v = Object.assign(view([]), { behind: [] as string[], behindHolders: () => v.behind });
    u.onReports("a", [{ handle: H, unverified: true, length: 0, crcDigest: 111 }], v, true);
    expect(u.releasedFor(H)).toEqual(["a"]);
    v.good = ["a"];
    // b's partition heals: alive again, behind the bump under way. Not a good holder, a verified replica all the same.
    v.behind = ["b"];
    expect(u.onHeartbeat("b", v, true)).toEqual([expect.objectContaining({ kind: "corrupt", handle: H, serverId: "a", keep: true })]);
    expect(u.releasedFor(H)).toEqual([]);
    expect(u.condemnedFor(H)).toEqual(["a"]);
    // An ordinary heartbeat of a behind server is no evidence against released replicas (they were accepted).
    const w = new UnverifiedReplicas();
    const x = Object.assign(view([]), { behind: [] as string[], behindHolders: () => x.behind });
    w.onReports("a", [{ handle: H, unverified: true }], x, true);
    x.good = ["a"];
    x.behind = ["b"];
    expect(w.onHeartbeat("b", x)).toEqual([]);
    expect(w.releasedFor(H)).toEqual(["a"]);
  });

  it("a released replica's server restarts: its replica (clean on its disk since it was accepted) stays released, or condemned, not verified (seed 549)", () => {
    const u = new UnverifiedReplicas();
    const v = view(["b"]);
    u.onReports("a", [{ handle: H, unverified: true, length: 800, crcDigest: 111 }], v, true);
    v.good = [];
    u.onHeartbeat("c", v);
    expect(u.releasedFor(H)).toEqual(["a"]);
    // a restarts and reports it verified: still only the best left.
    v.good = ["a"];
    u.forgetServer("a", true);
    expect(u.onReports("a", [{ handle: H, length: 800 }], v, true)).toEqual([]);
    expect(u.releasedFor(H)).toEqual(["a"]);
    // No evidence against a replica held back since: compared with it (1 against 1), both released.
    expect(u.onReports("c", [{ handle: H, unverified: true, length: 800, crcDigest: 222 }], v, true).map((x) => `${x.kind}:${x.serverId}`))
      .toEqual(["hold:c", "release:c"]);
    expect(u.onHeartbeat("a", v)).toEqual([]);
  });

  it("a condemned released replica whose server restarts is condemned still, not a verified replica (seed 549)", () => {
    const u = new UnverifiedReplicas();
    const v = view(["b"]);
    u.onReports("a", [{ handle: H, unverified: true, length: 800, crcDigest: 111 }], v, true);
    v.good = [];
    u.onHeartbeat("c", v);
    v.good = ["a", "b"];
    u.onHeartbeat("b", v, true); // b alive again: a condemned, kept
    expect(u.condemnedFor(H)).toEqual(["a"]);
    u.forgetServer("a", true);
    expect(u.onReports("a", [{ handle: H, length: 800 }], v, true)).toEqual([expect.objectContaining({ kind: "corrupt", handle: H, serverId: "a", keep: true })]);
    expect(u.condemnedFor(H)).toEqual(["a"]);
    // Gone from its report: forgotten.
    u.forgetServer("a", true);
    expect(u.onReports("a", [], v, true)).toEqual([]);
    expect(u.condemnedFor(H)).toEqual([]);
  });

  it("a condemned released replica whose deletion was queued, its server registering before deleting it, is condemned again (seed 549)", () => {
    const u = new UnverifiedReplicas();
    const current = ["a", "b", "c", "d"];
    const v = view(["b"], current);
    u.onReports("a", [{ handle: H, unverified: true, length: 800, crcDigest: 111 }], v, true);
    v.good = [];
    u.onHeartbeat("c", v);
    v.good = ["a", "b"];
    u.onHeartbeat("b", v, true); // a condemned, kept until two good copies
    v.good = ["b", "d"];
    current.splice(0, 1); // d took a copy: a's deletion queued, its replica out of the chunk table
    u.onHeartbeat("d", v);
    expect(u.condemnedFor(H)).toEqual([]);
    // a restarts before deleting it; its replica (accepted, so clean on its disk) is in the table again.
    current.push("a");
    u.forgetServer("a", true);
    expect(u.onReports("a", [{ handle: H, length: 800 }], v, true)).toEqual([expect.objectContaining({ kind: "corrupt", handle: H, serverId: "a", keep: true })]);
    expect(u.condemnedFor(H)).toEqual(["a"]);
    // Deleted at last (a heartbeat's removed list), then a fresh copy: a good replica like any other.
    u.forgetReplica("a", H);
    u.forgetServer("a", true);
    expect(u.onReports("a", [{ handle: H, length: 900 }], v, true)).toEqual([]);
    expect(u.condemnedFor(H)).toEqual([]);
  });

  it("a released replica outvoted by a majority that agrees, its server registering before deleting it (clean on its disk: it was told it is accepted), is condemned still and condemns none of the majority", () => {
    // replica-length.test.ts: cs0's replica with a bit flip was released as the best left, its server told so, then
    // outvoted 2 to 1. Were its server to restart before deleting it, it would report it clean: a verified replica
    // that condemned the two good ones (released, so only the best left) and was served alone.
    const u = new UnverifiedReplicas();
    const current = ["a", "b", "c"];
    const v = view([], current);
    u.onReports("a", [{ handle: H, unverified: true, length: 900, crcDigest: 111 }], v, true);
    v.good = ["a"];
    u.onReports("b", [{ handle: H, unverified: true, length: 900, crcDigest: 222 }], v, true);
    v.good = ["a", "b"];
    expect(u.onReports("c", [{ handle: H, unverified: true, length: 900, crcDigest: 222 }], v, true).map((x) => `${x.kind}:${x.serverId}`))
      .toEqual(["hold:c", "release:c", "corrupt:a"]);
    v.good = ["b", "c"];
    current.splice(0, 1); // a's deletion queued: out of the chunk table
    expect(u.onHeartbeat("b", v)).toEqual([]);
    // a restarts before deleting it and reports it as verified; the table has it again (as good, until judged).
    current.push("a");
    v.good = ["a", "b", "c"];
    u.forgetServer("a", true);
    const verdicts = u.onReports("a", [{ handle: H, length: 900 }], v, true);
    expect(verdicts.length).toBeGreaterThan(0);
    expect(verdicts.every((x) => x.kind === "corrupt" && x.serverId === "a")).toBe(true);
    expect(u.releasedFor(H)).toEqual(["b", "c"]);
    expect(u.heldFor(H)).toEqual([]);
  });

  it("a server that died while its replica was held: released once no live verified replica is left", () => {
    const u = new UnverifiedReplicas();
    const v = view(["b"]);
    u.onReports("a", [{ handle: H, unverified: true }], v);
    v.good = []; // b declared dead without a heartbeat since
    expect(u.onHeartbeat("d", v)).toEqual([{ kind: "release", handle: H, serverId: "a" }]);
  });

  it("a server registering again takes back what it said", () => {
    const u = new UnverifiedReplicas();
    u.onReports("a", [{ handle: H, unverified: true }], view(["b"]));
    u.forgetServer("a");
    expect(u.heldFor(H)).toEqual([]);
    expect(u.onHeartbeat("b", view(["b"]))).toEqual([]);
  });
});
