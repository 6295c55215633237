// POSIX permissions at the master, through the gfs CLI run as two users
// (setpriv), each with a user certificate of its own: the CLI speaks for the
// user running it, a user certificate only for its own uid and groups, and
// the master decides. Before this, as `nobody`, `gfs get` read root's 0600
// file inside a 0700 directory, `gfs put` overwrote it and `gfs rm` deleted it.
import { chmod, chown, cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import { TestCluster } from "./harness/cluster";

interface User { uid: number; gid: number; groups: number[] }
const alice: User = { uid: 1000, gid: 1000, groups: [1000, 50] };
const bob: User = { uid: 1001, gid: 1001, groups: [1001] };
const nobody: User = { uid: 65534, gid: 65534, groups: [65534] };

describe("permissions through the CLI, as two users", { timeout: 180_000 }, () => {
  let c: TestCluster;
  let local: string;
  /** uid -> identity dir of its user certificate. */
  const ids = new Map<number, string>();

  beforeAll(async () => {
    c = await TestCluster.start({ chunkservers: 2, replication: 2 });
    for (const [name, u] of [["alice", alice], ["bob", bob], ["nobody", nobody]] as const) {
      ids.set(u.uid, await c.issue("user", name, { uid: u.uid, gids: u.groups }));
    }
    local = await mkdtemp(join(tmpdir(), "gfs-perm-"));
    await chmod(local, 0o777);
    await writeFile(join(local, "secret"), "alice's secret\n");
    await writeFile(join(local, "evil"), "overwritten by bob\n");
    await chmod(join(local, "secret"), 0o644);
    await chmod(join(local, "evil"), 0o644);
    // As root: a home for alice, a public directory of hers and a sticky /tmp.
    for (const args of [["mkdir", "/home"], ["mkdir", "/home/alice"], ["chown", "1000:1000", "/home/alice"],
      ["mkdir", "/tmp"], ["chmod", "1777", "/tmp"], ["mkdir", "/pub"], ["chown", "1000:1000", "/pub"]]) await ok(args);
  });
  afterAll(async () => {
    await c?.stop();
    if (local) await rm(local, { recursive: true, force: true });
  });

  /** The CLI as `user` with its own user certificate (root: as root with the admin certificate). */
  const gfs = (args: string[], user?: User, input?: Buffer) =>
    c.gfs(args, input, user ? { tlsDir: ids.get(user.uid)!, asUser: user } : {});
  const ok = async (args: string[], user?: User, input?: Buffer) => {
    const r = await gfs(args, user, input);
    expect(r.code, `gfs ${args.join(" ")} as ${user?.uid ?? 0}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const denied = async (args: string[], user: User, errno = "EACCES", input?: Buffer) => {
    const r = await gfs(args, user, input);
    expect(r.code, `gfs ${args.join(" ")} as ${user.uid} should fail: ${r.stdout}`).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${errno}: ${errno === "EACCES" ? "Permission denied" : "Operation not permitted"}`));
    return r.stderr;
  };
  const stat = async (path: string) => JSON.parse(await ok(["stat", path]));

  it("another user's get, put and rm of a 0600 file in a 0700 directory fail with permission denied (exit 1) and change nothing", async () => {
    await ok(["put", join(local, "secret"), "/home/alice/secret"], alice);
    await ok(["chmod", "600", "/home/alice/secret"], alice);
    await ok(["chmod", "700", "/home/alice"], alice);
    const before = await stat("/home/alice/secret");
    expect(before).toMatchObject({ uid: 1000, gid: 1000, mode: 0o600 });

    const out = join(local, "stolen");
    expect(await denied(["get", "/home/alice/secret", out], bob)).toMatch(/permission denied to uid 1001/);
    await expect(readFile(out, "utf8").catch(() => "")).resolves.toBe("");
    await denied(["put", join(local, "evil"), "/home/alice/secret"], bob);
    await denied(["rm", "/home/alice/secret"], bob);
    await denied(["ls", "/home/alice"], bob);

    expect(await stat("/home/alice/secret")).toEqual(before);
    expect(await ok(["get", "/home/alice/secret", "-"], alice)).toBe("alice's secret\n");
  });

  it("even with search on the directory, a 0600 file can be neither read nor overwritten by another user", async () => {
    await ok(["put", join(local, "secret"), "/pub/private"], alice);
    await ok(["chmod", "600", "/pub/private"], alice);
    await denied(["get", "/pub/private", "-"], bob);
    await denied(["put", "-f", join(local, "evil"), "/pub/private"], bob);
    await denied(["append", "/pub/private"], bob, "EACCES", Buffer.from("bob's record\n"));
    expect(await ok(["get", "/pub/private", "-"], alice)).toBe("alice's secret\n");
  });

  it("read permission lets another user get a file; put -f replaces it only where they may create files (it renames a new file over it)", async () => {
    await ok(["put", join(local, "secret"), "/pub/readable"], alice); // 0644
    expect(await ok(["get", "/pub/readable", "-"], bob)).toBe("alice's secret\n");
    // The refusal names the target and its directory, not the hidden temporary name it would have created.
    expect(await denied(["put", "-f", join(local, "evil"), "/pub/readable"], bob)).toBe("gfs: put: EACCES: Permission denied: /pub/readable: cannot create files in /pub\n");
    await ok(["chmod", "666", "/pub/readable"], alice);
    await denied(["put", "-f", join(local, "evil"), "/pub/readable"], bob); // writing the file is not enough: /pub is 0755
    expect(await ok(["get", "/pub/readable", "-"], alice)).toBe("alice's secret\n");
    await ok(["chmod", "777", "/pub"], alice);
    await ok(["put", "-f", join(local, "evil"), "/pub/readable"], bob);
    await ok(["chmod", "755", "/pub"], alice);
    expect(await ok(["get", "/pub/readable", "-"], alice)).toBe("overwritten by bob\n");
    expect(await stat("/pub/readable")).toMatchObject({ uid: 1001 }); // a new file, bob's
  });

  it("a directory needs read to be listed, search to reach its files and write to create or remove in it", async () => {
    await ok(["mkdir", "/pub/d"], alice);
    await ok(["put", join(local, "secret"), "/pub/d/f"], alice);
    expect(await ok(["ls", "/pub/d"], bob)).toBe("f\n"); // 0755
    await denied(["put", join(local, "evil"), "/pub/d/new"], bob);
    await denied(["mkdir", "/pub/d/sub"], bob);
    await denied(["rm", "/pub/d/f"], bob);
    await denied(["mv", "/pub/d/f", "/tmp/f"], bob);
    await ok(["chmod", "711", "/pub/d"], alice); // search, no read
    await denied(["ls", "/pub/d"], bob);
    expect(await ok(["get", "/pub/d/f", "-"], bob)).toBe("alice's secret\n");
    await ok(["chmod", "744", "/pub/d"], alice); // read, no search
    await denied(["get", "/pub/d/f", "-"], bob);
    await denied(["stat", "/pub/d/f"], bob);
    await ok(["chmod", "777", "/pub/d"], alice);
    await ok(["put", join(local, "evil"), "/pub/d/bobs"], bob);
    await ok(["rm", "/pub/d/f"], bob); // a non-sticky directory: write on it is enough
  });

  it("a directory with read but no search permission lists names only: no owner, mode or size of its entries", async () => {
    await ok(["mkdir", "/pub/rd"], alice);
    await ok(["put", join(local, "secret"), "/pub/rd/file"], alice); // 15 bytes
    await ok(["mkdir", "/pub/rd/sub"], alice);
    await ok(["chmod", "640", "/pub/rd/file"], alice);
    const full = await ok(["ls", "-l", "/pub/rd"], bob); // 0755: search too, so everything
    expect(full).toMatch(/^-rw-r----- +1000 +1000 +15 \S+ file$/m);
    await ok(["chmod", "744", "/pub/rd"], alice); // read, no search
    expect(await ok(["ls", "/pub/rd"], bob)).toBe("file\nsub\n");
    const long = await ok(["ls", "-l", "/pub/rd"], bob);
    expect(long.trim().split("\n").map((l) => l.split(/ +/))).toEqual([
      ["-?????????", "?", "?", "?", "?", "file"],
      ["d?????????", "?", "?", "?", "?", "sub"],
    ]);
    expect(long).not.toMatch(/1000|15|rw/);
    await denied(["stat", "/pub/rd/file"], bob);
    // The owner's listing is whole.
    expect(await ok(["ls", "-l", "/pub/rd"], alice)).toMatch(/^-rw-r----- +1000 +1000 +15 \S+ file$/m);
  });

  it("a directory with search but no read permission cannot be listed, but a known name in it can be looked up", async () => {
    await ok(["chmod", "711", "/pub/rd"], alice);
    await denied(["ls", "-l", "/pub/rd"], bob);
    expect(JSON.parse(await ok(["stat", "/pub/rd/file"], bob))).toMatchObject({ uid: 1000, mode: 0o640, size: 15 });
  });

  it("files and directories the CLI creates belong to the user who ran it", async () => {
    await ok(["put", join(local, "evil"), "/tmp/bobs-file"], bob);
    await ok(["mkdir", "/tmp/bobs-dir"], bob);
    expect(await stat("/tmp/bobs-file")).toMatchObject({ uid: 1001, gid: 1001 });
    expect(await stat("/tmp/bobs-dir")).toMatchObject({ uid: 1001, gid: 1001 });
  });

  it("in a sticky /tmp-style directory another user can neither remove nor rename a file; its owner can", async () => {
    await ok(["put", join(local, "secret"), "/tmp/alices"], alice);
    await ok(["chmod", "666", "/tmp/alices"], alice);
    expect(await denied(["rm", "/tmp/alices"], bob)).toMatch(/sticky/);
    await denied(["mv", "/tmp/alices", "/tmp/mine"], bob);
    await ok(["put", join(local, "evil"), "/tmp/bobs-own"], bob);
    await denied(["mv", "/tmp/bobs-own", "/tmp/alices"], bob); // would replace alice's file
    await denied(["put", "-f", join(local, "evil"), "/tmp/alices"], bob); // renames over it, as mv: refused, and its temporary file removed
    expect(await ok(["ls", "/tmp"])).not.toMatch(/gfs-put/);
    expect(await ok(["get", "/tmp/alices", "-"])).toBe("alice's secret\n");
    await ok(["mv", "/tmp/bobs-own", "/tmp/bobs-renamed"], bob);
    await ok(["rm", "/tmp/bobs-renamed"], bob);
    await ok(["rm", "/tmp/alices"], alice);
  });

  it("only the owner or root may chmod; only root may chown; the owner may chgrp to a group it is in", async () => {
    await ok(["put", join(local, "secret"), "/pub/owned"], alice);
    await denied(["chmod", "777", "/pub/owned"], bob, "EPERM");
    await denied(["chown", "1001", "/pub/owned"], bob, "EPERM");
    await denied(["chown", "1001", "/pub/owned"], alice, "EPERM");
    await denied(["chown", ":1001", "/pub/owned"], alice, "EPERM");
    await ok(["chown", ":50", "/pub/owned"], alice);
    expect(await stat("/pub/owned")).toMatchObject({ uid: 1000, gid: 50, mode: 0o644 });
    await ok(["chmod", "4755", "/pub/owned"], alice);
    await ok(["chown", "1001:1001", "/pub/owned"]);
    expect(await stat("/pub/owned")).toMatchObject({ uid: 1001, gid: 1001, mode: 0o755 }); // chown clears setuid
    await ok(["chmod", "600", "/pub/owned"], bob); // the new owner
  });
});

describe("whom a certificate may speak for", { timeout: 180_000 }, () => {
  let c: TestCluster;
  let local: string;
  let aliceId: string;

  beforeAll(async () => {
    c = await TestCluster.start({ chunkservers: 2, replication: 2 });
    aliceId = await c.issue("user", "alice", { uid: alice.uid, gids: alice.groups });
    local = await mkdtemp(join(tmpdir(), "gfs-perm-"));
    await chmod(local, 0o777);
    await writeFile(join(local, "data"), "root's data\n");
    await chmod(join(local, "data"), 0o644);
    for (const args of [["mkdir", "/root-only"], ["chmod", "700", "/root-only"], ["put", join(local, "data"), "/root-only/secret"],
      ["chmod", "600", "/root-only/secret"], ["mkdir", "/open"], ["chmod", "1777", "/open"],
      ["put", join(local, "data"), "/open/group60"], ["chown", ":60", "/open/group60"], ["chmod", "640", "/open/group60"]]) {
      const r = await c.gfs(args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
    }
  });
  afterAll(async () => {
    await c?.stop();
    if (local) await rm(local, { recursive: true, force: true });
  });

  it("as nobody with a user certificate, gfs get of root's 0600 file fails with permission denied (exit 1), and put and rm change nothing", async () => {
    const nobodyId = await c.issue("user", "nobody", { uid: nobody.uid, gids: nobody.groups });
    const as = { tlsDir: nobodyId, asUser: nobody };
    const before = (await c.gfs(["stat", "/root-only/secret"])).stdout;
    for (const args of [["get", "/root-only/secret", join(local, "stolen")], ["put", join(local, "data"), "/root-only/secret"], ["rm", "/root-only/secret"]]) {
      const r = await c.gfs(args, undefined, as);
      expect(r.code, `${args.join(" ")}: ${r.stdout}`).toBe(1);
      expect(r.stderr).toMatch(/permission denied/i);
    }
    expect(await readFile(join(local, "stolen"), "utf8").catch(() => "")).toBe(""); // not a byte of it
    expect((await c.gfs(["stat", "/root-only/secret"])).stdout).toBe(before);
  });

  it("a user certificate cannot speak for another uid: the CLI run by another user with it is refused with EACCES", async () => {
    // Bob with a copy of alice's identity (a stolen key), and root with hers.
    const stolen = join(local, "stolen-alice");
    await cp(aliceId, stolen, { recursive: true });
    for (const f of ["", "ca.crt", "tls.crt", "tls.key"]) await chown(join(stolen, f), bob.uid, bob.gid);
    for (const [runner, id] of [[undefined, aliceId], [bob, stolen]] as const) {
      const r = await c.gfs(["put", join(local, "data"), "/open/by-impostor"], undefined, { tlsDir: id, asUser: runner });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`EACCES: Permission denied: permission denied: user certificate "alice" \\(uid 1000\\) cannot speak for uid ${runner?.uid ?? 0}`));
    }
    expect((await c.gfs(["stat", "/open/by-impostor"])).code).toBe(1); // nothing was created
    const own = await c.gfs(["put", join(local, "data"), "/open/by-alice"], undefined, { tlsDir: aliceId, asUser: alice });
    expect(own.code, own.stderr).toBe(0);
    expect(JSON.parse((await c.gfs(["stat", "/open/by-alice"])).stdout)).toMatchObject({ uid: 1000, gid: 1000 });
  });

  it("a user certificate's groups are the certificate's, not those its process claims", async () => {
    // Alice's process claims group 60; her certificate says 1000 and 50.
    const r = await c.gfs(["get", "/open/group60", "-"], undefined, { tlsDir: aliceId, asUser: { uid: 1000, gid: 1000, groups: [1000, 60] } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/read permission denied to uid 1000/);
    const carol = await c.issue("user", "carol", { uid: 1002, gids: [1002, 60] });
    const ok = await c.gfs(["get", "/open/group60", "-"], undefined, { tlsDir: carol, asUser: { uid: 1002, gid: 1002, groups: [1002] } });
    expect(ok.stdout).toBe("root's data\n");
  });

  it("the admin certificate acts as root unless it names a caller, and then as that caller", async () => {
    const asBob = new GfsClient({ ...c.clientOptions(), caller: bob });
    const asRoot = new GfsClient(c.clientOptions());
    try {
      await expect(asBob.read("/root-only/secret", 0, 100)).rejects.toThrow(/EACCES: \/root-only: search permission denied to uid 1001/);
      expect((await asRoot.read("/root-only/secret", 0, 100)).toString()).toBe("root's data\n");
      expect(await asBob.create("/open/bobs", { mode: 0o600, uid: 0, gid: 0 })).toMatchObject({ uid: 1001, gid: 1001 });
    } finally {
      asBob.close();
      asRoot.close();
    }
  });

  it("a mount's shared client cannot truncate a file for a caller who may not write it, even with another caller's lease cached", async () => {
    const client = new GfsClient(c.clientOptions(c.tlsDir("mount")));
    const root = { uid: 0, gid: 0, groups: [] };
    try {
      const data = Buffer.alloc(100_000, 0x5a);
      // Root writes a 0644 file: its chunk's lease (with a write token) is now in the client's cache.
      await client.runAs(root, async () => {
        await client.create("/open/cut.bin", { mode: 0o644 });
        await client.write("/open/cut.bin", 0, data);
      });
      await expect(client.runAs(bob, () => client.truncate("/open/cut.bin", 50_000))).rejects.toThrow(/EACCES/);
      // Nothing was cut: not the master's size, nor the chunk's bytes on the chunkservers.
      const after = await client.runAs(root, () => client.read("/open/cut.bin", 0, data.length));
      expect(after.equals(data)).toBe(true);
    } finally {
      client.close();
    }
  });

  it("chunkserver certificates make no namespace calls", async () => {
    const r = await c.gfs(["ls", "/"], undefined, { tlsDir: c.tlsDir("cs0") });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/EACCES/);
  });
});
