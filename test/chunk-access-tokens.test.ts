// Chunk access tokens (issue 13) with real processes: chunkservers serve
// pushes, writes, appends and reads only with a token the master signed for
// that chunk and access; a forged, expired or other-chunk token is refused,
// on gRPC and on the raw data port; clients refresh expired tokens without
// their users noticing, across a master restart too.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  ChunkServerPool, fromServiceError, pushBuffer, readChunkInto, signChunkToken, writeInline, type ChunkLocation__Output,
} from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { bin, eventually, TestCluster, type ClusterOptions } from "./harness/cluster";
import { sh, TestMount } from "./harness/mount";
import { spawnNode, stopProcess } from "./harness/processes";

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

async function start(o: ClusterOptions = {}) {
  cluster = await TestCluster.start(o);
  const client = new GfsClient({ master: cluster.masterAddress });
  clients.push(client);
  const pool = new ChunkServerPool();
  pools.push(pool);
  return { c: cluster, client, pool };
}

/** A one-chunk file and where its chunk is, with the read token FindChunks gave. */
async function fileWithChunk(client: GfsClient, path: string, data: Buffer): Promise<ChunkLocation__Output> {
  await client.create(path);
  await client.write(path, 0, data);
  const loc = (await client.master.FindChunks({ path, offset: 0, length: 1 })).chunks[0]!;
  expect(loc.token).not.toBe("");
  return loc;
}

/** The errno and message a call failed with ("ok" if it did not fail). */
const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => "ok", (e) => fromServiceError(e).message);

/** A token as the master signs them, for `handle`, with a secret nobody else has: what a forger can make. */
function forgedLike(real: string, handle: string, access: "read" | "write"): string {
  const [, id, expires] = real.split(".");
  return signChunkToken({ id: Number(id), key: randomBytes(32) }, [handle], access, Number(expires));
}

describe("chunk access tokens (real processes)", () => {
  it("a forged token, another chunk's token, a read token for a write, or none, is refused with EACCES on gRPC and on the data port; a valid token works", async () => {
    const { client, pool } = await start();
    const a = Buffer.alloc(100_000, 0x61);
    const locA = await fileWithChunk(client, "/a.bin", a);
    const locB = await fileWithChunk(client, "/b.bin", Buffer.alloc(1000, 0x62));
    const cs = pool.get(locA.replicas[0]!.address);
    const read = (token: string) => ({ handle: locA.handle, version: locA.version, offset: 0, length: a.length, token });
    const bad: Array<[string, string, RegExp]> = [
      ["no token", "", /^EACCES: no chunk access token/],
      ["forged", forgedLike(locA.token, locA.handle, "read"), /^EACCES: .*bad signature/],
      ["another chunk's", locB.token, /^EACCES: chunk access token does not name chunk/],
      ["garbage", "t1.1.2.r.zz.yy", /^EACCES: malformed/],
    ];
    for (const [what, token, refusal] of bad) {
      expect(await outcome(cs.api.Read(read(token))), `gRPC Read, ${what}`).toMatch(refusal);
      expect(await outcome(readChunkInto(cs, read(token), Buffer.alloc(a.length), 0, 5_000)), `data port Read, ${what}`).toMatch(refusal);
    }
    // The valid one reads, on both transports.
    expect((await cs.api.Read(read(locA.token))).data.equals(a)).toBe(true);
    const out = Buffer.alloc(a.length);
    expect((await readChunkInto(cs, read(locA.token), out, 0, 5_000)).bytes).toBe(a.length);
    expect(out.equals(a)).toBe(true);

    // Writes need a write token: a read token, another chunk's write token, or a forged one are refused.
    const lease = await client.master.GetLease({ handle: locA.handle });
    const leaseB = await client.master.GetLease({ handle: locB.handle });
    const primary = pool.get(lease.primary!.address);
    const write = (token: string) => ({ handle: locA.handle, version: lease.version, kind: "MUTATION_KIND_WRITE" as const, offset: 0, length: 4, secondaries: lease.secondaries, token });
    const evil = Buffer.from("EVIL");
    for (const [what, token, refusal] of [
      ["a read token", locA.token, /^EACCES: .*allows reads only/],
      ["another chunk's write token", leaseB.token, /^EACCES: chunk access token does not name chunk/],
      ["a forged write token", forgedLike(lease.token, locA.handle, "write"), /^EACCES: .*bad signature/],
    ] as Array<[string, string, RegExp]>) {
      expect(await outcome(primary.api.Write({ ...write(token), data: evil })), `gRPC Write, ${what}`).toMatch(refusal);
      expect(await outcome(writeInline(primary, write(token), evil, 5_000)), `data port Write, ${what}`).toMatch(refusal);
      expect(await outcome(primary.api.RecordAppend({ handle: locA.handle, version: lease.version, length: 4, secondaries: lease.secondaries, data: evil, token })),
        `gRPC RecordAppend, ${what}`).toMatch(refusal);
      const push = { dataId: `push-${randomBytes(4).toString("hex")}`, chain: [], totalBytes: 4, handle: locA.handle, token };
      expect(await outcome(pushBuffer(primary, push, evil, 5_000)), `data port PushData, ${what}`).toMatch(refusal);
      expect(await outcome(pushBuffer(primary.raw, push, evil, 5_000)), `gRPC PushData, ${what}`).toMatch(refusal);
    }
    // Nothing was written: every replica still holds the old bytes.
    for (const r of locA.replicas) expect((await pool.get(r.address).api.Read(read(locA.token))).data.equals(a)).toBe(true);
    // The lease's write token writes (and allows reads).
    await writeInline(primary, write(lease.token), Buffer.from("GOOD"), 5_000);
    expect((await primary.api.Read(read(lease.token))).data.subarray(0, 4).toString()).toBe("GOOD");
  });

  it("an expired token is refused with ESTALE, and a client holding one refreshes it and carries on (no error to the user)", async () => {
    const ttlMs = 1_500;
    const { c, client, pool } = await start({ masterArgs: ["--chunk-token-ttl-ms", String(ttlMs)], leaseMs: 20_000 });
    const data = randomBytes(300_000);
    const loc = await fileWithChunk(client, "/exp.bin", data);
    await new Promise((r) => setTimeout(r, ttlMs + 200));
    const cs = pool.get(loc.replicas[0]!.address);
    const req = { handle: loc.handle, version: loc.version, offset: 0, length: 10, token: loc.token };
    expect(await outcome(cs.api.Read(req))).toMatch(/^ESTALE: chunk access token expired/);
    expect(await outcome(readChunkInto(cs, req, Buffer.alloc(10), 0, 5_000))).toMatch(/^ESTALE: chunk access token expired/);
    // The client's cached lease (20 s) carries a token that expired: its writes still succeed, as do reads.
    await client.write("/exp.bin", 0, Buffer.from("still writable"));
    await new Promise((r) => setTimeout(r, ttlMs + 200));
    await client.write("/exp.bin", 100_000, Buffer.alloc(200_000, 7)); // a pushed write, token expired again
    await client.append("/exp.bin", Buffer.from("record"));
    const back = await client.read("/exp.bin", 0, 14);
    expect(back.toString()).toBe("still writable");
    // The CLI, across an expiry between its own calls' tokens and the data.
    const put = await c.gfs(["put", "-", "/cli.bin"], data);
    expect(put.code, put.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, ttlMs + 200));
    const get = await c.gfs(["get", "/cli.bin", "-"]);
    expect(get.code, get.stderr).toBe(0);
    expect(Buffer.from(get.stdout, "latin1").equals(data)).toBe(true);
  });

  it("after a master restart, tokens of the old master are refused as stale (unknown key), and reads and writes carry on", async () => {
    const { c, client, pool } = await start();
    const data = randomBytes(200_000);
    const loc = await fileWithChunk(client, "/r.bin", data);
    const address = c.masterAddress;
    await stopProcess(c.master);
    await c.startMaster(address);
    // Every chunkserver re-registers and gets the new master's keys.
    const cs = pool.get(loc.replicas[0]!.address);
    const req = { handle: loc.handle, version: loc.version, offset: 0, length: data.length, token: loc.token };
    await eventually(async () => /^ESTALE: .*does not know/.test(await outcome(cs.api.Read(req))), 15_000, "old token refused as unknown key");
    // The same client (its lease and its locations cached before the restart) reads and writes on.
    expect((await eventually(() => client.read("/r.bin", 0, data.length), 20_000, "read after restart")).equals(data)).toBe(true);
    await eventually(async () => { await client.write("/r.bin", 0, Buffer.from("after")); return true; }, 20_000, "write after restart");
    const get = await c.gfs(["get", "/r.bin", "-"]);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout.slice(0, 5)).toBe("after");
  });

  it("a mount keeps reading and writing a file across token expiries (its cached leases and locations refresh their tokens)", async () => {
    const ttlMs = 1_500;
    const { c } = await start({ masterArgs: ["--chunk-token-ttl-ms", String(ttlMs)], leaseMs: 20_000 });
    mount = await TestMount.start(c);
    const m = mount.mountpoint;
    const wait = (ttlMs + 300) / 1000;
    const r = await sh(`set -e; head -c 3000000 /dev/urandom > ${c.dir}/src; cp ${c.dir}/src ${m}/f; sleep ${wait};
      dd if=${c.dir}/src of=${m}/f bs=64k count=20 conv=notrunc status=none; sleep ${wait};
      echo tail >> ${m}/f; echo tail >> ${c.dir}/src; sleep ${wait}; cmp ${c.dir}/src ${m}/f`);
    expect(r.code, r.stderr + r.stdout).toBe(0);
  });

  it("rotated keys reach every chunkserver by heartbeat before they sign: fresh tokens always verify, across several rotations", async () => {
    const { client, pool } = await start({ masterArgs: ["--chunk-token-key-rotate-ms", "1000", "--chunk-token-ttl-ms", "1500"] });
    const data = randomBytes(50_000);
    await fileWithChunk(client, "/rot.bin", data);
    const keyIds = new Set<string>();
    const until = Date.now() + 4_500;
    while (Date.now() < until) {
      // A fresh token, used at once on every replica directly (no client retry could hide an "unknown key").
      const loc = (await client.master.FindChunks({ path: "/rot.bin", offset: 0, length: 1 })).chunks[0]!;
      keyIds.add(loc.token.split(".")[1]!);
      for (const r of loc.replicas) {
        const res = await pool.get(r.address).api.Read({ handle: loc.handle, version: loc.version, offset: 0, length: data.length, token: loc.token });
        expect(res.data.equals(data)).toBe(true);
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(keyIds.size).toBeGreaterThanOrEqual(4); // signed with four or more keys in turn
  });

  it("a master refuses to start with keys rotating faster than two heartbeats (chunkservers would not know a key before it signs)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gfs-rotate-"));
    try {
      const p = spawnNode(bin.master, ["--insecure", "--listen", "127.0.0.1:0", "--data", join(dir, "m"),
        "--heartbeat-interval-ms", "5000", "--chunk-token-key-rotate-ms", "9000"]);
      try {
        const exit = await Promise.race([p.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
        expect(exit?.code, "the master kept running").toBe(2);
      } finally {
        await stopProcess(p);
      }
      expect(p.log()).toMatch(/--chunk-token-key-rotate-ms 9000 must be at least twice --heartbeat-interval-ms 5000/);
      await expect(stat(join(dir, "m"))).rejects.toMatchObject({ code: "ENOENT" }); // nothing made
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("an --insecure cluster checks tokens too (keys travel in the clear there: benchmarks only)", async () => {
    cluster = await TestCluster.start({ insecure: true, chunkservers: 1, replication: 1 });
    const client = new GfsClient(cluster.clientOptions());
    clients.push(client);
    const loc = await fileWithChunk(client, "/plain.bin", Buffer.alloc(10, 1));
    const pool = new ChunkServerPool({ security: client.security });
    pools.push(pool);
    const cs = pool.get(loc.replicas[0]!.address);
    const req = { handle: loc.handle, version: loc.version, offset: 0, length: 10 };
    expect(await outcome(cs.api.Read({ ...req, token: "" }))).toMatch(/^EACCES: no chunk access token/);
    expect(await outcome(cs.api.Read({ ...req, token: forgedLike(loc.token, loc.handle, "read") }))).toMatch(/^EACCES: .*bad signature/);
    expect((await cs.api.Read({ ...req, token: loc.token })).data.equals(Buffer.alloc(10, 1))).toBe(true);
  });
});
