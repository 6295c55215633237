// Issue 19, with real processes: hard links and special files through the
// master's Link and Mknod (client-core), surviving a master restart from the
// op log and from a checkpoint; a linked file's chunks freed only with its
// last name.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import { eventually, TestCluster } from "./harness/cluster";

const CHUNK = 64 * 1024;
const data = Buffer.from(Array.from({ length: CHUNK + 1000 }, (_, i) => i % 251)); // two chunks

async function chunkFiles(dataDir: string): Promise<number> {
  return (await readdir(join(dataDir, "chunks"), { recursive: true }).catch(() => [])).map(String).filter((n) => n.endsWith(".chunk")).length;
}

describe("hard links and special files (real processes)", () => {
  let cluster: TestCluster;
  let client: GfsClient;
  let bob: GfsClient;

  const restartMaster = (extraArgs: string[] = []) => cluster.restartMaster(extraArgs);

  beforeAll(async () => {
    cluster = await TestCluster.start({ chunkservers: 1, replication: 1, chunkSizeBytes: CHUNK, heartbeatMisses: 10, leaseMs: 1000 });
    client = new GfsClient({ ...cluster.clientOptions(), client_attempts_max: 8 });
    bob = new GfsClient({ ...cluster.clientOptions(), caller: { uid: 1001, gid: 1001, groups: [1001] } });
  });
  afterAll(async () => {
    client?.close();
    bob?.close();
    await cluster?.stop();
  });

  it("a link is a second name of the same inode: same id, nlink 2, the same data; unlink of one name keeps the other", async () => {
    await client.mkdir("/d");
    await client.create("/a", { exclusive: true });
    await client.write("/a", 0, data);
    const linked = await client.link("/a", "/d/b");
    const a = await client.stat("/a");
    expect(linked).toMatchObject({ id: a.id, nlink: 2 });
    expect(a.nlink).toBe(2);
    expect(Buffer.compare(await client.read("/d/b", 0, data.length), data)).toBe(0);
    await expect(client.link("/d", "/d2")).rejects.toThrow(/EPERM/);
    await expect(client.link("/a", "/d/b")).rejects.toThrow(/EEXIST/);
    await client.unlink("/a");
    expect(await client.stat("/d/b")).toMatchObject({ id: a.id, nlink: 1, size: data.length });
    expect(Buffer.compare(await client.read("/d/b", 0, data.length), data)).toBe(0);
  });

  it("mknod makes FIFOs and sockets for anyone who may create, device nodes for root only (EPERM otherwise)", async () => {
    await client.mkdir("/open", { mode: 0o777 });
    await client.setAttributes("/open", { mode: 0o777 });
    expect(await bob.mknod("/open/fifo", { type: "fifo", mode: 0o640 })).toMatchObject({ type: "FILE_TYPE_FIFO", mode: 0o640, uid: 1001, nlink: 1 });
    expect((await bob.mknod("/open/sock", { type: "sock", mode: 0o755 })).type).toBe("FILE_TYPE_SOCKET");
    await expect(bob.mknod("/open/null", { type: "chr", mode: 0o666, rdev: 0x103 })).rejects.toThrow(/EPERM/);
    expect(await client.mknod("/open/null", { type: "chr", mode: 0o666, rdev: 0x103 })).toMatchObject({ type: "FILE_TYPE_CHAR_DEVICE", rdev: 0x103 });
    expect((await client.mknod("/open/sda", { type: "blk", mode: 0o660, rdev: 0x800 })).rdev).toBe(0x800);
    await expect(bob.mknod("/d/nope", { type: "fifo", mode: 0o644 })).rejects.toThrow(/EACCES/);
  });

  it("link needs write on the new name's directory, and (protected_hardlinks) a file others may read and write", async () => {
    await client.create("/open/roots", { mode: 0o644 });
    await expect(bob.link("/open/roots", "/open/bobs-link")).rejects.toThrow(/EPERM/);
    await expect(bob.link("/open/fifo", "/d/x")).rejects.toThrow(/EACCES/);
    expect((await bob.link("/open/fifo", "/open/fifo2")).nlink).toBe(2);
  });

  it("links, specials and nlink survive a master restart from the op log", async () => {
    const before = await client.stat("/d/b");
    await client.link("/d/b", "/c");
    await restartMaster();
    expect(await client.stat("/c")).toMatchObject({ id: before.id, nlink: 2 });
    expect(await client.stat("/open/fifo2")).toMatchObject({ type: "FILE_TYPE_FIFO", nlink: 2 });
    expect((await client.stat("/open/null")).rdev).toBe(0x103);
    expect(Buffer.compare(await client.read("/c", 0, data.length), data)).toBe(0);
  });

  it("links, specials and nlink survive a master restart from a checkpoint", async () => {
    await restartMaster(["--checkpoint-every-records", "5"]);
    const id = (await client.stat("/c")).id;
    for (let i = 0; i < 6; i++) await client.mkdir(`/cp${i}`);
    await eventually(async () => /"checkpoint written"/.test(cluster.master.log()), 10_000, "a checkpoint");
    const rec = await restartMaster();
    expect(Number(rec.checkpointSeq)).toBeGreaterThan(0);
    expect(await client.stat("/d/b")).toMatchObject({ id, nlink: 2 });
    expect(await client.stat("/open/sda")).toMatchObject({ type: "FILE_TYPE_BLOCK_DEVICE", rdev: 0x800 });
    expect((await client.stat("/")).nlink).toBe(2 + 2 + 6); // ".", its entry; /d, /open; /cp0../cp5 (files do not count)
    expect(Buffer.compare(await client.read("/d/b", 0, data.length), data)).toBe(0);
  });

  it("a linked file's chunks are freed only when its last name is gone", async () => {
    const cs = cluster.chunkservers[0]!;
    const before = await chunkFiles(cs.dataDir);
    expect(before).toBeGreaterThanOrEqual(2);
    await client.unlink("/d/b");
    // Give the garbage collector a chance it must not take: a few heartbeats later the chunks are all there.
    await new Promise((r) => setTimeout(r, 10 * cluster.options.heartbeatIntervalMs));
    expect(await chunkFiles(cs.dataDir)).toBe(before);
    expect(Buffer.compare(await client.read("/c", 0, data.length), data)).toBe(0);
    await client.unlink("/c");
    await eventually(async () => (await chunkFiles(cs.dataDir)) <= before - 2, 20_000, "the file's two chunks deleted");
  });
});
