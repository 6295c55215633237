// Recovery without waiting out a dead primary's lease (issue 14), with real
// processes: the master fences the lease (a logged version bump on the
// surviving replicas, no lease) and copies at once; the old primary, if it
// was only cut off, can never again get a mutation acknowledged.
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { appendInline, ChunkServerPool, writeInline, type FsckResponse__Output, type LeaseInfo__Output } from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { eventually, fsck, TestCluster, type ClusterOptions } from "./harness/cluster";

const MiB = 1024 * 1024;
const LEASE_MS = 60_000;

/** Short heartbeats (dead after ~0.6 s), a long lease: waiting out the lease would be obvious. */
const settings: ClusterOptions = {
  chunkservers: 4, chunkSizeBytes: MiB, heartbeatIntervalMs: 200, heartbeatMisses: 3, leaseMs: LEASE_MS,
  masterArgs: ["--copies-per-server", "4", "--copy-timeout-ms", "10000"],
};

let cluster: TestCluster | undefined;
const clients: GfsClient[] = [];
const stopped: Array<() => void> = [];
const pool = new ChunkServerPool();
afterEach(async () => {
  for (const resume of stopped.splice(0)) resume(); // a SIGSTOPped process must be able to stop
  for (const c of clients.splice(0)) c.close();
  await cluster?.stop();
  cluster = undefined;
});

async function start(): Promise<{ c: TestCluster; client: GfsClient }> {
  cluster = await TestCluster.start(settings);
  return { c: cluster, client: newClient(cluster) };
}

function newClient(c: TestCluster): GfsClient {
  const client = new GfsClient({ master: c.masterAddress, rpc_deadline_ms: 3_000 });
  clients.push(client);
  return client;
}

/** Every chunk under `path` has 3 live, current, uncorrupted replicas, none on `gone`. */
async function backToThree(c: TestCluster, path: string, gone: string): Promise<FsckResponse__Output | undefined> {
  const r = await fsck(c, path);
  const ok = r.files.every((f) => f.chunks.every((ch) =>
    ch.replicas.filter((x) => x.alive && !x.stale && !x.corrupt && !x.suspect && x.version === ch.version && x.serverId !== gone).length >= 3));
  return ok ? r : undefined;
}

/** A file of recognisable bytes, written by `client` (whose leases are then live, 60 s). */
async function writtenFile(client: GfsClient, path: string, bytes: number): Promise<Buffer> {
  const data = randomBytes(bytes);
  await client.create(path);
  await client.write(path, 0, data);
  return data;
}

/** Reads `path` through fresh clients (the master's locations; reads spread over replicas): always `data`. */
async function readsBack(c: TestCluster, path: string, data: Buffer, times = 6): Promise<void> {
  for (let i = 0; i < times; i++) expect((await newClient(c).read(path, 0, data.length)).equals(data)).toBe(true);
}

interface LogLine { msg: string; handle?: string; primary?: string; serverId?: string; version?: number; leaseVersion?: number; why?: string }
const logLines = (text: string): LogLine[] => text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as LogLine);

describe("a dead primary's lease is fenced, not waited out (real processes)", () => {
  it("a SIGKILLed primary under a 60 s lease: its chunks are back at 3 replicas well within the lease length, and read back", async () => {
    const { c, client } = await start();
    const data = await writtenFile(client, "/leased.bin", 2 * MiB + 12345);
    const first = (await fsck(c, "/leased.bin")).files[0]!.chunks[0]!;
    const lease = await client.master.GetLease({ handle: first.handle }); // the writer's, still live
    expect(lease.leaseRemainingMs).toBeGreaterThan(LEASE_MS / 2);
    const victim = c.chunkservers.find((s) => s.serverId === lease.primary!.serverId)!;

    const killedAt = Date.now();
    await c.kill(victim.index);
    await eventually(() => backToThree(c, "/leased.bin", victim.serverId), LEASE_MS, "every chunk back at 3 replicas");
    const took = Date.now() - killedAt;
    // Waiting out the lease would take at least what was left of it (more than half of 60 s).
    expect(took).toBeLessThan(LEASE_MS / 2);

    const fenced = logLines(c.master.log()).filter((l) => l.msg === "dead primary's lease fenced: survivors bumped, copying at once");
    expect(fenced.map((l) => l.handle)).toContain(first.handle);
    expect(fenced.find((l) => l.handle === first.handle)).toMatchObject({ primary: victim.serverId, leaseVersion: lease.version });
    const after = (await fsck(c, "/leased.bin")).files[0]!.chunks[0]!;
    expect(after.version).toBeGreaterThan(lease.version);
    await readsBack(c, "/leased.bin", data);
    // And the chunk takes writes again under a new lease (a new primary, a newer version).
    const next = Buffer.alloc(64 * 1024, 0x5a);
    await client.write("/leased.bin", 0, next);
    const newLease = await client.master.GetLease({ handle: first.handle });
    expect(newLease.primary!.serverId).not.toBe(victim.serverId);
    expect(newLease.version).toBeGreaterThan(after.version - 1);
    await readsBack(c, "/leased.bin", Buffer.concat([next, data.subarray(next.length)]), 3);
  });

  it("an isolated old primary never gets a write or record append acknowledged after the fence; its reported lease is not honoured and its replicas are deleted", async () => {
    const { c, client } = await start();
    // Five small files: their chunks' primaries go round the servers, so one server leads two of them:
    // one chunk for the write and append (their failure gives that lease up), one whose lease it still
    // holds when it registers again.
    const files: Array<{ path: string; data: Buffer; handle: string; lease: LeaseInfo__Output }> = [];
    for (let i = 0; i < 5; i++) {
      const path = `/cut${i}.bin`;
      const data = await writtenFile(client, path, 100 * 1024 + i);
      const handle = (await fsck(c, path)).files[0]!.chunks[0]!.handle;
      files.push({ path, data, handle, lease: await client.master.GetLease({ handle }) }); // what the writer holds
    }
    const byPrimary = new Map<string, typeof files>();
    for (const f of files) byPrimary.set(f.lease.primary!.serverId, [...(byPrimary.get(f.lease.primary!.serverId) ?? []), f]);
    const [oldId, led] = [...byPrimary].sort((a, b) => b[1].length - a[1].length)[0]!;
    const [written, kept] = led as [typeof files[0], typeof files[0]];
    for (const f of [written, kept]) expect(f.lease.leaseRemainingMs).toBeGreaterThan(LEASE_MS / 2);
    const old = c.chunkservers.find((s) => s.serverId === oldId)!;

    // Cut off (not dead): it keeps its state, and believes its leases for the rest of the 60 s.
    old.process.proc.kill("SIGSTOP");
    const resume = () => old.process.proc.kill("SIGCONT");
    stopped.push(resume);
    const stoppedAt = Date.now();
    const healed = await eventually(() => backToThree(c, "/", old.serverId), LEASE_MS, "fenced and re-replicated");
    expect(Date.now() - stoppedAt).toBeLessThan(LEASE_MS / 2); // well inside the old leases
    const versionOf = (h: string) => healed.files.flatMap((f) => f.chunks).find((ch) => ch.handle === h)!.version;
    const fenced = logLines(c.master.log()).filter((l) => l.msg.startsWith("dead primary's lease fenced"));
    for (const f of [written, kept]) {
      expect(versionOf(f.handle)).toBeGreaterThan(f.lease.version);
      expect(fenced.find((l) => l.handle === f.handle)).toMatchObject({ primary: old.serverId, leaseVersion: f.lease.version });
    }

    // A master restart while it is stopped: when it wakes it must register again, reporting the leases it holds.
    const address = c.masterAddress;
    c.master.proc.kill("SIGKILL");
    await c.master.exited;
    await c.startMaster(address);

    // As a client holding the old lease info would: a write and a record append straight to the old primary,
    // sent while it is stopped (they wait in its socket) and after it wakes.
    const evil = Buffer.alloc(4096, 0xee);
    const target = pool.get(old.address);
    const { handle, lease } = written;
    const write = (offset: number) => writeInline(target, {
      handle, version: lease.version, kind: "MUTATION_KIND_WRITE", offset, length: evil.length, secondaries: lease.secondaries, token: lease.token,
    }, evil, 20_000).then(() => "acknowledged", (e: Error) => e.message);
    const append = () => appendInline(target, {
      handle, version: lease.version, length: evil.length, secondaries: lease.secondaries, token: lease.token,
    }, evil, 20_000).then(() => "acknowledged", (e: Error) => e.message);
    const early = [write(0), append()];
    await new Promise((r) => setTimeout(r, 300));
    resume();
    const outcomes = [...(await Promise.all(early)), await write(8192), await append()];
    for (const o of outcomes) expect(o).toMatch(/^E(AGAIN|STALE|NOENT|PERM)/);

    // It registered again reporting the lease it still held: not honoured (the chunk moved on).
    const restarted = c.master;
    await eventually(async () => logLines(restarted.log()).some((l) => l.msg === "chunkserver registered" && l.serverId === old.serverId), 20_000, "old primary registered again");
    const lines = logLines(restarted.log());
    expect(lines.filter((l) => l.msg === "reported lease not honoured" && l.handle === kept.handle))
      .toEqual([expect.objectContaining({ serverId: old.serverId, version: kept.lease.version })]);
    expect(lines.some((l) => l.msg === "lease reported at registration honoured" && l.serverId === old.serverId)).toBe(false);
    // Its replicas are stale: deleted on the master's order (it may take a fresh copy later, at the new version).
    for (const f of [written, kept]) {
      await eventually(async () => old.process.log().split("\n").some((l) => l.includes('"deleted chunk on the master\'s order"') && l.includes(f.handle)),
        20_000, "the old primary's replica deleted");
      const ch = (await fsck(c, "/")).files.flatMap((x) => x.chunks).find((x) => x.handle === f.handle)!;
      for (const r of ch.replicas.filter((x) => x.serverId === old.serverId)) expect(r.version).toBe(ch.version);
    }

    // No reader ever sees those bytes: not through the master's locations, not on any replica it lists.
    await readsBack(c, written.path, written.data);
    const loc = (await client.master.FindChunks({ path: written.path, offset: 0, length: 1 })).chunks[0]!;
    expect(loc.version).toBe(versionOf(handle));
    // (The old primary may be listed again only with a fresh copy at the new version, e.g. when the restarted
    // master planned copies before every survivor had registered: its bytes are checked like the others'.)
    expect(loc.replicas.length).toBeGreaterThanOrEqual(3);
    for (const r of loc.replicas) {
      const got = await pool.get(r.address).api.Read({ handle, version: loc.version, offset: 0, length: written.data.length, token: loc.token });
      expect(got.data.equals(written.data)).toBe(true);
    }
    // A new lease is a new grant at a newer version (to whichever replica: the old primary too, once it holds a fresh copy).
    const fresh = await newClient(c).master.GetLease({ handle: kept.handle });
    expect(fresh.version).toBeGreaterThan(versionOf(kept.handle));
  });
});
