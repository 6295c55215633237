import { describe, expect, it } from "vitest";
import { extractDashO, fuseOptionList } from "../src/mount-options";

describe("mount options", () => {
  it("-o lists are collected from anywhere on the command line, in either spelling", () => {
    const { options, rest } = extractDashO(["/mnt", "-o", "allow_other,ro", "--master", "h:1", "-oumask=022"]);
    expect(options).toEqual(["allow_other", "ro", "umask=022"]);
    expect(rest).toEqual(["/mnt", "--master", "h:1"]);
  });

  it("big writes and kernel permission checks are always on; user options follow and may override", () => {
    const { fuseOptions } = fuseOptionList(["allow_other", "attr_timeout=5"], "h:1");
    expect(fuseOptions.slice(0, 3)).toEqual(["default_permissions", "big_writes", "max_write=131072"]);
    expect(fuseOptions).toContain("fsname=gfs:h:1");
    expect(fuseOptions.indexOf("attr_timeout=5")).toBeGreaterThan(fuseOptions.indexOf("attr_timeout=1"));
    expect(fuseOptions).toContain("allow_other");
  });

  it("a replicated master's list names the mount with + between addresses: a comma would split the FUSE option list", () => {
    const { fuseOptions } = fuseOptionList([], "h:1,h:2,h:3");
    expect(fuseOptions).toContain("fsname=gfs:h:1+h:2+h:3");
    expect(fuseOptions.some((o) => o.includes(","))).toBe(false);
  });

  it("the kernel keeps names and attributes as long as the mount's own cache, never a missing name", () => {
    const r = fuseOptionList([], "h:1", 2500);
    expect(r.fuseOptions).toEqual(expect.arrayContaining(["attr_timeout=2.5", "entry_timeout=2.5", "negative_timeout=0"]));
    expect(r.kernelAttrTimeoutMs).toBe(2500);
    expect(fuseOptionList([], "h:1", 0).fuseOptions).toEqual(expect.arrayContaining(["attr_timeout=0", "entry_timeout=0"]));
  });

  it("on a root_squash mount the kernel keeps no attributes: a squashed root must not be shown what other users' calls cached", () => {
    const r = fuseOptionList(["root_squash"], "h:1", 1000);
    expect(r.fuseOptions).toEqual(expect.arrayContaining(["attr_timeout=0", "entry_timeout=1"]));
    expect(r.kernelAttrTimeoutMs).toBe(0);
  });

  it("a user's -o attr_timeout= is what the mount counts on for revalidating opens; a bad one is a usage error", () => {
    expect(fuseOptionList(["attr_timeout=0.25"], "h:1", 1000).kernelAttrTimeoutMs).toBe(250);
    expect(() => fuseOptionList(["attr_timeout=soon"], "h:1")).toThrow(/attr_timeout=soon: not a number of seconds/);
  });

  it("-o tls_dir=DIR and -o insecure (fstab spellings of --tls-dir and --insecure) are taken, never passed to libfuse", () => {
    const r = fuseOptionList(["allow_other", "tls_dir=/etc/gfs/tls/mount", "insecure"], "h:1");
    expect(r.tlsDir).toBe("/etc/gfs/tls/mount");
    expect(r.insecure).toBe(true);
    expect(r.fuseOptions.some((o) => /tls_dir|insecure/.test(o))).toBe(false);
    expect(fuseOptionList(["ro"], "h:1")).toMatchObject({ tlsDir: undefined, insecure: undefined });
    expect(() => fuseOptionList(["tls_dir="], "h:1")).toThrow(/tls_dir needs a directory/);
  });

  it("fstab-only options are dropped and master= is taken from -o", () => {
    const r = fuseOptionList(["defaults", "_netdev", "noauto", "x-systemd.automount", "master=10.0.0.1:9000", "nofail"], undefined);
    expect(r.master).toBe("10.0.0.1:9000");
    expect(r.fuseOptions.some((o) => /defaults|_netdev|noauto|x-systemd|master=|nofail/.test(o))).toBe(false);
  });

  it("something that is not an option is refused", () => {
    expect(() => fuseOptionList(["a b"], "h:1")).toThrow(/not a mount option/);
  });

  it("an option libfuse does not know, or a bad value, is a usage error before mounting (libfuse checks only after the kernel mount)", () => {
    expect(() => fuseOptionList(["bogus"], "h:1")).toThrow(/-o bogus: not a mount option libfuse knows/);
    expect(() => fuseOptionList(["allow_other=1"], "h:1")).toThrow(/allow_other takes no value/);
    expect(() => fuseOptionList(["uid=alice"], "h:1")).toThrow(/-o uid=alice: not a whole number/);
    expect(() => fuseOptionList(["umask=999"], "h:1")).toThrow(/-o umask=999: not octal digits/);
    const common = ["ro", "allow_other", "allow_root", "noatime", "nosuid", "nodev", "uid=1000", "gid=100", "umask=022", "max_read=65536",
      "kernel_cache", "auto_unmount", "entry_timeout=2", "negative_timeout=0.5", "debug"];
    expect(fuseOptionList(common, "h:1").fuseOptions).toEqual(expect.arrayContaining(common));
  });
});
