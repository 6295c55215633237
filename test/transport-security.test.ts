// Issue 13, authentication: every connection is mutual TLS with certificates of
// the cluster's CA. Real daemons; clients without a certificate, with one of
// another CA, or in plaintext are refused on gRPC and on the data port; a
// client refuses a server whose certificate has the wrong role; --insecure
// says what it is; credentials that cannot be used are one-line errors.
import { connect as netConnect } from "node:net";
import { mkdtemp, readFile, rm, stat, writeFile, chmod, mkdir } from "node:fs/promises";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import {
  chunkServerDefinition, createCa, DataChannel, encodeFrame, FrameKind, frameHeaderBytes, insecureTransport, issueIdentity,
  loadTlsIdentity, masterDefinition, messages, newChunkServerClient, newMasterClient, peerOfPem, promiseClient, tlsTransport,
  type TlsIdentity, type TransportSecurity,
} from "@gfs/common";
import { bin, eventually, repoRoot, runCli, TestCluster } from "./harness/cluster";
import { run } from "./harness/mount";
import { testCaDir } from "./harness/pki";
import { spawnNode, stopProcess } from "./harness/processes";

const nobody = { uid: 65534, gid: 65534 };
const hostPort = (a: string) => { const i = a.lastIndexOf(":"); return { host: a.slice(0, i), port: Number(a.slice(i + 1)) }; };

/** A master Status and a chunkserver Stats over gRPC with `security`: what each answered or the error. */
async function grpcCalls(c: TestCluster, security: TransportSecurity): Promise<{ master: string; chunkserver: string }> {
  const m = newMasterClient(c.masterAddress, security);
  const cs = newChunkServerClient(c.chunkservers[0].address, security);
  const outcome = (p: Promise<unknown>) => p.then(() => "ok", (e: Error) => e.message);
  try {
    return {
      master: await outcome(promiseClient(m, masterDefinition()).Status({}, { timeoutMs: 3_000 })),
      chunkserver: await outcome(promiseClient(cs, chunkServerDefinition()).Stats({}, { timeoutMs: 3_000 })),
    };
  } finally {
    m.close();
    cs.close();
  }
}

/**
 * Sends a READ frame on the data port over a TLS connection made with
 * `options` (or plain TCP): whether an answer frame came back, and any error.
 */
function dataPortAttempt(address: string, options: ConnectionOptions | "plain"): Promise<{ answered: boolean; error?: string }> {
  const frame = encodeFrame(FrameKind.READ, messages.encodeReadRequest({ handle: "0000000000000001", version: 1, offset: 0, length: 10 }), 0);
  return new Promise((resolve) => {
    const { host, port } = hostPort(address);
    let got = Buffer.alloc(0);
    let error: string | undefined;
    const socket = options === "plain"
      ? netConnect({ host, port })
      : tlsConnect({ host, port, ...options });
    socket.on(options === "plain" ? "connect" : "secureConnect", () => socket.write(frame));
    socket.on("data", (d: Buffer) => { got = Buffer.concat([got, d]); });
    socket.on("error", (e: Error) => { error ??= e.message; });
    socket.on("close", () => resolve({ answered: got.length >= frameHeaderBytes && (got[0] === FrameKind.OK || got[0] === FrameKind.ERROR), error }));
    setTimeout(() => socket.destroy(), 5_000);
  });
}

describe("mutual TLS on every connection (real processes)", () => {
  let c: TestCluster;
  let dataAddress: string;
  let admin: TlsIdentity;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gfs-tls-test-"));
    await chmod(dir, 0o755);
    c = await TestCluster.start({ chunkservers: 3 });
    admin = loadTlsIdentity(c.tlsDir("admin"));
    const cs = promiseClient(newChunkServerClient(c.chunkservers[0].address), chunkServerDefinition());
    dataAddress = (await cs.Stats({})).dataAddress;
  });
  afterAll(async () => {
    await c?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("a client with the cluster's certificate is served on gRPC and the data port (the control for the refusals below)", async () => {
    expect(await grpcCalls(c, tlsTransport(admin))).toEqual({ master: "ok", chunkserver: "ok" });
    const r = await dataPortAttempt(dataAddress, { ca: admin.ca, cert: admin.cert, key: admin.key, checkServerIdentity: () => undefined });
    expect(r.answered).toBe(true);
  });

  it("a plaintext client is refused by the master and a chunkserver, on gRPC and on the data port", async () => {
    const r = await grpcCalls(c, insecureTransport);
    expect(r.master).not.toBe("ok");
    expect(r.chunkserver).not.toBe("ok");
    expect((await dataPortAttempt(dataAddress, "plain")).answered).toBe(false);
  });

  it("a TLS client without a certificate is refused by the master and a chunkserver, on gRPC and on the data port", async () => {
    // The gRPC ports are TLS servers too (ALPN h2): the refusal comes in the handshake, before any HTTP/2.
    const noCert = { ca: admin.ca, checkServerIdentity: () => undefined, ALPNProtocols: ["h2"] };
    for (const address of [c.masterAddress, c.chunkservers[0].address, dataAddress]) {
      const r = await dataPortAttempt(address, noCert);
      expect(r.answered, address).toBe(false);
      expect(r.error, address).toMatch(/certificate required/);
    }
  });

  it("a client offering only TLS 1.2, even with the cluster's certificate, is refused by the master and a chunkserver, on gRPC and the data port", async () => {
    const tls12 = { ca: admin.ca, cert: admin.cert, key: admin.key, checkServerIdentity: () => undefined, ALPNProtocols: ["h2"],
      minVersion: "TLSv1.2" as const, maxVersion: "TLSv1.2" as const };
    for (const address of [c.masterAddress, c.chunkservers[0].address, dataAddress]) {
      const r = await dataPortAttempt(address, tls12);
      expect(r.answered, address).toBe(false);
      expect(r.error, address).toMatch(/protocol version|version/i);
    }
  });

  it("a client whose certificate another CA signed is refused by the master and a chunkserver, on gRPC and on the data port", async () => {
    const other = await createCa();
    const foreign = await issueIdentity(other, { role: "admin", name: "admin" });
    // Trusts our CA (so it accepts the servers) but presents a certificate ours did not sign.
    const impostor: TlsIdentity = {
      dir: "(memory)", ca: admin.ca, cert: Buffer.from(foreign.certPem), key: Buffer.from(foreign.keyPem), self: peerOfPem(foreign.certPem),
    };
    const r = await grpcCalls(c, tlsTransport(impostor));
    expect(r.master).not.toBe("ok");
    expect(r.chunkserver).not.toBe("ok");
    const d = await dataPortAttempt(dataAddress, { ca: admin.ca, cert: impostor.cert, key: impostor.key, checkServerIdentity: () => undefined });
    expect(d.answered).toBe(false); // the server cuts the connection after the handshake's certificate check
    // And through the client library: nothing is read or written.
    const client = new GfsClient({ master: c.masterAddress, security: tlsTransport(impostor), client_attempts_max: 1, rpc_deadline_ms: 2_000 });
    try {
      await expect(client.status()).rejects.toThrow(/./);
    } finally {
      client.close();
    }
  });

  it("a client refuses a server whose certificate has the wrong role (a chunkserver answering as the master, the master as a data port)", async () => {
    const r = await c.gfs(["--timeout-ms", "2000", "status"]);
    expect(r.code, r.stderr).toBe(0);
    // gfs --master <a chunkserver's address>: the server proves it is a chunkserver, not the master.
    const wrong = await runCli(["--master", c.chunkservers[0].address, "--tls-dir", c.tlsDir("admin"), "--timeout-ms", "2000", "status"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/role chunkserver, expected master/);
    // A data channel pointed at the master: its certificate is no chunkserver's.
    const ch = new DataChannel(c.masterAddress, undefined, tlsTransport(admin));
    try {
      await expect(ch.readInto({ handle: "0000000000000001", version: 1, offset: 0, length: 10 }, Buffer.alloc(10), 0, 3_000))
        .rejects.toThrow(/role master, expected chunkserver/);
    } finally {
      ch.close();
    }
  });

  it("a user identity the cluster's CA issued is readable by that user alone, and its CLI runs speak TLS with it", async () => {
    const id = await c.issue("user", "nobody", { uid: nobody.uid, gids: [nobody.gid] });
    expect((await stat(join(id, "tls.key"))).uid).toBe(nobody.uid);
    expect((await stat(join(id, "tls.key"))).mode & 0o777).toBe(0o600);
    expect(loadTlsIdentity(id).self).toEqual({ role: "user", name: "nobody", uid: nobody.uid, gids: [nobody.gid] });
    const r = await c.gfs(["status"], undefined, { tlsDir: id, asUser: nobody });
    expect(r.code, r.stderr).toBe(0);
    // The admin's key is not readable by that user.
    const admin = await c.gfs(["status"], undefined, { tlsDir: c.tlsDir("admin"), asUser: nobody });
    expect(admin.code).toBe(1);
    expect(admin.stderr).toMatch(/cannot read .*admin\/(ca\.crt|tls\.key): permission denied \(EACCES\)/);
  });

  it("a user certificate is refused an inode path (EACCES) while it may stat the same file by name", async () => {
    // Issue 19: inode paths ("//inode/ID") are for mounts' open descriptors; a user identity never addresses one.
    // The role is checked before any session or the grace after the master's start (inode-access.ts).
    const id = await c.issue("user", "nobody", { uid: nobody.uid, gids: [nobody.gid] });
    const made = await c.gfs(["touch", "/inode-target"]);
    expect(made.code, made.stderr).toBe(0);
    const byName = await c.gfs(["stat", "--json", "/inode-target"], undefined, { tlsDir: id, asUser: nobody });
    expect(byName.code, byName.stderr).toBe(0);
    const inode = (JSON.parse(byName.stdout) as { id: number }).id;
    const byInode = await c.gfs(["stat", "--json", `//inode/${inode}`], undefined, { tlsDir: id, asUser: nobody });
    expect(byInode.code).toBe(1);
    expect(byInode.stderr).toMatch(/^gfs: stat: EACCES: .*a user certificate cannot address \/\/inode\/\d+ /);
  });

  it("a daemon refuses to start with another role's certificate, naming the file", async () => {
    const p = spawnNode(bin.master, ["--tls-dir", c.tlsDir("cs0"), "--listen", "127.0.0.1:0", "--data", join(dir, "wrong-role")]);
    expect((await p.exited).code).toBe(1);
    expect(p.log().trim()).toBe(`gfs-master: ${join(c.tlsDir("cs0"), "tls.crt")} is a chunkserver certificate ("cs0"); this daemon needs a master certificate`);
  });
});

describe("--insecure and credentials that cannot be used (real processes)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gfs-cred-test-"));
    await chmod(dir, 0o755);
  });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it("a daemon with neither --tls-dir nor --insecure does not start (usage error, exit 2)", async () => {
    const p = spawnNode(bin.master, ["--listen", "127.0.0.1:0", "--data", join(dir, "m0")]);
    expect((await p.exited).code).toBe(2);
    expect(p.log().split("\n")[0]).toMatch(/^gfs-master: --tls-dir DIR is required .* or --insecure/);
  });

  it("--insecure logs a warning at every start, and a plaintext cluster serves plaintext clients", async () => {
    const c = await TestCluster.start({ chunkservers: 3, insecure: true });
    try {
      for (const p of [c.master, ...c.chunkservers.map((s) => s.process)]) {
        expect(p.log()).toMatch(/"level":"warn".*"msg":"insecure: plaintext, no authentication; for benchmarks only"/);
      }
      await stopProcess(c.master);
      await c.startMaster(c.masterAddress);
      expect(c.master.log()).toMatch(/insecure: plaintext, no authentication; for benchmarks only/);
      const r = await c.gfs(["mkdir", "/plain"]);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      await c.stop();
    }
  });

  it("a missing credential file is one line naming it and why, for the CLI and a daemon", async () => {
    const missing = join(dir, "none");
    const cli = await runCli(["--master", "127.0.0.1:1", "--tls-dir", missing, "status"]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toBe(`gfs: cannot read ${join(missing, "ca.crt")}: no such file (ENOENT)\n`);
    const p = spawnNode(bin.chunkserver, ["--tls-dir", missing, "--master", "127.0.0.1:1", "--data", join(dir, "cs")]);
    expect((await p.exited).code).toBe(1);
    expect(p.log()).toBe(`gfs-chunkserver: cannot read ${join(missing, "ca.crt")}: no such file (ENOENT)\n`);
  });

  it("an unreadable key is one line naming it (permission denied), and a key others may read is refused", async () => {
    const id = join(dir, "rootonly");
    await run(process.execPath, [bin.cli, "cert", "issue", "--ca", await testCaDir(dir), "--role", "admin", "--name", "admin", "--out", id]);
    await chmod(id, 0o755);
    const asNobody = await run("setpriv", [`--reuid=${nobody.uid}`, `--regid=${nobody.gid}`, "--clear-groups",
      process.execPath, bin.cli, "--master", "127.0.0.1:1", "--tls-dir", id, "status"]);
    expect(asNobody.code).toBe(1);
    expect(asNobody.stderr).toBe(`gfs: cannot read ${join(id, "tls.key")}: permission denied (EACCES)\n`);
    await chmod(join(id, "tls.key"), 0o644);
    const loose = await runCli(["--master", "127.0.0.1:1", "--tls-dir", id, "status"]);
    expect(loose.code).toBe(1);
    expect(loose.stderr).toMatch(new RegExp(`^gfs: ${join(id, "tls.key")} is readable by others \\(mode 0644\\): refusing to use it; chmod 600 `));
    expect(loose.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("with no --tls-dir, the CLI says where it looked and how to get an identity", async () => {
    const r = await run("env", [`HOME=${dir}`, "GFS_HOME=" + join(dir, "nohome"), process.execPath, bin.cli, "--master", "127.0.0.1:1", "status"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`gfs: no TLS identity (ca.crt, tls.crt, tls.key) in ${join(dir, "nohome", "tls", "admin")}, /etc/gfs/tls; `
      + "pass --tls-dir DIR or set GFS_TLS_DIR, or ask the cluster's admin for one (gfs cert issue --role user --uid UID ...)\n");
  });
});

describe("gfs ca init and gfs cert issue (real CLI)", () => {
  let dir: string;
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), "gfs-pki-cli-")); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it("make a CA and identities with 0600 keys in 0700 dirs that a cluster accepts; a second ca init changes nothing", async () => {
    const ca = join(dir, "ca");
    const init = await runCli(["ca", "init", ca]);
    expect(init.code, init.stderr).toBe(0);
    expect((await stat(join(ca, "ca.key"))).mode & 0o777).toBe(0o600);
    const key = await readFile(join(ca, "ca.key"));
    const again = await runCli(["ca", "init", ca]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists: refusing to replace the cluster's CA/);
    expect(await readFile(join(ca, "ca.key"))).toEqual(key);

    for (const [role, name, extra] of [["master", "master", []], ["chunkserver", "cs9", []], ["admin", "ops", []], ["user", "alice", ["--uid", "1000", "--gids", "1000,27"]]] as const) {
      const out = join(dir, name);
      const r = await runCli(["cert", "issue", "--ca", ca, "--role", role, "--name", name, ...extra, "--days", "30", "--out", out]);
      expect(r.code, r.stderr).toBe(0);
      expect((await stat(join(out, "tls.key"))).mode & 0o777).toBe(0o600);
      expect((await stat(out)).mode & 0o777).toBe(0o700);
    }
    expect(loadTlsIdentity(join(dir, "alice")).self).toEqual({ role: "user", name: "alice", uid: 1000, gids: [1000, 27] });

    // Bad requests: exit 2, nothing written.
    for (const args of [["--role", "wizard", "--name", "x"], ["--role", "user", "--name", "x"], ["--role", "user", "--name", "x", "--uid", "1000"], ["--role", "mount", "--name", "x", "--uid", "5"]]) {
      const r = await runCli(["cert", "issue", "--ca", ca, ...args, "--out", join(dir, "bad")]);
      expect(r.code, args.join(" ")).toBe(2);
    }
    await expect(stat(join(dir, "bad"))).rejects.toMatchObject({ code: "ENOENT" });

    // A cluster made of these identities serves a client holding one.
    const m = spawnNode(bin.master, ["--tls-dir", join(dir, "master"), "--listen", "127.0.0.1:0", "--data", join(dir, "m"), "--replication", "1"]);
    let cs: ReturnType<typeof spawnNode> | undefined;
    try {
      const address = String((await m.waitForLog("master listening")).address);
      cs = spawnNode(bin.chunkserver, ["--tls-dir", join(dir, "cs9"), "--master", address, "--data", join(dir, "c")]);
      await cs.waitForLog("registered with master");
      const put = await runCli(["--master", address, "--tls-dir", join(dir, "ops"), "put", "-", "/hello"], Buffer.from("hello"));
      expect(put.code, put.stderr).toBe(0);
      const get = await runCli(["--master", address, "--tls-dir", join(dir, "ops"), "get", "/hello", "-"]);
      expect(get.stdout).toBe("hello");
    } finally {
      if (cs) await stopProcess(cs);
      await stopProcess(m);
    }
  });
});

describe("scripts/mount.sh on a fresh GFS_HOME (real processes, FUSE)", () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const mnt = () => join(dir, "mnt");

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gfs-mountsh-"));
    // Launchers of this checkout first on PATH (mount.sh's setup would point /usr/local/bin elsewhere).
    await mkdir(join(dir, "bin"));
    for (const [name, script] of [["gfs", bin.cli], ["gfs-master", bin.master], ["gfs-chunkserver", bin.chunkserver], ["gfs-mount", bin.mount]]) {
      await writeFile(join(dir, "bin", name), `#!/bin/sh\nexec "${process.execPath}" "${script}" "$@"\n`, { mode: 0o755 });
    }
    env = {
      ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH}`, GFS_SKIP_SETUP: "1", GFS_HOME: join(dir, "home"),
      GFS_MASTER_PORT: String(20_000 + (process.pid % 20_000)), GFS_CHUNK_SIZE: String(1 << 20),
    };
  });
  afterAll(async () => {
    await run("env", [...Object.entries({ PATH: env.PATH, GFS_SKIP_SETUP: "1", GFS_HOME: env.GFS_HOME, GFS_MASTER_PORT: env.GFS_MASTER_PORT }).map(([k, v]) => `${k}=${v}`),
      "bash", join(repoRoot, "scripts/mount.sh"), "--stop", mnt()]);
    await rm(dir, { recursive: true, force: true });
  });

  const mountSh = (...args: string[]) => run("env", [...Object.entries(env).filter(([k]) => /^(PATH|GFS_.*)$/.test(k)).map(([k, v]) => `${k}=${v}`),
    "bash", join(repoRoot, "scripts/mount.sh"), ...args], { timeoutMs: 90_000 });

  it("the first start makes the CA and every identity (keys 0600); gfs as root then needs no flags; a restart reuses them", async () => {
    const first = await mountSh(mnt());
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const tls = join(env.GFS_HOME!, "tls");
    for (const name of ["ca", "master", "admin", "mount", "cs1", "cs2", "cs3"]) {
      const key = join(tls, name, name === "ca" ? "ca.key" : "tls.key");
      expect((await stat(key)).mode & 0o777, key).toBe(0o600);
    }
    expect(loadTlsIdentity(join(tls, "cs2")).self).toEqual({ role: "chunkserver", name: "cs2" });
    const status = await run("env", [`GFS_HOME=${env.GFS_HOME}`, process.execPath, bin.cli, "--master", `127.0.0.1:${env.GFS_MASTER_PORT}`, "status"]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/3\/3 chunkservers alive/);
    await writeFile(join(mnt(), "f"), "through the mount");
    const cert = await readFile(join(tls, "cs1", "tls.crt"), "utf8");
    expect((await mountSh("--stop", mnt())).code).toBe(0);
    const second = await mountSh(mnt());
    expect(second.code, second.stderr).toBe(0);
    expect(await readFile(join(tls, "cs1", "tls.crt"), "utf8")).toBe(cert);
    await eventually(async () => (await readFile(join(mnt(), "f"), "utf8")) === "through the mount", 10_000, "file readable after restart");
  });
});
