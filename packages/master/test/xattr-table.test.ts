// The store of extended attributes (xattr-table.ts) and the names' rules
// (@gfs/common xattr-names.ts): Linux's limits and errors, checks that change
// nothing, listxattr's order, and checkpoint rows.
import { describe, expect, it } from "vitest";
import { checkXattrFlags, GfsError, xattrNamespaceOf } from "@gfs/common";
import { XATTR_CREATE, XATTR_REPLACE, XattrTable } from "../src/xattr-table";

const errnoOf = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return e instanceof GfsError ? e.errno : String(e);
  }
};
const b = (s: string) => Buffer.from(s);

describe("extended attribute names", () => {
  it("only user., trusted. and security. are stored: system.* and other prefixes are EOPNOTSUPP", () => {
    expect(["user.a", "trusted.b", "security.c"].map((n) => xattrNamespaceOf(n))).toEqual(["user.", "trusted.", "security."]);
    expect(["system.posix_acl_access", "os2.x", "user"].map((n) => errnoOf(() => xattrNamespaceOf(n)))).toEqual(["EOPNOTSUPP", "EOPNOTSUPP", "EOPNOTSUPP"]);
  });

  it("an empty name or one over 255 bytes is ERANGE, a namespace alone EINVAL (as Linux)", () => {
    expect(errnoOf(() => xattrNamespaceOf(""))).toBe("ERANGE");
    expect(errnoOf(() => xattrNamespaceOf("user." + "x".repeat(250)))).toBeUndefined();
    expect(errnoOf(() => xattrNamespaceOf("user." + "x".repeat(251)))).toBe("ERANGE");
    expect(errnoOf(() => xattrNamespaceOf("user." + "é".repeat(126)))).toBe("ERANGE"); // bytes, not characters
    expect(errnoOf(() => xattrNamespaceOf("user."))).toBe("EINVAL");
  });

  it("setxattr flags: any bit but XATTR_CREATE and XATTR_REPLACE is EINVAL", () => {
    expect([0, 1, 2, 3].map((f) => checkXattrFlags(f))).toEqual([0, 1, 2, 3]);
    expect([4, -1, 1.5].map((f) => errnoOf(() => checkXattrFlags(f)))).toEqual(["EINVAL", "EINVAL", "EINVAL"]);
  });
});

describe("XattrTable", () => {
  it("XATTR_CREATE fails with EEXIST on an existing name, XATTR_REPLACE with ENODATA on a missing one; both together fail either way", () => {
    const t = new XattrTable();
    expect(errnoOf(() => t.set(1, "user.a", b("x"), XATTR_REPLACE))).toBe("ENODATA");
    t.set(1, "user.a", b("x"), XATTR_CREATE);
    expect(errnoOf(() => t.set(1, "user.a", b("y"), XATTR_CREATE))).toBe("EEXIST");
    t.set(1, "user.a", b("z"), XATTR_REPLACE);
    expect(errnoOf(() => t.set(1, "user.a", b("w"), XATTR_CREATE | XATTR_REPLACE))).toBe("EEXIST");
    expect(errnoOf(() => t.set(1, "user.new", b("w"), XATTR_CREATE | XATTR_REPLACE))).toBe("ENODATA");
    expect(t.get(1, "user.a").toString()).toBe("z");
  });

  it("a missing attribute is ENODATA to get and to remove; an inode without any lists none and counts 0", () => {
    const t = new XattrTable();
    expect(errnoOf(() => t.get(7, "user.a"))).toBe("ENODATA");
    expect(errnoOf(() => t.remove(7, "user.a"))).toBe("ENODATA");
    expect(t.list(7)).toEqual([]);
    expect(t.count(7)).toBe(0);
  });

  it("listxattr's order is the order names were first set; a replaced value keeps its place, a removed name loses it", () => {
    const t = new XattrTable();
    for (const n of ["user.c", "user.a", "trusted.b"]) t.set(1, n, b(n), 0);
    t.set(1, "user.c", b("again"), 0);
    expect(t.list(1)).toEqual(["user.c", "user.a", "trusted.b"]);
    t.remove(1, "user.c");
    t.set(1, "user.c", b("back"), 0);
    expect(t.list(1)).toEqual(["user.a", "trusted.b", "user.c"]);
    expect(t.count(1)).toBe(3);
  });

  it("a value over xattr_value_bytes_max is E2BIG; all of an inode's attributes over xattr_bytes_per_inode_max are ENOSPC, counting each name with its NUL", () => {
    const t = new XattrTable({ valueBytesMax: 100, nameBytesMax: 255, bytesPerInodeMax: 120 });
    expect(errnoOf(() => t.set(1, "user.v", Buffer.alloc(101), 0))).toBe("E2BIG");
    t.set(1, "user.v", Buffer.alloc(100), 0); // 6 + 1 + 100 = 107
    expect(t.bytesOf(1)).toBe(107);
    expect(errnoOf(() => t.set(1, "user.w", Buffer.alloc(7), 0))).toBe("ENOSPC"); // 107 + 14 = 121
    t.set(1, "user.w", Buffer.alloc(6), 0); // exactly 120
    expect(t.bytesOf(1)).toBe(120);
    // Replacing counts the new value instead of the old one; removing gives the bytes back.
    t.set(1, "user.v", Buffer.alloc(50), 0);
    expect(t.bytesOf(1)).toBe(70);
    t.remove(1, "user.w");
    expect(t.bytesOf(1)).toBe(57);
    expect(t.bytesOf(2)).toBe(0); // another inode's limit is its own
  });

  it("a refused set or remove changes nothing, and a stored value is a copy of the caller's buffer", () => {
    const t = new XattrTable();
    const mine = b("abc");
    t.set(1, "user.a", mine, 0);
    mine.fill(0);
    expect(t.get(1, "user.a").toString()).toBe("abc");
    expect(errnoOf(() => t.set(1, "system.x", b("v"), 0))).toBe("EOPNOTSUPP");
    expect(errnoOf(() => t.set(1, "user.a", b("v"), 4))).toBe("EINVAL");
    expect(errnoOf(() => t.remove(1, "user.b"))).toBe("ENODATA");
    expect(t.list(1)).toEqual(["user.a"]);
    expect(t.bytesOf(1)).toBe("user.a".length + 1 + 3);
  });

  it("dropping an inode drops its attributes", () => {
    const t = new XattrTable();
    t.set(1, "user.a", b("x"), 0);
    t.set(2, "user.a", b("y"), 0);
    t.dropInode(1);
    expect([...t.ids()]).toEqual([2]);
    expect(t.count(1)).toBe(0);
  });

  it("checkpoint rows restore every attribute in order with its exact bytes; a malformed row is EIO", () => {
    const t = new XattrTable();
    t.set(5, "user.bin", Buffer.from([0, 255, 10]), 0);
    t.set(5, "security.s", Buffer.alloc(0), 0);
    const row = JSON.parse(JSON.stringify(t.rowOf(5))) as unknown;
    const back = new XattrTable();
    back.restoreRow(5, row);
    expect(back.list(5)).toEqual(["user.bin", "security.s"]);
    expect([...back.get(5, "user.bin")]).toEqual([0, 255, 10]);
    expect(back.get(5, "security.s").length).toBe(0);
    expect(t.rowOf(6)).toBeUndefined();
    for (const bad of [{}, [["user.a"]], [["user.a", 3]], [["system.a", ""]], [["user.a", ""], ["user.a", ""]]]) {
      expect(errnoOf(() => new XattrTable().restoreRow(1, bad))).toBe("EIO");
    }
  });
});
