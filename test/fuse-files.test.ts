// gfs-mount driven by ordinary tools: data written through cp and dd reads
// back byte-exact (across chunk boundaries, with 1 MiB chunks), truncate and
// ls agree with a local disk, the namespace behaves like one (mkdir -p, find,
// mv, rm -rf, ln -s, rename over a file), errors carry the right errno,
// and ownership and mode bits work for a non-root user.
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "./harness/cluster";
import { sh, TestMount } from "./harness/mount";

const MiB = 1024 * 1024;
const nobody = { uid: 65534, gid: 65534 };

// Real processes on a shared 2-core machine: generous per-test time.
describe("gfs-mount with ordinary tools (1 MiB chunks)", { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let mount: TestMount;
  let local: string;
  let m: string;

  beforeAll(async () => {
    // 10 missed heartbeats (2 s) before a server is dead: a full run on 2 cores stalls a live chunkserver for
    // longer than the default 600 ms, and this file is about the tools, not failure detection.
    cluster = await TestCluster.start({ chunkSizeBytes: MiB, leaseMs: 2_000, heartbeatMisses: 10 });
    // allow_other so another user can use it; the mountpoint's parents must be traversable by them.
    mount = await TestMount.start(cluster, { args: ["-o", "allow_other"], public: true });
    m = mount.mountpoint;
    local = await mkdtemp(join(tmpdir(), "gfs-local-"));
    await chmod(local, 0o755);
  });
  afterAll(async () => {
    await mount?.stop();
    await cluster?.stop();
    if (local) await rm(local, { recursive: true, force: true });
  });

  const ok = async (script: string, o: Parameters<typeof sh>[1] = {}) => {
    const r = await sh(script, o);
    expect(r.code, `${script}\n${r.stderr}\nthe mount's warnings and errors:\n${mount.problems()}`).toBe(0);
    return r.stdout;
  };

  it("cp of a 24 MiB random file in and back out is byte-exact (sha256), and cat reads it whole", async () => {
    const out = await ok(`
      head -c ${24 * MiB + 12345} /dev/urandom > ${local}/big
      cp ${local}/big ${m}/big
      cp ${m}/big ${local}/big.back
      sha256sum < ${local}/big; sha256sum < ${local}/big.back; cat ${m}/big | sha256sum
      stat -c %s ${m}/big`);
    const [a, b, c, size] = out.trim().split("\n");
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(Number(size)).toBe(24 * MiB + 12345);
  });

  it("dd conv=notrunc overwrites in the middle of a chunk, across a chunk boundary and past the end exactly like a local file", async () => {
    const edits = [
      `bs=1000 count=3 seek=1500`, // inside chunk 1
      `bs=10000 count=1 seek=${MiB - 5000} oflag=seek_bytes`, // across the 0|1 boundary
      `bs=${MiB} count=2 seek=${2 * MiB + 100} oflag=seek_bytes`, // spans three chunks
      `bs=4096 count=1 seek=${6 * MiB} oflag=seek_bytes`, // past the end: a hole, then data
    ];
    const script = [`head -c ${5 * MiB + 77} /dev/urandom > ${local}/dd; cp ${local}/dd ${m}/dd; head -c ${3 * MiB} /dev/urandom > ${local}/patch`];
    for (const e of edits) {
      for (const target of [`${local}/dd`, `${m}/dd`]) script.push(`dd if=${local}/patch of=${target} ${e} conv=notrunc status=none`);
    }
    script.push(`sha256sum < ${local}/dd; sha256sum < ${m}/dd; stat -c %s ${local}/dd ${m}/dd`);
    const [a, b, s1, s2] = (await ok(script.join("\n"))).trim().split("\n");
    expect(b).toBe(a);
    expect(s2).toBe(s1);
    expect(Number(s1)).toBe(6 * MiB + 4096);
  });

  it("scattered pwrites of 1 B to 70 KB (buffered as dirty extents) read back like a local file, through the same handle and after close", async () => {
    const script = `
import os, random, sys
random.seed(7)
fds = [os.open(p, os.O_RDWR) for p in sys.argv[1:]]
size = ${3 * MiB + 123}
for i in range(800):
    off = random.randrange(0, size + 200000)
    blk = os.urandom(random.choice([1, 512, 4096, 4096, 4096, 4096, 10000, 70000]))
    for fd in fds: os.pwrite(fd, blk, off)
    if i % 97 == 0:
        a, b = (os.pread(fd, 100000, max(0, off - 5000)) for fd in fds)
        if a != b: print("differs while buffered at", off)
    if i == 400: os.fsync(fds[1])
for fd in fds: os.close(fd)
`;
    await ok(`head -c ${3 * MiB + 123} /dev/urandom > ${local}/rw; cp ${local}/rw ${m}/rw`);
    await ok(`cat > ${local}/rw.py <<'PY'\n${script}\nPY`);
    const out = await ok(`python3 ${local}/rw.py ${local}/rw ${m}/rw; sha256sum < ${local}/rw; sha256sum < ${m}/rw; stat -c %s ${local}/rw ${m}/rw`);
    const [a, b, s1, s2] = out.trim().split("\n");
    expect(b).toBe(a);
    expect(s2).toBe(s1);
  });

  it("truncate -s shrinks inside a chunk and grows with zeros; ls -l shows the sizes", async () => {
    const out = await ok(`
      head -c ${3 * MiB + 500} /dev/urandom > ${local}/t; cp ${local}/t ${m}/t
      truncate -s ${MiB + 12345} ${local}/t; truncate -s ${MiB + 12345} ${m}/t
      ls -l ${m}/t | awk '{print $5}'
      truncate -s ${4 * MiB + 3} ${local}/t; truncate -s ${4 * MiB + 3} ${m}/t
      ls -l ${m}/t | awk '{print $5}'
      sha256sum < ${local}/t; sha256sum < ${m}/t
      truncate -s 0 ${m}/t; stat -c %s ${m}/t`);
    const [shrunk, grown, a, b, zero] = out.trim().split("\n");
    expect(Number(shrunk)).toBe(MiB + 12345);
    expect(Number(grown)).toBe(4 * MiB + 3);
    expect(b).toBe(a);
    expect(zero).toBe("0");
  });

  it("small writes, appends with >> and overwrites by > read back like a local file", async () => {
    const out = await ok(`
      cd ${m}
      echo one > s; echo two >> s; printf 'three\\n' >> s; cat s
      echo replaced > s; cat s
      : > s; stat -c %s s`);
    expect(out).toBe("one\ntwo\nthree\nreplaced\n0\n");
  });

  it("mkdir -p, many files, find, mv of files and directories, rm -rf", async () => {
    const out = await ok(`
      cd ${m}
      mkdir -p a/b/c
      for i in $(seq 1 150); do echo "file $i" > a/b/c/f$i; done
      find a | sort | wc -l
      mv a/b/c/f7 a/f7
      mv a/b a/moved
      cat a/f7 a/moved/c/f150
      find a -type f | wc -l
      test ! -e a/b
      rm -rf a
      test ! -e a && echo gone`);
    expect(out.trim().split("\n")).toEqual(["153", "file 7", "file 150", "150", "gone"]);
  });

  it("ln -s makes a symbolic link that readlink shows and cat follows", async () => {
    const out = await ok(`
      cd ${m}
      echo target-content > target
      ln -s target link
      readlink link; cat link; stat -c %F link`);
    expect(out).toBe("target\ntarget-content\nsymbolic link\n");
  });

  it("mv over an existing file replaces it: the name shows the new content, the old name is gone", async () => {
    const out = await ok(`
      cd ${m}
      echo old > dest; echo new > src
      mv -f src dest
      cat dest; test ! -e src && echo src-gone`);
    expect(out).toBe("new\nsrc-gone\n");
  });

  it("errors carry their errno: ENOENT, EEXIST, ENOTEMPTY, ENOTDIR, EISDIR, ENAMETOOLONG", async () => {
    const out = await ok(`
      cd ${m}
      mkdir -p e/d; echo x > e/d/file
      try() { "$@" 2>&1 >/dev/null | sed 's/.*: //' | head -n 1 || true; }
      try cat e/missing
      try mkdir e/d
      try rmdir e/d
      try ls e/d/file/x
      try rm e/d
      try touch e/$(printf 'n%.0s' $(seq 1 300))`);
    expect(out.trim().split("\n")).toEqual([
      "No such file or directory", "File exists", "Directory not empty", "Not a directory", "Is a directory", "File name too long",
    ]);
  });

  it("chmod, chown and touch -d change what stat shows", async () => {
    const out = await ok(`
      cd ${m}
      echo x > attrs
      chmod 0640 attrs; chown 123:456 attrs; touch -d '2001-02-03 04:05:06 UTC' attrs
      stat -c '%a %u %g %Y' attrs`);
    expect(out.trim()).toBe(`640 123 456 ${Date.UTC(2001, 1, 3, 4, 5, 6) / 1000}`);
  });

  it("df shows the cluster's capacity", async () => {
    const out = await ok(`df -B1 --output=size,avail ${m} | tail -n 1`);
    const [size, avail] = out.trim().split(/\s+/).map(Number);
    expect(size).toBeGreaterThan(0);
    expect(avail).toBeGreaterThan(0);
    expect(avail).toBeLessThanOrEqual(size);
  });

  it("as a non-root user: created files and directories are theirs; a root-owned 0644 file cannot be written (EACCES)", async () => {
    await ok(`
      cd ${m}
      mkdir -p pub; chmod 1777 pub
      echo root-data > pub/rootfile; chmod 0644 pub/rootfile
      mkdir -p closed; chmod 0755 closed`);
    const out = await ok(`
      cd ${m}/pub
      echo mine > mine; mkdir mydir; ln -s mine mylink
      stat -c '%u:%g %n' mine mydir mylink
      cat rootfile
      (echo overwrite >> rootfile) 2>&1 | sed 's/.*: //' || true
      (touch ${m}/closed/nope) 2>&1 | sed 's/.*: //' || true`, { asUser: nobody });
    expect(out.trim().split("\n")).toEqual([
      "65534:65534 mine", "65534:65534 mydir", "65534:65534 mylink", "root-data", "Permission denied", "Permission denied",
    ]);
    expect(await ok(`cat ${m}/pub/rootfile; test ! -e ${m}/closed/nope && echo absent`)).toBe("root-data\nabsent\n");
  });
});
