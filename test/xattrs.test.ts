// Extended attributes through gfs-mount (issue 19), as programs use them:
// setfattr/getfattr (package attr), python3's os.*xattr for the exact errnos
// (and libc's getxattr through ctypes for a buffer too small), cp
// --preserve=xattr, as root and as another user (allow_other: the kernel's
// checks and the master's), and kept by the master across a restart, from
// its op log and from a checkpoint (read back through client-core).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import { eventually, TestCluster } from "./harness/cluster";
import { run, TestMount, sh as harnessSh } from "./harness/mount";

interface User { uid: number; gid: number; groups: number[] }
const alice: User = { uid: 1000, gid: 1000, groups: [1000] };
const bob: User = { uid: 1001, gid: 1001, groups: [1001] };

const shAs = (script: string, user?: User) => harnessSh(script, { asUser: user });

/**
 * Runs groups of python3 calls in one python3 process (started as root; a group with a user runs in
 * a child that takes that user's ids). Each call is a line of code evaluated in order with os, errno
 * and the `short(path, name, size)` helper in scope, and gives its value (bytes as text, lists
 * sorted, tuples as lists) or the errno's name ("ENODATA").
 */
async function pyGroups(groups: Array<[User | undefined, string[]]>): Promise<unknown[][]> {
  const script = `
import os, errno, json, ctypes
libc = ctypes.CDLL(None, use_errno=True)
def short(path, name, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    n = libc.getxattr(path.encode(), name.encode(), buf, ctypes.c_size_t(size))
    if n < 0: raise OSError(ctypes.get_errno(), "getxattr")
    return n
def shown(v):
    if isinstance(v, bytes): return v.decode("latin1")
    if isinstance(v, list): return sorted(shown(x) for x in v)
    if isinstance(v, tuple): return [shown(x) for x in v]
    return v
def run(calls):
    out = []
    for code in calls:
        try: out.append(shown(eval(code)))
        except OSError as e: out.append(errno.errorcode[e.errno])
    return out
def run_as(user, calls):
    if user is None: return run(calls)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.setgroups(user["groups"]); os.setgid(user["gid"]); os.setuid(user["uid"])
        os.write(w, json.dumps(run(calls)).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk: break
        data += chunk
    os.waitpid(pid, 0)
    return json.loads(data)
print(json.dumps([run_as(u, calls) for u, calls in json.loads(${JSON.stringify(JSON.stringify(groups.map(([u, calls]) => [u ?? null, calls])))})]))
`;
  const r = await shAs(`python3 -c ${shellQuote(script)}`);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as unknown[][];
}

const py = async (calls: string[]): Promise<unknown[]> => (await pyGroups([[undefined, calls]]))[0]!;

/** lastSeq of each "checkpoint written" line of a master's log. */
const checkpointsWritten = (log: string): number[] =>
  log.split("\n").filter((l) => l.includes('"checkpoint written"')).map((l) => Number((JSON.parse(l) as { lastSeq: number }).lastSeq));

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** A counter's value in a /metrics scrape (`series`: its name and labels as printed), 0 if absent. */
async function metric(httpAddress: string, series: string): Promise<number> {
  const body = await (await fetch(`http://${httpAddress}/metrics`)).text();
  const line = body.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(" ").pop()) : 0;
}

const masterCalls = (httpAddress: string, method: string) => metric(httpAddress, `gfs_rpc_requests_total{method="${method}"}`);

describe("extended attributes through a mount", { timeout: 120_000 }, () => {
  let c: TestCluster;
  let mount: TestMount;
  let m: string;
  let http: string;
  let mountHttp: string;

  beforeAll(async () => {
    c = await TestCluster.start({
      chunkservers: 1, replication: 1, chunkSizeBytes: 256 * 1024, heartbeatMisses: 10, masterArgs: ["--http-listen", "127.0.0.1:0"],
    });
    http = String((await c.master.waitForLog("http listening")).address);
    mount = await TestMount.start(c, { args: ["-o", "allow_other", "--http-listen", "127.0.0.1:0"], public: true });
    mountHttp = String((await mount.process.waitForLog("http listening")).address);
    m = mount.mountpoint;
    await ok(`cd ${m}; mkdir pub; chown 1000:1000 pub; chmod 755 pub`);
  });
  afterAll(async () => {
    await mount?.stop();
    await c?.stop();
  });

  const ok = async (script: string, user?: User) => {
    const r = await shAs(script, user);
    expect(r.code, `${script}\n${r.stderr}\n${mount.problems()}`).toBe(0);
    return r.stdout;
  };

  it("setfattr/getfattr: a user.* attribute reads back with its exact bytes, lists, is replaced in place and removed", async () => {
    const f = `${m}/pub/plain`;
    const out = await ok(`echo data > ${f}
      setfattr -n user.a -v hello ${f}
      setfattr -n user.bin -v 0x00ff00 ${f}
      setfattr -n user.empty ${f}
      setfattr -n user.a -v again ${f}
      getfattr -n user.a --only-values ${f}; echo
      getfattr --absolute-names -d -e hex ${f}
      setfattr -x user.a ${f}
      getfattr --absolute-names -n user.a ${f} 2>&1 || true
      getfattr --absolute-names -d ${f}`);
    expect(out).toBe([
      "again",
      `# file: ${f}`, "user.a=0x616761696e", "user.bin=0x00ff00", "user.empty=0x", "",
      `${f}: user.a: No such attribute`,
      `# file: ${f}`, "user.bin=0sAP8A", 'user.empty=""', "", "",
    ].join("\n"));
  });

  it("errnos as Linux gives them: XATTR_CREATE on an existing name EEXIST, XATTR_REPLACE on a missing one ENODATA, system.* EOPNOTSUPP, names over 255 bytes ERANGE, values over 64 KiB E2BIG, a short buffer ERANGE; setxattr changes ctime", async () => {
    const f = `${m}/pub/errnos`;
    await ok(`echo x > ${f}`);
    const r = await py([
      `os.setxattr("${f}", "user.k", b"v1", os.XATTR_CREATE)`,
      `os.setxattr("${f}", "user.k", b"v2", os.XATTR_CREATE)`,
      `os.setxattr("${f}", "user.k", b"v3", os.XATTR_REPLACE)`,
      `os.setxattr("${f}", "user.none", b"v", os.XATTR_REPLACE)`,
      `os.getxattr("${f}", "user.k")`,
      `os.getxattr("${f}", "user.none")`,
      `os.removexattr("${f}", "user.none")`,
      `os.setxattr("${f}", "system.foo", b"v")`,
      `os.getxattr("${f}", "system.posix_acl_access")`,
      `os.setxattr("${f}", "other.foo", b"v")`,
      `os.setxattr("${f}", "user.", b"v")`,
      `os.setxattr("${f}", "user." + "n" * 250, b"v")`,
      `os.setxattr("${f}", "user." + "n" * 251, b"v")`,
      `os.setxattr("${f}", "user.big", b"b" * 65537)`,
      `os.setxattr("${f}", "user.big", b"b" * 60000) or len(os.getxattr("${f}", "user.big"))`,
      `os.setxattr("${f}", "user.more", b"m" * 6000)`,
      `short("${f}", "user.k", 1)`,
      `short("${f}", "user.k", 0)`,
      `os.listxattr("${f}")`,
      `(lambda before: (os.setxattr("${f}", "user.t", b"1"), os.stat("${f}").st_ctime_ns > before)[1])(os.stat("${f}").st_ctime_ns)`,
    ]);
    expect(r).toEqual([
      null, "EEXIST", null, "ENODATA", "v3", "ENODATA", "ENODATA",
      // ENOTSUP: EOPNOTSUPP, the same errno (95) on Linux, as Python names it
      "ENOTSUP", "ENOTSUP", "ENOTSUP", "EINVAL", null, "ERANGE", "E2BIG", 60000,
      "ENOSPC", // the inode's attributes together would pass xattr_bytes_per_inode_max (64 KiB)
      "ERANGE", 2,
      ["user.big", "user.k", "user." + "n".repeat(250)].sort(),
      true,
    ]);
  });

  it("trusted.* is root's: another user cannot read (ENODATA) or set it (EPERM) and its listing hides it; security.* is readable by all, set by root only", async () => {
    const f = `${m}/pub/trusted`;
    await ok(`echo x > ${f}; chmod 666 ${f}; setfattr -n trusted.t -v secret ${f}; setfattr -n security.s -v label ${f}; setfattr -n user.u -v mine ${f}`);
    expect(await pyGroups([
      [undefined, [`os.getxattr("${f}", "trusted.t")`, `os.listxattr("${f}")`]],
      [alice, [
        `os.getxattr("${f}", "trusted.t")`, `os.setxattr("${f}", "trusted.x", b"1")`, `os.removexattr("${f}", "trusted.t")`,
        `os.listxattr("${f}")`, `os.getxattr("${f}", "security.s")`, `os.setxattr("${f}", "security.s", b"2")`, `os.removexattr("${f}", "security.s")`,
      ]],
      [undefined, [`os.getxattr("${f}", "trusted.t")`, `os.getxattr("${f}", "security.s")`]],
    ])).toEqual([
      ["secret", ["security.s", "trusted.t", "user.u"]],
      ["ENODATA", "EPERM", "EPERM", ["security.s", "user.u"], "label", "EPERM", "EPERM"],
      ["secret", "label"],
    ]);
  });

  it("user.* needs read permission to get and write permission to set; on a sticky directory only its owner or root sets them; symlinks hold none", async () => {
    await ok(`cd ${m}/pub; echo x > ro; chmod 644 ro; setfattr -n user.r -v 1 ro; echo x > secret; chmod 600 secret; setfattr -n user.s -v 1 secret
      mkdir sticky; chmod 1777 sticky; ln -s ro link`, alice);
    expect(await pyGroups([[bob, [
      `os.getxattr("${m}/pub/ro", "user.r")`, `os.setxattr("${m}/pub/ro", "user.r", b"2")`, `os.removexattr("${m}/pub/ro", "user.r")`,
      `os.getxattr("${m}/pub/secret", "user.s")`, `os.listxattr("${m}/pub/secret")`,
      `os.setxattr("${m}/pub/sticky", "user.d", b"1")`,
      `os.setxattr("${m}/pub/link", "user.l", b"1", follow_symlinks=False)`,
      `os.getxattr("${m}/pub/link", "user.l", follow_symlinks=False)`,
    ]], [alice, [
      `os.setxattr("${m}/pub/sticky", "user.d", b"1") or os.getxattr("${m}/pub/sticky", "user.d")`,
    ]], [undefined, [
      `os.setxattr("${m}/pub/link", "trusted.l", b"1", follow_symlinks=False) or os.listxattr("${m}/pub/link", follow_symlinks=False)`,
    ]]])).toEqual([["1", "EACCES", "EACCES", "EACCES", ["user.s"], "EPERM", "EPERM", "ENODATA"], ["1"], [["trusted.l"]]]);
  });

  it("fgetxattr and fsetxattr through an open descriptor reach the same file after it is renamed", async () => {
    const f = `${m}/pub/fd-before`;
    await ok(`echo x > ${f}`);
    expect(await py([
      `open("${f}") and None`,
      `(lambda fd: (os.rename("${f}", "${m}/pub/fd-after"), os.setxattr(fd, "user.fd", b"via fd"), os.getxattr(fd, "user.fd"))[2])(os.open("${f}", os.O_RDONLY))`,
      `os.getxattr("${m}/pub/fd-after", "user.fd")`,
    ])).toEqual([null, "via fd", "via fd"]);
  });

  it("fgetxattr, fsetxattr and flistxattr through a descriptor keep working after the file is unlinked while open", async () => {
    const f = `${m}/pub/fd-unlinked`;
    await ok(`echo x > ${f}; setfattr -n user.before -v 1 ${f}`);
    expect(await py([
      `(lambda fd: (os.unlink("${f}"), os.setxattr(fd, "user.after", b"2"), os.getxattr(fd, "user.before"), os.getxattr(fd, "user.after"), os.listxattr(fd), os.fstat(fd).st_nlink, os.close(fd))[2:6])(os.open("${f}", os.O_RDWR))`,
      `os.path.exists("${f}")`,
    ])).toEqual([["1", "2", ["user.after", "user.before"], 0], false]);
  });

  it("cp --preserve=xattr copies user.* attributes onto the mount, from it, and within it", async () => {
    const local = `${c.dir}/xattr-local`;
    const out = await ok(`echo data > ${local}; setfattr -n user.origin -v local ${local}
      cp --preserve=xattr ${local} ${m}/pub/copied-in
      setfattr -n user.added -v here ${m}/pub/copied-in
      cp --preserve=xattr ${m}/pub/copied-in ${m}/pub/copied-within
      cp --preserve=xattr ${m}/pub/copied-within ${local}-out
      for f in ${m}/pub/copied-within ${local}-out; do getfattr -d --absolute-names $f | grep '^user' | sort | tr '\\n' ' '; echo; done`);
    expect(out).toBe('user.added="here" user.origin="local" \n'.repeat(2));
  });

  it("ls -l and writes of files without extended attributes ask the master nothing about them (the cached count answers); writes of a file with some ask once, not per write", async () => {
    const asked = async () => [await masterCalls(http, "GetXattr"), await masterCalls(http, "ListXattr")];
    const kernelAsked = () => metric(mountHttp, `gfs_fuse_operations_total{op="getxattr"}`);
    const [before, kernelBefore] = [await asked(), await kernelAsked()];
    await ok(`mkdir ${m}/many; for i in $(seq 1 20); do echo $i > ${m}/many/f$i; done
      ls -l ${m}/many > /dev/null; dd if=/dev/zero of=${m}/many/f1 bs=4096 count=50 conv=notrunc status=none; getfattr -d ${m}/many/f2`);
    expect(await asked()).toEqual(before);
    expect(await kernelAsked()).toBeGreaterThanOrEqual(kernelBefore + 50); // the kernel did ask: once per write at least
    await ok(`setfattr -n user.x -v 1 ${m}/many/f3`);
    const [gets] = await asked();
    await ok(`dd if=/dev/zero of=${m}/many/f3 bs=4096 count=50 conv=notrunc status=none`);
    expect((await asked())[0]! - gets!).toBeLessThanOrEqual(2); // security.capability: asked once (again if the TTL passed)
  });

  it("attributes survive a master restart from its op log and from a checkpoint (read back with client-core's GfsClient)", async () => {
    const f = `${m}/pub/durable`;
    await ok(`echo x > ${f}; setfattr -n user.logged -v 0x000102 ${f}; setfattr -n trusted.root -v r ${f}; setfattr -n user.gone -v g ${f}; setfattr -x user.gone ${f}`);
    const restart = (extra: string[]) => c.restartMaster(extra);
    const client = new GfsClient({ ...c.clientOptions(), rpc_deadline_ms: 5_000 }); // the admin: sees trusted.*
    try {
      const dump = async () => Object.fromEntries(await Promise.all(
        (await client.listXattr("/pub/durable")).map(async (n) => [n, (await client.getXattr("/pub/durable", n)).toString("hex")] as const)));
      await restart([]);
      expect(await eventually(dump, 10_000, "attributes after an op-log replay")).toEqual({ "user.logged": "000102", "trusted.root": "72" });
      // A checkpoint after every record: the last one covers every attribute, and the restart starts from it.
      await restart(["--checkpoint-every-records", "1"]);
      const after = await eventually(() => client.setXattr("/pub/durable", "user.after", Buffer.from("1"), 1), 10_000, "a set after the restart");
      expect(after.xattrCount).toBe(3);
      const covered = await eventually(async () => checkpointsWritten(c.master.log()).pop(), 10_000, "a checkpoint");
      const rec = await restart([]);
      expect(Number(rec.checkpointSeq)).toBeGreaterThanOrEqual(covered);
      expect(await eventually(dump, 10_000, "attributes after a checkpoint")).toEqual({ "user.logged": "000102", "trusted.root": "72", "user.after": "31" });
    } finally {
      client.close();
    }
  });
});
