// Issue 13, authentication of chunkservers by name: a chunkserver's certificate
// names its server id, and every connection to a chunkserver whose id the
// caller knows checks that name in the TLS handshake. A process holding some
// other valid chunkserver certificate that listens where a known server was
// (say a dead one's address) is refused by clients, on gRPC and the data port,
// and receives no order from the master. Real processes.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import { ChunkServerPool, DataChannel, fromServiceError, isTransient, loadTlsIdentity, pushBuffer, tlsTransport, writeInline, type TransportSecurity } from "@gfs/common";
import { bin, eventually, TestCluster } from "./harness/cluster";
import { spawnNode, stopProcess, type Spawned } from "./harness/processes";

const mismatch = (address: string, name: string, expected: string) =>
  `chunkserver at ${address} is not the server expected: certificate names "${name}", expected server id "${expected}"`;

describe("a chunkserver's certificate must name the server id the caller expects (real processes)", () => {
  let c: TestCluster;
  let dir: string;
  let security: TransportSecurity;
  let impostorId: string;
  const started: Spawned[] = [];
  const pools: ChunkServerPool[] = [];

  /**
   * A real chunkserver process with a valid chunkserver certificate of the
   * cluster's CA named "impostor", listening on `listen`; its master address
   * leads nowhere, so it never registers and is known to no one by name.
   */
  async function startImpostor(listen: string, dataListen?: string): Promise<{ p: Spawned; address: string; dataAddress: string; dataDir: string }> {
    const dataDir = await mkdtemp(join(dir, "impostor-"));
    const p = spawnNode(bin.chunkserver, ["--tls-dir", impostorId, "--listen", listen, "--master", "127.0.0.1:1", "--data", dataDir,
      "--master-wait-ms", "600000", ...(dataListen ? ["--data-listen", dataListen] : [])]);
    started.push(p);
    const rec = await p.waitForLog("chunkserver listening");
    return { p, address: String(rec.address), dataAddress: String(rec.dataAddress), dataDir };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gfs-csid-"));
    // A dead server is noticed only after 100 missed heartbeats (20 s), and a lease lasts 30 s: time for another
    // process to take its address and for a test to use a lease taken before, on a loaded machine. A death noticed
    // sooner has the master revoke the lease (the chunk is short of a replica), and the primary then refuses the
    // write as "not primary" before any forwarding is tried.
    c = await TestCluster.start({ chunkservers: 3, replication: 3, heartbeatIntervalMs: 200, heartbeatMisses: 100, leaseMs: 30_000 });
    security = tlsTransport(loadTlsIdentity(c.tlsDir("admin")));
    impostorId = await c.issue("chunkserver", "impostor");
  });
  afterEach(async () => {
    for (const p of started.splice(0)) await stopProcess(p);
    for (const p of pools.splice(0)) p.close();
  });
  afterAll(async () => {
    await c?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("a client refuses a chunkserver whose certificate names another server id, on gRPC and the data port", async () => {
    const imp = await startImpostor("127.0.0.1:0");
    const pool = new ChunkServerPool({ security });
    pools.push(pool);
    // gRPC: expecting cs1 at the impostor's address fails in the handshake with one line naming all three.
    const e = await pool.get({ address: imp.address, serverId: "cs1" }).api.Stats({}, { timeoutMs: 5_000 }).then(() => undefined, (x: Error) => x);
    expect(e?.message).toContain(mismatch(imp.address, "impostor", "cs1"));
    // A transport failure, as an unreachable server (the client looks the chunk up again), not data or a refusal.
    expect(isTransient(e)).toBe(true);
    // The control: expecting the name it has, the same process answers.
    expect((await pool.get({ address: imp.address, serverId: "impostor" }).api.Stats({}, { timeoutMs: 5_000 })).dataAddress).toBe(imp.dataAddress);
    // Nor does the pool serve the checked connection to a caller expecting another id at that address.
    await expect(pool.get({ address: imp.address, serverId: "cs2" }).api.Stats({}, { timeoutMs: 5_000 }))
      .rejects.toThrow(mismatch(imp.address, "impostor", "cs2"));
    // And through the pool's data channel: found through the checked gRPC channel, checked again.
    await expect(pool.get({ address: imp.address, serverId: "cs1" }).data()).rejects.toThrow(/expected server id "cs1"/);

    // The data port: a read expecting cs1 is refused in the handshake, before any byte of the chunk.
    const read = (id: string) => {
      const ch = new DataChannel(imp.dataAddress, undefined, security, id);
      return ch.readInto({ handle: "0000000000000001", version: 1, offset: 0, length: 10 }, Buffer.alloc(10), 0, 5_000)
        .then(() => "ok", (x: Error) => { expect(isTransient(x), x.message).toBe(true); return x.message; }).finally(() => ch.close());
    };
    expect(await read("cs1")).toContain(mismatch(imp.dataAddress, "impostor", "cs1"));
    // The control: expecting "impostor", the handshake passes and the server itself answers (no token: refused by it).
    const ch = new DataChannel(imp.dataAddress, undefined, security, "impostor");
    const control = await ch.readInto({ handle: "0000000000000001", version: 1, offset: 0, length: 10 }, Buffer.alloc(10), 0, 5_000)
      .then(() => "ok", (x: Error) => x.message).finally(() => ch.close());
    expect(control).not.toMatch(/not the server expected/);
    expect(control).not.toMatch(/cannot reach/);
  });

  it("the master refuses to send an order to a process holding another chunkserver's certificate at a dead server's address", async () => {
    const victim = c.chunkservers[0];
    await c.kill(0);
    // The impostor takes the dead server's gRPC address before the master notices the death.
    const imp = await startImpostor(victim.address);
    expect(imp.address).toBe(victim.address);
    // New chunks go on all 3 servers the master believes alive (replication 3): the creation orders reach the address.
    const put = c.gfs(["--timeout-ms", "15000", "put", "-", "/after-takeover"], Buffer.from("written while cs0 is dead"));
    // The master logs the refusal (JSON: quotes escaped), naming the address, the id it expected and the certificate's name.
    const logged = JSON.stringify(mismatch(victim.address, "impostor", victim.serverId)).slice(1, -1);
    await eventually(async () => c.master.log().includes(logged), 20_000, "the master's order refused in the handshake");
    // Nothing the master ordered reached the impostor: no chunk was created in its data dir.
    expect(await readdir(join(imp.dataDir, "chunks")).catch(() => [])).toEqual([]);
    // With replication 3 and a server short, the writer may fail (EAGAIN); it never reports data it did not store.
    const r = await put;
    if (r.code === 0) expect((await c.gfs(["get", "/after-takeover", "-"])).stdout).toBe("written while cs0 is dead");
    expect(await readdir(join(imp.dataDir, "chunks")).catch(() => [])).toEqual([]);
    // The real cs0 back at its address (certificate "cs0"): the master's orders reach it again and writes succeed.
    await stopProcess(imp.p);
    await c.startChunkserver(0);
    await eventually(async () => (await c.gfs(["--timeout-ms", "5000", "put", "-", "/after-return"], Buffer.from("back"))).code === 0, 20_000, "a write with cs0 back");
    expect((await c.gfs(["get", "/after-return", "-"])).stdout).toBe("back");
  });

  it("a primary forwards neither a push nor a mutation to a process holding another chunkserver's certificate at a secondary's addresses", async () => {
    const client = new GfsClient(c.clientOptions());
    const pool = new ChunkServerPool({ security });
    pools.push(pool);
    try {
      await client.create("/forwarded");
      await client.write("/forwarded", 0, Buffer.from("original"));
      const { handle } = (await client.master.FindChunks({ path: "/forwarded", offset: 0, length: 1 })).chunks[0]!;
      const lease = await client.master.GetLease({ handle });
      const victim = lease.secondaries[0]!;
      // The secondary dies; the impostor takes its gRPC and data addresses before the master notices.
      await c.kill(c.chunkservers.findIndex((s) => s.serverId === victim.serverId));
      const imp = await startImpostor(victim.address, victim.dataAddress);
      const refused = new RegExp(`certificate names "impostor", expected server id "${victim.serverId}"`);
      // Readers (fresh clients, whichever replica they try first) take the address for an unreachable server and read the data elsewhere.
      for (let k = 0; k < 4; k++) {
        const r = await c.gfs(["--timeout-ms", "10000", "get", "/forwarded", "-"]);
        expect(r.stdout, r.stderr).toBe("original");
      }
      const outcome = (p: Promise<unknown>) => p.then(() => "ok", (e) => fromServiceError(e).message);
      // A push whose chain names the secondary: the primary's forward is refused in the handshake.
      const push = { dataId: "fwd-1", chain: [victim], totalBytes: 4, handle, token: lease.token };
      expect(await outcome(pushBuffer(pool.get(lease.primary!), push, Buffer.from("EVIL"), 10_000))).toMatch(refused);
      // A small write the primary applies and orders to its secondaries (inline): the order is refused the same way.
      const write = { handle, version: lease.version, kind: "MUTATION_KIND_WRITE" as const, offset: 0, length: 4, secondaries: lease.secondaries, token: lease.token };
      expect(await outcome(writeInline(pool.get(lease.primary!), write, Buffer.from("EVIL"), 10_000))).toMatch(refused);
      expect(await readdir(join(imp.dataDir, "chunks")).catch(() => [])).toEqual([]);
    } finally {
      client.close();
    }
  });
});
