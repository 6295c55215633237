// POSIX permissions through gfs-mount (allow_other) used by several users:
// each operation reaches the master as its calling process (uid, gid and the
// supplementary groups of /proc/PID/status), and the master decides. The
// kernel checks too (default_permissions), so the root_squash tests are the
// ones only the master can pass or fail: root passes the kernel's checks.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "./harness/cluster";
import { TestMount, sh as harnessSh } from "./harness/mount";

interface User { uid: number; gid: number; groups: number[] }
const alice: User = { uid: 1000, gid: 1000, groups: [1000, 50] };
const bob: User = { uid: 1001, gid: 1001, groups: [1001] };
const carol: User = { uid: 1002, gid: 1002, groups: [1002, 50] };

/** Runs a bash script as `user` (root without one); stderr lines are reduced to their last part ("Permission denied"). */
const shAs = (script: string, user?: User) => harnessSh(script, { asUser: user });

describe("permissions through a mount with allow_other, as several users", { timeout: 180_000 }, () => {
  let c: TestCluster;
  let mount: TestMount;
  let squashed: TestMount;
  let m: string;
  let sq: string;

  beforeAll(async () => {
    c = await TestCluster.start({ chunkservers: 2, replication: 2 });
    mount = await TestMount.start(c, { args: ["-o", "allow_other"], public: true });
    squashed = await TestMount.start(c, { name: "squashed", args: ["-o", "allow_other,root_squash"], public: true });
    m = mount.mountpoint;
    sq = squashed.mountpoint;
    await ok(`cd ${m}; mkdir home tmp pub; chmod 1777 tmp; mkdir home/alice; chown 1000:1000 home/alice pub`);
  });
  afterAll(async () => {
    await squashed?.stop();
    await mount?.stop();
    await c?.stop();
  });

  const ok = async (script: string, user?: User) => {
    const r = await shAs(script, user);
    expect(r.code, `${script}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  /** Runs each command of `lines` as `user`, one result per line: "ok" or the error's last part. */
  const each = async (lines: string[], user?: User) => {
    const script = lines.map((l) => `if out=$( { ${l}; } 2>&1 >/dev/null); then echo ok; else echo "$out" | tail -1 | sed 's/.*: //'; fi`).join("\n");
    return (await ok(script, user)).trim().split("\n");
  };

  it("another user cannot read, overwrite or delete a 0600 file in a 0700 directory through the mount, and nothing changes", async () => {
    await ok(`cd ${m}/home/alice; echo secret > secret; chmod 600 secret; chmod 700 .`, alice);
    expect(await each([`cat ${m}/home/alice/secret`, `echo evil > ${m}/home/alice/secret`, `rm -f ${m}/home/alice/secret`, `ls ${m}/home/alice`], bob))
      .toEqual(["Permission denied", "Permission denied", "Permission denied", "Permission denied"]);
    expect(await ok(`cat ${m}/home/alice/secret`, alice)).toBe("secret\n");
  });

  it("read, write and execute bits decide for owner, group (supplementary groups included) and others", async () => {
    await ok(`cd ${m}/pub; echo data > f; chgrp 50 f; chmod 640 f; printf '#!/bin/sh\\necho ran\\n' > x; chmod 750 x; chgrp 50 x`, alice);
    expect(await each([`cat ${m}/pub/f`, `echo more >> ${m}/pub/f`, `${m}/pub/x`], carol)).toEqual(["ok", "Permission denied", "ok"]);
    expect(await each([`cat ${m}/pub/f`, `${m}/pub/x`, `touch ${m}/pub/new`], bob)).toEqual(["Permission denied", "Permission denied", "Permission denied"]);
    expect(await ok(`stat -c '%u:%g %a' ${m}/pub/f; cat ${m}/pub/f`, alice)).toBe("1000:50 640\ndata\n");
  });

  it("through the mount, ls -l of a directory with read but no search permission shows another user names but no attributes, stat of an entry fails with EACCES, and the owner's view is unchanged", async () => {
    // Made through the CLI, so neither the mount nor the kernel has these entries' attributes yet:
    // the first listing the mount sees is bob's, whose attributes the master withholds.
    for (const args of [["mkdir", "/pub/rd"], ["mkdir", "/pub/rd/sub"], ["chown", "1000:1000", "/pub/rd/sub"], ["chown", "1000:1000", "/pub/rd"],
      ["chmod", "640", "/pub/rd/file"], ["chown", "1000:1000", "/pub/rd/file"], ["chmod", "744", "/pub/rd"]]) {
      if (args[2] === "/pub/rd/file" && args[0] === "chmod") expect((await c.gfs(["put", "-", "/pub/rd/file"], Buffer.from("hello\n"))).code).toBe(0);
      const r = await c.gfs(args);
      expect(r.code, `gfs ${args.join(" ")}: ${r.stderr}`).toBe(0);
    }
    const listing = await ok(`ls -l ${m}/pub/rd 2>/dev/null || true`, bob);
    expect(listing.trim().split("\n").slice(1).map((l) => l.split(/ +/))).toEqual([ // after "total"
      ["-?????????", "?", "?", "?", "?", "?", "file"],
      ["d?????????", "?", "?", "?", "?", "?", "sub"],
    ]);
    expect(await each([`stat ${m}/pub/rd/file`, `stat ${m}/pub/rd/sub`], bob)).toEqual(["Permission denied", "Permission denied"]);
    // The owner, right after, through the same mount (whose cache bob's listing went through).
    expect(await ok(`stat -c '%n %u:%g %a %s' ${m}/pub/rd/file ${m}/pub/rd/sub; cat ${m}/pub/rd/file`, alice))
      .toBe(`${m}/pub/rd/file 1000:1000 640 6\n${m}/pub/rd/sub 1000:1000 755 0\nhello\n`);
    expect(await ok(`ls -l ${m}/pub/rd | grep -c '^[-d]rw'`, alice)).toBe("2\n");
  });

  it("through the mount, a directory with search but no read permission cannot be listed, but a known name in it can be looked up", async () => {
    await ok(`chmod 711 ${m}/pub/rd`, alice);
    expect(await each([`ls ${m}/pub/rd`, `stat -c '%u %a %s' ${m}/pub/rd/file`], bob)).toEqual(["Permission denied", "ok"]);
    expect(await ok(`stat -c '%u %a %s' ${m}/pub/rd/file`, bob)).toBe("1000 640 6\n");
  });

  it("files and directories created through the mount belong to the calling user", async () => {
    await ok(`cd ${m}/tmp; echo b > bobs; mkdir bobdir`, bob);
    expect(await ok(`stat -c '%u:%g' ${m}/tmp/bobs ${m}/tmp/bobdir`)).toBe("1001:1001\n1001:1001\n");
  });

  it("in a sticky directory another user cannot remove or rename a file through the mount; its owner can", async () => {
    await ok(`cd ${m}/tmp; echo a > alices; chmod 666 alices`, alice);
    expect(await each([`rm -f ${m}/tmp/alices`, `mv ${m}/tmp/alices ${m}/tmp/moved`, `echo b >> ${m}/tmp/alices`], bob))
      .toEqual(["Operation not permitted", "Operation not permitted", "ok"]);
    expect(await each([`mv ${m}/tmp/alices ${m}/tmp/alices2`, `rm ${m}/tmp/alices2`], alice)).toEqual(["ok", "ok"]);
  });

  it("through the mount only the owner may chmod, only root may chown, and the owner may chgrp to a supplementary group", async () => {
    await ok(`cd ${m}/pub; echo o > owned`, alice);
    expect(await each([`chmod 777 ${m}/pub/owned`, `chown 1001 ${m}/pub/owned`], bob)).toEqual(["Operation not permitted", "Operation not permitted"]);
    expect(await each([`chown 1001 ${m}/pub/owned`, `chgrp 1001 ${m}/pub/owned`, `chgrp 50 ${m}/pub/owned`, `chmod 4755 ${m}/pub/owned`], alice))
      .toEqual(["Operation not permitted", "Operation not permitted", "ok", "ok"]);
    await ok(`chown 1001 ${m}/pub/owned`);
    expect(await ok(`stat -c '%u:%g %a' ${m}/pub/owned`)).toBe("1001:50 755\n"); // chown cleared setuid
  });

  it("a file created read-only (mode 0444, as git's objects and cp of a read-only file) can be written and truncated through the descriptor that created it", async () => {
    // POSIX: permission is decided at open; O_CREAT gives the creating descriptor write access whatever the new mode.
    // Three chunks' worth (1 MiB chunks): new chunks, a longer file and a cut are all decided by the master.
    const py = `import os\nfd = os.open("${m}/pub/ro", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o444)\n`
      + `os.write(fd, b"x" * 3000000)\nos.ftruncate(fd, 1500004)\nos.pwrite(fd, b"end\\n", 1500000)\nos.close(fd)\n`;
    await ok(`python3 -c '${py}'`, alice);
    expect(await ok(`stat -c '%u %a %s' ${m}/pub/ro; tail -c 4 ${m}/pub/ro`, alice)).toBe("1000 444 1500004\nend\n");
    // A new open for writing is refused, as always, and another user's descriptor gets no owner's leeway.
    expect(await each([`echo more >> ${m}/pub/ro`], alice)).toEqual(["Permission denied"]);
    expect(await each([`echo more >> ${m}/pub/ro`], bob)).toEqual(["Permission denied"]);
  });

  it("root on a root_squash mount cannot read another user's 0600 file, though the kernel lets root through", async () => {
    await ok(`cd ${m}/pub; echo private > private; chmod 600 private`, alice);
    expect(await each([`cat ${sq}/pub/private`, `echo x >> ${sq}/pub/private`, `chmod 644 ${sq}/pub/private`])).toEqual([
      "Permission denied", "Permission denied", "Operation not permitted",
    ]);
    expect(await ok(`cat ${m}/pub/private`)).toBe("private\n"); // root on the plain mount is root
  });

  it("root on a root_squash mount is not shown attributes or listings that another user's calls left in the mount's cache", async () => {
    // alice fills the squashed mount's cache with her 0700 home: the kernel would let root reach it.
    await ok(`stat ${sq}/home/alice/secret >/dev/null; ls -l ${sq}/home/alice >/dev/null`, alice);
    expect(await each([`stat ${sq}/home/alice/secret`, `ls ${sq}/home/alice`])).toEqual(["Permission denied", "Permission denied"]);
    expect(await ok(`stat -c %a ${sq}/home/alice/secret`, alice)).toBe("600\n");
  });

  it("root on a root_squash mount creates files as nobody and cannot write where nobody may not", async () => {
    await ok(`echo r > ${sq}/tmp/squashed-root; mkdir ${sq}/tmp/squashed-dir`);
    expect(await ok(`stat -c '%u:%g' ${m}/tmp/squashed-root ${m}/tmp/squashed-dir`)).toBe("65534:65534\n65534:65534\n");
    expect(await each([`touch ${sq}/pub/by-root`, `mkdir ${sq}/home/x`])).toEqual(["Permission denied", "Permission denied"]);
  });
});
