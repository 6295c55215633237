// Issue 16 with real processes: a real etcd, three gfs-master processes (one
// active, two shadows following its op log) and chunkservers following all of
// them. Short TTLs keep failovers quick.
import { randomBytes } from "node:crypto";
import { cp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import type { StatusResponse__Output } from "@gfs/common";
import { bin, eventually, reported } from "./harness/cluster";
import { TestMount } from "./harness/mount";
import { spawnNode, stopProcess } from "./harness/processes";
import { ReplicatedCluster } from "./harness/replicated-cluster";

let cluster: ReplicatedCluster | undefined;
let mount: TestMount | undefined;
const clients: GfsClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await mount?.stop();
  mount = undefined;
  await cluster?.stop();
  cluster = undefined;
});

function client(c: ReplicatedCluster): GfsClient {
  const g = new GfsClient({ ...c.clientOptions(), rpc_deadline_ms: 10_000 });
  clients.push(g);
  return g;
}

/** What one writer was told succeeded, to check against the cluster afterwards. */
interface Acked {
  files: Map<string, Buffer>; // path -> content, for files that should exist
  gone: Set<string>; // paths that were deleted or renamed away
  records: Buffer[]; // record appends acknowledged to /load/log
  /** Renames and unlinks that failed: a master may have done them before it died (the client says so), or not. */
  inDoubt: Map<string, { to?: string; data: Buffer }>;
}

const newAcked = (): Acked => ({ files: new Map(), gone: new Set(), records: [], inDoubt: new Map() });

/**
 * A writer under load: creates and writes a file, then renames every 4th,
 * deletes every 5th, fsyncs every 3rd, and appends a record every 2nd. Only
 * what it was answered with success is recorded; failures (a master dying
 * under it) are counted and the loop goes on.
 */
async function writer(g: GfsClient, w: number, acked: Acked, stop: () => boolean): Promise<{ ok: number; failed: number }> {
  let ok = 0;
  let failed = 0;
  for (let i = 0; !stop(); i++) {
    const path = `/load/w${w}-${i}`;
    const data = randomBytes(512 + (i % 7) * 100);
    try {
      await g.create(path);
      await g.write(path, 0, data);
      if (i % 3 === 0) await g.settle(path);
      acked.files.set(path, data);
      if (i % 4 === 1) {
        acked.files.delete(path);
        acked.inDoubt.set(path, { to: `${path}.moved`, data });
        await g.rename(path, `${path}.moved`);
        acked.inDoubt.delete(path);
        acked.gone.add(path);
        acked.files.set(`${path}.moved`, data);
      } else if (i % 5 === 2) {
        acked.files.delete(path);
        acked.inDoubt.set(path, { data });
        await g.unlink(path);
        acked.inDoubt.delete(path);
        acked.gone.add(path);
      }
      if (i % 2 === 0) {
        const rec = Buffer.from(`rec w${w} i${i} ${data.toString("hex").slice(0, 16)}\n`);
        await g.append("/load/log", rec);
        acked.records.push(rec);
      }
      ok++;
    } catch {
      failed++;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { ok, failed };
}

/** Where `path` holds exactly `data` (false: missing); any other content fails the test. */
async function holds(g: GfsClient, path: string, data: Buffer): Promise<boolean> {
  try {
    const got = await g.read(path, 0, data.length + 10);
    expect(got.equals(data), `${path} holds its acknowledged bytes`).toBe(true);
    return true;
  } catch (e) {
    if (/ENOENT/.test((e as Error).message)) return false;
    throw e;
  }
}

/**
 * Every acknowledged file is there with its bytes, every acknowledged removal holds, every acknowledged
 * record is in the log; a rename in doubt happened once or not at all (the bytes under exactly one name).
 */
async function checkAcked(g: GfsClient, acked: Acked): Promise<void> {
  for (const [path, data] of acked.files) expect(await holds(g, path, data), `${path} exists`).toBe(true);
  for (const path of acked.gone) {
    if (acked.files.has(path)) continue;
    await expect(g.stat(path), `${path} stays removed`).rejects.toThrow(/ENOENT/);
  }
  for (const [path, d] of acked.inDoubt) {
    const here = await holds(g, path, d.data);
    if (d.to) expect(here !== (await holds(g, d.to, d.data)), `rename of ${path} in doubt: done once or not at all`).toBe(true);
  }
  const size = Number((await g.stat("/load/log")).size);
  const log = await g.read("/load/log", 0, size);
  for (const rec of acked.records) expect(log.includes(rec), `record ${rec.toString().trim()} is in the log`).toBe(true);
}

describe("replicated master (real etcd and processes)", () => {
  it("SIGKILL of the active master under load: a shadow takes over, every acknowledged operation is there, and new writes work", async () => {
    const c = (cluster = await ReplicatedCluster.start());
    const g = client(c);
    await g.mkdir("/load");
    await g.create("/load/log");
    const acked = newAcked();
    let stopped = false;
    const writers = [0, 1, 2, 3].map((w) => writer(client(c), w, acked, () => stopped));
    await eventually(async () => acked.files.size >= 20, 20_000, "some acknowledged load");
    const old = await c.activeIndex();
    await c.killMaster(old);
    const next = await c.activeIndex(20_000, old);
    expect(next).not.toBe(old);
    const before = acked.files.size;
    await eventually(async () => acked.files.size >= before + 20, 30_000, "acknowledged writes on the new active master");
    stopped = true;
    const results = await Promise.all(writers);
    expect(results.reduce((n, r) => n + r.ok, 0)).toBeGreaterThan(40);
    await checkAcked(client(c), acked);
    // New writes work, and the old active, restarted, comes back as a shadow that catches up.
    await g.create("/after");
    await g.write("/after", 0, Buffer.from("after failover"));
    await c.startMaster(old);
    const activeSeq = (await c.statusOf(next))!.masters[0].lastSeq;
    await eventually(async () => {
      const me = (await c.statusOf(old))?.masters[0];
      return me?.role === "MASTER_ROLE_SHADOW" && me.appliedSeq >= activeSeq;
    }, 20_000, "the old active back as a shadow that applied everything the new one holds");
    // gfs status shows every master: one active at a later epoch, two shadows with their log position and lag.
    const masters = await eventually(async () => {
      const st = await c.gfs(["status", "--json"]);
      const rows = reported(st) ? (JSON.parse(st.stdout) as StatusResponse__Output).masters : [];
      return rows.filter((m) => m.role === "MASTER_ROLE_SHADOW" && m.inSync).length === 2 && rows;
    }, 20_000, "gfs status: both shadows in sync");
    expect(masters.map((m) => m.address)).toEqual(c.masters.map((m) => m.address));
    expect(masters.filter((m) => m.role === "MASTER_ROLE_ACTIVE").map((m) => m.id)).toEqual([`m${next}`]);
    expect(masters.filter((m) => m.role === "MASTER_ROLE_SHADOW")).toHaveLength(2);
    expect(masters.every((m) => m.reachable && m.epoch > 0 && m.lastSeq > 0)).toBe(true);
    const table = await c.gfs(["status"]);
    expect(table.stdout).toMatch(/^MASTER +ADDRESS +ROLE +EPOCH +LOG +APPLIED +LAG +IN SYNC/m);
    expect(table.stdout).toMatch(new RegExp(`^m${next} .* active `, "m"));
  }, 120_000);

  it("a lagging shadow is never elected while an in-sync one exists, and no shadow outside the in-sync set ever is", async () => {
    const c = (cluster = await ReplicatedCluster.start());
    const g = client(c);
    await g.mkdir("/d");
    const active = await c.activeIndex();
    const [inSync, lagging] = [0, 1, 2].filter((i) => i !== active);
    // The lagging shadow stops answering: the active drops it from the in-sync set and goes on without it.
    await c.killMaster(lagging, "SIGSTOP");
    for (let i = 0; i < 10; i++) await g.create(`/d/f${i}`);
    await c.killMaster(inSync, "SIGSTOP"); // now the in-sync shadow is frozen too: nobody may take over but it
    await c.killMaster(active);
    c.masters[lagging].process.proc.kill("SIGCONT");
    // Three election TTLs with only the lagging shadow running: it never becomes active.
    const deadline = Date.now() + 3 * c.options.electionTtlMs;
    while (Date.now() < deadline) {
      const s = await c.statusOf(lagging);
      expect(s?.masters[0]?.role, "the lagging shadow's role").not.toBe("MASTER_ROLE_ACTIVE");
      await new Promise((r) => setTimeout(r, 200));
    }
    c.masters[inSync].process.proc.kill("SIGCONT");
    expect(await c.activeIndex(20_000, active)).toBe(inSync);
    for (let i = 0; i < 10; i++) expect((await g.stat(`/d/f${i}`)).type).toBe("FILE_TYPE_FILE");
  }, 120_000);

  it("with the active master down and no election possible, gfs ls, gfs get and reads through the mount work from a shadow", async () => {
    const c = (cluster = await ReplicatedCluster.start());
    const g = client(c);
    const data = randomBytes(3 * 1024 * 1024 + 5);
    await g.mkdir("/r");
    await g.create("/r/big");
    await g.write("/r/big", 0, data);
    await g.settle("/r/big");
    mount = await TestMount.start(c);
    // Every shadow has applied the writes (the in-sync set holds both), then etcd freezes: nobody can be elected.
    await eventually(async () => {
      const rows = (await c.statusOf(await c.activeIndex()))?.masters ?? [];
      return rows.length === 3 && rows.every((m) => m.lagRecords === 0);
    }, 10_000, "shadows caught up");
    const active = await c.activeIndex();
    c.etcd.pause(); // (the active would step down on its own now: it cannot renew its lease)
    await c.killMaster(active);
    const ls = await c.gfs(["--timeout-ms", "3000", "ls", "/r"]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain("big");
    const got = await c.gfs(["--timeout-ms", "3000", "get", "/r/big", "-"]);
    expect(got.code, got.stderr).toBe(0);
    expect(Buffer.from(got.stdout, "latin1").equals(data)).toBe(true);
    expect((await readFile(mount.path("r", "big"))).equals(data)).toBe(true);
    // A mutation is refused clearly, not lost silently.
    const put = await c.gfs(["--timeout-ms", "2000", "--failover-wait-ms", "3000", "mkdir", "/nope"]);
    expect(put.code).not.toBe(0);
    expect(put.stderr).toMatch(/active master/i);
    c.etcd.resume();
  }, 120_000);

  it("a backup taken under load restores to a master that serves every file acknowledged before the backup started", async () => {
    const c = (cluster = await ReplicatedCluster.start({ masters: 1 }));
    const g = client(c);
    await g.mkdir("/load");
    await g.create("/load/log");
    const acked = newAcked();
    let stopped = false;
    const writers = [0, 1].map((w) => writer(client(c), w, acked, () => stopped));
    await eventually(async () => acked.files.size >= 30, 20_000, "some acknowledged load");
    const before = { files: new Map(acked.files) };
    const out = join(c.dir, "backup");
    const b = spawnNode(bin.master, ["backup", "--data", c.masters[0].dataDir, out]);
    const { code } = await b.exited;
    expect(code, b.log()).toBe(0);
    stopped = true;
    await Promise.all(writers);
    // Restore: the master's data dir replaced by the backup, on the same address (chunkservers find it again).
    await stopProcess(c.masters[0].process);
    await rm(c.masters[0].dataDir, { recursive: true, force: true });
    await cp(out, c.masters[0].dataDir, { recursive: true });
    await c.startMaster(0);
    for (const g2 of clients) g2.close();
    // Files written after the backup started may or may not be there; those acknowledged before must be.
    const r = client(c);
    await eventually(async () => (await c.statusOf(0))?.chunkservers.filter((s) => s.alive).length === 3, 15_000, "chunkservers back");
    for (const [path, data] of before.files) {
      if (acked.gone.has(path) || acked.inDoubt.has(path)) continue; // removed after the backup started: either state is right
      expect((await r.read(path, 0, data.length + 10)).equals(data), `${path} as acknowledged before the backup`).toBe(true);
    }
  }, 120_000);
});
