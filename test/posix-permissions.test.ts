// Linux's permission rules through gfs-mount (allow_other) as other users see
// them: setgid directories, setuid/setgid cleared by chown and by another
// user's write, O_EXCL, O_TRUNC of a read-only file, name and path limits.
// The kernel checks first (default_permissions), the master decides; both
// must agree with a local file system. (Sticky directories, owner-only chmod
// and the rest of the mode-bit rules: permissions-mount.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "./harness/cluster";
import { TestMount, sh as harnessSh } from "./harness/mount";

interface User { uid: number; gid: number; groups: number[] }
const alice: User = { uid: 1000, gid: 1000, groups: [1000, 50] };
const bob: User = { uid: 1001, gid: 1001, groups: [1001] };

/** A bash script as `user` (root without one). */
const shAs = (script: string, user?: User) => harnessSh(script, { asUser: user });

describe("permission semantics on the mount, as several users", { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let mount: TestMount;
  let m: string;

  beforeAll(async () => {
    cluster = await TestCluster.start({ chunkservers: 1, replication: 1, chunkSizeBytes: 64 * 1024, heartbeatMisses: 10 });
    mount = await TestMount.start(cluster, { args: ["-o", "allow_other"], public: true });
    m = mount.mountpoint;
    await ok(`cd ${m}; mkdir pub; chmod 777 pub`);
  });
  afterAll(async () => {
    await mount?.stop();
    await cluster?.stop();
  });

  async function ok(script: string, user?: User): Promise<string> {
    const r = await shAs(script, user);
    expect(r.code, `${script}\n${r.stderr}\nthe mount's warnings and errors:\n${mount.problems()}`).toBe(0);
    return r.stdout;
  }

  /** Python's errno name for each call of `calls` (one expression each), or "ok". */
  async function errnos(calls: string[], user?: User): Promise<string[]> {
    const program = `import os, errno, json\nout = []\nfor f in [${calls.map((c) => `lambda: ${c}`).join(", ")}]:\n`
      + `    try:\n        f(); out.append("ok")\n    except OSError as e:\n        out.append(errno.errorcode[e.errno])\nprint(json.dumps(out))`;
    return JSON.parse(await ok(`cd ${m}; /usr/bin/python3 - <<'PY'\n${program}\nPY`, user));
  }

  it("a setgid directory gives new files, directories, FIFOs and symlinks its group, and new subdirectories the setgid bit", async () => {
    await ok(`cd ${m}/pub; mkdir sg; chgrp 50 sg; chmod 2777 sg`, alice);
    const out = await ok(`cd ${m}/pub/sg; touch f; mkdir d; mkfifo p; ln -s f l; stat -c '%n %g %A' f d p; stat -c '%n %g' l`, bob);
    expect(out.trim().split("\n")).toEqual(["f 50 -rw-r--r--", "d 50 drwxr-sr-x", "p 50 prw-r--r--", "l 50"]);
  });

  it("another user's write or truncate clears setuid, and setgid of a group-executable file, and succeeds", async () => {
    await ok(`cd ${m}/pub; echo 0123456789 > w; chmod 6777 w; echo data > t; chmod 6777 t; echo x > g; chmod 2767 g`, alice);
    // dd conv=notrunc: the kernel asks to drop the bits first (a chmod as bob), then writes.
    await ok(`cd ${m}/pub; echo ab | dd of=w conv=notrunc status=none; : > t; echo y >> g`, bob);
    expect(await ok(`cd ${m}/pub; stat -c '%n %a %s' w t g; head -c 2 w`, bob)).toBe("w 777 11\nt 777 0\ng 2767 4\nab");
  });

  it("chown of a file clears setuid, and setgid when the group may execute, by root and by the owner's chgrp; a directory keeps its setgid", async () => {
    const out = await ok(`cd ${m}/pub; touch s1 s2; chmod 6755 s1; chmod 2745 s2; mkdir dg; chmod 2755 dg
      chown 1000 s1 s2 dg; stat -c '%n %a %u' s1 s2 dg`);
    expect(out.trim().split("\n")).toEqual(["s1 755 1000", "s2 2745 1000", "dg 2755 1000"]);
    // The owner's chgrp (to a group it is in) too.
    expect(await ok(`cd ${m}/pub; touch s3; chmod 6755 s3; chgrp 50 s3; stat -c '%a %g' s3`, alice)).toBe("755 50\n");
  });

  it("O_CREAT|O_EXCL of an existing name is EEXIST, and creates exactly once", async () => {
    expect(await errnos([
      `os.close(os.open("pub/ex", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))`,
      `os.open("pub/ex", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)`,
      `os.open("pub", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)`,
    ], alice)).toEqual(["ok", "EEXIST", "EEXIST"]);
  });

  it("O_TRUNC of a file the caller may not write is EACCES and the file keeps its bytes; its owner's O_RDONLY|O_TRUNC of a 0444 file is EACCES too", async () => {
    await ok(`cd ${m}/pub; echo keep > ro; chmod 444 ro; echo keep > mine; chmod 644 mine`, alice);
    expect(await errnos([`os.open("pub/ro", os.O_WRONLY | os.O_TRUNC)`, `os.open("pub/ro", os.O_RDONLY | os.O_TRUNC)`], alice))
      .toEqual(["EACCES", "EACCES"]);
    expect(await errnos([`os.open("pub/mine", os.O_WRONLY | os.O_TRUNC)`], bob)).toEqual(["EACCES"]);
    expect(await ok(`cat ${m}/pub/ro ${m}/pub/mine`)).toBe("keep\nkeep\n");
  });

  it("names of 255 bytes work for every kind of entry; 256 bytes are ENAMETOOLONG for create, mkdir, mknod, symlink, link, rename and lookup", async () => {
    const n255 = `("n" * 255)`;
    const n256 = `("x" * 256)`;
    expect(await errnos([
      `os.close(os.open("pub/" + ${n255}, os.O_CREAT | os.O_WRONLY))`,
      `os.stat("pub/" + ${n255})`,
      `os.mkdir("pub/d" + ${n255}[1:])`,
      `os.rename("pub/" + ${n255}, "pub/r" + ${n255}[1:])`,
    ], alice)).toEqual(["ok", "ok", "ok", "ok"]);
    expect(await errnos([
      `os.open("pub/" + ${n256}, os.O_CREAT | os.O_WRONLY)`,
      `os.mkdir("pub/" + ${n256})`,
      `os.mkfifo("pub/" + ${n256})`,
      `os.symlink("t", "pub/" + ${n256})`,
      `os.link("pub/r" + ${n255}[1:], "pub/" + ${n256})`,
      `os.rename("pub/r" + ${n255}[1:], "pub/" + ${n256})`,
      `os.stat("pub/" + ${n256})`,
    ], alice)).toEqual(Array(7).fill("ENAMETOOLONG"));
  });

  it("a path of 4096 bytes from the mount's root works and 4097 bytes is ENAMETOOLONG (the master's PATH_BYTES_MAX), reached by relative paths under PATH_MAX", async () => {
    // 15 directories of 255 bytes ("/" + name: 256 each) = 3840 bytes; then a name that ends the path at 4096.
    const out = await errnos([
      `[os.mkdir("pub/deep"), os.chdir("pub/deep")] + [(os.mkdir("d" * 255), os.chdir("d" * 255)) for _ in range(15)]`,
      `os.close(os.open("f" * (4096 - len("/pub/deep") - 15 * 256 - 1), os.O_CREAT | os.O_WRONLY))`,
      `os.close(os.open("g" * (4097 - len("/pub/deep") - 15 * 256 - 1), os.O_CREAT | os.O_WRONLY))`,
      `os.mkdir("h" * (4097 - len("/pub/deep") - 15 * 256 - 1))`,
    ], alice);
    expect(out).toEqual(["ok", "ok", "ENAMETOOLONG", "ENAMETOOLONG"]);
  });
});
