// Master durability with real processes: group commit through the gRPC API,
// restart after SIGKILL on the same data directory, refusal of a directory it
// cannot read safely.
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import { bin, eventually, repoRoot, TestCluster } from "./harness/cluster";
import { spawnNode } from "./harness/processes";

// better-sqlite3 is the master's dependency; borrow it to forge an incompatible data directory.
type Db = { exec(sql: string): void; prepare(sql: string): { run(...args: unknown[]): unknown }; close(): void };
const Database = createRequire(join(repoRoot, "packages/master/package.json"))("better-sqlite3") as new (file: string) => Db;

describe("master durability (real processes)", () => {
  let cluster: TestCluster;
  const clients: GfsClient[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start({ chunkservers: 0, leaseMs: 500 });
    for (let i = 0; i < 8; i++) clients.push(new GfsClient({ master: cluster.masterAddress }));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
  });

  it("200 concurrent creates share commits (group commit), and all survive a SIGKILL of the master", async () => {
    await clients[0].mkdir("/many");
    const before = await clients[0].status();
    await Promise.all(Array.from({ length: 200 }, (_, i) => clients[i % clients.length].create(`/many/f${i}`, { exclusive: true })));
    const after = await clients[0].status();
    const records = after.opLogRecords - before.opLogRecords;
    const commits = after.opLogCommits - before.opLogCommits;
    expect(records).toBe(200);
    expect(commits).toBeGreaterThan(0);
    expect(commits).toBeLessThan(200 / 4);

    const address = cluster.masterAddress;
    cluster.master.proc.kill("SIGKILL");
    await cluster.master.exited;
    await cluster.startMaster(address);
    const recovered = await cluster.master.waitForLog("master recovered");
    expect(recovered.replayedRecords).toBeGreaterThanOrEqual(201);
    const names = (await clients[1].readdir("/many")).map((e) => e.name);
    expect(names).toHaveLength(200);
    expect(new Set(names)).toEqual(new Set(Array.from({ length: 200 }, (_, i) => `f${i}`)));
  });

  it("a checkpoint taken by record count is used on restart, with only the later records replayed", async () => {
    const address = cluster.masterAddress;
    cluster.master.proc.kill("SIGKILL");
    await cluster.master.exited;
    cluster.options.masterArgs.push("--checkpoint-every-records", "50");
    await cluster.startMaster(address);
    await clients[0].mkdir("/cp");
    for (let i = 0; i < 60; i++) await clients[0].create(`/cp/f${i}`);
    // Two checkpoints: one due at once (201 records replayed at start), one 50 records later.
    await eventually(async () => (cluster.master.log().match(/"checkpoint written"/g) ?? []).length >= 2, 10_000, "two checkpoints");
    cluster.master.proc.kill("SIGKILL");
    await cluster.master.exited;
    await cluster.startMaster(address);
    const rec = await cluster.master.waitForLog("master recovered");
    expect(Number(rec.checkpointSeq)).toBeGreaterThanOrEqual(252);
    expect(Number(rec.replayedRecords)).toBeLessThanOrEqual(10);
    expect(Number(rec.files)).toBe(260);
    expect((await clients[0].readdir("/cp")).length).toBe(60);
  });
});

describe("a master whose op log cannot be written stops (fail-stop)", () => {
  it("exits non-zero without acknowledging the op, and a restart has everything acknowledged before it", async () => {
    const cluster = await TestCluster.start({ chunkservers: 0 });
    const client = new GfsClient({ master: cluster.masterAddress });
    try {
      await client.create("/before");
      // Make every further log insert fail, as a full disk or an I/O error would.
      const db = new Database(join(cluster.dir, "master", "oplog.sqlite"));
      db.exec("CREATE TRIGGER fail_inserts BEFORE INSERT ON log BEGIN SELECT RAISE(ABORT, 'simulated I/O error'); END;");
      await expect(client.create("/after")).rejects.toThrow();
      const { code } = await cluster.master.exited;
      expect(code).toBe(1);
      expect(cluster.master.log()).toMatch(/operation log write failed.*simulated I\/O error/);
      db.exec("DROP TRIGGER fail_inserts");
      db.close();
      await cluster.startMaster(cluster.masterAddress);
      expect((await client.stat("/before")).path).toBe("/before");
      await expect(client.stat("/after")).rejects.toThrow(/ENOENT/);
    } finally {
      client.close();
      await cluster.stop();
    }
  });
});

describe("gfs-master --data on a directory it cannot read safely", () => {
  it("an incompatible op-log format is refused with one line and exit 1", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gfs-master-incompatible-"));
    try {
      const db = new Database(join(dir, "oplog.sqlite"));
      db.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
      db.prepare("INSERT INTO meta VALUES ('format', '99')").run();
      db.close();
      const p = spawnNode(bin.master, ["--insecure", "--listen", "127.0.0.1:0", "--data", dir]);
      const { code } = await p.exited;
      expect(code).toBe(1);
      const lines = p.log().trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^gfs-master: .*format 99; this master reads format 4$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
