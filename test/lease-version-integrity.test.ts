// Issue 12, findings 1, 2 and 7 (master restart), with real processes: a
// version comes only from the master's log, only the lease holder orders
// mutations, and a master restart costs writers seconds, not a lease length.
// Each test plays a confused (or hostile) peer that is allowed to talk to us.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  ChunkServerPool, loadTlsIdentity, masterDefinition, newMasterClient, promiseClient, tlsTransport, type MasterClient, type PromiseClient,
} from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { eventually, fsck, holders, TestCluster, type ClusterOptions } from "./harness/cluster";

const KiB = 1024;

let cluster: TestCluster | undefined;
const clients: GfsClient[] = [];
const rawClients: MasterClient[] = [];
const pool = new ChunkServerPool();
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const c of rawClients.splice(0)) c.close();
  for (const p of pools.splice(0)) p.close();
  await cluster?.stop();
  cluster = undefined;
});

async function start(o: ClusterOptions = {}): Promise<{ c: TestCluster; client: GfsClient; master: PromiseClient<MasterClient> }> {
  cluster = await TestCluster.start({ chunkservers: 3, chunkSizeBytes: 1024 * KiB, heartbeatIntervalMs: 200, leaseMs: 5_000, ...o });
  const client = new GfsClient({ master: cluster.masterAddress, rpc_deadline_ms: 3_000 });
  clients.push(client);
  const raw = newMasterClient(cluster.masterAddress);
  rawClients.push(raw);
  return { c: cluster, client, master: promiseClient(raw, masterDefinition()) };
}

/** A Master client speaking with the identity in `dir` (a chunkserver's, to say what a chunkserver says). */
function masterAs(dir: string): PromiseClient<MasterClient> {
  const raw = newMasterClient(cluster!.masterAddress, tlsTransport(loadTlsIdentity(dir)));
  rawClients.push(raw);
  return promiseClient(raw, masterDefinition());
}

/** Chunkserver connections speaking with the identity in `dir` (the master's or a chunkserver's: who may send what is by role). */
function poolAs(dir: string): ChunkServerPool {
  const p = new ChunkServerPool({ security: tlsTransport(loadTlsIdentity(dir)) });
  pools.push(p);
  return p;
}
const pools: ChunkServerPool[] = [];

/** Server ids of the live, current, uncorrupted, unsuspected replicas of the file's first chunk. */
async function goodReplicas(c: TestCluster, path: string): Promise<string[]> {
  const chunk = (await fsck(c, path)).files[0]!.chunks[0]!;
  return chunk.replicas.filter((r) => r.alive && !r.stale && !r.corrupt && !r.suspect && r.version === chunk.version).map((r) => r.serverId).sort();
}


const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A file of `bytes` recognisable bytes, its first chunk, and who holds it. */
async function writtenFile(c: TestCluster, client: GfsClient, path: string, bytes = 64 * KiB) {
  const data = Buffer.from(Array.from({ length: bytes }, (_, i) => (i * 31 + path.length) & 0xff));
  await client.create(path);
  await client.write(path, 0, data);
  const chunk = (await fsck(c, path)).files[0]!.chunks[0]!;
  expect(chunk.state).toBe("CHUNK_STATE_HEALTHY");
  return { data, chunk, good: await goodReplicas(c, path), holders: await holders(c, chunk.handle) };
}

/** Reads the file several times (the client spreads reads over replicas): always exactly `data`. */
async function readsBack(client: GfsClient, path: string, data: Buffer): Promise<void> {
  for (let i = 0; i < 6; i++) {
    const reader = new GfsClient({ master: cluster!.masterAddress, rpc_deadline_ms: 3_000 });
    clients.push(reader);
    expect((await reader.read(path, 0, data.length)).equals(data)).toBe(true);
  }
  expect((await client.read(path, 0, data.length)).equals(data)).toBe(true);
}

describe("versions come only from the master's log (real processes)", () => {
  it("a Register or heartbeat claiming a higher version leaves the content and the good replicas untouched; fsck shows the claimant suspect", async () => {
    const { c, client } = await start();
    // Under its own chunkserver certificate: the master takes a chunkserver's id only from its certificate.
    const master = masterAs(await c.issue("chunkserver", "liar-server"));
    const a = await writtenFile(c, client, "/reg.bin");
    const b = await writtenFile(c, client, "/beat.bin");

    // A server (a confused one, or a bad disk's) registers claiming version 1000 of /reg.bin's chunk...
    const liar = { serverId: "liar-server", address: "127.0.0.1:1", rack: "", capacityBytes: 1, usedBytes: 1 };
    const reg = await master.Register({ ...liar, chunks: [{ handle: a.chunk.handle, version: 1000, length: 4 }] });
    expect(reg.deleteChunks).toEqual([]);
    // ...and then, in a heartbeat, version 1000 of /beat.bin's chunk.
    const hb = await master.Heartbeat({
      serverId: liar.serverId, capacityBytes: 1, usedBytes: 1, chunkCount: 2, load: 0,
      addedChunks: [{ handle: b.chunk.handle, version: 1000, length: 4 }],
    });
    expect(hb.reregister).toBe(false);
    await settle(1_500); // several heartbeats: any deletion the master ordered has reached the servers

    for (const f of [{ path: "/reg.bin", ...a }, { path: "/beat.bin", ...b }]) {
      const chunk = (await fsck(c, f.path)).files[0]!.chunks[0]!;
      expect(chunk.version).toBe(f.chunk.version);
      expect(chunk.state).toBe("CHUNK_STATE_SUSPECT");
      expect(chunk.replicas.find((r) => r.serverId === liar.serverId)).toMatchObject({ suspect: true, version: 1000 });
      expect(await goodReplicas(c, f.path)).toEqual(f.good);
      expect(await holders(c, f.chunk.handle)).toEqual(f.holders);
      await readsBack(client, f.path, f.data);
    }
    expect((await fsck(c, "/")).unhealthyChunks).toBe(2);
    const log = c.master.log();
    expect(log).toMatch(/"level":"error".*never issued/);
  });

  it("a SetChunkVersion(v+1) with a lease sent straight to one replica, then a Write naming no secondaries, never becomes visible", async () => {
    const { c, client } = await start();
    const f = await writtenFile(c, client, "/bump.bin");
    const victim = c.chunkservers.find((s) => s.serverId === f.good[0])!;
    const api = pool.get(victim.address).api;
    // Version orders come only from a master certificate (rpc-roles.ts): sent here as a confused master would.
    const asMaster = poolAs(c.tlsDir("master")).get(victim.address).api;
    const v = f.chunk.version;
    // A write token for the chunk (the token is not what this test is about), asked for before the bump: once the
    // replica reports v+1 on a heartbeat the master is in safe mode and hands out no write token.
    const token = (await client.master.AddChunk({ path: "/bump.bin", index: 0 })).token;
    // Without a token it is refused outright (EINVAL); with a made-up one this replica alone moves on.
    const noToken = await asMaster.SetChunkVersion({ handle: f.chunk.handle, version: v + 1, leaseMs: 60_000 }).then(() => "accepted", (e: Error) => e.message);
    if (noToken !== "accepted") {
      expect(noToken).toMatch(/EINVAL.*lease token/);
      await asMaster.SetChunkVersion({ handle: f.chunk.handle, version: v + 1, leaseMs: 60_000, leaseToken: "made-up" });
    }
    const evil = Buffer.from("EVIL");
    await api.Write({ handle: f.chunk.handle, version: v + 1, kind: "MUTATION_KIND_WRITE", offset: 0, length: evil.length, data: evil, secondaries: [], token });
    await settle(1_500); // the replica reports version v+1 on its next heartbeat

    const chunk = (await fsck(c, "/bump.bin")).files[0]!.chunks[0]!;
    expect(chunk.version).toBe(v);
    expect(chunk.replicas.find((r) => r.serverId === victim.serverId)).toMatchObject({ suspect: true, version: v + 1 });
    expect(await goodReplicas(c, "/bump.bin")).toEqual(f.good.filter((id) => id !== victim.serverId));
    expect(await holders(c, f.chunk.handle)).toEqual(f.holders); // nothing deleted, the suspect included
    await readsBack(client, "/bump.bin", f.data);
  });
});

describe("only the lease holder orders mutations (real processes)", () => {
  it("an ApplyMutation sent straight to one replica without the lease token is refused, and reads return the old bytes", async () => {
    const { c, client } = await start();
    const f = await writtenFile(c, client, "/apply.bin");
    const target = c.chunkservers.find((s) => s.serverId === f.good[0])!;
    const api = pool.get(target.address).api;
    // ApplyMutation comes only from chunkservers (rpc-roles.ts): sent as another chunkserver, without the lease's token.
    const other = c.chunkservers.find((s) => s.serverId !== target.serverId)!;
    const asPeer = poolAs(c.tlsDir(`cs${other.index}`)).get(target.address).api;
    const evil = Buffer.from("EVIL");
    // Whatever serial the chunk is at, one of these would be next in line.
    const outcomes: string[] = [];
    for (let serial = 1; serial <= 8; serial++) {
      for (const leaseToken of ["", "guessed"]) {
        outcomes.push(await asPeer.ApplyMutation({
          handle: f.chunk.handle, version: f.chunk.version, serial, kind: "MUTATION_KIND_WRITE", offset: 0, length: evil.length, data: evil, leaseToken,
        }).then(() => "applied", (e: Error) => e.message));
      }
    }
    const token = (await client.master.FindChunks({ path: "/apply.bin", offset: 0, length: 1 })).chunks[0]!.token;
    const direct = await api.Read({ handle: f.chunk.handle, version: f.chunk.version, offset: 0, length: f.data.length, token });
    expect(direct.data.equals(f.data)).toBe(true);
    await readsBack(client, "/apply.bin", f.data);
    for (const o of outcomes) expect(o).toMatch(/^EPERM: .*not ordered by the chunk's lease holder/);
    expect((await fsck(c, "/apply.bin")).files[0]!.chunks[0]!.state).toBe("CHUNK_STATE_HEALTHY");
    // The real lease holder still orders mutations: a client write goes through.
    const next = Buffer.alloc(f.data.length, 0x42);
    await client.write("/apply.bin", 0, next);
    await readsBack(client, "/apply.bin", next);
  });
});

describe("no write outage after a master restart (real processes)", () => {
  it("writes resume within 5 s of a master SIGKILL and restart, with a lease length of 30 s", async () => {
    const { c, client } = await start({ leaseMs: 30_000 });
    const existing = await writtenFile(c, client, "/leased.bin"); // its lease is held by a primary
    const idle = await writtenFile(c, client, "/idle.bin");
    // /idle.bin's lease is given up, so after the restart a new grant is needed (no server holds one).
    const lease = await client.master.GetLease({ handle: idle.chunk.handle });
    // As the primary would (a chunkserver releases only its own leases, under its certificate's id).
    await masterAs(c.tlsDir(lease.primary!.serverId)).ReleaseLease({ handle: idle.chunk.handle, serverId: lease.primary!.serverId, version: lease.version });

    const address = c.masterAddress;
    c.master.proc.kill("SIGKILL");
    await c.master.exited;
    await c.startMaster(address);
    const restartedAt = Date.now();

    const writeAgain = async (path: string, byte: number) => {
      const data = Buffer.alloc(existing.data.length, byte);
      // A fresh client (nothing cached) with default retries: one write call, no retry loop of our own.
      const writer = new GfsClient({ master: c.masterAddress });
      clients.push(writer);
      await writer.write(path, 0, data);
      return { data, ms: Date.now() - restartedAt };
    };
    const [held, granted] = await Promise.all([writeAgain("/leased.bin", 0x61), writeAgain("/idle.bin", 0x62)]);
    expect(held.ms).toBeLessThan(5_000);
    expect(granted.ms).toBeLessThan(5_000);
    await readsBack(client, "/leased.bin", held.data);
    await readsBack(client, "/idle.bin", granted.data);
    expect(c.master.log()).toContain("lease reported at registration honoured");
  });
});
