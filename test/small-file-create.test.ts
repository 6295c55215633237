// Issue 15, the small-file create path with real processes: CreateForWriting
// hands a new file its first chunk (a spare, created ahead with its first
// lease) in ONE op-log record (createWithChunk). The file must be complete on
// another client, survive a master restart between the create and the write,
// and the lease given with it must obey the version rules like any other.
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import { eventually, fsck, TestCluster, type ClusterOptions } from "./harness/cluster";

const KiB = 1024;

let cluster: TestCluster | undefined;
const clients: GfsClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await cluster?.stop();
  cluster = undefined;
});

async function start(o: ClusterOptions = {}): Promise<{ c: TestCluster; a: GfsClient; b: GfsClient }> {
  cluster = await TestCluster.start({ chunkservers: 3, chunkSizeBytes: 1024 * KiB, heartbeatIntervalMs: 200, leaseMs: 5_000, ...o });
  const a = new GfsClient({ master: cluster.masterAddress, rpc_deadline_ms: 3_000 });
  const b = new GfsClient({ master: cluster.masterAddress, rpc_deadline_ms: 3_000 });
  clients.push(a, b);
  return { c: cluster, a, b };
}

/**
 * Creates `path` for writing once spares are ready (the first allocation of a cluster makes them): retried on a
 * fresh name until the answer carries a chunk. Returns the path used and the op-log records its create cost.
 */
async function createWithSpare(client: GfsClient, dir: string): Promise<{ path: string; records: number }> {
  let n = 0;
  return eventually(async () => {
    const path = `${dir}/f${n++}`;
    const before = await client.status();
    const info = await client.create(path, { forWriting: true, exclusive: true });
    const after = await client.status();
    return info.chunkCount === 1 ? { path, records: after.opLogRecords - before.opLogRecords } : undefined;
  }, 10_000, "a create answered with a spare chunk");
}

describe("small-file create path (real processes)", () => {
  it("a file created with its first chunk in one record and written by one client is complete and correct on another", async () => {
    const { c, a, b } = await start();
    await a.mkdir("/small");
    await a.create("/small/warm");
    await a.write("/small/warm", 0, Buffer.from("x")); // the first allocation: spares are made behind it
    const { path, records } = await createWithSpare(a, "/small");
    expect(records).toBe(1); // file and chunk 0 in one createWithChunk record
    const data = randomBytes(4 * KiB);
    await a.write(path, 0, data);
    expect((await b.stat(path)).size).toBe(data.length);
    expect((await b.read(path, 0, data.length)).equals(data)).toBe(true);
    const file = (await fsck(c, path)).files[0]!;
    expect(file.chunks).toHaveLength(1);
    expect(file.chunks[0]!.replicas.filter((r) => r.alive && !r.stale && r.version === file.chunks[0]!.version)).toHaveLength(3);
  });

  it("the create survives a master restart before the write: the chunk is the file's (not an orphan) and the write lands whole", async () => {
    const { c, a, b } = await start();
    await a.mkdir("/r");
    await a.create("/r/warm");
    await a.write("/r/warm", 0, Buffer.from("x"));
    const { path } = await createWithSpare(a, "/r");
    const handle = (await fsck(c, path)).files[0]!.chunks[0]!.handle;

    const address = c.masterAddress;
    c.master.proc.kill("SIGKILL");
    await c.master.exited;
    await c.startMaster(address);
    await c.master.waitForLog("master recovered");

    // The writer still holds the lease the create gave it (its primary does too): the data goes to the
    // chunkservers and the size to the restarted master, which kept the file's chunk from the log.
    const data = randomBytes(4 * KiB);
    await a.write(path, 0, data);
    expect((await b.read(path, 0, data.length)).equals(data)).toBe(true);
    expect((await fsck(c, path)).files[0]!.chunks[0]!.handle).toBe(handle);
    await eventually(async () => {
      const ch = (await fsck(c, path)).files[0]!.chunks[0]!;
      return ch.handle === handle && ch.replicas.filter((r) => r.alive && !r.stale && r.version === ch.version).length === 3;
    }, 10_000, "three current replicas of the created chunk after the restart");
    expect(c.master.log()).not.toMatch(new RegExp(`"msg":"[^"]*orphan[^"]*"[^\\n]*${handle}`));
  });

  it("the lease handed out on create is version 1 on every replica; a replica that misses the next grant is stale and never served", async () => {
    // A fourth server: the chunk is copied there, so a grant can again name `replication` replicas.
    const { c, a, b } = await start({ chunkservers: 4, leaseMs: 1_000 });
    await a.mkdir("/v");
    await a.create("/v/warm");
    await a.write("/v/warm", 0, Buffer.from("x"));
    const { path } = await createWithSpare(a, "/v");
    const created = (await fsck(c, path)).files[0]!.chunks[0]!;
    expect(created.version).toBe(1);
    expect(created.replicas.map((r) => r.version)).toEqual([1, 1, 1]);
    const first = randomBytes(4 * KiB);
    await a.write(path, 0, first);

    // One replica's server goes down; once the create's lease has run out, the next write needs a new grant
    // (above version 1) on the two left and the copy on the fourth. The replica that missed it stays at 1: stale.
    const down = c.chunkservers.find((cs) => cs.serverId === created.replicas[0]!.serverId)!;
    await c.kill(down.index);
    await new Promise((r) => setTimeout(r, 1_500));
    const second = randomBytes(4 * KiB);
    const writer = new GfsClient({ master: c.masterAddress, rpc_deadline_ms: 3_000 });
    clients.push(writer);
    await eventually(async () => { await writer.write(path, 0, second); return true; }, 30_000, "a write under a new grant");
    const bumped = (await fsck(c, path)).files[0]!.chunks[0]!;
    expect(bumped.version).toBeGreaterThan(1);

    await c.startChunkserver(down.index);
    await eventually(async () => {
      const ch = (await fsck(c, path)).files[0]!.chunks[0]!;
      const back = ch.replicas.find((r) => r.serverId === down.serverId);
      return back === undefined || back.stale || back.version === ch.version; // judged stale (then deleted), or re-copied current
    }, 10_000, "the returning replica judged");
    // Never served: the chunk stays at the new version, and a reader gets the second write's bytes.
    expect((await fsck(c, path)).files[0]!.chunks[0]!.version).toBe(bumped.version);
    expect((await b.read(path, 0, second.length)).equals(second)).toBe(true);
  });
});
