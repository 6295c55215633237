// Issue 20 (snapshot lane): `gfs snapshot` (GFS 3.4) on real processes: a snapshot taken while
// another client writes holds each file as of the snapshot; copy-on-write happens on the
// chunkservers' own disks (no bytes over the network beyond the new write's own); deleting both
// trees reclaims every chunk; the state survives a master restart (op log and checkpoint); the
// CLI's refusals; a write through the mount after a snapshot.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, writeFile } from "node:fs/promises";
import { ChunkServerPool } from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { eventually, holders, TestCluster } from "./harness/cluster";
import { TestMount } from "./harness/mount";

const CHUNK = 256 * 1024;
const REGION = 64 * 1024; // what the concurrent writer rewrites each time, in one mutation
const F2 = "second file, never written again\n";

/** lastSeq of every "checkpoint written" line of a master's log. */
const checkpointsWritten = (log: string): number[] =>
  log.split("\n").filter((l) => l.includes('"checkpoint written"')).map((l) => Number((JSON.parse(l) as { lastSeq: number }).lastSeq));

describe("snapshots (GFS 3.4)", () => {
  let c: TestCluster;
  let client: GfsClient;
  let pool: ChunkServerPool;

  beforeAll(async () => {
    c = await TestCluster.start({ chunkservers: 3, replication: 3, chunkSizeBytes: CHUNK, heartbeatMisses: 10, leaseMs: 5_000 });
    client = new GfsClient({ ...c.clientOptions(), rpc_deadline_ms: 5_000 });
    pool = new ChunkServerPool({ security: client.security });
  }, 30_000);

  afterAll(async () => {
    client?.close();
    pool?.close();
    await c?.stop();
  });

  const put = async (path: string, data: Buffer) => {
    await client.create(path, { forWriting: true });
    await client.write(path, 0, data);
  };
  const read = async (path: string) => client.read(path, 0, Number((await client.stat(path)).size));
  const handlesOf = async (path: string) => {
    const r = await client.master.FindChunks({ path, offset: 0, length: 1 << 30, forWriting: false }, { timeoutMs: 5_000 });
    return r.chunks.map((x) => x.handle).filter(Boolean);
  };
  const stats = () => Promise.all(c.chunkservers.map((cs) => pool.get({ address: cs.address, serverId: cs.serverId }).api.Stats({}, { timeoutMs: 5_000 })));
  const replicatedLines = () => c.chunkservers.reduce((n, cs) => n + (cs.process.log().match(/replicated chunk/g)?.length ?? 0), 0);
  const snapshot = async (from: string, to: string) => {
    const r = await c.gfs(["snapshot", from, to, "--json"]);
    if (r.code !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout) as { nodes: number; chunks: number; leasesRevoked: number; durationUs: number };
  };

  it("a snapshot taken while another client writes holds each file as of the snapshot; later writes do not reach it; both trees read back exactly", async () => {
    await client.mkdir("/w");
    const tail = Buffer.alloc(CHUNK + 1000, 0x5a); // f1: two chunks; the writer rewrites the first REGION bytes
    await put("/w/f1", Buffer.concat([Buffer.alloc(REGION, 0), tail.subarray(REGION)]));
    await put("/w/f2", Buffer.from(F2));
    const writer = new GfsClient({ ...c.clientOptions(), rpc_deadline_ms: 5_000 });
    let round = 0;
    let stop = false;
    let written = 0;
    const loop = (async () => {
      while (!stop) {
        round++;
        await writer.write("/w/f1", 0, Buffer.alloc(REGION, round));
        written = round;
      }
    })();
    try {
      await eventually(async () => written >= 3, 10_000, "the writer under way");
      const r = await snapshot("/w", "/s");
      expect(r).toMatchObject({ nodes: 3, chunks: 3 });
      const atSnapshot = written;
      await eventually(async () => written >= atSnapshot + 3, 15_000, "writes after the snapshot (copied on write)");
    } finally {
      stop = true;
      await loop;
      writer.close();
    }
    const last = written;
    const snap = await read("/s/f1");
    const src = await read("/w/f1");
    // Each file as of one moment: one whole write (never torn), older than the writes that followed.
    const held = snap[0]!;
    expect(snap.subarray(0, REGION).equals(Buffer.alloc(REGION, held))).toBe(true);
    expect(held).toBeLessThan(last);
    expect(snap.subarray(REGION).equals(tail.subarray(REGION))).toBe(true);
    expect(src.subarray(0, REGION).equals(Buffer.alloc(REGION, last))).toBe(true);
    expect(src.subarray(REGION).equals(tail.subarray(REGION))).toBe(true);
    expect((await read("/s/f2")).toString()).toBe(F2);
    // The written chunk was copied for the source; the untouched one is still shared.
    const [w0, w1] = await handlesOf("/w/f1");
    const [s0, s1] = await handlesOf("/s/f1");
    expect(w0).not.toBe(s0);
    expect(w1).toBe(s1);
  }, 40_000);

  it("copy-on-write moves no chunk bytes over the network: local copies on every replica, pushes only of the new write", async () => {
    const before = await stats();
    const replicatedBefore = replicatedLines();
    const [shared] = await handlesOf("/w/f2");
    const data = Buffer.alloc(300 * 1024, 7); // above the inline limit: pushed (counted), and past the chunk: a new chunk too
    await client.write("/w/f2", 0, data);
    const after = await stats();
    const delta = (k: "pushBytesReceived" | "localCopies" | "localCopyBytes" | "bytesRead") =>
      after.reduce((n, s, i) => n + Number(s[k]) - Number(before[i]![k]), 0);
    expect(delta("localCopies")).toBe(3); // one copy per replica of the shared chunk
    expect(delta("localCopyBytes")).toBe(3 * Buffer.byteLength(F2)); // its bytes, on each
    expect(delta("pushBytesReceived")).toBeLessThanOrEqual(3 * data.length); // the write's own bytes, to each replica
    expect(delta("bytesRead")).toBe(0);
    expect(replicatedLines()).toBe(replicatedBefore); // no re-replication copy either
    const [mine] = await handlesOf("/w/f2");
    expect(mine).not.toBe(shared);
    expect((await holders(c, mine!)).length).toBe(3);
    expect((await read("/s/f2")).toString()).toBe(F2);
    expect((await read("/w/f2")).equals(data)).toBe(true);
  }, 30_000);

  it("a write through the mount after a snapshot goes to a copy; the snapshot keeps the old bytes", async () => {
    await put("/w/m", Buffer.from("before the snapshot\n"));
    await snapshot("/w/m", "/m-snap");
    const m = await TestMount.start(c);
    try {
      await writeFile(m.path("w", "m"), "after the snapshot, through the mount\n");
      expect(await readFile(m.path("w", "m"), "utf8")).toBe("after the snapshot, through the mount\n");
      expect(await readFile(m.path("m-snap"), "utf8")).toBe("before the snapshot\n");
    } finally {
      await m.stop();
    }
    expect((await read("/m-snap")).toString()).toBe("before the snapshot\n");
  }, 30_000);

  it("truncate and record append of a shared file copy the chunk they cut or append to; the snapshot keeps its bytes", async () => {
    const body = Buffer.alloc(CHUNK + 5000, 6);
    await put("/t", body);
    await put("/ap", Buffer.from("first record\n"));
    await snapshot("/t", "/t-snap");
    await snapshot("/ap", "/ap-snap");
    await client.truncate("/t", 1000); // cuts inside chunk 0 (a mutation through a lease) and drops chunk 1's reference
    await client.truncate("/t", 3000); // grows again: the cut bytes read as zeros
    const grown = Buffer.alloc(3000, 0);
    body.copy(grown, 0, 0, 1000);
    expect((await read("/t")).equals(grown)).toBe(true);
    expect((await read("/t-snap")).equals(body)).toBe(true);
    expect(await client.append("/ap", Buffer.from("second record\n"))).toBe(13);
    expect((await read("/ap")).toString()).toBe("first record\nsecond record\n");
    expect((await read("/ap-snap")).toString()).toBe("first record\n");
  }, 30_000);

  it("two writers of a shared chunk at once both land in the source (one copy-on-write); the snapshot's bytes stay unchanged", async () => {
    const body = Buffer.alloc(20_000, 1);
    await put("/cw", body);
    await snapshot("/cw", "/cw-snap");
    const writers = [0, 1].map(() => new GfsClient({ ...c.clientOptions(), rpc_deadline_ms: 5_000 }));
    try {
      for (const w of writers) expect((await w.read("/cw", 0, 10)).equals(body.subarray(0, 10))).toBe(true); // both cache the shared handle
      await Promise.all(writers.map((w, i) => w.write("/cw", i * 10_000, Buffer.alloc(5_000, 0x61 + i))));
    } finally {
      for (const w of writers) w.close();
    }
    const want = Buffer.from(body);
    want.fill(0x61, 0, 5_000);
    want.fill(0x62, 10_000, 15_000);
    expect((await read("/cw")).equals(want)).toBe(true);
    expect((await read("/cw-snap")).equals(body)).toBe(true);
    expect((await handlesOf("/cw"))[0]).not.toBe((await handlesOf("/cw-snap"))[0]);
  }, 30_000);

  it("snapshot state survives a master restart from its op log and from a checkpoint", async () => {
    await client.mkdir("/d");
    await put("/d/a", Buffer.alloc(CHUNK + 10, 3));
    await snapshot("/d", "/d-snap");
    const restart = (extra: string[]) => c.restartMaster(extra);
    await restart([]);
    // Replayed: still shared, so a write to the copy copies on write and the source keeps its bytes.
    await eventually(() => client.write("/d-snap/a", 0, Buffer.alloc(100, 9)).then(() => true), 20_000, "a write after an op-log replay");
    expect((await read("/d/a")).equals(Buffer.alloc(CHUNK + 10, 3))).toBe(true);
    const [a0, a1] = await handlesOf("/d/a");
    const [s0, s1] = await handlesOf("/d-snap/a");
    expect(s0).not.toBe(a0);
    expect(s1).toBe(a1);
    // A checkpoint after every record: the restart starts from one that holds the shared chunk (a repeated handle).
    const before = await restart(["--checkpoint-every-records", "1"]);
    await eventually(() => snapshot("/d", "/d-snap2").then(() => true), 20_000, "a snapshot after the restart");
    const snapSeq = Number(before.lastSeq) + 1; // the first record after that restart
    await eventually(async () => checkpointsWritten(c.master.log()).some((seq) => seq >= snapSeq), 15_000, "a checkpoint covering the snapshot");
    const args = c.options.masterArgs;
    args.splice(args.indexOf("--checkpoint-every-records"), 2); // the checkpoint is written: the later tests need no checkpoint per record
    const rec = await restart([]);
    expect(Number(rec.checkpointSeq)).toBeGreaterThanOrEqual(snapSeq); // recovered from a checkpoint holding the shared chunks
    await eventually(() => client.write("/d/a", CHUNK, Buffer.alloc(10, 4)).then(() => true), 20_000, "a write after a checkpoint");
    const expected = Buffer.alloc(CHUNK + 10, 3);
    expect((await read("/d-snap2/a")).equals(expected)).toBe(true);
    expected.fill(4, CHUNK);
    expect((await read("/d/a")).equals(expected)).toBe(true);
    const snapped = Buffer.alloc(CHUNK + 10, 3);
    snapped.fill(9, 0, 100);
    expect((await read("/d-snap/a")).equals(snapped)).toBe(true);
  }, 60_000);

  it("deleting the source and the snapshots reclaims every chunk of both trees", async () => {
    const all = new Set<string>();
    for (const p of ["/w/f1", "/w/f2", "/s/f1", "/s/f2", "/d/a", "/d-snap/a", "/d-snap2/a", "/t", "/t-snap", "/ap", "/ap-snap", "/cw", "/cw-snap"]) for (const h of await handlesOf(p)) all.add(h);
    expect(all.size).toBeGreaterThan(4);
    // One CLI process for the first tree (the user's path), the in-process client for the rest: a CLI start costs ~2 s on a loaded host.
    expect((await c.gfs(["rm", "-r", "/w"])).stderr).toBe("");
    for (const p of ["/s", "/d", "/d-snap", "/d-snap2", "/t", "/t-snap", "/ap", "/ap-snap", "/cw", "/cw-snap"]) await client.remove(p, { recursive: true });
    await eventually(async () => {
      for (const h of all) if ((await holders(c, h)).length > 0) return false;
      return true;
    }, 40_000, "every chunk of both trees deleted on the chunkservers");
  }, 60_000);

  it("the CLI refuses an existing DST (EEXIST), DST inside SRC (EINVAL) and another user's tree (EACCES)", async () => {
    await client.mkdir("/r");
    await client.mkdir("/r/in");
    await client.mkdir("/pub", { mode: 0o777 });
    const exists = await c.gfs(["snapshot", "/r", "/pub"]);
    expect([exists.code, exists.stderr]).toEqual([1, expect.stringContaining("EEXIST")]);
    const inside = await c.gfs(["snapshot", "/r", "/r/in/copy"]);
    expect([inside.code, inside.stderr]).toEqual([1, expect.stringContaining("EINVAL")]);
    const alice = { tlsDir: await c.issue("user", "alice", { uid: 4100, gids: [4100] }), asUser: { uid: 4100, gid: 4100 } };
    const denied = await c.gfs(["snapshot", "/r", "/pub/r-copy"], undefined, alice);
    expect([denied.code, denied.stderr]).toEqual([1, expect.stringContaining("does not own every node")]);
    // Her own tree she may snapshot, into a directory she may write.
    expect((await c.gfs(["mkdir", "/pub/mine"], undefined, alice)).stderr).toBe("");
    const own = await c.gfs(["snapshot", "/pub/mine", "/pub/mine-copy"], undefined, alice);
    expect([own.code, own.stderr]).toEqual([0, ""]);
    expect(own.stdout).toMatch(/^\/pub\/mine-copy: snapshot of \/pub\/mine, 1 node, 0 shared chunks/);
  }, 30_000);
});
