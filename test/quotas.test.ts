// Issue 20 (quota lane): directory quotas as users meet them, on real processes: EDQUOT ("Disk
// quota exceeded") at a hard byte limit through the mount (write + fsync/close) and through
// `gfs put`; the entries limit (touch, mkdir); usage exact after writes, truncates and deletes (as
// `gfs du` counts the tree); a soft limit that turns hard after the master's grace period; who may
// set and see quotas; `gfs du` and the status showing them; and quotas with their usage kept
// across master restarts (op-log replay, then a checkpoint).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import { eventually, TestCluster } from "./harness/cluster";
import { run, TestMount } from "./harness/mount";
import { quotaJson } from "../packages/client-core/src/commands-quota";

const KiB = 1024;
const GRACE_MS = 1_500;

interface QuotaJson { path: string; bytesUsed: number; entriesUsed: number; limits: Record<string, number>; overSoft: boolean; overHard: boolean; graceEndsMs: number }

const sh = (script: string) => run("bash", ["-c", `set -euo pipefail\n${script}`]);

/**
 * Writes, in order and in one python3 process (a process start is most of a small write's cost):
 * each [path, bytes, append?] with write(2), fsync(2), close(2). Per write: the errno name of the
 * first call that failed, or "ok".
 */
async function writes(list: Array<[string, number, boolean?]>): Promise<string[]> {
  const py = `
import os, errno, sys, json
def one(path, n, append):
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        return errno.errorcode[e.errno]
    res = "ok"
    try:
        os.write(fd, b"q" * n)
        os.fsync(fd)
    except OSError as e:
        res = errno.errorcode[e.errno]
    try:
        os.close(fd)
    except OSError as e:
        if res == "ok": res = errno.errorcode[e.errno]
    return res
print(json.dumps([one(p, n, bool(a)) for p, n, a in json.loads(sys.argv[1])]))
`;
  const r = await run("python3", ["-c", py, JSON.stringify(list.map(([p, n, a]) => [p, n, a ?? false]))]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as string[];
}

describe("directory quotas", { timeout: 120_000 }, () => {
  let c: TestCluster;
  let mount: TestMount;
  let m: string;
  let local: string;
  let client: GfsClient;

  beforeAll(async () => {
    c = await TestCluster.start({
      chunkservers: 1, replication: 1, chunkSizeBytes: 256 * KiB, heartbeatMisses: 10, masterArgs: ["--quota-grace-ms", String(GRACE_MS)],
    });
    mount = await TestMount.start(c, { args: ["-o", "allow_other"], public: true });
    m = mount.mountpoint;
    local = await mkdtemp(join(tmpdir(), "gfs-quota-"));
    client = new GfsClient({ ...c.clientOptions(), rpc_deadline_ms: 5_000 }); // the admin, in this process: a CLI start costs ~1 s
  });
  afterAll(async () => {
    client?.close();
    await mount?.stop();
    await c?.stop();
    if (local) await rm(local, { recursive: true, force: true });
  });

  /** Kills the master and starts it again at its address (with `extra` flags from now on), from its op log and checkpoints. */
  const restart = async (extra: string[] = []) => { await c.restartMaster(extra); };
  const gfs = async (...args: string[]) => {
    const r = await c.gfs(args);
    expect(r.code, `gfs ${args.join(" ")}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  /** A quota as `gfs quota get --json` prints it (read in this process: the CLI's own output is checked where it matters). */
  const quota = async (path: string): Promise<QuotaJson> => quotaJson(await client.master.GetQuota({ path })) as QuotaJson;
  const du = async (path: string): Promise<{ bytes: number; files: number; directories: number; quota?: QuotaJson }> =>
    (JSON.parse(await gfs("du", "-s", "--json", path)) as Array<{ bytes: number; files: number; directories: number; quota?: QuotaJson }>)[0]!;

  it("past the hard byte limit a write through the mount fails with EDQUOT at fsync/close; usage stays what du counts", async () => {
    await client.mkdir("/bytes");
    await gfs("quota", "set", "/bytes", "--bytes-hard", "512K");
    expect(await writes([[`${m}/bytes/a`, 256 * KiB], [`${m}/bytes/b`, 512 * KiB]])).toEqual(["ok", "EDQUOT"]);
    const q = await quota("/bytes");
    expect(q.bytesUsed).toBe((await du("/bytes")).bytes);
    expect(q.bytesUsed).toBeLessThanOrEqual(512 * KiB);
    expect(q.bytesUsed).toBeGreaterThanOrEqual(256 * KiB);
    // dd as a user types it: the same refusal, as the shell reports it.
    const dd = await sh(`dd if=/dev/zero of=${m}/bytes/c bs=64K count=16 conv=fsync 2>&1`);
    expect(dd.code).not.toBe(0);
    expect(dd.stdout).toContain("Disk quota exceeded");
  });

  it("gfs put past the hard byte limit fails with EDQUOT (Disk quota exceeded) and leaves no file behind", async () => {
    await client.mkdir("/put");
    await gfs("quota", "set", "/put", "--bytes-hard", "300K");
    await writeFile(join(local, "small"), Buffer.alloc(100 * KiB, 1));
    await writeFile(join(local, "big"), Buffer.alloc(400 * KiB, 2));
    await gfs("put", join(local, "small"), "/put/small");
    const r = await c.gfs(["put", join(local, "big"), "/put/big"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/EDQUOT: Disk quota exceeded/);
    expect((await client.listDir("/put")).entries.map((e) => e.name)).toEqual(["small"]);
    expect(await quota("/put")).toMatchObject({ bytesUsed: 100 * KiB, entriesUsed: 1, overHard: false });
  });

  it("past the entries limit touch, mkdir and gfs mkdir fail with EDQUOT; removing one makes room", async () => {
    await client.mkdir("/ent");
    await gfs("quota", "set", "/ent", "--entries-hard", "3");
    await sh(`touch ${m}/ent/a ${m}/ent/b; mkdir ${m}/ent/d`);
    const touch = await sh(`touch ${m}/ent/c 2>&1`);
    expect(touch.code).not.toBe(0);
    expect(touch.stdout).toContain("Disk quota exceeded");
    const mkdir = await sh(`mkdir ${m}/ent/d/e 2>&1`); // a level down: still under /ent's quota
    expect(mkdir.stdout).toContain("Disk quota exceeded");
    const cli = await c.gfs(["mkdir", "/ent/x"]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain("EDQUOT");
    await sh(`rm ${m}/ent/a; touch ${m}/ent/c`);
    expect(await quota("/ent")).toMatchObject({ entriesUsed: 3, bytesUsed: 0 });
  });

  it("usage is exact after writes, truncates, renames and deletes, nested quotas included", async () => {
    await client.mkdir("/use/inner", { parents: true });
    await gfs("quota", "set", "/use", "--bytes-hard", "10M", "--entries-hard", "100");
    await gfs("quota", "set", "/use/inner", "--bytes-soft", "5M");
    // The second write to g is an append: it grows the file.
    expect(await writes([[`${m}/use/inner/f`, 300 * KiB], [`${m}/use/g`, 10 * KiB], [`${m}/use/g`, 5 * KiB, true]])).toEqual(["ok", "ok", "ok"]);
    expect(await quota("/use")).toMatchObject({ bytesUsed: 315 * KiB, entriesUsed: 3 });
    await sh(`truncate -s 1000 ${m}/use/inner/f`);
    expect(await quota("/use/inner")).toMatchObject({ bytesUsed: 1000, entriesUsed: 1 });
    await sh(`mv ${m}/use/g ${m}/use/inner/g`);
    expect(await quota("/use/inner")).toMatchObject({ bytesUsed: 1000 + 15 * KiB, entriesUsed: 2 });
    await sh(`rm ${m}/use/inner/f`);
    expect(await quota("/use")).toMatchObject({ bytesUsed: 15 * KiB, entriesUsed: 2 });
    expect(await quota("/use/inner")).toMatchObject({ bytesUsed: 15 * KiB, entriesUsed: 1 });
    const d = await du("/use");
    expect([d.bytes, d.files + d.directories - 1]).toEqual([15 * KiB, 2]); // du counts the same (its directories include /use itself)
    expect(d.quota).toMatchObject({ path: "/use", bytesUsed: 15 * KiB, limits: { bytesHard: 10 * 1024 * KiB, entriesHard: 100 } });
    expect(await gfs("du", "-s", "/use")).toContain(`quota /use: bytes ${15 * KiB} (soft -, hard ${10 * 1024 * KiB}), entries 2 (soft -, hard 100): ok`);
  });

  it("over the soft limit writes go on during the grace period, then fail with EDQUOT; back under, they go on", async () => {
    await client.mkdir("/soft");
    await gfs("quota", "set", "/soft", "--bytes-soft", "100K", "--bytes-hard", "10M");
    expect(await writes([[`${m}/soft/a`, 200 * KiB]])).toEqual(["ok"]);
    const over = await quota("/soft");
    expect(over).toMatchObject({ overSoft: true, overHard: false });
    expect(over.graceEndsMs).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, GRACE_MS + 200));
    expect(await writes([[`${m}/soft/b`, 10 * KiB]])).toEqual(["EDQUOT"]);
    expect(await gfs("quota", "ls")).toMatch(/\/soft .*over soft, bytes grace over/);
    await sh(`rm ${m}/soft/a; rm -f ${m}/soft/b`);
    expect(await writes([[`${m}/soft/c`, 10 * KiB]])).toEqual(["ok"]);
    expect(await quota("/soft")).toMatchObject({ overSoft: false, bytesUsed: 10 * KiB });
  });

  it("only root or an admin sets quotas (EPERM); a user sees the quotas of what it may stat", async () => {
    const alice = await c.issue("user", "alice", { uid: 1000, gids: [1000] });
    const asAlice = { tlsDir: alice, asUser: { uid: 1000, gid: 1000 } };
    const set = await c.gfs(["quota", "set", "/use", "--bytes-hard", "1G"], undefined, asAlice);
    expect(set.code).toBe(1);
    expect(set.stderr).toContain("EPERM");
    const get = await c.gfs(["quota", "get", "/use", "--json"], undefined, asAlice);
    expect(get.code, get.stderr).toBe(0);
    expect((JSON.parse(get.stdout) as QuotaJson).limits.bytesHard).toBe(10 * 1024 * KiB);
    const none = await c.gfs(["quota", "get", "/"], undefined, asAlice);
    expect(none.stderr).toContain("ENODATA");
    const bad = await c.gfs(["quota", "set", "/use", "--bytes-soft", "2G", "--bytes-hard", "1G"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("EINVAL");
    // Root is isRoot's root, as everywhere: an admin certificate speaking for uid 1000 is uid 1000.
    const asUid = client.runAs({ uid: 1000, gid: 1000, groups: [1000] }, () => client.master.SetQuota({ path: "/use", limits: { bytesHard: 1 }, limitsGiven: 2 }));
    await expect(asUid).rejects.toThrow(/EPERM/);
  });

  it("quota set changes only the limits given: the master merges them with its own, in the turn it commits", async () => {
    // The RPC alone, with only entries_hard given: the bytes limit set before stays (no read by the client).
    const q = await client.master.SetQuota({ path: "/use", limits: { entriesHard: 1000 }, limitsGiven: 8 });
    expect(quotaJson(q).limits).toEqual({ bytesSoft: 0, bytesHard: 10 * 1024 * KiB, entriesSoft: 0, entriesHard: 1000 });
    expect(await gfs("quota", "set", "/use", "--entries-hard", "100")).toMatch(/^quota \/use: .*\(soft -, hard 10485760\).*\(soft -, hard 100\)/);
    expect((await quota("/use")).limits).toEqual({ bytesSoft: 0, bytesHard: 10 * 1024 * KiB, entriesSoft: 0, entriesHard: 100 });
  });

  it("quotas, their usage and their grace start survive master restarts: op-log replay, then a checkpoint; status lists them", async () => {
    const before = JSON.parse(await gfs("quota", "ls", "--json")) as QuotaJson[];
    expect(before.map((q) => q.path)).toEqual(["/bytes", "/ent", "/put", "/soft", "/use", "/use/inner"]);
    const ls = () => eventually(async () => (await client.master.ListQuotas({}).catch(() => undefined))?.quotas.map(quotaJson) as QuotaJson[] | undefined,
      20_000, "quota ls after a restart");
    await restart([]);
    expect(await ls()).toEqual(before);
    await restart(["--checkpoint-every-records", "1"]);
    await eventually(() => client.master.SetQuota({ path: "/ent", limits: { entriesSoft: 2, entriesHard: 3 } }).catch(() => undefined), 20_000, "a quota set after the restart");
    await eventually(async () => c.master.log().includes('"checkpoint written"'), 10_000, "a checkpoint");
    c.options.trashRetentionMs = 3_600_000; // the next test needs the trash (the harness's default is 0): on from this restart, saving one
    await restart([]);
    const after = await ls();
    expect(after).toEqual(before.map((q) => (q.path === "/ent" ? { ...q, limits: { ...q.limits, entriesSoft: 2 }, overSoft: true, softExceededSinceMs: expect.any(Number), graceEndsMs: expect.any(Number),
      entriesSoftExceededSinceMs: expect.any(Number), entriesGraceEndsMs: expect.any(Number) } : q)));
    expect(await gfs("status")).toContain("quotas: 6; over soft: /ent\n");
    const status = await client.status();
    expect(status.quotas.map((q) => [q.path, Number(q.bytesUsed)])).toEqual(after.map((q) => [q.path, q.bytesUsed]));
  });

  it("with the trash on, what was deleted still counts until purged (a write needing its room fails with EDQUOT); restore keeps the charge; purge frees it exactly", async () => {
    expect(c.options.trashRetentionMs).toBeGreaterThan(0); // turned on by the restart test above
    await client.mkdir("/tr/d", { parents: true });
    await gfs("quota", "set", "/tr", "--bytes-hard", "400K", "--entries-hard", "10");
    expect(await writes([[`${m}/tr/a`, 200 * KiB], [`${m}/tr/d/e`, 100 * KiB]])).toEqual(["ok", "ok"]);
    await sh(`rm ${m}/tr/a`); // to the trash: still charged to /tr
    expect(await quota("/tr")).toMatchObject({ bytesUsed: 300 * KiB, entriesUsed: 3 });
    expect(await writes([[`${m}/tr/b`, 200 * KiB]])).toEqual(["EDQUOT"]);
    await sh(`rm -f ${m}/tr/b`); // the refused write's empty file goes to the trash too: one entry more, no byte
    await gfs("rm", "-r", "/tr/d");
    expect(await quota("/tr")).toMatchObject({ bytesUsed: 300 * KiB, entriesUsed: 4 });
    await gfs("trash", "restore", "/tr/d");
    expect(await quota("/tr")).toMatchObject({ bytesUsed: 300 * KiB, entriesUsed: 4 });
    expect((await client.stat("/tr/d/e")).size).toBe(100 * KiB);
    await gfs("trash", "purge");
    expect(await quota("/tr")).toMatchObject({ bytesUsed: 100 * KiB, entriesUsed: 2 });
    expect(await writes([[`${m}/tr/b`, 200 * KiB]])).toEqual(["ok"]);
    await sh(`rm ${m}/tr/b`);
    const before = await quota("/tr");
    expect(before).toMatchObject({ bytesUsed: 300 * KiB, entriesUsed: 3 });
    await restart(); // the charge of the trashed b is rebuilt from the op log
    expect(await eventually(() => client.master.GetQuota({ path: "/tr" }).then(quotaJson).catch(() => undefined), 20_000, "quota after the restart")).toEqual(before);
  });
});
