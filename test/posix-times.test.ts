// Times and link counts through gfs-mount as a program on the same mount sees
// them right after its own call, each stat made once before the call so that
// the kernel and the mount both hold the old attributes: a directory's mtime
// and ctime move at once when an entry is added, removed or renamed in it; a
// file's ctime moves on every change of its inode; utimensat sets one time
// alone; a directory's nlink is 2 plus its subdirectories.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import { TestCluster } from "./harness/cluster";
import { sh, TestMount } from "./harness/mount";

describe("times and link counts on the mount", { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let mount: TestMount;
  let m: string;
  let client: GfsClient;

  beforeAll(async () => {
    cluster = await TestCluster.start({ chunkservers: 1, replication: 1, chunkSizeBytes: 64 * 1024, heartbeatMisses: 10 });
    mount = await TestMount.start(cluster, { args: ["-o", "allow_other"], public: true });
    m = mount.mountpoint;
    client = new GfsClient(cluster.clientOptions());
  });
  afterAll(async () => {
    client?.close();
    await mount?.stop();
    await cluster?.stop();
  });

  /** Runs a python3 program with `M` = the mountpoint; its stdout parsed as JSON. */
  const py = async (program: string): Promise<any> => {
    const r = await sh(`/usr/bin/python3 - <<'PY'\nimport os, json, time, stat as S\nM = ${JSON.stringify(m)}\n${program}\nPY`);
    expect(r.code, `${r.stderr}\nthe mount's warnings and errors:\n${mount.problems()}`).toBe(0);
    return JSON.parse(r.stdout);
  };

  it("a directory's mtime and ctime change at once on the same mount on create, mkdir, mknod, symlink, link, unlink, rmdir and rename (both directories)", async () => {
    const result = await py(`
def st(p):
    s = os.stat(p)
    return (s.st_mtime_ns, s.st_ctime_ns)
ops = {
  "create": lambda d: os.close(os.open(d + "/f", os.O_CREAT | os.O_WRONLY, 0o644)),
  "mkdir": lambda d: os.mkdir(d + "/sub"),
  "mknod fifo": lambda d: os.mkfifo(d + "/fifo"),
  "symlink": lambda d: os.symlink("target", d + "/l"),
  "link": lambda d: os.link(d + "/keep", d + "/second"),
  "unlink": lambda d: os.unlink(d + "/keep"),
  "rmdir": lambda d: os.rmdir(d + "/emptydir"),
  "rename": lambda d: os.rename(d + "/keep", d + "/renamed"),
  "rename out (source dir)": lambda d: os.rename(d + "/keep", d + "/../moved-" + os.path.basename(d)),
}
out = {}
seen = {}
for i, (name, op) in enumerate(ops.items()):
    d = f"{M}/p{i}"
    os.mkdir(d)
    os.mkdir(d + "/emptydir")
    open(d + "/keep", "w").close()
    before, before_root = st(d), st(M)
    time.sleep(0.01)
    st(d); st(M)                    # the kernel and the mount hold these now
    op(d)
    after, after_root = st(d), st(M)
    out[name] = [after[0] > before[0], after[1] > before[1]]
    if name in ("create", "mkdir"):
        seen[d[len(M):]] = [after[0] // 1000000, after[1] // 1000000, os.stat(d).st_nlink]
    if name.startswith("rename out"):
        out["rename in (target dir)"] = [after_root[0] > before_root[0], after_root[1] > before_root[1]]
print(json.dumps({"changed": out, "seen": seen}))`);
    const changed = result.changed;
    const expected = Object.fromEntries(Object.keys(changed).map((k) => [k, [true, true]]));
    expect(changed).toEqual(expected);
    expect(Object.keys(changed)).toHaveLength(10);
    // What the mount showed right after its create and mkdir is the master's state, not a guess.
    for (const [dir, [mtimeMs, ctimeMs, nlink]] of Object.entries(result.seen as Record<string, number[]>)) {
      const info = await client.stat(dir);
      expect([mtimeMs, ctimeMs, nlink], dir).toEqual([info.mtimeMs, info.ctimeMs, info.nlink]);
    }
  });

  it("a directory's nlink is 2 plus its subdirectories, at once after mkdir, rmdir and rename of a subdirectory", async () => {
    const counts = await py(`
d = M + "/nl"
os.mkdir(d); os.mkdir(d + "/../nl-other")
n = lambda p: os.stat(p).st_nlink
out = [n(d)]
os.mkdir(d + "/a"); out.append(n(d))
os.mkdir(d + "/b"); open(d + "/file", "w").close(); out.append(n(d))
os.rename(d + "/b", d + "/../nl-other/b"); out += [n(d), n(d + "/../nl-other")]
os.rmdir(d + "/a"); out.append(n(d))
print(json.dumps(out))`);
    expect(counts).toEqual([2, 3, 4, 3, 3, 2]);
  });

  it("a file's ctime changes on chmod, chown, link, unlink of one of its links (asked past the kernel's copy), rename, truncate and write", async () => {
    const changed = await py(`
f = M + "/ct"
with open(f, "w") as h: h.write("0123456789")
import subprocess
def ctime(): return os.stat(f).st_ctime_ns
# The kernel keeps one inode per name (libfuse 2's path API) and drops no other name's attributes on a
# link or unlink: the name itself is asked with AT_STATX_FORCE_SYNC there (README: POSIX behaviour).
def ctime_sync():
    t = subprocess.check_output(["stat", "--cached=never", "-c", "%Y %.9Z", f]).split()[1].decode()
    return int(t.replace(".", ""))
def write(): 
    with open(f, "r+") as h: h.write("ab")
synced = {"link", "unlink of a link"}
ops = [
  ("chmod", lambda: os.chmod(f, 0o600)),
  ("chown", lambda: os.chown(f, 1000, -1)),
  ("link", lambda: os.link(f, f + "-2")),
  ("unlink of a link", lambda: os.unlink(f + "-2")),
  ("rename", lambda: (os.rename(f, f + "-r"), os.rename(f + "-r", f))),
  ("truncate", lambda: os.truncate(f, 4)),
  ("write", write),
]
out = {}
for name, op in ops:
    before = ctime_sync() if name in synced else ctime()
    time.sleep(0.01)
    ctime()
    op()
    out[name] = (ctime_sync() if name in synced else ctime()) > before
print(json.dumps(out))`);
    expect(changed).toEqual({ chmod: true, chown: true, link: true, "unlink of a link": true, rename: true, truncate: true, write: true });
  });

  it("utimensat with UTIME_OMIT leaves that time alone and UTIME_NOW sets that time alone (touch -a, touch -m)", async () => {
    const f = `${m}/times`;
    const out = await sh(`
      touch -d '2001-01-01 00:00:00 UTC' ${f}
      touch -a -d '2002-02-02 00:00:00 UTC' ${f}; stat -c '%X %Y' ${f}
      touch -m -d '2003-03-03 00:00:00 UTC' ${f}; stat -c '%X %Y' ${f}
      touch -a ${f}; stat -c '%X %Y' ${f}
      touch -d '2001-01-01 00:00:00 UTC' ${f}; touch -m ${f}; stat -c '%X %Y' ${f}`);
    expect(out.code, out.stderr).toBe(0);
    const [a2, m3, nowA, nowM] = out.stdout.trim().split("\n").map((l) => l.split(" ").map(Number));
    const [y2001, y2002, y2003] = [978307200, 1012608000, 1046649600];
    const now = Date.now() / 1000;
    expect(a2).toEqual([y2002, y2001]);
    expect(m3).toEqual([y2002, y2003]);
    expect(nowA![1]).toBe(y2003);
    expect(Math.abs(nowA![0]! - now)).toBeLessThan(60);
    expect(nowM![0]).toBe(y2001);
    expect(Math.abs(nowM![1]! - now)).toBeLessThan(60);
  });
});
