// Files that live on after unlink (issue 19), with real processes: a file
// unlinked, or replaced by a rename, while a descriptor has it open stays
// readable and writable through that descriptor until the last close, whether
// the unlink was made on the same mount or on another; fstat says nlink 0; no
// ".fuse_hidden" name shows; its chunks are freed only after the last close,
// or once the session of a mount that died has expired; and a master restart
// keeps it for the mount's session, which registers again.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import { eventually, TestCluster } from "./harness/cluster";
import { sh, TestMount } from "./harness/mount";

const CHUNK = 64 * 1024;
/** Short for the test, yet above the mount's renewal (1 s) plus gRPC's longest reconnect backoff (2 s) after a master restart. */
const SESSION_LEASE_MS = 3_000;

/**
 * A process holding descriptors on the mount, driven one call at a time (JSON lines): the test
 * unlinks, renames and restarts things between its calls, as another program would.
 */
const holderScript = String.raw`
import json, os, sys
for line in sys.stdin:
    c = json.loads(line)
    try:
        op = c["op"]
        if op == "open":
            r = {"fd": os.open(c["path"], os.O_RDWR)}
        elif op == "pread":
            r = {"data": os.pread(c["fd"], c["len"], c["off"]).decode("latin-1")}
        elif op == "pwrite":
            r = {"n": os.pwrite(c["fd"], c["data"].encode("latin-1"), c["off"])}
        elif op == "fsync":
            os.fsync(c["fd"]); r = {}
        elif op == "ftruncate":
            os.ftruncate(c["fd"], c["size"]); r = {}
        elif op == "fstat":
            s = os.fstat(c["fd"]); r = {"nlink": s.st_nlink, "size": s.st_size, "ino": s.st_ino}
        elif op == "close":
            os.close(c["fd"]); r = {}
        else:
            r = {"error": "EINVAL"}
    except OSError as e:
        import errno
        r = {"error": errno.errorcode.get(e.errno, str(e.errno))}
    print(json.dumps(r), flush=True)
`;

class Holder {
  private readonly p: ChildProcessWithoutNullStreams;
  private readonly answers: Array<(line: string) => void> = [];

  constructor() {
    this.p = spawn("python3", ["-c", holderScript]);
    createInterface({ input: this.p.stdout }).on("line", (l) => this.answers.shift()?.(l));
  }

  call(c: Record<string, unknown>): Promise<Record<string, any>> {
    return new Promise((resolve) => {
      this.answers.push((l) => resolve(JSON.parse(l)));
      this.p.stdin.write(JSON.stringify(c) + "\n");
    });
  }

  async open(path: string): Promise<number> {
    const r = await this.call({ op: "open", path });
    if (r.error) throw new Error(`open ${path}: ${r.error}`);
    return r.fd;
  }

  async read(fd: number, len = 1 << 16, off = 0): Promise<string> {
    const r = await this.call({ op: "pread", fd, len, off });
    if (r.error) throw new Error(`pread: ${r.error}`);
    return r.data;
  }

  stop(): void {
    this.p.kill("SIGKILL");
  }
}

/** Whether any chunkserver still stores chunk `handle` (a chunk file under its data dir's chunks/). */
async function stored(cluster: TestCluster, handle: string): Promise<boolean> {
  for (const s of cluster.chunkservers) {
    const names = await readdir(join(s.dataDir, "chunks")).catch(() => [] as string[]);
    if (names.includes(`${handle}.chunk`)) return true;
  }
  return false;
}

describe("files unlinked while open live on until the last close (real processes)", { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let a: TestMount;
  let b: TestMount;
  let client: GfsClient;
  let holder: Holder;

  beforeAll(async () => {
    cluster = await TestCluster.start({
      chunkservers: 2, replication: 2, chunkSizeBytes: CHUNK, leaseMs: 2_000, heartbeatMisses: 10,
      masterArgs: ["--session-lease-ms", String(SESSION_LEASE_MS)],
    });
    a = await TestMount.start(cluster, { name: "a" });
    b = await TestMount.start(cluster, { name: "b" });
    client = new GfsClient(cluster.clientOptions());
    holder = new Holder();
  });
  afterAll(async () => {
    holder?.stop();
    client?.close();
    await b?.stop();
    await a?.stop();
    await cluster?.stop();
  });

  const ok = async (script: string) => {
    const r = await sh(script);
    expect(r.code, `${script}\n${r.stderr}\nmount a: ${a.problems()}\nmount b: ${b.problems()}`).toBe(0);
    return r.stdout;
  };
  /** The handles of `path`'s chunks, as the master has them (by name). */
  const handlesOf = async (path: string) =>
    (await client.master.FindChunks({ path, offset: 0, length: 1 << 30, forWriting: false }, { timeoutMs: 10_000 })).chunks.map((c) => c.handle);

  it("a file unlinked on the same mount stays readable and writable through its descriptor; fstat says nlink 0; ls -a shows no .fuse_hidden name; the emptied directory can be removed", async () => {
    await ok(`mkdir ${a.path("d1")}; printf 'hello world' > ${a.path("d1", "f")}`);
    const fd = await holder.open(a.path("d1", "f"));
    await ok(`rm ${a.path("d1", "f")}`);
    expect((await ok(`ls -a ${a.path("d1")}`)).trim().split("\n")).toEqual([".", ".."]);
    expect(await holder.read(fd)).toBe("hello world");
    expect((await holder.call({ op: "pwrite", fd, off: 6, data: "there, everyone" })).n).toBe(15);
    expect(await holder.call({ op: "fsync", fd })).toEqual({});
    expect(await holder.read(fd)).toBe("hello there, everyone");
    expect(await holder.call({ op: "fstat", fd })).toMatchObject({ nlink: 0, size: 21 });
    await ok(`rmdir ${a.path("d1")}`);
    expect(await holder.call({ op: "close", fd })).toEqual({});
    expect((await ok(`ls -a ${a.path()}`)).includes(".fuse_hidden")).toBe(false);
  });

  it("unlinking one of two names of an open file leaves it one link: fstat through the descriptor and stat of the other name say nlink 1", async () => {
    await ok(`printf linked > ${a.path("l1")}; ln ${a.path("l1")} ${a.path("l2")}`);
    const fd = await holder.open(a.path("l1"));
    await ok(`rm ${a.path("l1")}`);
    expect(await holder.call({ op: "fstat", fd })).toMatchObject({ nlink: 1, size: 6 });
    expect((await ok(`stat --cached=never -c %h ${a.path("l2")}`)).trim()).toBe("1");
    expect(await holder.read(fd)).toBe("linked");
    expect(await holder.call({ op: "close", fd })).toEqual({});
    expect(await ok(`cat ${a.path("l2")}`)).toBe("linked");
  });

  it("a rename over a name whose file has another name changes that file's ctime and nlink as its other name shows them; so does renaming a file with another name", async () => {
    await ok(`printf x > ${a.path("o1")}; ln ${a.path("o1")} ${a.path("o2")}; printf y > ${a.path("n1")}; ln ${a.path("n1")} ${a.path("n2")}`);
    const before = (await ok(`stat --cached=never -c '%h %Z.%z' ${a.path("o2")} ${a.path("n2")}`)).trim().split("\n");
    await new Promise((r) => setTimeout(r, 20));
    await ok(`mv ${a.path("n1")} ${a.path("o1")}`);
    const after = (await ok(`stat --cached=never -c '%h %Z.%z' ${a.path("o2")} ${a.path("n2")}`)).trim().split("\n");
    expect(after[0]!.split(" ")[0]).toBe("1");
    expect(after[0]).not.toBe(before[0]);
    expect(after[1]!.split(" ")[0]).toBe("2");
    expect(after[1]).not.toBe(before[1]);
  });

  it("bytes written through a descriptor of one name and not yet flushed show in the size and contents of the file's other names", async () => {
    await ok(`printf 12 > ${a.path("w1")}; ln ${a.path("w1")} ${a.path("w2")}`);
    const fd = await holder.open(a.path("w1"));
    expect((await holder.call({ op: "pwrite", fd, off: 2, data: "345678" })).n).toBe(6);
    expect((await ok(`stat --cached=never -c %s ${a.path("w2")}`)).trim()).toBe("8");
    expect(await ok(`cat ${a.path("w2")}`)).toBe("12345678");
    expect(await holder.call({ op: "close", fd })).toEqual({});
  });

  it("a file unlinked on another mount stays readable and writable through a descriptor open on this one", async () => {
    await ok(`printf 'from a' > ${a.path("g")}`);
    const fd = await holder.open(b.path("g"));
    await ok(`rm ${a.path("g")}`);
    await expect(sh(`cat ${b.path("g")}`)).resolves.toMatchObject({ code: 1 });
    expect(await holder.read(fd)).toBe("from a");
    expect((await holder.call({ op: "pwrite", fd, off: 6, data: " and b" })).n).toBe(6);
    expect(await holder.call({ op: "ftruncate", fd, size: 10 })).toEqual({});
    expect(await holder.read(fd)).toBe("from a and");
    expect(await holder.call({ op: "close", fd })).toEqual({});
  });

  it("a file replaced by a rename while open keeps its contents for its descriptor, here and on another mount", async () => {
    await ok(`printf old > ${a.path("r")}`);
    const here = await holder.open(a.path("r"));
    const there = await holder.open(b.path("r"));
    await ok(`printf new > ${a.path("r.tmp")}; mv ${a.path("r.tmp")} ${a.path("r")}`);
    expect(await holder.read(here)).toBe("old");
    expect(await holder.read(there)).toBe("old");
    expect(await ok(`cat ${a.path("r")}; cat ${b.path("r")}`)).toBe("newnew");
    expect((await ok(`ls -a ${a.path()}`)).includes(".fuse_hidden")).toBe(false);
    await holder.call({ op: "close", fd: here });
    await holder.call({ op: "close", fd: there });
  });

  it("the chunks of a file unlinked while open are freed after its last close, not before", async () => {
    await ok(`head -c ${CHUNK + 100} /dev/urandom > ${a.path("big")}`);
    const handles = await handlesOf("/big");
    expect(handles).toHaveLength(2);
    const fd = await holder.open(a.path("big"));
    const second = await holder.open(b.path("big"));
    await ok(`rm ${a.path("big")}`);
    await new Promise((r) => setTimeout(r, 1_000)); // past several heartbeats (200 ms) that would carry deletions
    for (const h of handles) expect(await stored(cluster, h)).toBe(true);
    await holder.call({ op: "close", fd });
    await new Promise((r) => setTimeout(r, 1_000)); // still open on mount b
    for (const h of handles) expect(await stored(cluster, h)).toBe(true);
    expect((await holder.read(second, 10, CHUNK)).length).toBe(10);
    await holder.call({ op: "close", fd: second });
    for (const h of handles) await eventually(async () => !(await stored(cluster, h)), 10_000, `chunk ${h} deleted after the last close`);
  });

  it("an orphan survives a master restart while open (the mount's session registers again) and is reclaimed after its last close", async () => {
    await ok(`printf 'survivor' > ${a.path("s")}`);
    const [handle] = await handlesOf("/s");
    const fd = await holder.open(a.path("s"));
    await ok(`rm ${a.path("s")}`);
    const address = cluster.masterAddress;
    cluster.master.proc.kill("SIGKILL");
    await cluster.master.exited;
    await cluster.startMaster(address);
    // Past the new master's grace (one session lease), when it reclaims orphans no session claimed.
    await new Promise((r) => setTimeout(r, SESSION_LEASE_MS + 1_000));
    expect(await stored(cluster, handle!)).toBe(true);
    expect(await holder.read(fd)).toBe("survivor");
    await holder.call({ op: "close", fd });
    await eventually(async () => !(await stored(cluster, handle!)), 10_000, "orphan's chunk deleted after the last close");
  });

  it("the chunks of a file held open only by a mount that was killed are freed once its session lease runs out", async () => {
    await ok(`printf 'held by b' > ${a.path("k")}`);
    const [handle] = await handlesOf("/k");
    const fd = await holder.open(b.path("k"));
    expect(await holder.read(fd)).toBe("held by b");
    await ok(`rm ${a.path("k")}`);
    await new Promise((r) => setTimeout(r, 600));
    expect(await stored(cluster, handle!)).toBe(true);
    b.process.proc.kill("SIGKILL");
    await b.process.exited;
    await eventually(async () => !(await stored(cluster, handle!)), SESSION_LEASE_MS + 10_000, "chunk freed after the dead mount's session expired");
  });
});
