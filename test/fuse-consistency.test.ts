// Two mounts of one cluster, as two machines would have: a file written and
// closed on one is read whole on the other (close-to-open), a rename over a
// file is atomic for readers elsewhere, and shells appending with >> through
// both mounts at once never overwrite each other (record append).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "./harness/cluster";
import { sh, shBackground, TestMount } from "./harness/mount";

const MiB = 1024 * 1024;

describe("two mounts of one cluster", { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  let a: TestMount;
  let b: TestMount;

  beforeAll(async () => {
    cluster = await TestCluster.start({ chunkSizeBytes: MiB, leaseMs: 2_000 });
    [a, b] = await Promise.all([TestMount.start(cluster, { name: "a" }), TestMount.start(cluster, { name: "b" })]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await cluster?.stop();
  });

  const ok = async (script: string) => {
    const r = await sh(script);
    expect(r.code, `${script}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };

  it("close-to-open: a file written and closed on one mount is read whole on the other, even right after it was read there", async () => {
    const src = `${cluster.dir}/c2o`;
    for (const size of [3 * MiB + 17, 5 * MiB + 4321, 1000]) {
      const out = await ok(`
        head -c ${size} /dev/urandom > ${src}
        cat ${b.mountpoint}/shared > /dev/null 2>&1 || true   # mount b caches what it saw
        cp ${src} ${a.mountpoint}/shared
        sha256sum < ${src}; sha256sum < ${b.mountpoint}/shared; stat -c %s ${b.mountpoint}/shared`);
      const [want, got, seen] = out.trim().split("\n");
      expect(got).toBe(want);
      expect(Number(seen)).toBe(size);
    }
  });

  it("an overwrite inside the file's size (no master call per write): fsync'd bytes are read on the other mount before the close, the writer never sees its mtime go back, and the close records the mtime there", async () => {
    const script = `
import os, sys, time
A, B = sys.argv[1], sys.argv[2]
with open(A + "/ow", "wb") as w: w.write(b"a" * 20000)
r = os.open(B + "/ow", os.O_RDONLY); before = os.fstat(r).st_mtime_ns; os.pread(r, 20000, 0); os.close(r)
time.sleep(0.2)
fd = os.open(A + "/ow", os.O_RDWR)
os.pwrite(fd, b"B" * 4096, 8000)
written_ns = time.time_ns()
os.fsync(fd)
want = b"a" * 8000 + b"B" * 4096 + b"a" * (20000 - 12096)
r = os.open(B + "/ow", os.O_RDONLY); got = os.pread(r, 30000, 0); os.close(r)
print("fsynced-seen" if got == want else "fsynced-missing")
time.sleep(1.2)  # past the mount's attribute cache: the writer's stat asks the master again
print("writer-sees-mtime" if os.fstat(fd).st_mtime_ns > before else "writer-mtime-went-back")
os.pwrite(fd, b"C" * 100, 0)
os.close(fd)
r = os.open(B + "/ow", os.O_RDONLY); st = os.fstat(r); got = os.pread(r, 30000, 0); os.close(r)
print("closed-seen" if got == b"C" * 100 + want[100:] else "closed-missing")
print("size", st.st_size)
print("mtime-moved" if st.st_mtime_ns > before and st.st_mtime_ns >= written_ns - 2_000_000_000 else "mtime-stale %d %d" % (before, st.st_mtime_ns))
`;
    const out = await ok(`cat > ${cluster.dir}/ow.py <<'PY'\n${script}\nPY\npython3 ${cluster.dir}/ow.py ${a.mountpoint} ${b.mountpoint}`);
    expect(out.trim().split("\n")).toEqual(["fsynced-seen", "writer-sees-mtime", "closed-seen", "size 20000", "mtime-moved"]);
  });

  it("names the kernel of one mount still holds: removed, replaced or created on the other mount, the next open sees the cluster as it is", async () => {
    const A = a.mountpoint;
    const B = b.mountpoint;
    const out = await ok(`
      echo one > ${A}/n1; echo two > ${A}/n2
      cat ${B}/n1 ${B}/n2 > /dev/null          # mount b now holds both names
      rm ${A}/n1; mv ${A}/n2 ${A}/n3; echo fresh > ${A}/n2
      cat ${B}/n1 2>/dev/null || echo n1-gone
      cat ${B}/n2 ${B}/n3
      ls ${B}/new 2>/dev/null || echo new-missing; echo created > ${A}/new; cat ${B}/new`);
    expect(out.trim().split("\n")).toEqual(["n1-gone", "fresh", "two", "new-missing", "created"]);
  });

  it("attributes the kernel of one mount caches (ls -l) do not cut short a file the other mount grew: open, read and stat see it whole", async () => {
    const A = a.mountpoint;
    const B = b.mountpoint;
    const out = await ok(`
      mkdir -p ${A}/kc; for i in 1 2 3; do echo "v1" > ${A}/kc/f$i; done
      ls -l ${B}/kc > /dev/null                 # mount b's kernel now holds every entry's attributes
      head -c 300000 /dev/zero | tr '\\0' x >> ${A}/kc/f2; echo tail >> ${A}/kc/f2
      wc -c < ${B}/kc/f2; tail -c 5 ${B}/kc/f2; stat -c %s ${B}/kc/f2
      chmod 600 ${A}/kc/f3; cat ${B}/kc/f3 > /dev/null; stat -c %a ${B}/kc/f3
      echo a1 > ${A}/kc/g; cat ${B}/kc/g > /dev/null
      echo a2 >> ${A}/kc/g; wc -l < ${B}/kc/g; echo a3 >> ${A}/kc/g; wc -l < ${B}/kc/g   # changed again at once: caught again`);
    expect(out.trim().split("\n")).toEqual(["300008", "tail", "300008", "600", "2", "3"]);
  });

  it("times set on an open file after writing it are what the other mount sees after close, not the writes' (cp -p, tar)", async () => {
    const out = await ok(`python3 -c "
import os
p = '${a.mountpoint}/ut'
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644); os.write(fd, b'x' * 100); os.close(fd)
fd = os.open(p, os.O_RDWR); os.pwrite(fd, b'y' * 10, 5); os.fsync(fd); os.utime(fd, (946684800, 946684800)); os.close(fd)"
      stat -c %Y ${b.mountpoint}/ut; head -c 20 ${b.mountpoint}/ut`);
    expect(out.trim().split("\n")).toEqual(["946684800", "xxxxxyyyyyyyyyyxxxxx"]);
  });

  it("a rename over a file is atomic for a reader on the other mount: the name always holds one whole version", async () => {
    await ok(`printf 'version-0 %.0s' $(seq 1 3000) > ${a.mountpoint}/current`);
    const reader = shBackground(`
      for i in $(seq 1 200); do
        c="$(cat ${b.mountpoint}/current)" || { echo "read failed"; exit 1; }
        case "$c" in version-?" "*) ;; *) echo "torn: \${c:0:40}"; exit 1 ;; esac
        [ "\${#c}" -eq 30000 ] || { echo "length \${#c}"; exit 1; }
        [ "$(printf '%s' "$c" | tr ' ' '\\n' | sort -u | wc -l)" -eq 1 ] || { echo "mixed versions"; exit 1; }
      done`);
    await ok(`
      cd ${a.mountpoint}
      for v in 1 2 3 4 5 6 7 8 9; do
        printf "version-$v %.0s" $(seq 1 3000) > next.tmp
        mv -f next.tmp current
      done`);
    const r = await reader.done;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await ok(`head -c 10 ${b.mountpoint}/current`)).toBe("version-9 ");
  });

  it("four shells on two mounts append 1,000 lines each with >> to one file: 4,000 intact lines", async () => {
    const writers = [a, a, b, b].map((mount, w) => shBackground(`
      for i in $(seq 1 1000); do echo "writer-${w} line-$i end" >> ${mount.mountpoint}/log; done`));
    const results = await Promise.all(writers.map((x) => x.done));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const out = await ok(`cat ${a.mountpoint}/log`);
    const lines = out.split("\n").filter((l) => l.length > 0);
    expect(lines).toHaveLength(4000);
    for (const l of lines) expect(l).toMatch(/^writer-[0-3] line-\d+ end$/);
    expect(new Set(lines).size).toBe(4000);
    // Each writer's own lines stay in the order it wrote them.
    for (let w = 0; w < 4; w++) {
      const mine = lines.filter((l) => l.startsWith(`writer-${w} `)).map((l) => Number(/line-(\d+)/.exec(l)![1]));
      expect(mine).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    }
  });
});
