// Who may read and change which extended attributes (xattr-access.ts), as
// Linux's xattr_permission and the capability checks of setxattr decide.
import { describe, expect, it } from "vitest";
import { GfsError, type CallerIdentity } from "@gfs/common";
import { MAY_READ, MAY_WRITE, type Owned } from "../src/permissions";
import { checkXattrAccess, visibleXattrNames, xattrPrivileged } from "../src/xattr-access";

const root: CallerIdentity = { uid: 0, gid: 0, groups: [0] };
const alice: CallerIdentity = { uid: 1000, gid: 1000, groups: [1000] };
const bob: CallerIdentity = { uid: 1001, gid: 1001, groups: [1001] };
const file = (mode: number, uid = 1000): Owned => ({ type: "file", mode, uid, gid: 1000 });
const dir = (mode: number, uid = 1000): Owned => ({ type: "dir", mode, uid, gid: 1000 });
const symlink: Owned = { type: "symlink", mode: 0o777, uid: 1000, gid: 1000 };

/** The errno `c` gets for `want` on attribute `name` of `n`, or "ok". */
function answer(c: CallerIdentity, n: Owned, name: string, want: number, privileged = xattrPrivileged(c, "mount")): string {
  try {
    checkXattrAccess(c, privileged, n, name, want as typeof MAY_READ, "/p");
    return "ok";
  } catch (e) {
    return e instanceof GfsError ? e.errno : String(e);
  }
}

describe("extended attribute permissions", () => {
  it("user.*: get needs read permission, set and remove need write permission (EACCES)", () => {
    expect([answer(bob, file(0o644), "user.a", MAY_READ), answer(bob, file(0o644), "user.a", MAY_WRITE)]).toEqual(["ok", "EACCES"]);
    expect([answer(bob, file(0o600), "user.a", MAY_READ), answer(alice, file(0o600), "user.a", MAY_WRITE)]).toEqual(["EACCES", "ok"]);
    expect(answer(root, file(0o000), "user.a", MAY_WRITE)).toBe("ok");
  });

  it("user.* only on regular files and directories: elsewhere get is ENODATA and set EPERM, even for root", () => {
    expect([answer(root, symlink, "user.a", MAY_READ), answer(root, symlink, "user.a", MAY_WRITE)]).toEqual(["ENODATA", "EPERM"]);
    expect(answer(root, { type: "fifo" } as unknown as Owned, "user.a", MAY_WRITE)).toBe("EPERM");
    expect(answer(alice, dir(0o755), "user.a", MAY_WRITE)).toBe("ok");
  });

  it("user.* of a sticky directory: only its owner or root sets them (EPERM), even with write permission", () => {
    expect([answer(bob, dir(0o1777), "user.a", MAY_WRITE), answer(alice, dir(0o1777), "user.a", MAY_WRITE), answer(root, dir(0o1777), "user.a", MAY_WRITE)])
      .toEqual(["EPERM", "ok", "ok"]);
    expect(answer(bob, dir(0o1777), "user.a", MAY_READ)).toBe("ok");
  });

  it("trusted.*: privileged callers only; to others it does not exist (ENODATA) and cannot be set (EPERM)", () => {
    expect([answer(alice, file(0o666), "trusted.a", MAY_READ), answer(alice, file(0o666), "trusted.a", MAY_WRITE)]).toEqual(["ENODATA", "EPERM"]);
    expect([answer(root, file(0o600, 1000), "trusted.a", MAY_READ), answer(root, symlink, "trusted.a", MAY_WRITE)]).toEqual(["ok", "ok"]);
  });

  it("security.*: anyone reads it, whatever the mode (the VFS checks nothing); only privileged callers set or remove it", () => {
    expect([answer(bob, file(0o600), "security.a", MAY_READ), answer(alice, file(0o600), "security.a", MAY_WRITE)]).toEqual(["ok", "EPERM"]);
    expect(answer(root, file(0o600), "security.a", MAY_WRITE)).toBe("ok");
  });

  it("a name's own errors come before any permission: system.* EOPNOTSUPP, an overlong name ERANGE", () => {
    expect(answer(bob, file(0o600), "system.posix_acl_access", MAY_READ)).toBe("EOPNOTSUPP");
    expect(answer(bob, file(0o600), "user." + "x".repeat(251), MAY_READ)).toBe("ERANGE");
  });

  it("an admin certificate is privileged whatever uid it speaks for; a mount speaking for a user is not", () => {
    expect([xattrPrivileged(alice, "admin"), xattrPrivileged(alice, "mount"), xattrPrivileged(root, "mount"), xattrPrivileged(root, "user")])
      .toEqual([true, false, true, true]);
    expect(answer(alice, file(0o644), "trusted.a", MAY_WRITE, true)).toBe("ok");
  });

  it("listxattr hides trusted.* from unprivileged callers, in the stored order", () => {
    const names = ["user.b", "trusted.t", "security.s", "user.a"];
    expect(visibleXattrNames(names, false)).toEqual(["user.b", "security.s", "user.a"]);
    expect(visibleXattrNames(names, true)).toEqual(names);
  });
});
