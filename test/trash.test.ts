// Issue 20 (trash lane): the trash (GFS 4.4) with real processes: a master with a retention keeps
// what `gfs rm` and a mount's unlink delete in a read-only /.trash, `gfs trash ls|restore|purge`
// as root and as two users (each sees and changes only their own entries), purges and expiry make
// the chunkservers delete the chunks, and the trash survives master restarts (op log, checkpoint).
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import { eventually, holders, TestCluster } from "./harness/cluster";
import { TestMount, sh as harnessSh } from "./harness/mount";

interface User { uid: number; gid: number; groups: number[] }
const alice: User = { uid: 1000, gid: 1000, groups: [1000] };
const bob: User = { uid: 1001, gid: 1001, groups: [1001] };

interface Entry { id: number; path: string; name: string; deletedMs: number; expiresMs: number; bytes: number; entries: number; uid: number }

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const sh = (script: string, user?: User) => harnessSh(script, { asUser: user });

describe("the trash (GFS 4.4)", { timeout: 120_000 }, () => {
  let c: TestCluster;
  let mount: TestMount;
  let client: GfsClient;
  let local: string;
  const ids = new Map<number, string>();

  beforeAll(async () => {
    c = await TestCluster.start({ chunkservers: 1, replication: 1, chunkSizeBytes: 256 * 1024, heartbeatMisses: 10, trashRetentionMs: 3_600_000 });
    for (const [name, u] of [["alice", alice], ["bob", bob]] as const) ids.set(u.uid, await c.issue("user", name, { uid: u.uid, gids: u.groups }));
    mount = await TestMount.start(c, { args: ["-o", "allow_other"], public: true });
    client = new GfsClient({ ...c.clientOptions(), rpc_deadline_ms: 5_000 });
    local = await mkdtemp(join(tmpdir(), "gfs-trash-"));
    await chmod(local, 0o777);
    await client.mkdir("/pub", { mode: 0o777 });
    await client.setAttributes("/pub", { mode: 0o1777 });
  });
  afterAll(async () => {
    client?.close();
    await mount?.stop();
    await c?.stop();
    if (local) await rm(local, { recursive: true, force: true });
  });

  const gfs = (args: string[], user?: User) => c.gfs(args, undefined, user ? { tlsDir: ids.get(user.uid)!, asUser: user } : {});
  const ok = async (args: string[], user?: User) => {
    const r = await gfs(args, user);
    expect(r.code, `gfs ${args.join(" ")} as ${user?.uid ?? 0}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const fails = async (args: string[], errno: string, user?: User) => {
    const r = await gfs(args, user);
    expect(r.code, `gfs ${args.join(" ")} should fail with ${errno}: ${r.stdout}`).toBe(1);
    expect(r.stderr).toContain(errno);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  };
  const trashLs = async (user?: User, prefix?: string): Promise<Entry[]> =>
    (JSON.parse(await ok(["trash", "ls", ...(prefix ? [prefix] : []), "--json"], user)) as { entries: Entry[] }).entries;
  const shOk = async (script: string, user?: User) => {
    const r = await sh(script, user);
    expect(r.code, `${script}\n${r.stderr}\n${mount.problems()}`).toBe(0);
    return r.stdout.toString();
  };
  const exists = (path: string) => client.stat(path).then(() => true, (e: { errno?: string }) => {
    if (e.errno === "ENOENT") return false;
    throw e;
  });
  const readAll = async (path: string) => client.read(path, 0, (await client.stat(path)).size);
  const handlesUnder = async (path: string) => (await client.fsck(path)).files.flatMap((f) => f.chunks.map((ch) => ch.handle));
  const localFile = async (name: string, bytes: number) => {
    const p = join(local, name);
    const data = randomBytes(bytes);
    await writeFile(p, data);
    await chmod(p, 0o644);
    return { p, data };
  };

  it("gfs rm keeps the file in the trash with its chunks; restore by path gives identical bytes, restore by id --to makes missing parents; an existing destination is EEXIST", async () => {
    const { p, data } = await localFile("a", 600 * 1024); // 3 chunks
    await ok(["mkdir", "/a"]);
    await ok(["put", p, "/a/data"]);
    const handles = await handlesUnder("/a/data");
    await ok(["rm", "/a/data"]);
    expect(await exists("/a/data")).toBe(false);
    const [e] = (await trashLs()).filter((x) => x.path === "/a/data");
    expect(e).toMatchObject({ path: "/a/data", bytes: data.length, entries: 1, name: `${e!.id}|a|data` });
    expect(e!.expiresMs - e!.deletedMs).toBe(3_600_000);
    for (const h of handles) expect(await holders(c, h)).toEqual([0]); // the chunks stay
    expect(await ok(["trash", "restore", "/a/data"])).toBe(`restored ${e!.id} to /a/data\n`);
    expect((await readAll("/a/data")).equals(data)).toBe(true);

    await ok(["rm", "/a/data"]);
    await ok(["put", p, "/a/data"]); // something new at the old path
    await fails(["trash", "restore", "/a/data"], "EEXIST");
    const [again] = (await trashLs()).filter((x) => x.path === "/a/data");
    await ok(["trash", "restore", String(again!.id), "--to", "/b/c/data"]);
    expect((await readAll("/b/c/data")).equals(data)).toBe(true);
    expect((await client.stat("/b/c")).mode & 0o777).toBe(0o755);
    expect((await trashLs()).filter((x) => x.path === "/a/data")).toEqual([]);
  });

  it("rm -r of a tree is one entry; purging it makes the chunkservers delete every chunk of it; status shows what the trash holds", async () => {
    const { p } = await localFile("t", 300 * 1024);
    await ok(["mkdir", "/t"]);
    await ok(["put", p, "/t/one"]);
    await ok(["mkdir", "/t/sub"]);
    await ok(["put", p, "/t/sub/two"]);
    const handles = await handlesUnder("/t");
    expect(handles).toHaveLength(4);
    await ok(["rm", "-r", "/t"]);
    const [e] = (await trashLs(undefined, "/t")).filter((x) => x.path === "/t");
    expect(e).toMatchObject({ bytes: 600 * 1024, entries: 4 });
    const status = JSON.parse(await ok(["status", "--json"])) as { trashBytes: number; trashEntries: number };
    expect(status.trashBytes).toBeGreaterThanOrEqual(600 * 1024);
    expect(await ok(["status"])).toMatch(/^trash: \d+ entr(y|ies), .* \(kept on the chunkservers until reclaimed\)$/m);
    expect(await ok(["trash", "purge", String(e!.id)])).toBe(`purged 1 entry, ${600 * 1024} bytes\n`);
    expect(await exists("/.trash/" + e!.name)).toBe(false);
    for (const h of handles) await eventually(async () => (await holders(c, h)).length === 0, 15_000, `chunk ${h} deleted`);
  });

  it("each user sees, restores and purges only their own entries (CLI and the mount's /.trash); root sees all; /.trash is hidden from ls of the root; restore makes parents only where the user may write", async () => {
    await shOk(`echo alice > ${mount.path("pub", "alice-file")}; rm ${mount.path("pub", "alice-file")}`, alice);
    await shOk(`echo bob > ${mount.path("pub", "bob-file")}; rm ${mount.path("pub", "bob-file")}`, bob);
    const mine = await trashLs(alice);
    const his = await trashLs(bob);
    expect(mine.map((x) => x.path)).toEqual(["/pub/alice-file"]);
    expect(his.map((x) => x.path)).toEqual(["/pub/bob-file"]);
    expect((await trashLs()).map((x) => x.path)).toEqual(expect.arrayContaining(["/pub/alice-file", "/pub/bob-file"]));
    // Through the mount: each user's listing of /.trash is their own (never another's cached one).
    expect((await shOk(`ls ${mount.path(".trash")}`, alice)).trim()).toBe(mine[0]!.name);
    expect((await shOk(`ls ${mount.path(".trash")}`, bob)).trim()).toBe(his[0]!.name);
    expect((await shOk(`ls ${mount.path(".trash")}`)).split("\n")).toEqual(expect.arrayContaining([mine[0]!.name, his[0]!.name]));
    expect(await shOk(`cat ${shellQuote(mount.path(".trash", mine[0]!.name))}`, alice)).toBe("alice\n");
    expect((await shOk(`ls -a ${mount.mountpoint}`)).split("\n")).not.toContain(".trash");
    expect(await shOk(`stat -c %a:%u ${mount.path(".trash")}`)).toBe("555:0\n");
    await fails(["trash", "restore", String(his[0]!.id)], "EPERM", alice);
    await fails(["trash", "purge", String(his[0]!.id)], "EPERM", alice);
    await fails(["trash", "restore", "/pub/bob-file"], "ENOENT", alice); // nothing of hers deleted from there
    await fails(["trash", "restore", "/pub/alice-file", "--to", "/b/new/alice-file"], "EACCES", alice); // /b is root's 0755: no parent made there
    await ok(["trash", "restore", "/pub/alice-file"], alice);
    expect(await shOk(`cat ${mount.path("pub", "alice-file")}`, alice)).toBe("alice\n");
    expect(await ok(["trash", "purge"], bob)).toBe("purged 1 entry, 4 bytes\n"); // all of his, none of the others'
    expect((await trashLs()).some((x) => x.path === "/pub/bob-file")).toBe(false);
  });

  it("a trash entry exists only for its owner and root: another user gets ENOENT by its name (stat, cat, ls of a trashed directory, xattrs) through the mount and the CLI", async () => {
    const home = mount.path("pub", "alice-home");
    await shOk(`mkdir -m 700 ${home}; echo secret > ${home}/secret; chmod 644 ${home}/secret; setfattr -n user.k -v v ${home}/secret
      mkdir ${home}/dir; echo inner > ${home}/dir/f; chmod 755 ${home}/dir; chmod 644 ${home}/dir/f; rm ${home}/secret`, alice);
    await ok(["rm", "-r", "/pub/alice-home/dir"], alice);
    const file = (await trashLs(alice)).find((x) => x.path === "/pub/alice-home/secret")!;
    const dir = (await trashLs(alice)).find((x) => x.path === "/pub/alice-home/dir")!;
    const f = shellQuote(mount.path(".trash", file.name));
    const d = shellQuote(mount.path(".trash", dir.name));
    expect(await shOk(`cat ${f}; cat ${d}/f; getfattr --only-values -n user.k ${f}`, alice)).toBe("secret\ninner\nv");
    expect(await shOk(`cat ${f}`)).toBe("secret\n"); // root
    // Right after alice's calls (the mount caches what they learned): bob still finds nothing.
    const out = await shOk(`set +o pipefail
      enoent() { o=$("$@" 2>&1 || true); if echo "$o" | grep -q "No such file"; then echo ENOENT; else echo "no ENOENT: $* -> $o"; fi; }
      enoent cat ${f}
      enoent cat ${d}/f
      enoent getfattr -n user.k ${f}
      ls ${d} 2>/dev/null || true`, bob);
    // ls of the directory shows no name: ENOENT, or (the mount has no opendir, and the kernel may
    // still hold alice's lookup) the master's ReadDir refusal, which ls reads as the end.
    // (A stat may still be answered by the kernel from what alice's walk cached, for its attr_timeout:
    // every open and xattr call asks the master.)
    expect(out).toBe("ENOENT\n".repeat(3));
    for (const args of [["stat", `/.trash/${file.name}`], ["cat", `/.trash/${file.name}`], ["ls", `/.trash/${dir.name}`], ["cat", `/.trash/${dir.name}/f`]]) await fails(args, "ENOENT", bob);
    await fails(["snapshot", `/.trash/${file.name}`, "/pub/bob-copy"], "EROFS", bob); // a snapshot of the trash is refused to all
    await ok(["stat", `/.trash/${file.name}`], alice);
    await ok(["trash", "purge", String(file.id), String(dir.id)], alice);
  });

  it("a failed gfs put leaves no file, not even in the trash: its temporary file is deleted for good (no_trash)", async () => {
    await ok(["mkdir", "/q"]);
    await ok(["quota", "set", "/q", "--bytes-hard", "100K"]);
    const { p } = await localFile("big", 300 * 1024);
    const r = await gfs(["put", p, "/q/big"]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/EDQUOT|quota/i);
    expect(await ok(["ls", "/q"])).toBe("");
    expect(await trashLs(undefined, "/q")).toEqual([]);
    await ok(["quota", "rm", "/q"]);
  });

  it("/.trash is read-only: creating, removing, renaming out of it or changing an entry is EROFS (mount as root, CLI as a user and as root)", async () => {
    await shOk(`echo x > ${mount.path("pub", "ro")}; rm ${mount.path("pub", "ro")}`);
    const [e] = (await trashLs()).filter((x) => x.path === "/pub/ro");
    const inTrash = shellQuote(mount.path(".trash", e!.name));
    const out = await shOk(`set +o pipefail
      erofs() { if "$@" 2>&1 | grep -q 'Read-only file system'; then echo EROFS; else echo "no EROFS: $*"; fi; }
      erofs touch ${mount.path(".trash", "new")}
      erofs mkdir ${mount.path(".trash", "d")}
      erofs rm -f ${inTrash}
      erofs mv ${inTrash} ${mount.path("pub", "back")}
      erofs chmod 600 ${inTrash}`);
    expect(out).toBe("EROFS\n".repeat(5));
    await fails(["mkdir", "/.trash/x"], "EROFS", alice);
    await fails(["rm", `/.trash/${e!.name}`], "EROFS");
    await fails(["mv", `/.trash/${e!.name}`, "/pub/back"], "EROFS");
    await fails(["trash", "restore", String(e!.id), "--to", "/.trash/again"], "EROFS");
    expect(await exists(`/.trash/${e!.name}`)).toBe(true);
  });

  it("a file unlinked on the mount while open stays readable and writable through its descriptor (nlink 1: its name in the trash); restored, it holds what was written", async () => {
    const f = mount.path("pub", "open");
    const r = await shOk(`python3 -c ${shellQuote(`
import os
fd = os.open("${f}", os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, b"before ")
os.unlink("${f}")
print(os.fstat(fd).st_nlink, os.path.exists("${f}"))
os.write(fd, b"after")
os.fsync(fd)
os.lseek(fd, 0, 0)
print(os.read(fd, 100).decode())
os.close(fd)
`)}`);
    // Its one name is now in /.trash: fstat counts it (README: 0 only with the trash off).
    expect(r).toBe("1 False\nbefore after\n");
    await ok(["trash", "restore", "/pub/open"]);
    expect((await readAll("/pub/open")).toString()).toBe("before after");
  });

  it("the trash survives master restarts: from the op log, then from a checkpoint", async () => {
    const { p } = await localFile("r", 1000);
    await ok(["put", p, "/pub/durable"]);
    await ok(["put", p, "/pub/durable2"]);
    await ok(["rm", "/pub/durable"]);
    const before = await trashLs();
    expect(before.some((x) => x.path === "/pub/durable")).toBe(true);
    const restart = (extra: string[] = []) => c.restartMaster(extra);
    await restart();
    expect(await eventually(async () => trashLs().catch(() => undefined), 10_000, "trash after replay")).toEqual(before);
    await restart(["--checkpoint-every-records", "1"]);
    await eventually(async () => (await gfs(["rm", "/pub/durable2"])).code === 0, 10_000, "a delete after the restart");
    const withOne = await trashLs();
    // A checkpoint after every record: the last one covers the delete, and the restart starts from it (its header's trash rows).
    const lastSeq = () => c.master.log().split("\n").filter((l) => l.includes('"checkpoint written"')).map((l) => Number((JSON.parse(l) as { lastSeq: number }).lastSeq)).pop();
    const covered = await eventually(async () => lastSeq(), 10_000, "a checkpoint");
    const rec = await restart();
    expect(Number(rec.checkpointSeq)).toBeGreaterThanOrEqual(covered);
    expect(await eventually(async () => trashLs().catch(() => undefined), 10_000, "trash after a checkpoint")).toEqual(withOne);
  });

  it("entries are reclaimed once the retention runs out (a 2 s retention set at a restart: older entries go at once, new ones after 2 s)", async () => {
    await ok(["put", (await localFile("x", 300 * 1024)).p, "/pub/expiring"]);
    const old = await handlesUnder("/pub/expiring");
    await ok(["rm", "/pub/expiring"]);
    c.master.proc.kill("SIGKILL");
    await c.master.exited;
    c.options.trashRetentionMs = 2_000;
    await c.startMaster(c.masterAddress);
    await eventually(async () => (await trashLs().catch(() => [1]))?.length === 0, 30_000, "every older entry expired");
    for (const h of old) await eventually(async () => (await holders(c, h)).length === 0, 30_000, `chunk ${h} deleted`);
    await ok(["put", (await localFile("s", 11)).p, "/pub/short"]);
    // Delete and look through the in-process client: a CLI run takes ~1-2 s on a loaded machine,
    // and two of them (rm, then ls) used to outlast the 2 s retention before the entry was seen.
    await client.remove("/pub/short");
    const [e] = (await client.listTrash()).entries;
    expect(e).toMatchObject({ path: "/pub/short" });
    expect(Number(e!.expiresMs) - Number(e!.deletedMs)).toBe(2_000);
    await eventually(async () => (await client.listTrash()).entries.length === 0, 30_000, "the new entry expired");
    expect(Date.now()).toBeGreaterThanOrEqual(Number(e!.deletedMs) + 2_000);
  });
});
