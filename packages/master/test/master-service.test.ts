// The master's handlers over real gRPC, in-process, with minimal fake
// chunkservers that only answer SetChunkVersion.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultMasterSettings, type MasterSettings } from "../src/settings";
import type * as grpc from "@grpc/grpc-js";
import {
  ChunkServerPool, GfsError, chunkServerDefinition, createLogger, masterDefinition, newMasterClient, promiseClient,
  startServer, stopServer, unary, type CreateChunksRequest__Output, type MasterClient, type PromiseClient, type SetChunkVersionRequest__Output,
  insecureTransport, setTransportSecurity,
} from "@gfs/common";
import { MasterState, masterHandlers } from "../src/master-service";

// In-process servers and clients of one test process: plaintext (the transport's TLS is tested with real processes).
setTransportSecurity(insecureTransport);

interface FakeChunkserver {
  id: string;
  address: string;
  server: grpc.Server;
  received: SetChunkVersionRequest__Output[];
  /** The master's logged version of the chunk when each SetChunkVersion arrived (same order as `received`). */
  loggedAtReceipt: number[];
  /** CreateChunks calls (each several creations). */
  batches: number;
  fail: boolean;
}

/** The master under test, so fake chunkservers can see what it had logged when a call arrived. */
let observedState: MasterState | undefined;

async function fakeChunkserver(id: string): Promise<FakeChunkserver> {
  const cs: FakeChunkserver = { id, address: "", server: undefined as unknown as grpc.Server, received: [], loggedAtReceipt: [], batches: 0, fail: false };
  const { server, port } = await startServer("127.0.0.1:0", [{
    definition: chunkServerDefinition(),
    handlers: {
      SetChunkVersion: unary((req: SetChunkVersionRequest__Output) => {
        if (cs.fail) throw new GfsError("EIO", `${id} refuses`);
        cs.received.push(req);
        cs.loggedAtReceipt.push(observedState?.chunks.get(req.handle)?.version ?? 0);
        return { chunkLength: 0 };
      }),
      CreateChunks: unary((req: CreateChunksRequest__Output) => {
        if (cs.fail) throw new GfsError("EIO", `${id} refuses`);
        cs.received.push(...req.chunks.map((c) => ({ ...c, create: true })));
        cs.batches++;
        return {};
      }),
    },
  }]);
  cs.server = server;
  cs.address = `127.0.0.1:${port}`;
  return cs;
}

/** A master serving real gRPC in this process, and a client of it. */
async function startMaster(s: MasterSettings, clock: () => number, pool: ChunkServerPool) {
  const state = new MasterState(s, clock, createLogger("master-test", "error"), { pool, chunkserverCallTimeoutMs: 2000 });
  const started = await startServer("127.0.0.1:0", [{ definition: masterDefinition(), handlers: masterHandlers(state) }]);
  const rawClient = newMasterClient(`127.0.0.1:${started.port}`);
  return { state, master: started.server, rawClient, client: promiseClient(rawClient, masterDefinition()) };
}

// No spare chunks here: these tests count the creations each call makes (spares have their own tests below).
const settings = { ...defaultMasterSettings(), chunk_size_bytes: 1024 * 1024, replication: 3, heartbeat_interval_ms: 1000, heartbeat_misses_dead: 3, lease_ms: 60_000, chunk_spares: 0 };

describe("master service over gRPC", () => {
  let master: grpc.Server;
  let state: MasterState;
  let client: PromiseClient<MasterClient>;
  let rawClient: MasterClient;
  const pool = new ChunkServerPool();
  const servers: FakeChunkserver[] = [];

  beforeAll(async () => {
    ({ state, master, rawClient, client } = await startMaster(settings, Date.now, pool));
    observedState = state;
    for (const id of ["cs-a", "cs-b", "cs-c", "cs-d"]) servers.push(await fakeChunkserver(id));
    // cs-d has the least free space, so placement of 3 replicas leaves it out.
    for (const [i, s] of servers.entries()) {
      const res = await client.Register({
        serverId: s.id, address: s.address, rack: "", capacityBytes: 1000, usedBytes: i === 3 ? 900 : 10 * i, chunks: [],
      });
      expect(res.chunkSizeBytes).toBe(settings.chunk_size_bytes);
    }
  });

  afterAll(async () => {
    rawClient?.close();
    pool.close();
    await Promise.all([master, ...servers.map((s) => s.server)].filter(Boolean).map((s) => stopServer(s, 100)));
  });

  it("Create + AddChunk + GetLease reach every replica, and only the primary gets a lease", async () => {
    const info = await client.Create({ path: "/f", mode: 0o644, uid: 1, gid: 1 });
    expect(info.type).toBe("FILE_TYPE_FILE");

    // A new chunk is created with its first lease (version 1): one round of version updates, not two.
    const loc = await client.AddChunk({ path: "/f", index: 0 });
    expect(loc.handle).toMatch(/^[0-9a-f]{16}$/);
    expect(loc.version).toBe(1);
    expect(loc.replicas.map((r) => r.serverId).sort()).toEqual(["cs-a", "cs-b", "cs-c"]);
    for (const s of servers.slice(0, 3)) expect(s.received).toMatchObject([{ handle: loc.handle, version: 1, create: true }]);
    const firstPrimaries = servers.slice(0, 3).filter((s) => s.received[0].leaseMs > 0);
    expect(firstPrimaries).toHaveLength(1);
    expect(firstPrimaries[0].received[0].leaseMs).toBe(settings.lease_ms);
    expect(servers[3].received).toEqual([]);

    // Idempotent: the slot exists now.
    const again = await client.AddChunk({ path: "/f", index: 0 });
    expect(again.handle).toBe(loc.handle);
    expect(servers[0].received).toHaveLength(1);

    // That lease is current: GetLease returns it without another version update.
    const first = await client.GetLease({ handle: loc.handle });
    expect(first.version).toBe(1);
    expect(first.primary!.serverId).toBe(firstPrimaries[0].id);
    expect(servers[0].received).toHaveLength(1);

    // Once given up, the next grant bumps the version and tells every replica.
    await client.ReleaseLease({ handle: loc.handle, serverId: first.primary!.serverId, version: 1 });
    const lease = await client.GetLease({ handle: loc.handle });
    expect(lease.version).toBe(2);
    expect(lease.leaseRemainingMs).toBeGreaterThan(0);
    expect(lease.leaseRemainingMs).toBeLessThanOrEqual(settings.lease_ms);
    const grants = servers.slice(0, 3).map((s) => ({ id: s.id, req: s.received[1] }));
    for (const g of grants) expect(g.req).toMatchObject({ handle: loc.handle, version: 2, create: false });
    const primaries = grants.filter((g) => g.req.leaseMs > 0);
    expect(primaries.map((g) => g.id)).toEqual([lease.primary!.serverId]);
    expect(primaries[0].req.leaseMs).toBe(settings.lease_ms);
    expect(lease.secondaries.map((s) => s.serverId).sort()).toEqual(grants.map((g) => g.id).filter((id) => id !== lease.primary!.serverId).sort());

    // A current lease is returned as is: no second grant, no version bump.
    const same = await client.GetLease({ handle: loc.handle });
    expect(same).toMatchObject({ version: 2, primary: lease.primary });
    expect(servers[0].received).toHaveLength(2);

    const found = await client.FindChunks({ path: "/f", offset: 0, length: 3 * settings.chunk_size_bytes });
    expect(found.chunks).toHaveLength(1);
    expect(found.chunks[0]).toMatchObject({ index: 0, handle: loc.handle, version: 2 });
  });

  it("versions come only from the master's log: a bump is logged, with its grant set, before any replica hears of it; replicas get the grant's token, clients never", async () => {
    await client.Create({ path: "/v", mode: 0o644 });
    const loc = await client.AddChunk({ path: "/v", index: 0 });
    expect(state.chunks.get(loc.handle)!.grantSet).toEqual(["cs-a", "cs-b", "cs-c"]);
    const first = await client.GetLease({ handle: loc.handle });
    await client.ReleaseLease({ handle: loc.handle, serverId: first.primary!.serverId, version: first.version });
    const lease = await client.GetLease({ handle: loc.handle });
    expect(lease.version).toBe(2);
    const grants = servers.slice(0, 3).map((s) => {
      const i = s.received.findIndex((r) => r.handle === loc.handle && r.version === 2);
      return { s, req: s.received[i]!, logged: s.loggedAtReceipt[i] };
    });
    for (const g of grants) expect(g.logged).toBe(2); // on main: 1 (logged after telling)
    const tokens = new Set(grants.map((g) => g.req.leaseToken));
    expect(tokens.size).toBe(1);
    expect([...tokens][0]).toMatch(/^[0-9a-f]{32}$/);
    for (const g of grants) expect(g.req.primaryId).toBe(lease.primary!.serverId);
    const primary = grants.find((g) => g.req.leaseMs > 0)!;
    expect(primary.req.secondaries.map((a) => a.serverId).sort()).toEqual(lease.secondaries.map((a) => a.serverId).sort());
    expect(JSON.stringify(lease)).not.toContain([...tokens][0]);
    expect(state.chunks.get(loc.handle)!.grantSet).toEqual(["cs-a", "cs-b", "cs-c"]);
  });

  it("concurrent GetLease calls for one chunk make one grant", async () => {
    await client.Create({ path: "/g", mode: 0o644 });
    const loc = await client.AddChunk({ path: "/g", index: 1 });
    const created = await client.GetLease({ handle: loc.handle });
    await client.ReleaseLease({ handle: loc.handle, serverId: created.primary!.serverId, version: created.version });
    const before = servers[0].received.length;
    const leases = await Promise.all([1, 2, 3, 4].map(() => client.GetLease({ handle: loc.handle })));
    expect(new Set(leases.map((l) => `${l.version}/${l.primary!.serverId}`)).size).toBe(1);
    expect(servers[0].received.length - before).toBe(1);
    const found = await client.FindChunks({ path: "/g", offset: 0, length: 2 * settings.chunk_size_bytes });
    expect(found.chunks.map((c) => c.handle)).toEqual(["", loc.handle]); // slot 0 is a hole
  });

  it("a heartbeat extends the lease of its holder only", async () => {
    await client.Create({ path: "/h", mode: 0o644 });
    const loc = await client.AddChunk({ path: "/h", index: 0 });
    const lease = await client.GetLease({ handle: loc.handle });
    const beat = (serverId: string) => client.Heartbeat({ serverId, capacityBytes: 1000, usedBytes: 10, leaseExtensionHandles: [loc.handle] });
    const other = lease.secondaries[0].serverId;
    expect((await beat(other)).extendedLeases).toEqual([]);
    expect((await beat(lease.primary!.serverId)).extendedLeases).toEqual([{ handle: loc.handle, version: lease.version, leaseMs: settings.lease_ms }]);
  });

  it("AddChunk places around a server that refuses to create, when there is a spare", async () => {
    await client.Create({ path: "/spare", mode: 0o644 });
    servers[1].fail = true;
    try {
      const loc = await client.AddChunk({ path: "/spare", index: 0 });
      expect(loc.replicas).toHaveLength(3);
      expect(loc.replicas.map((r) => r.serverId)).not.toContain(servers[1].id);
    } finally {
      servers[1].fail = false;
    }
  });

  it("CreateForWriting without a spare chunk ready creates the file only, asking no chunkserver anything", async () => {
    const before = servers.map((s) => s.received.length);
    const res = await client.CreateForWriting({ path: "/cfw-bare", mode: 0o600, uid: 7, gid: 8 });
    expect(res.info).toMatchObject({ path: "/cfw-bare", type: "FILE_TYPE_FILE", mode: 0o600, uid: 7, size: 0, chunkCount: 0 });
    expect(res.firstChunk).toBeNull();
    expect(servers.map((s) => s.received.length)).toEqual(before);
  });

  it("AddChunk fails with EAGAIN and records nothing when too few servers can create it", async () => {
    await client.Create({ path: "/fail", mode: 0o644 });
    servers[1].fail = true;
    servers[2].fail = true;
    try {
      const err = await client.AddChunk({ path: "/fail", index: 0 }).then(() => undefined, (e: GfsError) => e);
      expect(err?.errno).toBe("EAGAIN");
      expect((await client.Stat({ path: "/fail" })).chunkCount).toBe(0);
      // The servers that did create it are told to delete it on their next heartbeat.
      const created = servers.filter((s) => !s.fail && s.received.some((r) => r.create && !state.chunks.get(r.handle)));
      expect(created.length).toBeGreaterThan(0);
      const hb = await client.Heartbeat({ serverId: created[0].id, capacityBytes: 1000, usedBytes: 10 });
      expect(hb.deleteChunks.length).toBeGreaterThan(0);
    } finally {
      servers[1].fail = false;
      servers[2].fail = false;
    }
  });

  it("Register answers with quarantines for orphans and deletes for stale replicas, which are not handed out", async () => {
    const [known] = (await client.FindChunks({ path: "/f", offset: 0, length: 1 })).chunks;
    const res = await client.Register({
      serverId: "cs-d", address: servers[3].address, rack: "", capacityBytes: 1000, usedBytes: 900,
      chunks: [{ handle: "00000000000000ff", version: 1, length: 0 }, { handle: known.handle, version: 1, length: 0 }],
    });
    // An unknown handle may be data the master's metadata lost: quarantined, never deleted at once.
    expect(res.deleteChunks).toEqual([known.handle]);
    expect(res.quarantineChunks).toEqual(["00000000000000ff"]);
    const after = (await client.FindChunks({ path: "/f", offset: 0, length: 1 })).chunks[0];
    expect(after.replicas.map((r) => r.serverId)).not.toContain("cs-d");
  });

  it("GetLease of an unknown handle is ESTALE; a malformed one is EINVAL", async () => {
    await expect(client.GetLease({ handle: "00000000000000ee" })).rejects.toMatchObject({ errno: "ESTALE" });
    await expect(client.GetLease({ handle: "xyz" })).rejects.toMatchObject({ errno: "EINVAL" });
  });

  it("a write's mtime never moves a file's back: ExtendFile with an older mtime (a close settling an earlier write) keeps the newer one", async () => {
    await client.Create({ path: "/mt", mode: 0o644, uid: 0, gid: 0, exclusive: true });
    const newer = 4_000_000_000_000;
    expect((await client.ExtendFile({ path: "/mt", endOffset: 10, mtimeMs: newer })).mtimeMs).toBe(newer);
    const settled = await client.ExtendFile({ path: "/mt", endOffset: 4, mtimeMs: newer - 60_000 });
    expect([settled.mtimeMs, settled.size]).toEqual([newer, 10]);
    expect((await client.ExtendFile({ path: "/mt", endOffset: 12, mtimeMs: newer + 1 })).mtimeMs).toBe(newer + 1);
  });

  it("Status and Fsck see the files and chunks", async () => {
    const st = await client.Status({});
    expect(st.fileCount).toBeGreaterThanOrEqual(4);
    expect(st.chunkCount).toBe(state.chunks.size);
    const fsck = await client.Fsck({ path: "/f" });
    expect(fsck.files[0].chunks[0].state).toBe("CHUNK_STATE_HEALTHY");
    expect(fsck.healthyChunks).toBe(1);
  });

  it("a lease grant on a chunk with more current replicas than the replication factor bumps only that many, so a push chain never exceeds it", async () => {
    for (const s of servers) s.fail = false;
    // A heartbeat clears the avoidance earlier tests' refused creations left behind.
    for (const s of servers) await client.Heartbeat({ serverId: s.id, capacityBytes: 1000, usedBytes: 10 });
    await client.Create({ path: "/over", mode: 0o644, uid: 1, gid: 1 });
    const loc = await client.AddChunk({ path: "/over", index: 0 });
    expect(loc.replicas).toHaveLength(3);
    const first = await client.GetLease({ handle: loc.handle });
    await client.ReleaseLease({ handle: loc.handle, serverId: first.primary!.serverId, version: loc.version });
    // cs-d comes back holding a current copy (it was copied there while another server was away).
    const extra = servers.find((s) => !loc.replicas.some((r) => r.serverId === s.id))!;
    await client.Heartbeat({ serverId: extra.id, capacityBytes: 1000, usedBytes: 10, addedChunks: [{ handle: loc.handle, version: loc.version, length: 0 }] });
    expect((await client.FindChunks({ path: "/over", offset: 0, length: 1 })).chunks[0]!.replicas).toHaveLength(4);

    const lease = await client.GetLease({ handle: loc.handle });
    expect(lease.secondaries).toHaveLength(settings.replication - 1);
    const bumped = servers.filter((s) => s.received.some((r) => r.handle === loc.handle && r.version === lease.version));
    expect(bumped).toHaveLength(settings.replication);
    // The one left out is stale now: never handed out.
    const after = (await client.FindChunks({ path: "/over", offset: 0, length: 1 })).chunks[0]!;
    expect(after.replicas.map((r) => r.serverId).sort()).toEqual(bumped.map((s) => s.id).sort());
  });
});

describe("spare chunks over gRPC", () => {
  const spareSettings = { ...settings, chunk_spares: 2 };
  let now = Date.now();
  let master: grpc.Server;
  let state: MasterState;
  let client: PromiseClient<MasterClient>;
  let rawClient: MasterClient;
  const pool = new ChunkServerPool();
  const servers: FakeChunkserver[] = [];
  const creates = () => servers.flatMap((s) => s.received.filter((r) => r.create).map((r) => ({ server: s.id, handle: r.handle })));
  const heartbeatAll = () => Promise.all(servers.map((s) => client.Heartbeat({ serverId: s.id, capacityBytes: 1000, usedBytes: 10 })));
  // The spares ready now (internal state, read for the test only).
  const spareHandles = () => (state as unknown as { spares: { ready: Array<{ handle: string }> } }).spares.ready.map((s) => s.handle);

  beforeAll(async () => {
    ({ state, master, rawClient, client } = await startMaster(spareSettings, () => now, pool));
    for (const id of ["sp-a", "sp-b", "sp-c"]) {
      const s = await fakeChunkserver(id);
      servers.push(s);
      await client.Register({ serverId: s.id, address: s.address, rack: "", capacityBytes: 1000, usedBytes: 10, chunks: [] });
    }
  });

  afterAll(async () => {
    rawClient?.close();
    pool.close();
    await Promise.all([master, ...servers.map((s) => s.server)].filter(Boolean).map((s) => stopServer(s, 100)));
  });

  it("a new chunk comes from a spare: AddChunk creates nothing while the writer waits, and spares are topped up behind it", async () => {
    await client.Create({ path: "/s1", mode: 0o644 });
    await client.AddChunk({ path: "/s1", index: 0 }); // no spares yet: created on demand, then two spares behind it
    await eventually(() => creates().length === 9);
    // The two spares were made in one batch: one CreateChunks call per server, primaries spread.
    expect(servers.map((s) => s.batches)).toEqual([1, 1, 1]);
    const leased = servers.map((s) => s.received.filter((r) => r.leaseMs > 0).length);
    expect(leased.reduce((a, b) => a + b)).toBe(3);
    expect(Math.max(...leased)).toBeLessThanOrEqual(2);
    const spareHandles = new Set(creates().map((c) => c.handle));
    await client.Create({ path: "/s2", mode: 0o644 });
    const loc = await client.AddChunk({ path: "/s2", index: 0 });
    expect(spareHandles.has(loc.handle)).toBe(true);
    expect(loc.lease).toMatchObject({ handle: loc.handle, version: 1 });
    expect(loc.lease!.leaseRemainingMs).toBeGreaterThan(spareSettings.lease_ms / 2);
    expect(loc.replicas.map((r) => r.serverId).sort()).toEqual(["sp-a", "sp-b", "sp-c"]);
    // The one spare used is replaced; spares are not files' chunks.
    await eventually(() => creates().length === 12);
    expect((await client.Status({})).chunkCount).toBe(2);
  });

  it("CreateForWriting hands the new file a ready spare as chunk 0, with its lease; an exclusive create of an existing file adds nothing", async () => {
    await heartbeatAll();
    await eventually(() => spareHandles().length === 2);
    const spares = spareHandles();
    const res = await client.CreateForWriting({ path: "/cfw", mode: 0o644 });
    expect(res.info).toMatchObject({ path: "/cfw", chunkCount: 1, size: 0 });
    const chunk = res.firstChunk!;
    expect(chunk.handle).toBe(spares[0]);
    expect(chunk).toMatchObject({ index: 0, version: 1, lease: { handle: chunk.handle, version: 1 } });
    expect(chunk.replicas).toHaveLength(3);
    expect((await client.FindChunks({ path: "/cfw", offset: 0, length: 1 })).chunks[0]!.handle).toBe(chunk.handle);
    const again = await client.CreateForWriting({ path: "/cfw", mode: 0o644, exclusive: true }).then(() => undefined, (e: GfsError) => e);
    expect(again?.errno).toBe("EEXIST");
    expect((await client.Stat({ path: "/cfw" })).chunkCount).toBe(1);
  });

  it("CreateForWriting with a ready spare is ONE commit (createWithChunk) and asks no chunkserver anything while the writer waits", async () => {
    await heartbeatAll();
    await eventually(() => spareHandles().length === 2);
    const spare = spareHandles()[0]!;
    const committed: string[] = [];
    const commit = state.commit.bind(state);
    state.commit = (op) => { committed.push(op.op); return commit(op); };
    const sent = () => servers.reduce((n, s) => n + s.received.length, 0);
    const sentBefore = sent();
    try {
      const res = await client.CreateForWriting({ path: "/cfw-one", mode: 0o644 });
      expect(sent()).toBe(sentBefore); // refills start only after the answer left
      expect(committed).toEqual(["createWithChunk"]);
      expect(res.info).toMatchObject({ path: "/cfw-one", chunkCount: 1, size: 0 });
      expect(res.firstChunk).toMatchObject({ handle: spare, index: 0, version: 1, lease: { handle: spare, version: 1 } });
      expect(res.firstChunk!.lease!.leaseRemainingMs).toBeGreaterThan(0);
      // The lease is the chunk's current lease at version 1: the master grants no other before it ends.
      expect(state.leases.current(spare, now)).toMatchObject({ version: 1 });
      expect(state.chunks.get(spare)).toMatchObject({ version: 1, index: 0, grantSet: res.firstChunk!.replicas.map((r) => r.serverId).sort() });
    } finally {
      state.commit = commit;
    }
  });

  it("CreateForWriting of an existing name: no spare is used up; exclusive fails with EEXIST, non-exclusive keeps the file's own chunk", async () => {
    await heartbeatAll();
    await eventually(() => spareHandles().length === 2);
    await client.CreateForWriting({ path: "/cfw-ex", mode: 0o644 });
    await heartbeatAll();
    await eventually(() => spareHandles().length === 2);
    const spares = spareHandles();
    const first = (await client.FindChunks({ path: "/cfw-ex", offset: 0, length: 1 })).chunks[0]!.handle;
    const again = await client.CreateForWriting({ path: "/cfw-ex", mode: 0o644, exclusive: true }).then(() => undefined, (e: GfsError) => e);
    expect(again?.errno).toBe("EEXIST");
    const reopened = await client.CreateForWriting({ path: "/cfw-ex", mode: 0o644 });
    expect(reopened.firstChunk?.handle).toBe(first);
    expect(spareHandles()).toEqual(spares);
    const missing = await client.CreateForWriting({ path: "/no-such-dir/f", mode: 0o644 }).then(() => undefined, (e: GfsError) => e);
    expect(missing?.errno).toBe("ENOENT");
    expect(spareHandles()).toEqual(spares);
  });

  it("a chunkserver that registers again loses its spares (it may have forgotten their leases): the next chunk is created afresh", async () => {
    await heartbeatAll();
    await client.Create({ path: "/s-re", mode: 0o644 });
    await client.AddChunk({ path: "/s-re", index: 0 }); // makes sure two spares are being made
    await eventually(() => spareHandles().length === 2);
    const before = new Set(creates().map((c) => c.handle));
    const restarted = servers[0]!;
    const reply = await client.Register({ serverId: restarted.id, address: restarted.address, rack: "", capacityBytes: 1000, usedBytes: 10, chunks: [] });
    await client.Create({ path: "/s-re2", mode: 0o644 });
    const loc = await client.AddChunk({ path: "/s-re2", index: 0 });
    expect(before.has(loc.handle)).toBe(false);
    const dropped = [...before].filter((h) => !state.chunks.get(h));
    expect(dropped).toHaveLength(2);
    // Its replicas on the other servers are deleted through their heartbeats.
    const replies = await heartbeatAll();
    const deleted = new Set([...reply.deleteChunks, ...replies.flatMap((r) => r.deleteChunks)]);
    for (const h of dropped) expect(deleted.has(h)).toBe(true);
  });

  it("a spare whose lease is half gone is not handed out: its replicas are deleted and the writer gets a fresh chunk", async () => {
    await heartbeatAll();
    await eventually(() => spareHandles().length === 2);
    const before = new Set(creates().map((c) => c.handle));
    const oldSpares = spareHandles();
    now += spareSettings.lease_ms / 2 + 1;
    await heartbeatAll(); // the servers are alive and heard from; only the spares are old
    await client.Create({ path: "/s3", mode: 0o644 });
    const loc = await client.AddChunk({ path: "/s3", index: 0 });
    expect(before.has(loc.handle)).toBe(false);
    expect(loc.lease!.leaseRemainingMs).toBe(spareSettings.lease_ms);
    const replies = await heartbeatAll();
    const deleted = new Set(replies.flatMap((r) => r.deleteChunks));
    for (const h of oldSpares) {
      expect(state.chunks.get(h)).toBeUndefined();
      expect(deleted.has(h)).toBe(true);
    }
  });
});

async function eventually(ok: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("a crash between logging a bump and telling the replicas (over gRPC)", () => {
  let master: grpc.Server;
  let state: MasterState;
  let client: PromiseClient<MasterClient>;
  let rawClient: MasterClient;
  const pool = new ChunkServerPool();
  const servers: FakeChunkserver[] = [];

  beforeAll(async () => {
    ({ state, master, rawClient, client } = await startMaster(settings, Date.now, pool));
    observedState = state;
    for (const id of ["rb-a", "rb-b", "rb-c"]) servers.push(await fakeChunkserver(id));
  });

  afterAll(async () => {
    rawClient?.close();
    pool.close();
    await Promise.all([master, ...servers.map((s) => s.server)].filter(Boolean).map((s) => stopServer(s, 100)));
  });

  it("lease grant set acceptance of v-1: members one version behind the log are re-announced the logged version (no lease) and become current; others stay stale", async () => {
    const handle = "00000000000000b1";
    await state.commit({ op: "create", path: "/rb", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0]!, timeMs: 1 });
    await state.commit({ op: "addChunk", path: "/rb", index: 0, handle, version: 1, replicas: ["rb-a", "rb-b", "rb-c"] });
    // Logged version 3 for rb-a and rb-b; the master "crashed" before telling them. rb-c missed version 2.
    await state.commit({ op: "bumpVersion", handle, version: 2, replicas: ["rb-a", "rb-b", "rb-c"], primary: "rb-a" });
    await state.commit({ op: "bumpVersion", handle, version: 3, replicas: ["rb-a", "rb-b"], primary: "rb-a" });
    for (const [i, s] of servers.entries()) {
      await client.Register({ serverId: s.id, address: s.address, rack: "", capacityBytes: 1000, usedBytes: 10, chunks: [{ handle, version: i < 2 ? 2 : 1, length: 0 }] });
    }
    await eventually(() => state.chunks.goodReplicas(handle, () => true).length === 2);
    expect(state.chunks.goodReplicas(handle, () => true)).toEqual(["rb-a", "rb-b"]);
    for (const s of servers.slice(0, 2)) expect(s.received).toMatchObject([{ handle, version: 3, create: false, leaseMs: 0 }]);
    expect(servers[2]!.received).toEqual([]);
    expect(state.chunks.get(handle)!.version).toBe(3);
  });

  it("after a suspect claimed version 1000, the next grant (once an operator confirmed safe mode) goes above it, so the claim never becomes a version the master issued", async () => {
    const handle = "00000000000000b2";
    await state.commit({ op: "create", path: "/rb2", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: state.allocIds(1)[0]!, timeMs: 1 });
    await state.commit({ op: "addChunk", path: "/rb2", index: 0, handle, version: 1, replicas: ["rb-a", "rb-b", "rb-c"] });
    for (const s of servers) await client.Heartbeat({ serverId: s.id, capacityBytes: 1000, usedBytes: 10, addedChunks: [{ handle, version: 1, length: 0 }] });
    await client.Register({ serverId: "rb-liar", address: "127.0.0.1:1", rack: "", capacityBytes: 1, usedBytes: 1, chunks: [{ handle, version: 1000, length: 0 }] });
    expect(state.safeMode.active).toBe(true);
    state.safeMode.leave();
    const lease = await client.GetLease({ handle });
    expect(lease.version).toBe(1001);
    expect(lease.primary!.serverId).not.toBe("rb-liar");
    expect([lease.primary!, ...lease.secondaries].map((a) => a.serverId).sort()).toEqual(["rb-a", "rb-b", "rb-c"]);
    expect(state.chunks.suspects(handle)).toEqual(["rb-liar"]);
  });
});
