// Issue 20 (GFS §3.4), the chunkserver's half of copy-on-write, with real
// processes on mutual TLS: CopyChunkLocal, sent with the master's certificate
// (as the master does on the first write to a snapshot's shared chunk), copies
// a replica to a new handle on the chunkserver's own disk. The copy holds the
// source's bytes and checksums, crossed no network (no push byte received; the
// local-copy counters in Stats and /metrics say what was copied), is reported
// on the next heartbeat like any replica, and leaves the file it came from
// intact. Only a master certificate may ask. The store's rules (refusals, crash
// safety, racing writes) are tested in packages/chunkserver/test/local-copy.test.ts.
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChunkServerPool, crc32c, defaults, fromServiceError, loadTlsIdentity, tlsTransport, type ChunkLocation__Output } from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { eventually, fsck, TestCluster } from "./harness/cluster";

const KiB = 1024;
const CHUNK = 256 * KiB;
const NEW = "00000000c0ffee01";

/** CRC32C of each checksum block of `b` (the chunkserver's default block size). */
const blockCrcs = (b: Buffer): number[] => {
  const out: number[] = [];
  for (let o = 0; o < b.length; o += defaults.checksum_block_bytes) out.push(crc32c(b.subarray(o, o + defaults.checksum_block_bytes)));
  return out;
};

describe("CopyChunkLocal on real chunkservers (mutual TLS)", { timeout: 60_000 }, () => {
  let c: TestCluster;
  let client: GfsClient;
  const pools: ChunkServerPool[] = [];
  const data = randomBytes(CHUNK + 40 * KiB);
  let loc: ChunkLocation__Output;
  let metrics: string[] = [];

  const poolAs = (dir: string): ChunkServerPool => {
    const p = new ChunkServerPool({ security: tlsTransport(loadTlsIdentity(dir)) });
    pools.push(p);
    return p;
  };
  const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => "ok", (e) => fromServiceError(e).message);
  const chunksDir = (i: number) => join(c.chunkservers[i]!.dataDir, "chunks");
  const indexOf = (serverId: string) => c.chunkservers.find((s) => s.serverId === serverId)!.index;

  /**
   * The copy's files on chunkserver `i`: in its chunk directory, or already moved unchanged into quarantine
   * once the master heard of it (a heartbeat may come at any moment); read again if they move meanwhile.
   */
  const copyFiles = (i: number) => eventually(async () => {
    const root = c.chunkservers[i]!.dataDir;
    const quarantined = (await readdir(join(root, "quarantine")).catch(() => [] as string[])).filter((e) => e.startsWith(`${NEW}-`));
    for (const dir of [join(root, "chunks"), ...quarantined.map((e) => join(root, "quarantine", e))]) {
      const files = await Promise.all([readFile(join(dir, `${NEW}.chunk`)), readFile(join(dir, `${NEW}.meta`), "utf8")]).catch(() => undefined);
      if (files) return { chunk: files[0], meta: files[1] };
    }
    return undefined;
  }, 5_000, `the copy's files on cs${i}`);

  beforeAll(async () => {
    c = await TestCluster.start({
      chunkservers: 2, replication: 2, chunkSizeBytes: CHUNK, heartbeatIntervalMs: 200, heartbeatMisses: 10,
      chunkserverArgs: ["--http-listen", "127.0.0.1:0"],
    });
    metrics = await Promise.all(c.chunkservers.map(async (s) => String((await s.process.waitForLog("http listening")).address)));
    client = new GfsClient(c.clientOptions());
    await client.create("/cow.bin");
    await client.write("/cow.bin", 0, data);
    loc = (await client.master.FindChunks({ path: "/cow.bin", offset: 0, length: 1 })).chunks[0]!;
    expect(loc.replicas.length).toBe(2);
  });
  afterAll(async () => {
    client?.close();
    for (const p of pools) p.close();
    await c?.stop();
  });

  it("a chunkserver or client certificate may not ask for a local copy (EACCES), and nothing is copied", async () => {
    const target = loc.replicas[0]!;
    const other = c.chunkservers.find((s) => s.serverId !== target.serverId)!;
    const order = { handle: loc.handle, version: loc.version, newHandle: NEW, newVersion: loc.version };
    expect(await outcome(poolAs(c.tlsDir(`cs${other.index}`)).get(target.address).api.CopyChunkLocal(order)))
      .toMatch(/^EACCES: ChunkServer\.CopyChunkLocal needs a master certificate; caller is chunkserver/);
    expect(await outcome(poolAs(c.tlsDir("admin")).get(target.address).api.CopyChunkLocal(order)))
      .toMatch(/^EACCES: ChunkServer\.CopyChunkLocal needs a master certificate; caller is admin/);
    expect(await readdir(chunksDir(indexOf(target.serverId)))).not.toContain(`${NEW}.chunk`);
  });

  it("with the master's certificate every holder copies its replica on its own disk: same bytes and checksums, counted as local copies, no push byte received", async () => {
    const asMaster = poolAs(c.tlsDir("master"));
    for (const r of loc.replicas) {
      const api = asMaster.get(r.address).api;
      const before = await api.Stats({});
      const res = await api.CopyChunkLocal({ handle: loc.handle, version: loc.version, newHandle: NEW, newVersion: loc.version + 1, masterEpoch: 0 });
      expect(Number(res.chunkLength)).toBe(CHUNK);
      const after = await api.Stats({});
      expect(Number(after.localCopies) - Number(before.localCopies)).toBe(1);
      expect(Number(after.localCopyBytes) - Number(before.localCopyBytes)).toBe(CHUNK);
      expect(Number(after.pushBytesReceived)).toBe(Number(before.pushBytesReceived));
      const files = await copyFiles(indexOf(r.serverId));
      expect(files.chunk.equals(data.subarray(0, CHUNK))).toBe(true);
      // Its sidecar is clean (its data was synced) with one CRC per block of the source's bytes.
      const copy = JSON.parse(files.meta) as { version: number; clean: boolean; crcs: number[] };
      expect(copy).toMatchObject({ version: loc.version + 1, clean: true });
      expect(copy.crcs).toEqual(blockCrcs(data.subarray(0, CHUNK)));
    }
    for (const address of metrics) {
      const text = await (await fetch(`http://${address}/metrics`)).text();
      expect(text).toMatch(/^gfs_local_copies_total 1$/m);
      expect(text).toMatch(new RegExp(`^gfs_bytes_copied_locally_total ${CHUNK}$`, "m"));
    }
  });

  it("refusals reach the master with their errno: ESTALE (other version), ENOENT (no such replica), EEXIST (the new handle is held)", async () => {
    const r = loc.replicas[0]!;
    const api = poolAs(c.tlsDir("master")).get(r.address).api;
    const fresh = "00000000c0ffee02";
    expect(await outcome(api.CopyChunkLocal({ handle: loc.handle, version: loc.version + 1, newHandle: fresh, newVersion: 1 }))).toMatch(/^ESTALE: /);
    expect(await outcome(api.CopyChunkLocal({ handle: "00000000deadbeef", version: 1, newHandle: fresh, newVersion: 1 }))).toMatch(/^ENOENT: /);
    expect(await outcome(api.CopyChunkLocal({ handle: loc.handle, version: loc.version, newHandle: NEW, newVersion: 1 }))).toMatch(/^EEXIST: /);
    expect(await readdir(chunksDir(indexOf(r.serverId)))).not.toContain(`${fresh}.chunk`);
  });

  it("the copy is reported on the next heartbeat like any replica (this master reserved no such handle: it has it quarantined), and the file it came from is intact", async () => {
    for (const r of loc.replicas) {
      const i = indexOf(r.serverId);
      await eventually(async () => !(await readdir(chunksDir(i))).includes(`${NEW}.chunk`), 15_000, `copy on cs${i} reported and quarantined`);
      const entries = await readdir(join(c.chunkservers[i]!.dataDir, "quarantine"));
      expect(entries.some((e) => e.startsWith(`${NEW}-`))).toBe(true);
      // Quarantined, the handle is still taken here.
      const api = poolAs(c.tlsDir("master")).get(r.address).api;
      expect(await outcome(api.CopyChunkLocal({ handle: loc.handle, version: loc.version, newHandle: NEW, newVersion: 1 }))).toMatch(/^EEXIST: .*quarantined/);
    }
    expect((await client.read("/cow.bin", 0, data.length)).equals(data)).toBe(true);
    const report = await fsck(c, "/cow.bin");
    expect(report.files[0]!.chunks.map((k) => k.state)).toEqual(["CHUNK_STATE_HEALTHY", "CHUNK_STATE_HEALTHY"]);
  });
});
