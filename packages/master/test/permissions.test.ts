import { describe, expect, it } from "vitest";
import { GfsError, insecurePeer, parseCaller, formatCaller, rootCaller, type CallerIdentity, type Peer } from "@gfs/common";
import { checkCreate, checkLookup, checkMkdirParents, checkOpen, checkRemove, checkRename } from "../src/access";
import { callerFor } from "../src/caller";
import { Namespace, type NamespaceOp } from "../src/namespace";
import {
  isPrivilegedMode,
  checkTimes, chmodMode, chownResult, MAY_EXEC, MAY_READ, MAY_WRITE, mayAccess, mayRemoveFrom, modeAfterWrite, newOwnership, type Owned,
} from "../src/permissions";

const alice: CallerIdentity = { uid: 1000, gid: 1000, groups: [1000, 50] };
const bob: CallerIdentity = { uid: 1001, gid: 1001, groups: [1001] };
const root = rootCaller;
const file = (mode: number, uid = 1000, gid = 1000): Owned => ({ type: "file", mode, uid, gid });
const dir = (mode: number, uid = 1000, gid = 1000): Owned => ({ type: "dir", mode, uid, gid });

/** The errno `fn` throws, or "ok". */
const errno = (fn: () => unknown): string => {
  try {
    fn();
    return "ok";
  } catch (e) {
    if (e instanceof GfsError) return e.errno;
    throw e;
  }
};

describe("permission bits", () => {
  it("the owner class alone decides for the owner, even when group or other would allow more", () => {
    expect(mayAccess(alice, file(0o077), MAY_READ)).toBe(false);
    expect(mayAccess(alice, file(0o400), MAY_READ)).toBe(true);
    expect(mayAccess(alice, file(0o400), MAY_WRITE)).toBe(false);
  });

  it("a member of the file's group (primary or supplementary) gets the group bits, not other's", () => {
    expect(mayAccess(bob, file(0o640, 1000, 1001), MAY_READ)).toBe(true);
    expect(mayAccess(alice, file(0o604, 2000, 50), MAY_READ)).toBe(false); // supplementary group 50: group bits (none)
    expect(mayAccess(alice, file(0o064, 2000, 50), MAY_READ | MAY_WRITE)).toBe(true);
  });

  it("anyone else gets the other bits", () => {
    expect(mayAccess(bob, file(0o600), MAY_READ)).toBe(false);
    expect(mayAccess(bob, file(0o604), MAY_READ)).toBe(true);
    expect(mayAccess(bob, dir(0o754), MAY_EXEC)).toBe(false);
  });

  it("root reads and writes anything and searches any directory, but executes a file only when some x bit is set", () => {
    expect(mayAccess(root, file(0o000), MAY_READ | MAY_WRITE)).toBe(true);
    expect(mayAccess(root, dir(0o000), MAY_EXEC)).toBe(true);
    expect(mayAccess(root, file(0o600), MAY_EXEC)).toBe(false);
    expect(mayAccess(root, file(0o001), MAY_EXEC)).toBe(true);
  });
});

describe("sticky directories", () => {
  it("only the entry's owner, the directory's owner or root may remove an entry of a sticky directory", () => {
    const tmp = dir(0o1777, 0, 0);
    expect(mayRemoveFrom(bob, tmp, file(0o644, 1000))).toBe(false);
    expect(mayRemoveFrom(alice, tmp, file(0o644, 1000))).toBe(true);
    expect(mayRemoveFrom(root, tmp, file(0o644, 1000))).toBe(true);
    expect(mayRemoveFrom(bob, dir(0o1777, 1001), file(0o644, 1000))).toBe(true);
    expect(mayRemoveFrom(bob, dir(0o0777, 0), file(0o644, 1000))).toBe(true);
  });
});

describe("chmod", () => {
  it("only the owner or root may chmod (EPERM)", () => {
    expect(errno(() => chmodMode(bob, file(0o644), 0o666, "/f"))).toBe("EPERM");
    expect(chmodMode(alice, file(0o644), 0o600, "/f")).toBe(0o600);
    expect(chmodMode(root, file(0o644), 0o4755, "/f")).toBe(0o4755);
  });

  it("a non-root owner setting setgid for a group it is not in loses the bit", () => {
    expect(chmodMode(alice, file(0o644, 1000, 2000), 0o2755, "/f")).toBe(0o755);
    expect(chmodMode(alice, file(0o644, 1000, 50), 0o2755, "/f")).toBe(0o2755);
    expect(chmodMode(root, file(0o644, 1000, 2000), 0o2755, "/f")).toBe(0o2755);
  });

  it("anyone who may write a file may clear its setuid and setgid bits and change nothing else (the kernel's chmod before another user's write)", () => {
    expect(chmodMode(bob, file(0o6777), 0o0777, "/f")).toBe(0o0777);
    expect(chmodMode(bob, file(0o6777), 0o2777, "/f")).toBe(0o2777);
    expect(errno(() => chmodMode(bob, file(0o6775), 0o0775, "/f"))).toBe("EPERM"); // bob may not write it
    expect(errno(() => chmodMode(bob, file(0o6777), 0o0775, "/f"))).toBe("EPERM"); // more than the privilege bits
    expect(errno(() => chmodMode(bob, file(0o0777), 0o4777, "/f"))).toBe("EPERM"); // setting one
    expect(errno(() => chmodMode(bob, dir(0o2777), 0o0777, "/d"))).toBe("EPERM"); // a directory's setgid is no privilege to drop
  });
});

describe("chown", () => {
  it("only root may change the owner (EPERM), even the owner giving a file away", () => {
    expect(errno(() => chownResult(alice, file(0o644), 1001, undefined, "/f"))).toBe("EPERM");
    expect(errno(() => chownResult(bob, file(0o644), 1001, undefined, "/f"))).toBe("EPERM");
    expect(chownResult(root, file(0o644), 1001, 1001, "/f")).toEqual({ uid: 1001, gid: 1001, mode: 0o644 });
  });

  it("the owner may change the group to one it belongs to, and to no other", () => {
    expect(chownResult(alice, file(0o644), undefined, 50, "/f")).toMatchObject({ uid: 1000, gid: 50 });
    expect(errno(() => chownResult(alice, file(0o644), undefined, 1001, "/f"))).toBe("EPERM");
    expect(errno(() => chownResult(bob, file(0o644, 1000, 1001), undefined, 1001, "/f"))).toBe("EPERM");
  });

  it("chown of a file clears setuid, and setgid when the group may execute, for root too; directories keep them", () => {
    expect(chownResult(root, file(0o6755), 1001, undefined, "/f").mode).toBe(0o755);
    expect(chownResult(alice, file(0o6745), undefined, 50, "/f").mode).toBe(0o2745); // setgid without g+x is locking
    expect(chownResult(root, dir(0o2775), 1001, undefined, "/d").mode).toBe(0o2775);
  });
});

describe("times", () => {
  it("anyone who may write a file may set its times to now; chosen times need the owner (EPERM)", () => {
    expect(errno(() => checkTimes(bob, file(0o666), true, "/f"))).toBe("ok");
    expect(errno(() => checkTimes(bob, file(0o644), true, "/f"))).toBe("EACCES");
    expect(errno(() => checkTimes(bob, file(0o666), false, "/f"))).toBe("EPERM");
    expect(errno(() => checkTimes(alice, file(0o444), false, "/f"))).toBe("ok");
    expect(errno(() => checkTimes(root, file(0o000), false, "/f"))).toBe("ok");
  });
});

describe("writes clear privileges", () => {
  it("a non-root write clears setuid, and setgid when the group may execute; root's write keeps them", () => {
    expect(modeAfterWrite(bob, file(0o4777))).toBe(0o777);
    expect(modeAfterWrite(alice, file(0o6755))).toBe(0o755);
    expect(modeAfterWrite(alice, file(0o2745))).toBeUndefined();
    expect(modeAfterWrite(alice, file(0o755))).toBeUndefined();
    expect(modeAfterWrite(root, file(0o4755))).toBeUndefined();
  });
});

describe("new nodes", () => {
  it("a new node belongs to its creator, whatever uid the request names; root may name one", () => {
    expect(newOwnership(alice, dir(0o777, 0, 0), "file", 0o644, { uid: 0, gid: 0 })).toEqual({ uid: 1000, gid: 1000, mode: 0o644 });
    expect(newOwnership(root, dir(0o755, 0, 0), "file", 0o644, { uid: 7, gid: 8 })).toEqual({ uid: 7, gid: 8, mode: 0o644 });
  });

  it("in a setgid directory a new node takes the directory's group, and a new directory keeps setgid", () => {
    const shared = dir(0o2775, 0, 50);
    expect(newOwnership(bob, shared, "file", 0o644, { uid: 0, gid: 0 })).toEqual({ uid: 1001, gid: 50, mode: 0o644 });
    expect(newOwnership(bob, shared, "dir", 0o755, { uid: 0, gid: 0 })).toEqual({ uid: 1001, gid: 50, mode: 0o2755 });
    expect(newOwnership(bob, shared, "file", 0o2755, { uid: 0, gid: 0 }).mode).toBe(0o755); // not in group 50
    expect(newOwnership(alice, shared, "file", 0o2755, { uid: 0, gid: 0 }).mode).toBe(0o2755);
  });
});

describe("whom a call speaks for", () => {
  const user: Peer = { role: "user", name: "alice", uid: 1000, gids: [1000, 50] };
  const mount: Peer = { role: "mount", name: "host1" };

  it("a user certificate speaks only for its own uid and groups, whatever groups it claims", () => {
    expect(callerFor(user, undefined)).toEqual({ uid: 1000, gid: 1000, groups: [1000, 50] });
    expect(callerFor(user, { uid: 1000, gid: 0, groups: [0] })).toEqual({ uid: 1000, gid: 1000, groups: [1000, 50] });
  });

  it("a user certificate claiming another uid is refused with EACCES", () => {
    expect(errno(() => callerFor(user, { uid: 0, gid: 0, groups: [] }))).toBe("EACCES");
  });

  it("a mount, admin or insecure peer speaks for whom it claims, and for root when it claims no one", () => {
    expect(callerFor(mount, bob)).toEqual(bob);
    expect(callerFor({ role: "admin", name: "ops" }, undefined)).toEqual(root);
    expect(callerFor(insecurePeer, undefined)).toEqual(root);
    expect(callerFor(insecurePeer, alice)).toEqual(alice);
  });

  it("chunkserver and master certificates make no namespace calls", () => {
    expect(errno(() => callerFor({ role: "chunkserver", name: "cs1" }, undefined))).toBe("EACCES");
    expect(errno(() => callerFor({ role: "master", name: "m" }, root))).toBe("EACCES");
  });

  it("the caller header round-trips and refuses anything but uid:gid:groups", () => {
    expect(parseCaller(formatCaller(alice))).toEqual(alice);
    expect(parseCaller("5:6:")).toEqual({ uid: 5, gid: 6, groups: [] });
    for (const bad of ["", "1:2", "a:2:", "1:2:3,,4", "-1:2:", "99999999999:1:"]) expect(errno(() => parseCaller(bad))).toBe("EINVAL");
  });
});

// ---------------------------------------------------------------------------
// Which nodes each namespace operation checks (access.ts), on a real tree
// ---------------------------------------------------------------------------

/** /home (0755 root), /home/alice (0700 alice) with secret (0600), /tmp (1777 root) with alice's and bob's files, /pub (0755 alice). */
function tree(): Namespace {
  const ns = new Namespace();
  let id = 1;
  const ops: NamespaceOp[] = [
    { op: "mkdir", path: "/home", mode: 0o755, uid: 0, gid: 0, parents: false, ids: [++id], timeMs: 1 },
    { op: "mkdir", path: "/home/alice", mode: 0o700, uid: 1000, gid: 1000, parents: false, ids: [++id], timeMs: 1 },
    { op: "create", path: "/home/alice/secret", mode: 0o600, uid: 1000, gid: 1000, exclusive: true, id: ++id, timeMs: 1 },
    { op: "mkdir", path: "/tmp", mode: 0o1777, uid: 0, gid: 0, parents: false, ids: [++id], timeMs: 1 },
    { op: "create", path: "/tmp/a", mode: 0o666, uid: 1000, gid: 1000, exclusive: true, id: ++id, timeMs: 1 },
    { op: "create", path: "/tmp/b", mode: 0o666, uid: 1001, gid: 1001, exclusive: true, id: ++id, timeMs: 1 },
    { op: "mkdir", path: "/pub", mode: 0o755, uid: 1000, gid: 1000, parents: false, ids: [++id], timeMs: 1 },
    { op: "mkdir", path: "/pub/sub", mode: 0o755, uid: 1000, gid: 1000, parents: false, ids: [++id], timeMs: 1 },
    { op: "create", path: "/pub/sub/f", mode: 0o644, uid: 1000, gid: 1000, exclusive: true, id: ++id, timeMs: 1 },
  ];
  for (const op of ops) ns.apply(op);
  return ns;
}

describe("namespace operations", () => {
  it("reaching a node needs search permission on every directory above it (EACCES naming the directory)", () => {
    const ns = tree();
    expect(() => checkLookup(ns, bob, "/home/alice/secret")).toThrow(/EACCES: \/home\/alice: search permission denied to uid 1001/);
    expect(errno(() => checkLookup(ns, bob, "/home/alice/missing"))).toBe("EACCES"); // EACCES before ENOENT
    expect(errno(() => checkLookup(ns, alice, "/home/alice/secret"))).toBe("ok");
    expect(errno(() => checkLookup(ns, bob, "/home/alice"))).toBe("ok"); // stat of the directory itself needs x on /home only
  });

  it("reading or writing a file needs read or write permission on it", () => {
    const ns = tree();
    expect(errno(() => checkOpen(ns, bob, "/pub/sub/f", MAY_READ))).toBe("ok");
    expect(errno(() => checkOpen(ns, bob, "/pub/sub/f", MAY_WRITE))).toBe("EACCES");
    expect(errno(() => checkOpen(ns, root, "/home/alice/secret", MAY_WRITE))).toBe("ok");
  });

  it("creating needs write and search on the parent; an existing name is the operation's EEXIST, not EACCES", () => {
    const ns = tree();
    expect(errno(() => checkCreate(ns, bob, "/pub/new"))).toBe("EACCES");
    expect(errno(() => checkCreate(ns, alice, "/pub/new"))).toBe("ok");
    expect(errno(() => checkCreate(ns, bob, "/tmp/new"))).toBe("ok");
    expect(checkCreate(ns, bob, "/pub/sub").existing).toMatchObject({ type: "dir" });
  });

  it("mkdir -p needs write and search on the deepest directory that exists", () => {
    const ns = tree();
    expect(errno(() => checkMkdirParents(ns, bob, "/pub/x/y"))).toBe("EACCES");
    expect(errno(() => checkMkdirParents(ns, bob, "/tmp/x/y"))).toBe("ok");
    expect(errno(() => checkMkdirParents(ns, bob, "/pub/sub"))).toBe("ok"); // nothing to create
  });

  it("deleting needs write and search on the parent, and a sticky directory's entry only goes with its owner", () => {
    const ns = tree();
    expect(errno(() => checkRemove(ns, bob, "/pub/sub/f", false))).toBe("EACCES");
    expect(errno(() => checkRemove(ns, bob, "/tmp/a", false))).toBe("EACCES");
    expect(errno(() => checkRemove(ns, bob, "/tmp/b", false))).toBe("ok");
    expect(errno(() => checkRemove(ns, alice, "/tmp/a", false))).toBe("ok");
  });

  it("a recursive delete needs every unlink rm -r would make: read, write and search on each non-empty directory", () => {
    const ns = tree();
    ns.apply({ op: "mkdir", path: "/tmp/shared", mode: 0o777, uid: 1001, gid: 1001, parents: false, ids: [100], timeMs: 2 });
    ns.apply({ op: "mkdir", path: "/tmp/shared/locked", mode: 0o755, uid: 1000, gid: 1000, parents: false, ids: [101], timeMs: 2 });
    ns.apply({ op: "create", path: "/tmp/shared/locked/f", mode: 0o644, uid: 1000, gid: 1000, exclusive: true, id: 102, timeMs: 2 });
    expect(() => checkRemove(ns, bob, "/tmp/shared", true)).toThrow(/\/tmp\/shared\/locked: read\+write\+search permission denied/);
    expect(errno(() => checkRemove(ns, root, "/tmp/shared", true))).toBe("ok");
  });

  it("rename needs write on both parents, passes both sticky bits, and a directory changing parents needs write on itself", () => {
    const ns = tree();
    expect(errno(() => checkRename(ns, bob, "/tmp/a", "/tmp/c"))).toBe("EACCES"); // sticky: alice's
    expect(errno(() => checkRename(ns, bob, "/tmp/b", "/tmp/a"))).toBe("EACCES"); // would replace alice's in a sticky dir
    expect(errno(() => checkRename(ns, bob, "/tmp/b", "/tmp/c"))).toBe("ok");
    expect(errno(() => checkRename(ns, bob, "/tmp/b", "/pub/b"))).toBe("EACCES"); // no write on /pub
    ns.apply({ op: "mkdir", path: "/tmp/ro", mode: 0o555, uid: 1001, gid: 1001, parents: false, ids: [100], timeMs: 2 });
    ns.apply({ op: "mkdir", path: "/tmp/dst", mode: 0o777, uid: 1001, gid: 1001, parents: false, ids: [101], timeMs: 2 });
    expect(() => checkRename(ns, bob, "/tmp/ro", "/tmp/dst/ro")).toThrow(/\/tmp\/ro: write permission denied/);
    expect(errno(() => checkRename(ns, bob, "/tmp/ro", "/tmp/ro2"))).toBe("ok"); // same parent: its ".." stays
  });

  it("a privileged file is setuid, or setgid with group execute (setgid alone is mandatory locking)", () => {
    expect([0o4755, 0o2750, 0o2740, 0o0755].map(isPrivilegedMode)).toEqual([true, true, false, false]);
  });
});
