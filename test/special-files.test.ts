// Hard links and special files through gfs-mount, made with the ordinary
// tools and system calls: link(2), mkfifo, mknod (devices, regular files),
// bind(2) of a unix socket. The master stores special files as metadata; the
// kernel does their I/O (a FIFO's pipe, a socket's connections), so they work
// as on a local file system that stores them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import { TestCluster } from "./harness/cluster";
import { sh, TestMount } from "./harness/mount";

const bob = { uid: 1001, gid: 1001 };

describe("hard links and special files on the mount", { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let mount: TestMount;
  let m: string;
  let client: GfsClient;

  beforeAll(async () => {
    cluster = await TestCluster.start({ chunkservers: 1, replication: 1, chunkSizeBytes: 64 * 1024, heartbeatMisses: 10 });
    mount = await TestMount.start(cluster, { args: ["-o", "allow_other"], public: true });
    m = mount.mountpoint;
    client = new GfsClient(cluster.clientOptions());
    await ok(`chmod 777 ${m}`);
  });
  afterAll(async () => {
    client?.close();
    await mount?.stop();
    await cluster?.stop();
  });

  async function ok(script: string, o: Parameters<typeof sh>[1] = {}): Promise<string> {
    const r = await sh(script, o);
    expect(r.code, `${script}\n${r.stderr}\nthe mount's warnings and errors:\n${mount.problems()}`).toBe(0);
    return r.stdout;
  }
  const py = async (program: string, o: Parameters<typeof sh>[1] = {}): Promise<any> =>
    JSON.parse(await ok(`cd ${m}; /usr/bin/python3 - <<'PY'\nimport os, json, errno, socket, stat as S\n${program}\nPY`, o));

  it("ln gives a file a second name: one inode number, nlink 2 on both names, the same bytes; rm of one name leaves the other whole", async () => {
    // The name not used in the call is asked past the kernel's copy (--cached=never): the kernel keeps an
    // inode per name under libfuse 2's path API and drops only the used name's attributes (README).
    const out = await ok(`cd ${m}; echo shared > a; ln a b; stat --cached=never -c '%i %h' a; stat -c '%i %h' b; echo more >> b; cat a
      rm a; stat --cached=never -c '%h' b; cat b`);
    const [ia, ib, ...rest] = out.trim().split("\n");
    expect(ia).toMatch(/^\d+ 2$/);
    expect(ib).toBe(ia);
    expect(rest).toEqual(["shared", "more", "1", "shared", "more"]);
    // The inode number is the master's id of the file, the same from any mount (use_ino).
    const info = await client.stat("/b");
    expect(Number(ia!.split(" ")[0])).toBe(info.id);
  });

  it("link(2) of a directory is EPERM, onto an existing name EEXIST, of a missing file ENOENT", async () => {
    expect(await py(`
os.mkdir("ld"); open("lf", "w").close(); open("lg", "w").close()
out = []
for a, b in [("ld", "ld2"), ("lf", "lg"), ("missing", "x")]:
    try: os.link(a, b); out.append("ok")
    except OSError as e: out.append(errno.errorcode[e.errno])
print(json.dumps(out))`)).toEqual(["EPERM", "EEXIST", "ENOENT"]);
  });

  it("mkfifo makes a FIFO (type p, its mode) through which a writer and a reader on the mount pass data", async () => {
    const out = await ok(`cd ${m}; mkfifo -m 640 fifo; stat -c '%F %a %s' fifo
      (echo through the pipe > fifo) & cat fifo; wait`);
    expect(out).toBe("fifo 640 0\nthrough the pipe\n");
  });

  it("mknod of character and block devices (root) keeps type, mode and major:minor; another user's is EPERM; the mount's default nodev refuses to open one", async () => {
    const out = await ok(`cd ${m}; mknod -m 620 cdev c 1 3; mknod -m 660 bdev b 7 200; stat -c '%F %a %t:%T' cdev bdev
      ls -l cdev | cut -d' ' -f1,5,6
      if cat cdev 2>err; then echo opened; else sed 's/.*: //' err; fi`);
    expect(out).toBe("character special file 620 1:3\nblock special file 660 7:c8\ncrw--w---- 1, 3\nPermission denied\n");
    const r = await sh(`cd ${m}; mknod nope c 1 3`, { asUser: bob });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Operation not permitted/);
  });

  it("mknod of a regular file makes an empty file with its mode, and of an existing name is EEXIST", async () => {
    expect(await py(`
os.mknod("reg", S.S_IFREG | 0o640)
s = os.stat("reg")
try: os.mknod("reg", S.S_IFIFO | 0o600); again = "ok"
except OSError as e: again = errno.errorcode[e.errno]
print(json.dumps([S.S_ISREG(s.st_mode), oct(S.S_IMODE(s.st_mode)), s.st_size, again]))`)).toEqual([true, "0o640", 0, "EEXIST"]);
  });

  it("a unix socket bound at a path on the mount is a socket (type s) that a client connects to through that path, as another user too", async () => {
    expect(await py(`
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind("sock"); os.chmod("sock", 0o777); srv.listen(1)
pid = os.fork()
if pid == 0:
    os.setgid(1001); os.setuid(1001)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.connect("sock"); c.sendall(b"hello"); c.close(); os._exit(0)
conn, _ = srv.accept(); got = conn.recv(100); os.waitpid(pid, 0)
print(json.dumps([S.S_ISSOCK(os.stat("sock").st_mode), got.decode()]))`)).toEqual([true, "hello"]);
  });

  it("special files and links show in ls -l with their types, and rm removes them", async () => {
    const out = await ok(`cd ${m}; mkdir sp; mkfifo sp/p; mknod sp/c c 4 5; touch sp/f; ln sp/f sp/g; ls -l sp | tail -n +2 | cut -c1
      rm sp/p sp/c sp/f sp/g; rmdir sp && echo gone`);
    expect(out).toBe("c\n-\n-\np\ngone\n");
  });
});
