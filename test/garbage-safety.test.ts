// Garbage collection never runs on a shrunken namespace (issue 12, finding 4),
// with real processes: a master that lost op-log records (a corrupt WAL frame)
// or was started on other metadata deletes no chunk; chunks it does not know
// are quarantined (restorable) and deleted only after their retention; many
// unknown chunks put it in a read-only safe mode until `gfs gc --confirm`.
import { randomBytes } from "node:crypto";
import { cp, open, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { fromServiceError } from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { eventually, TestCluster } from "./harness/cluster";

const CHUNK = 256 * 1024;

/** Handles of the chunk files under `dir` (chunks/ and quarantine/), by where they are. */
async function chunkFiles(dataDir: string): Promise<{ live: Set<string>; quarantined: Set<string> }> {
  // A recursive readdir throws ENOENT when an entry directory is removed
  // mid-walk (a restore or an expiry on the chunkserver): that is not "empty",
  // so only a missing top directory reads as no files; otherwise look again.
  const names = async (d: string, recursive: boolean): Promise<string[]> => {
    for (;;) {
      try {
        return (await readdir(d, { recursive })).map(String).filter((n) => n.endsWith(".chunk"))
          .map((n) => n.slice(n.lastIndexOf("/") + 1, -".chunk".length));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        if (!(await stat(d).then(() => true, () => false))) return [];
      }
    }
  };
  return { live: new Set(await names(join(dataDir, "chunks"), false)), quarantined: new Set(await names(join(dataDir, "quarantine"), true)) };
}

async function allAlive(client: GfsClient, n: number): Promise<boolean> {
  return (await client.status()).chunkservers.filter((s) => s.alive).length === n;
}

async function killMaster(cluster: TestCluster): Promise<string> {
  const address = cluster.masterAddress;
  cluster.master.proc.kill("SIGKILL");
  await cluster.master.exited;
  return address;
}

/** Waits until every chunkserver registered with the current master (they re-register when it restarts). */
async function registered(cluster: TestCluster, client: GfsClient): Promise<void> {
  await eventually(() => allAlive(client, cluster.chunkservers.length), 20_000, "chunkservers registered");
  // Registration replies are applied by the chunkservers after the master counted them: give them a few heartbeats.
  await new Promise((r) => setTimeout(r, 8 * cluster.options.heartbeatIntervalMs));
}

describe("garbage collection on a shrunken namespace (real processes)", () => {
  let cluster: TestCluster | undefined;
  const clients: GfsClient[] = [];
  const client = (c: TestCluster) => {
    const k = new GfsClient({ master: c.masterAddress, client_attempts_max: 8 });
    clients.push(k);
    return k;
  };
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await cluster?.stop();
    cluster = undefined;
  });

  it("a corrupt op-log frame never leads to deleted chunks: safe mode, then every file back after restoring the metadata", async () => {
    cluster = await TestCluster.start({
      chunkSizeBytes: CHUNK, heartbeatIntervalMs: 200, leaseMs: 2_000,
      masterArgs: ["--checkpoint-interval-ms", "3600000", "--checkpoint-every-records", "1000000"],
    });
    const c = client(cluster);
    const masterDir = join(cluster.dir, "master");
    const wal = join(masterDir, "oplog.sqlite-wal");
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 3; i++) {
      files.set(`/early${i}`, randomBytes(10_000 + i));
      await c.create(`/early${i}`);
      await c.write(`/early${i}`, 0, files.get(`/early${i}`)!);
    }
    const walAfterEarly = (await stat(wal)).size;
    // More files, each with a chunk holding data, than the master's default threshold (16) for unknown chunks.
    for (let i = 0; i < 24; i++) {
      const data = randomBytes(5_000 + i * 100);
      files.set(`/late${i}`, data);
      await c.create(`/late${i}`);
      await c.write(`/late${i}`, 0, data);
    }
    // What the restarted master must not delete is what the chunkservers hold once the first master is gone.
    // That master still deletes legitimately until then: the spare chunks it made for the writers expire after
    // half a lease (1 s here) and are deleted on the next heartbeat reply, and a replica may be fenced and copied
    // again. So settle first (every chunkserver holds exactly the files' chunks), then stop it, then look.
    const fileChunks = new Set((JSON.parse((await cluster.gfs(["fsck", "/", "--json"])).stdout) as { files: { chunks: { handle: string }[] }[] })
      .files.flatMap((f) => f.chunks.map((ch) => ch.handle)));
    expect(fileChunks.size).toBe(files.size);
    const holdExactly = async () => (await Promise.all(cluster!.chunkservers.map((s) => chunkFiles(s.dataDir))))
      .every((d) => d.live.size === fileChunks.size && [...fileChunks].every((h) => d.live.has(h)));
    await eventually(holdExactly, 30_000, "every chunkserver holds exactly the files' chunks (spares expired and deleted)");

    // SIGKILL: the WAL is not checkpointed into the database, so its frames hold the records.
    const address = await killMaster(cluster);
    // A heartbeat reply sent just before the kill is carried out within an interval or two.
    await new Promise((r) => setTimeout(r, 3 * cluster!.options.heartbeatIntervalMs));
    const before = await Promise.all(cluster.chunkservers.map((s) => chunkFiles(s.dataDir)));
    for (const b of before) expect(b.live).toEqual(fileChunks);
    const backup = join(cluster.dir, "master-backup");
    await cp(masterDir, backup, { recursive: true });
    const header = await readFile(wal);
    const pageSize = header.readUInt32BE(8);
    const frameBytes = 24 + pageSize;
    expect((walAfterEarly - 32) % frameBytes).toBe(0); // the WAL grew by whole frames and was never restarted
    const firstLateFrame = (walAfterEarly - 32) / frameBytes;
    expect(header.length).toBeGreaterThan(32 + (firstLateFrame + 1) * frameBytes);
    // One flipped byte inside the page of the first frame committed after the early files.
    const at = 32 + firstLateFrame * frameBytes + 24 + Math.floor(pageSize / 2);
    const fh = await open(wal, "r+");
    await fh.write(Buffer.from([header[at]! ^ 0xff]), 0, 1, at);
    await fh.close();

    await cluster.startMaster(address);
    const recovered = await cluster.master.waitForLog("master recovered");
    await registered(cluster, c);
    // The damage is real: the late files are gone from the namespace, the early ones remain and read back.
    expect(Number(recovered.files)).toBeLessThan(files.size);
    await expect(c.stat("/late23")).rejects.toMatchObject({ errno: "ENOENT" });
    expect((await c.read("/early0", 0, files.get("/early0")!.length)).equals(files.get("/early0")!)).toBe(true);

    // Nothing was deleted, nor even moved aside, on any chunkserver.
    const during = await Promise.all(cluster.chunkservers.map((s) => chunkFiles(s.dataDir)));
    during.forEach((d, i) => {
      expect([...before[i].live].filter((h) => !d.live.has(h) && !d.quarantined.has(h)), `chunk files lost on cs${i}`).toEqual([]);
      expect(d.live).toEqual(before[i].live);
    });

    const status = await c.status();
    expect(status.safeMode).toBe(true);
    expect(status.safeModeReasons.map((r) => r.why).join("\n")).toMatch(/unknown to the master/);
    const shown = await cluster.gfs(["status"]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/SAFE MODE/);
    expect(shown.stdout).toMatch(/unknown to the master/);
    const json = JSON.parse((await cluster.gfs(["status", "--json"])).stdout) as { safeMode: boolean; safeModeReasons: unknown[] };
    expect(json.safeMode).toBe(true);
    expect(json.safeModeReasons.length).toBeGreaterThan(0);
    expect(cluster.master.log()).toMatch(/"level":"error".*master in safe mode/);

    // The operator restores the metadata backup: every file reads back exactly.
    cluster.master.proc.kill("SIGTERM");
    await cluster.master.exited;
    await rm(masterDir, { recursive: true, force: true });
    await cp(backup, masterDir, { recursive: true });
    await cluster.startMaster(address);
    await registered(cluster, c);
    expect((await c.status()).safeMode).toBe(false);
    for (const [path, data] of files) {
      expect((await c.read(path, 0, data.length + 1)).equals(data), `${path} reads back`).toBe(true);
    }
  }, 120_000);

  it("orphan chunks are quarantined, not deleted, and deleted only after the retention; one the master knows again is restored", async () => {
    const retentionMs = 15_000;
    cluster = await TestCluster.start({
      chunkSizeBytes: CHUNK, heartbeatIntervalMs: 200, leaseMs: 2_000,
      chunkserverArgs: ["--quarantine-retention-ms", String(retentionMs)],
    });
    const c = client(cluster);
    const masterDir = join(cluster.dir, "master");
    const a = randomBytes(100_000);
    await c.create("/a");
    await c.write("/a", 0, a);
    const ha = (await c.fsck("/a")).files[0].chunks[0].handle;

    // The master starts on metadata that does not know /a (here: none at all).
    const address = await killMaster(cluster);
    const backup = join(cluster.dir, "master-backup");
    await cp(masterDir, backup, { recursive: true });
    await rm(masterDir, { recursive: true, force: true });
    await cluster.startMaster(address);
    await registered(cluster, c);
    expect((await c.status()).safeMode).toBe(false); // one unknown chunk is not a lost namespace
    for (const s of cluster.chunkservers) {
      await eventually(async () => {
        const f = await chunkFiles(s.dataDir);
        return !f.live.has(ha) && f.quarantined.has(ha);
      }, 10_000, `chunk of /a quarantined on cs${s.index}`);
    }

    // A file this metadata knows, then the old metadata comes back: /a's chunk is restored, /b's quarantined.
    const b = randomBytes(50_000);
    await c.create("/b");
    await c.write("/b", 0, b);
    const hb = (await c.fsck("/b")).files[0].chunks[0].handle;
    await killMaster(cluster);
    await rm(masterDir, { recursive: true, force: true });
    await cp(backup, masterDir, { recursive: true });
    await cluster.startMaster(address);
    await registered(cluster, c);
    await eventually(async () => (await c.read("/a", 0, a.length + 1)).equals(a), 10_000, "/a reads back");
    for (const s of cluster.chunkservers) {
      const f = await eventually(async () => {
        const got = await chunkFiles(s.dataDir);
        return got.live.has(ha) && got.quarantined.has(hb) && !got.live.has(hb) ? got : undefined;
      }, 10_000, `cs${s.index}: /a's chunk restored, /b's quarantined`);
      expect(f.quarantined.has(ha)).toBe(false);
    }
    const fsck = await c.fsck("/a");
    expect(fsck.files[0].chunks[0].state).toBe("CHUNK_STATE_HEALTHY");

    // /b's quarantined chunk is deleted once its retention has passed, not before.
    const entryOf = async (dataDir: string) => {
      const dir = join(dataDir, "quarantine");
      const name = (await readdir(dir)).find((n) => n.startsWith(hb));
      return name ? JSON.parse(await readFile(join(dir, name, "entry.json"), "utf8")) as { quarantinedAtMs: number } : undefined;
    };
    const cs0 = cluster.chunkservers[0].dataDir;
    const entry = (await entryOf(cs0))!;
    expect(Date.now() - entry.quarantinedAtMs).toBeLessThan(retentionMs);
    expect((await chunkFiles(cs0)).quarantined.has(hb)).toBe(true);
    await eventually(async () => !(await chunkFiles(cs0)).quarantined.has(hb), retentionMs + 20_000, "quarantined chunk deleted");
    expect(Date.now() - entry.quarantinedAtMs).toBeGreaterThanOrEqual(retentionMs);
  }, 120_000);

  it("gfs gc --confirm leaves safe mode and garbage collection resumes; in safe mode mutations are refused with EROFS", async () => {
    cluster = await TestCluster.start({
      chunkSizeBytes: CHUNK, heartbeatIntervalMs: 200, leaseMs: 2_000, masterArgs: ["--safe-mode-unknown-chunks", "0"],
    });
    const c = client(cluster);
    const masterDir = join(cluster.dir, "master");
    const a = randomBytes(30_000);
    await c.create("/a");
    await c.write("/a", 0, a);
    const ha = (await c.fsck("/a")).files[0].chunks[0].handle;
    const address = await killMaster(cluster);
    await rm(masterDir, { recursive: true, force: true });
    await cluster.startMaster(address);
    await registered(cluster, c);
    expect((await c.status()).safeMode).toBe(true);

    // Read-only: every mutation is refused with EROFS and says why; reads work.
    for (const attempt of [() => c.mkdir("/d"), () => c.create("/new"), () => c.remove("/x")]) {
      const e = await attempt().then(() => undefined, (err: unknown) => fromServiceError(err));
      expect(e?.errno).toBe("EROFS");
      expect(e?.message).toMatch(/safe mode/);
    }
    const mkdir = await cluster.gfs(["mkdir", "/d"]);
    expect(mkdir.code).not.toBe(0);
    expect(mkdir.stderr).toMatch(/EROFS/);
    expect((await c.readdir("/")).length).toBe(0);

    // `gfs gc` explains and fails while in safe mode; nothing is collected.
    const gc = await cluster.gfs(["gc"]);
    expect(gc.code).toBe(1);
    expect(gc.stdout).toMatch(/SAFE MODE/);
    expect(gc.stdout).toMatch(/gfs gc --confirm/);
    for (const s of cluster.chunkservers) expect((await chunkFiles(s.dataDir)).live.has(ha)).toBe(true);

    const confirmed = await cluster.gfs(["gc", "--confirm"]);
    expect(confirmed.code).toBe(0);
    expect(confirmed.stdout).toMatch(/left safe mode/);
    expect(confirmed.stdout).toMatch(/unknown to the master/);
    expect((await c.status()).safeMode).toBe(false);
    expect((await cluster.gfs(["gc"])).code).toBe(0);
    // Garbage collection resumes (the unknown chunk is quarantined), and so do mutations.
    for (const s of cluster.chunkservers) {
      await eventually(async () => {
        const f = await chunkFiles(s.dataDir);
        return !f.live.has(ha) && f.quarantined.has(ha);
      }, 10_000, `cs${s.index} quarantined the unknown chunk`);
    }
    await c.mkdir("/d");
    expect((await cluster.gfs(["mkdir", "/d2"])).code).toBe(0);
  }, 120_000);
});
