// Surviving failure (GFS §4.3-4.5, §5) with real processes and short
// heartbeat and lease settings: dead chunkservers, corrupt and stale
// replicas, a lost primary, and garbage collection.
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ChunkServerPool, type FsckResponse__Output } from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { eventually, fsck, holders, TestCluster, type ClusterOptions } from "./harness/cluster";

const MiB = 1024 * 1024;

const fastSettings: ClusterOptions = {
  chunkservers: 4, chunkSizeBytes: MiB, heartbeatIntervalMs: 200, heartbeatMisses: 3, leaseMs: 3_000,
  masterArgs: ["--copies-per-server", "4", "--copy-timeout-ms", "10000"],
  chunkserverArgs: ["--scrub-cold-ms", "500", "--scrub-bytes-per-sec", "64M"],
};

let cluster: TestCluster | undefined;
const clients: GfsClient[] = [];
const pool = new ChunkServerPool();
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await cluster?.stop();
  cluster = undefined;
});

async function start(o: ClusterOptions = {}): Promise<{ c: TestCluster; client: GfsClient }> {
  cluster = await TestCluster.start({ ...fastSettings, ...o });
  const client = new GfsClient({ master: cluster.masterAddress, rpc_deadline_ms: 3_000 });
  clients.push(client);
  return { c: cluster, client };
}

/** Resolves once the master has declared every server in `indexes` dead. */
async function declaredDead(c: TestCluster, indexes: number[]): Promise<void> {
  const ids = new Set(indexes.map((i) => c.chunkservers[i].serverId));
  await eventually(async () => {
    const r = await c.gfs(["status", "--json"]);
    const s = JSON.parse(r.stdout) as { chunkservers: Array<{ serverId: string; alive: boolean }> };
    return s.chunkservers.filter((x) => ids.has(x.serverId)).every((x) => !x.alive);
  }, 10_000, "servers declared dead");
}

/** Every chunk under `path` has `n` healthy replicas on live servers. */
async function allHealthy(c: TestCluster, path: string, n = 3): Promise<FsckResponse__Output | undefined> {
  const r = await fsck(c, path);
  const ok = r.files.every((f) => f.chunks.every((ch) => ch.state === "CHUNK_STATE_HEALTHY"
    && ch.replicas.filter((x) => x.alive && !x.stale && !x.corrupt).length >= n));
  return ok && r.unhealthyChunks === 0 ? r : undefined;
}

const chunkFile = (dataDir: string, handle: string) => join(dataDir, "chunks", `${handle}.chunk`);


describe("surviving failure (real processes)", () => {
  it("a chunkserver SIGKILLed during a large put: the put succeeds or a retry does, and every chunk is re-replicated to 3", async () => {
    const { c, client } = await start();
    const data = randomBytes(12 * MiB);
    const local = join(c.dir, "big.bin");
    await writeFile(local, data);
    const put = c.gfs(["put", local, "/big.bin"]);
    await new Promise((r) => setTimeout(r, 150));
    await c.kill(3);
    let result = await put;
    if (result.code !== 0) {
      expect(result.stderr).toMatch(/^gfs: put: E[A-Z]+: /); // a clear error, then a retry succeeds
      result = await eventually(async () => { const r = await c.gfs(["put", local, "/big.bin"]); return r.code === 0 ? r : undefined; }, 30_000, "put retry");
    }
    await declaredDead(c, [3]);
    const report = await eventually(() => allHealthy(c, "/big.bin"), 30_000, "all chunks back at 3 healthy replicas");
    expect(report.files[0].chunks).toHaveLength(12);
    const dead = c.chunkservers[3].serverId;
    for (const ch of report.files[0].chunks) {
      expect(ch.replicas.filter((r) => r.alive && r.serverId !== dead)).toHaveLength(3);
    }
    expect((await client.read("/big.bin", 0, data.length)).equals(data)).toBe(true);
  });

  it("with two servers lost, chunks left with one replica are repaired first", async () => {
    const { c, client } = await start({ chunkservers: 5, leaseMs: 1_000, masterArgs: ["--copies-per-server", "100"] });
    for (let i = 0; i < 4; i++) {
      await client.create(`/f${i}`);
      await client.write(`/f${i}`, 0, randomBytes(3 * MiB));
    }
    // Let the writers' leases (and their one extension) run out, so copies are ordered by priority
    // alone: a chunk under a live lease waits for it.
    await new Promise((r) => setTimeout(r, 2_500));
    // Kill the two servers that hold the most chunks together.
    const report = await fsck(c);
    const pairs = new Map<string, number>();
    for (const f of report.files) for (const ch of f.chunks) {
      const ids = ch.replicas.map((r) => r.serverId).sort();
      for (let a = 0; a < ids.length; a++) for (let b = a + 1; b < ids.length; b++) {
        const k = `${ids[a]}|${ids[b]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + 1);
      }
    }
    const [victims] = [...pairs].sort((x, y) => y[1] - x[1])[0];
    const [v1, v2] = victims.split("|");
    const both = report.files.flatMap((f) => f.chunks).filter((ch) => ch.replicas.some((r) => r.serverId === v1) && ch.replicas.some((r) => r.serverId === v2));
    expect(both.length).toBeGreaterThan(0);
    const killed = c.chunkservers.filter((s) => s.serverId === v1 || s.serverId === v2).map((s) => s.index);
    await Promise.all(killed.map((i) => c.kill(i)));
    await declaredDead(c, killed);
    await eventually(() => allHealthy(c, "/"), 60_000, "all chunks back at 3 replicas");
    // The master's log in order. The two deaths are noticed in separate sweeps, and copies started
    // after the first may finish before the second; so look at the first planning round after the
    // second death: it orders every chunk left with one replica before any chunk left with two.
    const lines = c.master.log().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { msg: string; goodReplicas?: number; handle?: string });
    const deaths = lines.map((l, i) => (l.msg === "chunkserver dead" ? i : -1)).filter((i) => i >= 0);
    expect(deaths.length).toBeGreaterThanOrEqual(2);
    const rest = lines.slice(deaths[1] + 1);
    const roundFrom = rest.findIndex((l) => l.msg === "re-replication ordered");
    expect(roundFrom).toBeGreaterThanOrEqual(0);
    const roundTo = rest.findIndex((l, i) => i > roundFrom && l.msg !== "re-replication ordered");
    const round = rest.slice(roundFrom, roundTo < 0 ? undefined : roundTo).map((o) => o.goodReplicas!);
    expect(round[0]).toBe(1);
    expect(round).toEqual([...round].sort((a, b) => a - b));
    expect(both.length).toBeGreaterThan(0);
  });

  it("a flipped byte on disk: reads still return correct data, and the bad replica is replaced", async () => {
    const { c, client } = await start();
    const data = randomBytes(2 * MiB);
    await client.create("/flip.bin");
    await client.write("/flip.bin", 0, data);
    const chunk = (await fsck(c, "/flip.bin")).files[0].chunks[0];
    const victim = c.chunkservers.find((s) => s.serverId === chunk.replicas[0].serverId)!;
    const path = chunkFile(victim.dataDir, chunk.handle);
    const bytes = await readFile(path);
    bytes[12345] ^= 0xff;
    await writeFile(path, bytes);
    // The replica itself refuses to serve bad bytes.
    const token = (await client.master.FindChunks({ path: "/flip.bin", offset: 0, length: 1 })).chunks[0]!.token;
    await expect(pool.get(victim.address).api.Read({ handle: chunk.handle, version: chunk.version, offset: 0, length: 65536, token }))
      .rejects.toThrow(/EIO: checksum mismatch/);
    // Readers get the right bytes from another replica, every time.
    for (let i = 0; i < 5; i++) {
      const reader = new GfsClient({ master: c.masterAddress });
      clients.push(reader);
      expect((await reader.read("/flip.bin", 0, data.length)).equals(data)).toBe(true);
    }
    // The master learns of it (reader report, heartbeat, or scrubber) and restores 3 good copies.
    const healed = await eventually(async () => {
      const r = await allHealthy(c, "/flip.bin");
      const ch = r?.files[0].chunks[0];
      return ch && !ch.replicas.some((x) => x.corrupt) ? ch : undefined;
    }, 30_000, "the corrupt replica replaced");
    for (const r of healed.replicas) {
      const cs = c.chunkservers.find((s) => s.serverId === r.serverId)!;
      expect((await readFile(chunkFile(cs.dataDir, chunk.handle))).equals(data.subarray(0, MiB))).toBe(true);
    }
  });

  it("a chunkserver that missed writes while down has stale replicas: never read, and deleted", async () => {
    const { c, client } = await start();
    const before = Buffer.alloc(MiB, 0x01);
    await client.create("/stale.bin");
    await client.write("/stale.bin", 0, before);
    const chunk = (await fsck(c, "/stale.bin")).files[0].chunks[0];
    const down = c.chunkservers.find((s) => s.serverId === chunk.replicas[0].serverId)!;
    await c.kill(down.index);
    // Writing again needs 3 good replicas: the master re-replicates to the spare server, then grants a new version.
    const after = Buffer.alloc(MiB, 0x02);
    await eventually(async () => { await client.write("/stale.bin", 0, after); return true; }, 30_000, "overwrite with one server down");
    const current = (await fsck(c, "/stale.bin")).files[0].chunks[0];
    expect(current.version).toBeGreaterThan(chunk.version);
    await c.startChunkserver(down.index);
    // Its old replica is never handed out, and disappears from its disk.
    await eventually(async () => !(await holders(c, chunk.handle)).includes(down.index), 15_000, "stale replica deleted");
    const r = await fsck(c, "/stale.bin");
    expect(r.files[0].chunks[0].replicas.every((x) => x.version === current.version)).toBe(true);
    for (let i = 0; i < 3; i++) expect((await client.read("/stale.bin", 0, MiB)).equals(after)).toBe(true);
  });

  it("a stopped primary: no new primary until its lease is fenced (survivors bumped to a newer version) or expired, then it refuses mutations, and replicas end consistent", async () => {
    const { c, client } = await start({ leaseMs: 3_000 });
    await client.create("/primary.bin");
    await client.write("/primary.bin", 0, Buffer.alloc(200_000, 0x05));
    const chunk = (await fsck(c, "/primary.bin")).files[0].chunks[0];
    const lease = await client.master.GetLease({ handle: chunk.handle });
    const stoppedAt = Date.now();
    const oldExpiry = stoppedAt + lease.leaseRemainingMs;
    const primary = c.chunkservers.find((s) => s.serverId === lease.primary!.serverId)!;
    primary.process.proc.kill("SIGSTOP");
    try {
      // Keep writing; the first write to succeed must come from a new lease, granted after the old one
      // was fenced (issue 14: the master bumps the survivors' version, so the old lease orders nothing)
      // or, failing that, after it expired.
      const writer = new GfsClient({ master: c.masterAddress, rpc_deadline_ms: 1_000, client_attempts_max: 2 });
      clients.push(writer);
      await eventually(async () => {
        await writer.write("/primary.bin", 0, Buffer.alloc(200_000, 0x06));
        return Date.now();
      }, 40_000, "a write under a new lease");
      const lines = c.master.log().split("\n").filter((l) => l.startsWith("{") && l.includes(chunk.handle))
        .map((l) => JSON.parse(l) as { ts: string; msg: string; primary: string; version: number; leaseVersion?: number });
      const newGrant = lines.find((g) => g.msg === "lease granted" && g.version > lease.version)!;
      expect(newGrant.primary).not.toBe(primary.serverId);
      const fence = lines.find((l) => l.msg.startsWith("dead primary's lease fenced") && l.leaseVersion === lease.version);
      if (fence) {
        expect(fence.primary).toBe(primary.serverId);
        expect(newGrant.version).toBeGreaterThan(fence.version);
        expect(Date.parse(newGrant.ts)).toBeGreaterThanOrEqual(Date.parse(fence.ts));
      } else {
        expect(Date.parse(newGrant.ts)).toBeGreaterThanOrEqual(oldExpiry - 50); // log timestamps have ms precision
      }
    } finally {
      primary.process.proc.kill("SIGCONT");
    }
    // The old primary, awake again, refuses to order mutations under its fenced or expired lease (or its replicas do).
    await expect(pool.get(primary.address).api.Write({
      handle: chunk.handle, version: lease.version, kind: "MUTATION_KIND_TRUNCATE", offset: 0, secondaries: lease.secondaries,
      token: lease.token, // a valid write token (10 minutes): the expired lease is what is refused
    })).rejects.toThrow(/ESTALE|ENOENT|EAGAIN/);
    // All replicas end consistent: 3 healthy copies, byte-identical, holding the last successful write.
    const healed = await eventually(() => allHealthy(c, "/primary.bin"), 30_000, "consistent replicas");
    const copies = await Promise.all(healed.files[0].chunks[0].replicas.map((r) =>
      readFile(chunkFile(c.chunkservers.find((s) => s.serverId === r.serverId)!.dataDir, chunk.handle))));
    for (const copy of copies) expect(copy.equals(copies[0])).toBe(true);
    expect(copies[0].subarray(0, 200_000).equals(Buffer.alloc(200_000, 0x06))).toBe(true);
  });

  it("a deleted file's chunks disappear from every chunkserver's disk", async () => {
    const { c, client } = await start({ chunkservers: 3 });
    await client.create("/gone.bin");
    await client.write("/gone.bin", 0, randomBytes(3 * MiB));
    const handles = (await fsck(c, "/gone.bin")).files[0].chunks.map((ch) => ch.handle);
    expect(handles).toHaveLength(3);
    for (const h of handles) expect(await holders(c, h)).toHaveLength(3);
    await client.unlink("/gone.bin");
    await eventually(async () => {
      for (const h of handles) if ((await holders(c, h)).length > 0) return false;
      return true;
    }, 10_000, "chunk files deleted");
    const status = await client.status();
    expect(status.chunkCount).toBe(0);
  });
});
