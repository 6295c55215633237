import { describe, expect, it } from "vitest";
import { GfsError } from "@gfs/common";
import { keptOf, OpenSessions, reclaimable } from "../src/open-sessions";
import { checkInodeAddressing } from "../src/inode-access";

const LEASE = 1_000;
const table = (startedMs = 0, o: { sessionsMax?: number; openPerSessionMax?: number; sessionsPerPeerMax?: number; holdsMax?: number } = {}) =>
  new OpenSessions({
    leaseMs: LEASE, startedMs, sessionsMax: o.sessionsMax ?? 10, openPerSessionMax: o.openPerSessionMax ?? 100,
    sessionsPerPeerMax: o.sessionsPerPeerMax, holdsMax: o.holdsMax, sharedPeers: new Set(["insecure:"]),
  });
const errno = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    return e instanceof GfsError ? e.errno : String(e);
  }
  return undefined;
};

describe("open sessions (issue 19)", () => {
  it("an open holds the inode until the session reports its close, which releases it", () => {
    const t = table();
    t.opened("s1", "mount:a", 7, 10);
    expect(t.holds(7)).toBe(true);
    expect(t.keep("s1", "mount:a", { closed: [7], open: [], full: false }, 20)).toEqual({ unknown: true, released: [7] });
    expect(t.holds(7)).toBe(false);
  });

  it("an inode held by two sessions is released only when both let go", () => {
    const t = table();
    t.keep("s1", "mount:a", { closed: [], open: [5], full: true }, 0);
    t.keep("s2", "mount:b", { closed: [], open: [5], full: true }, 0);
    expect(t.keep("s1", "mount:a", { closed: [5], open: [], full: false }, 1).released).toEqual([]);
    expect(t.holds(5)).toBe(true);
    expect(t.keep("s2", "mount:b", { closed: [5], open: [], full: false }, 2).released).toEqual([5]);
  });

  it("a session made by an open is unknown to the master until the mount sends its full open set", () => {
    const t = table();
    t.opened("s1", "mount:a", 3, 0); // the first call after a master restart: an open
    expect(t.keep("s1", "mount:a", { closed: [], open: [], full: false }, 1).unknown).toBe(true);
    expect(t.keep("s1", "mount:a", { closed: [], open: [3, 4], full: true }, 2)).toEqual({ unknown: false, released: [] });
    expect(t.holds(4)).toBe(true);
    // full replaces the set: what it no longer names is released
    expect(t.keep("s1", "mount:a", { closed: [], open: [4], full: true }, 3).released).toEqual([3]);
  });

  it("a session not renewed within the lease expires and releases what only it held", () => {
    const t = table();
    t.keep("s1", "mount:a", { closed: [], open: [1, 2], full: true }, 0);
    t.keep("s2", "mount:b", { closed: [], open: [2], full: true }, 500);
    expect(t.expire(LEASE - 1).expired).toEqual([]);
    expect(t.expire(LEASE)).toEqual({ expired: ["s1"], released: [1] });
    expect(t.holds(2)).toBe(true);
    expect(t.size).toBe(1);
    expect(t.heldBy("mount:a", 2)).toBe(false); // what gave mount a the right to address it is gone
    expect(t.heldBy("mount:b", 2)).toBe(true);
  });

  it("a session belongs to the peer that made it: another peer naming it is refused (EACCES)", () => {
    const t = table();
    t.opened("s1", "mount:a", 1, 0);
    expect(errno(() => t.keep("s1", "mount:b", { closed: [1], open: [], full: false }, 1))).toBe("EACCES");
    expect(errno(() => t.opened("s1", "mount:b", 2, 1))).toBe("EACCES");
    expect(t.holds(1)).toBe(true);
  });

  it("bad session ids are EINVAL and the limits on sessions and open files hold", () => {
    const t = table(0, { sessionsMax: 1, openPerSessionMax: 2 });
    expect(errno(() => t.opened("", "mount:a", 1, 0))).toBe("EINVAL");
    expect(errno(() => t.opened("x".repeat(129), "mount:a", 1, 0))).toBe("EINVAL");
    t.opened("s1", "mount:a", 1, 0);
    expect(errno(() => t.opened("s2", "mount:a", 1, 0))).toBe("EAGAIN");
    t.opened("s1", "mount:a", 2, 0);
    expect(errno(() => t.opened("s1", "mount:a", 3, 0))).toBe("EAGAIN");
    expect(errno(() => t.keep("s1", "mount:a", { closed: [], open: [1, 2, 3], full: true }, 0))).toBe("EAGAIN");
  });

  it("ids that are not inode ids are ignored", () => {
    const t = table();
    t.keep("s1", "mount:a", { closed: [-1, 0, 1.5], open: [0, -3, 9], full: true }, 0);
    expect(t.held()).toEqual([9]);
  });

  it("an unlink keeps exactly the inodes a live session holds", () => {
    const t = table();
    t.opened("s1", "mount:a", 4, 0);
    expect(keptOf([3, 4, 5], t)).toEqual([4]);
  });

  it("orphans are reclaimable only once the grace after a master start is over, and only those nobody holds", () => {
    const t = table(10_000);
    t.opened("s1", "mount:a", 2, 10_000);
    expect(reclaimable([1, 2], t, 10_000 + LEASE - 1)).toEqual([]);
    expect(reclaimable([1, 2], t, 10_000 + LEASE)).toEqual([1]);
  });

  it("inode paths are addressable only by a mount, admin or insecure peer with a live session holding the inode", () => {
    const t = table(0);
    t.opened("s1", "mount:a", 8, 0);
    const keeping = { mayAddress: (peer: string, id: number) => t.heldBy(peer, id) || !t.graceOver(LEASE) };
    expect(() => checkInodeAddressing(keeping, { role: "mount", name: "a" }, ["//inode/8"])).not.toThrow();
    expect(errno(() => checkInodeAddressing(keeping, { role: "mount", name: "b" }, ["//inode/8"]))).toBe("EACCES");
    expect(errno(() => checkInodeAddressing(keeping, { role: "mount", name: "a" }, ["/x", "//inode/9"]))).toBe("EACCES");
    expect(errno(() => checkInodeAddressing(keeping, { role: "user", name: "u", uid: 1, gids: [1] }, ["//inode/8"]))).toBe("EACCES");
    expect(() => checkInodeAddressing(keeping, { role: "user", name: "u", uid: 1, gids: [1] }, ["/a", undefined])).not.toThrow();
  });

  it("one peer keeps at most sessions_per_peer_max live sessions (insecure peers, all one key, are exempt); an expired one frees its place", () => {
    const t = table(0, { sessionsPerPeerMax: 2 });
    t.opened("a1", "mount:a", 1, 0);
    t.opened("a2", "mount:a", 1, 0);
    expect(errno(() => t.opened("a3", "mount:a", 1, 0))).toBe("EAGAIN");
    expect(errno(() => t.keep("a3", "mount:a", { closed: [], open: [], full: true }, 0))).toBe("EAGAIN");
    t.opened("b1", "mount:b", 1, 0); // another peer is not affected
    for (const s of ["i1", "i2", "i3"]) t.opened(s, "insecure:", 1, 0);
    t.expire(LEASE);
    t.opened("a3", "mount:a", 1, LEASE);
  });

  it("holds over all sessions are capped (session_holds_max), whatever a full set claims", () => {
    const t = table(0, { holdsMax: 3 });
    t.keep("s1", "mount:a", { closed: [], open: [1, 2], full: true }, 0);
    expect(errno(() => t.keep("s2", "mount:b", { closed: [], open: [3, 4], full: true }, 0))).toBe("EAGAIN");
    t.opened("s2", "mount:b", 3, 0);
    expect(errno(() => t.opened("s2", "mount:b", 4, 0))).toBe("EAGAIN");
    // a full set replacing the session's own holds counts only the difference
    t.keep("s1", "mount:a", { closed: [], open: [5, 6], full: true }, 1);
    expect(t.held().sort()).toEqual([3, 5, 6]);
    t.keep("s1", "mount:a", { closed: [5], open: [], full: false }, 2);
    t.opened("s2", "mount:b", 4, 2);
  });
});
