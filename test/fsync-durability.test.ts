// fsync with a real sync (issue 15): a SYNC mutation makes a chunk's applied
// writes durable on every replica, and fsync through the mount returns only
// once that is done and the size covering the data is recorded at the master.
// Real processes: data fsync'd (and not yet closed) survives every
// chunkserver being SIGKILLed and restarted; a SYNC with a forged token, a
// stale version or at a server that is not the primary is refused.
import { randomBytes } from "node:crypto";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ChunkServerPool, fromServiceError, signChunkToken, writeInline } from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { eventually, TestCluster } from "./harness/cluster";
import { sh, shBackground, TestMount } from "./harness/mount";

const MiB = 1024 * 1024;

let cluster: TestCluster | undefined;
let mount: TestMount | undefined;
const clients: GfsClient[] = [];
const pools: ChunkServerPool[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const p of pools.splice(0)) p.close();
  await mount?.stop();
  mount = undefined;
  await cluster?.stop();
  cluster = undefined;
});

const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => "ok", (e) => fromServiceError(e).message);

describe("fsync durability (real processes)", { timeout: 240_000 }, () => {
  it("writes fsync'd through the mount, file still open, survive every chunkserver being SIGKILLed and restarted; the size was recorded by the fsync", async () => {
    cluster = await TestCluster.start({ chunkSizeBytes: MiB });
    mount = await TestMount.start(cluster);
    const client = new GfsClient(cluster.clientOptions());
    clients.push(client);
    const local = join(cluster.dir, "local");
    const f = mount.path("synced.bin");
    // Overwrites in chunks 0 and 2 (inside the size: no master call until close) and one that extends the
    // file; then fsync, and the file stays open while the chunkservers die.
    const script = `
import os, sys, time
f, local = sys.argv[1], sys.argv[2]
data = bytearray(os.urandom(3 * 1048576 + 100))
with open(f, "wb") as w: w.write(data)
fd = os.open(f, os.O_RDWR)
for off in (100, 2 * 1048576 + 5, len(data) - 50):
    b = os.urandom(4096)
    os.pwrite(fd, b, off)
    data[off:off + len(b)] = b if off + len(b) <= len(data) else b[:len(data) - off]
    if off + len(b) > len(data): data += b[len(data) - off:]
os.fsync(fd)
open(local + "/synced", "w").write(str(len(data)))
t = time.time()
while not os.path.exists(local + "/go"):
    if time.time() - t > 180: sys.exit("never told to go on")
    time.sleep(0.05)
got, t = None, time.time()
while time.time() - t < 90:
    try:
        r = os.open(f, os.O_RDONLY)
        got = b"".join(iter(lambda: os.read(r, 1 << 20), b""))
        os.close(r)
        if got == bytes(data): break
    except OSError as e:
        print("retry:", e, file=sys.stderr)
    time.sleep(0.5)
print("match" if got == bytes(data) else "differ %s of %d" % (None if got is None else len(got), len(data)))
os.close(fd)
`;
    await sh(`mkdir -p ${local} && cat > ${local}/w.py <<'PY'\n${script}\nPY`);
    const writer = shBackground(`python3 ${local}/w.py ${f} ${local}`);
    let exited: string | undefined;
    void writer.done.then((r) => { exited = `writer exited ${r.code}: ${r.stdout} ${r.stderr}`; });
    const size = await eventually(async () => {
      // The writer failed before its fsync: say why, with what the mount logged.
      if (exited) throw new Error(`${exited}\n${mount!.process.log().split("\n").filter((l) => /"(warn|error)"/.test(l)).slice(-8).join("\n")}`);
      try {
        await access(join(local, "synced"));
      } catch {
        return undefined;
      }
      return Number((await sh(`cat ${local}/synced`)).stdout);
    }, 120_000, "the writer's fsync");
    expect(size).toBe(3 * MiB + 100 + 4046);
    // fsync returned: the master already records the size that covers the extending write.
    expect(Number((await client.stat("/synced.bin")).size)).toBe(size);
    await Promise.all(cluster.chunkservers.map((cs) => cluster!.kill(cs.index, "SIGKILL")));
    for (const cs of cluster.chunkservers) await cluster.startChunkserver(cs.index);
    await sh(`touch ${local}/go`);
    const res = await writer.done;
    expect(res.stdout.trim(), res.stderr).toBe("match");
    expect(res.code).toBe(0);
  });

  it("a SYNC is refused with a forged or read token, at a stale version and at a replica that is not the primary; the real one is answered", async () => {
    // A long lease: the refusals below are about the request, never about a lease that ran out on a slow machine.
    cluster = await TestCluster.start({ chunkSizeBytes: MiB, leaseMs: 60_000 });
    const client = new GfsClient(cluster.clientOptions());
    clients.push(client);
    const pool = new ChunkServerPool();
    pools.push(pool);
    await client.create("/s.bin");
    await client.write("/s.bin", 0, randomBytes(10_000));
    const loc = (await client.master.FindChunks({ path: "/s.bin", offset: 0, length: 1 })).chunks[0]!;
    const lease = await client.master.GetLease({ handle: loc.handle, path: "/s.bin" });
    const primary = pool.get(lease.primary!.address);
    const sync = (o: { token?: string; version?: number; at?: typeof primary } = {}) => outcome(writeInline(o.at ?? primary, {
      handle: loc.handle, version: o.version ?? lease.version, kind: "MUTATION_KIND_SYNC", offset: 0, length: 0,
      secondaries: lease.secondaries, token: o.token ?? lease.token,
    }, Buffer.alloc(0), 10_000));
    const [, id, expires] = lease.token.split(".");
    const forged = signChunkToken({ id: Number(id), key: randomBytes(32) }, [loc.handle], "write", Number(expires));
    expect(await sync({ token: forged })).toMatch(/^EACCES: .*bad signature/);
    expect(await sync({ token: loc.token })).toMatch(/^EACCES: .*allows reads only/);
    expect(await sync({ version: lease.version - 1 })).toMatch(/^ESTALE: /);
    expect(await sync({ at: pool.get(lease.secondaries[0]!.address) })).toMatch(/^ESTALE: not primary/);
    expect(await sync()).toBe("ok");
    // Through the client: the SYNC of a chunk, and of a hole (nothing to do).
    await client.sync("/s.bin", 0);
    await client.sync("/s.bin", 5);
  });
});
