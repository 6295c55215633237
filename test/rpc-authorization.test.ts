// Role authorization (issue 13) with real processes on mutual TLS: who may
// call what is decided by the caller's certificate (rpc-roles.ts), and a
// chunkserver's identity is its certificate.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  applyInline, ChunkServerPool, fromServiceError, loadTlsIdentity, masterDefinition, newMasterClient, promiseClient, tlsTransport,
  type MasterClient, type PromiseClient,
} from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { bin, TestCluster } from "./harness/cluster";
import { spawnNode, stopProcess } from "./harness/processes";

let cluster: TestCluster | undefined;
const closers: Array<() => void> = [];

afterEach(async () => {
  for (const c of closers.splice(0)) c();
  await cluster?.stop();
  cluster = undefined;
});

const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => "ok", (e) => fromServiceError(e).message);

/** A Master client speaking with identity dir `dir`. */
function masterAs(c: TestCluster, dir: string): PromiseClient<MasterClient> {
  const raw = newMasterClient(c.masterAddress, tlsTransport(loadTlsIdentity(dir)));
  closers.push(() => raw.close());
  return promiseClient(raw, masterDefinition());
}

/** A chunkserver connection pool speaking with identity dir `dir`. */
function poolAs(dir: string): ChunkServerPool {
  const pool = new ChunkServerPool({ security: tlsTransport(loadTlsIdentity(dir)) });
  closers.push(() => pool.close());
  return pool;
}

const registration = (serverId: string) => ({ serverId, address: "127.0.0.1:1", rack: "", capacityBytes: 2 ** 50, usedBytes: 0, chunks: [] });

/** A file written through the cluster, and its chunk with the lease the master gives for it. */
async function writtenFile(c: TestCluster, path: string) {
  const client = new GfsClient(c.clientOptions());
  closers.push(() => client.close());
  const data = randomBytes(100_000);
  await client.create(path);
  await client.write(path, 0, data);
  const loc = (await client.master.FindChunks({ path, offset: 0, length: 1 })).chunks[0]!;
  const lease = await client.master.GetLease({ handle: loc.handle });
  return { client, data, loc, lease };
}

describe("role authorization (real processes, mutual TLS)", () => {
  it("a client certificate (user, mount or admin) cannot Register or Heartbeat as a chunkserver", async () => {
    const c = cluster = await TestCluster.start({ chunkservers: 1 });
    const user = await c.issue("user", "alice", { uid: 1000 });
    for (const dir of [user, c.tlsDir("mount"), c.tlsDir("admin")]) {
      const m = masterAs(c, dir);
      expect(await outcome(m.Register(registration("cs9")))).toMatch(/^EACCES: Master.Register needs a chunkserver certificate/);
      expect(await outcome(m.Heartbeat({ serverId: "cs0", capacityBytes: 1, usedBytes: 0, chunkCount: 0, load: 0 })))
        .toMatch(/^EACCES: Master.Heartbeat needs a chunkserver certificate/);
    }
    // Nothing registered: the cluster still has its one chunkserver.
    const status = await new GfsClient(c.clientOptions()).status();
    expect(status.chunkservers.map((s) => s.serverId)).toEqual(["cs0"]);
    // Nor does a chunkserver process start with a client certificate.
    const p = spawnNode(bin.chunkserver, ["--tls-dir", user, "--master", c.masterAddress, "--data", join(c.dir, "evil")]);
    const exit = await p.exited;
    expect(exit.code).not.toBe(0);
    expect(p.log()).toMatch(/tls.crt is a user certificate.*needs a chunkserver certificate/);
  });

  it("a chunkserver certificate cannot Register or Heartbeat under another chunkserver's id", async () => {
    const c = cluster = await TestCluster.start({ chunkservers: 2 });
    const m = masterAs(c, c.tlsDir("cs1"));
    expect(await outcome(m.Register(registration("cs0")))).toMatch(/^EACCES: Register as chunkserver "cs0" refused: the caller's certificate is chunkserver "cs1"/);
    expect(await outcome(m.Heartbeat({ serverId: "cs0", capacityBytes: 1, usedBytes: 0, chunkCount: 0, load: 0 })))
      .toMatch(/^EACCES: Heartbeat as chunkserver "cs0" refused/);
    // cs0 is still where it was.
    const status = await new GfsClient(c.clientOptions()).status();
    expect(status.chunkservers.find((s) => s.serverId === "cs0")?.address).toBe(c.chunkservers[0]!.address);
    // A process with cs1's certificate on cs0's data dir refuses to start, in one line.
    await stopProcess(c.chunkservers[0]!.process);
    const p = spawnNode(bin.chunkserver, ["--tls-dir", c.tlsDir("cs1"), "--master", c.masterAddress, "--data", c.chunkservers[0]!.dataDir]);
    expect((await p.exited).code).not.toBe(0);
    expect(p.log()).toMatch(/belongs to chunkserver 'cs0', but this server's certificate names 'cs1'/);
  });

  it("a chunkserver certificate cannot send SetChunkVersion, CreateChunks or RevokeLease to another chunkserver", async () => {
    const c = cluster = await TestCluster.start();
    const { loc, lease, client, data } = await writtenFile(c, "/orders.bin");
    const victim = loc.replicas.find((r) => r.serverId !== "cs0") ?? loc.replicas[0]!;
    const other = c.chunkservers.find((s) => s.serverId !== victim.serverId)!;
    const api = poolAs(c.tlsDir(`cs${other.index}`)).get(victim.address).api;
    const needsMaster = /^EACCES: ChunkServer\.\w+ needs a master certificate; caller is chunkserver/;
    expect(await outcome(api.SetChunkVersion({ handle: loc.handle, version: loc.version + 1, leaseMs: 60_000, leaseToken: "x" }))).toMatch(needsMaster);
    expect(await outcome(api.CreateChunks({ chunks: [{ handle: "00000000deadbeef", version: 1 }] }))).toMatch(needsMaster);
    expect(await outcome(api.RevokeLease({ handle: loc.handle, version: lease.version }))).toMatch(needsMaster);
    // Nor may a client send them.
    const asAdmin = poolAs(c.tlsDir("admin")).get(victim.address).api;
    expect(await outcome(asAdmin.SetChunkVersion({ handle: loc.handle, version: loc.version + 1 }))).toMatch(/needs a master certificate; caller is admin/);
    // Nothing moved: the chunk is at its version everywhere and reads back.
    const fsck = await client.fsck("/orders.bin");
    expect(fsck.files[0]!.chunks[0]!.state).toBe("CHUNK_STATE_HEALTHY");
    expect((await client.read("/orders.bin", 0, data.length)).equals(data)).toBe(true);
  });

  it("a client certificate cannot call ApplyMutation or FetchChunk, on gRPC or the data port", async () => {
    const c = cluster = await TestCluster.start();
    const { loc, client, data } = await writtenFile(c, "/apply.bin");
    const user = await c.issue("user", "bob", { uid: 1001 });
    for (const dir of [user, c.tlsDir("admin"), c.tlsDir("mount")]) {
      const conn = poolAs(dir).get(loc.replicas[0]!.address);
      const apply = { handle: loc.handle, version: loc.version, serial: 1, kind: "MUTATION_KIND_WRITE" as const, offset: 0, length: 4, data: Buffer.from("EVIL"), leaseToken: "" };
      expect(await outcome(conn.api.ApplyMutation(apply))).toMatch(/^EACCES: ChunkServer.ApplyMutation needs a chunkserver certificate/);
      expect(await outcome(applyInline(conn, apply, Buffer.from("EVIL"), 5_000))).toMatch(/^EACCES: data transport ApplyMutation needs a chunkserver certificate/);
      const fetched = await new Promise<string>((resolve) => {
        const s = conn.raw.FetchChunk({ handle: loc.handle, version: loc.version });
        s.on("data", () => {});
        s.on("error", (e) => resolve(fromServiceError(e).message));
        s.on("end", () => resolve("ok"));
      });
      expect(fetched).toMatch(/^EACCES: ChunkServer.FetchChunk needs a chunkserver certificate/);
    }
    expect((await client.read("/apply.bin", 0, data.length)).equals(data)).toBe(true);
  });

  it("cluster commands need an admin certificate: gfs gc --confirm and fsck fail for a user and a mount, work for admin", async () => {
    const c = cluster = await TestCluster.start({ chunkservers: 1, replication: 1 });
    const user = await c.issue("user", "carol", { uid: 1002 });
    for (const dir of [user, c.tlsDir("mount")]) {
      const gc = await c.gfs(["gc", "--confirm"], undefined, { tlsDir: dir });
      expect(gc.code).toBe(1);
      expect(gc.stderr).toMatch(/ConfirmGc needs an admin certificate|permission denied|EACCES/i);
      const fsck = await c.gfs(["fsck", "/"], undefined, { tlsDir: dir });
      expect(fsck.code).toBe(1);
      // Status is open to every client role (capacity and health, no file names).
      expect((await c.gfs(["status"], undefined, { tlsDir: dir })).code).toBe(0);
    }
    expect((await c.gfs(["gc", "--confirm"])).code).toBe(0);
    expect((await c.gfs(["fsck", "/"])).code).toBe(0);
  });
});
