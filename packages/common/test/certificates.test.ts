// Certificates the project issues: they read back as the identity they were
// issued for (through a real TLS handshake, as the daemons read them), and one
// from another CA is refused.
import { X509Certificate } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, connect, type TLSSocket } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCa, initCaDir, issueIdentity, issueToDir, verifiesAgainst, type IdentitySpec } from "../src/certificates";
import { cachedPeer, peerOfCertificate } from "../src/peer";
import { defaultTlsDirs, findTlsIdentity, loadTlsIdentity } from "../src/tls-identity";
import { tlsClientOptions, tlsServerOptions } from "../src/transport-security";

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), "gfs-cert-test-")); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

/** The peer the server side of a real TLS 1.3 handshake sees for `clientDir`, or the handshake's error. */
async function handshake(serverDir: string, clientDir: string, expectRole: "chunkserver" | "master" = "chunkserver") {
  const server = loadTlsIdentity(serverDir);
  const client = loadTlsIdentity(clientDir);
  const seen: Array<ReturnType<typeof cachedPeer>> = [];
  const srv = createServer(tlsServerOptions(server), (s: TLSSocket) => { seen.push(cachedPeer(s.getPeerCertificate())); s.end("ok"); });
  srv.on("tlsClientError", () => {});
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  try {
    const s = connect({ host: "127.0.0.1", port, ...tlsClientOptions(client, expectRole) });
    const data = await new Promise<string>((resolve, reject) => {
      let got = "";
      s.on("data", (d) => { got += d; });
      s.on("end", () => resolve(got));
      s.on("error", reject);
    });
    return { data, peer: seen[0], protocol: s.getProtocol() };
  } finally {
    srv.close();
  }
}

describe("certificates issued by gfs ca init / gfs cert issue", () => {
  it("a CA dir has ca.crt and a 0600 ca.key, and a second init refuses to replace it", async () => {
    const ca = join(dir, "ca");
    await initCaDir(ca);
    expect((await stat(join(ca, "ca.key"))).mode & 0o777).toBe(0o600);
    expect((await stat(ca)).mode & 0o777).toBe(0o700);
    const before = await readFile(join(ca, "ca.key"), "utf8");
    await expect(initCaDir(ca)).rejects.toThrow(/exists: refusing to replace/);
    expect(await readFile(join(ca, "ca.key"), "utf8")).toBe(before);
  });

  it("each role reads back as itself; a user certificate carries its uid and groups, primary first", async () => {
    const ca = join(dir, "ca");
    const specs: IdentitySpec[] = [
      { role: "master", name: "master" }, { role: "chunkserver", name: "cs1" }, { role: "mount", name: "host-a" },
      { role: "admin", name: "admin" }, { role: "user", name: "alice", uid: 1000, gids: [1000, 27, 100] },
    ];
    for (const spec of specs) {
      const out = join(dir, `id-${spec.name}`);
      await issueToDir(ca, spec, out);
      expect((await stat(join(out, "tls.key"))).mode & 0o777).toBe(0o600);
      const id = loadTlsIdentity(out);
      const expected = spec.role === "user" ? { role: "user", name: spec.name, uid: spec.uid, gids: spec.gids } : { role: spec.role, name: spec.name };
      expect(id.self).toEqual(expected);
      const x = new X509Certificate(id.cert);
      expect(x.subject).toBe(`CN=${spec.name}\nOU=${spec.role}\nO=gfs`);
      expect(x.keyUsage).toEqual(expect.arrayContaining(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]));
      expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
      const days = (Date.parse(x.validTo) - Date.now()) / 86_400_000;
      expect(days).toBeGreaterThan(364);
      expect(days).toBeLessThan(366);
    }
    // Through a real handshake, as a daemon sees a caller.
    const r = await handshake(join(dir, "id-cs1"), join(dir, "id-alice"));
    expect(r.data).toBe("ok");
    expect(r.protocol).toBe("TLSv1.3");
    expect(r.peer).toEqual({ role: "user", name: "alice", uid: 1000, gids: [1000, 27, 100] });
  });

  it("a CA lives 10 years; --days sets an identity's validity", async () => {
    const ca = new X509Certificate(await readFile(join(dir, "ca", "ca.crt")));
    expect((Date.parse(ca.validTo) - Date.now()) / 86_400_000).toBeGreaterThan(3649);
    expect(ca.ca).toBe(true);
    await issueToDir(join(dir, "ca"), { role: "admin", name: "short", days: 7 }, join(dir, "id-short"));
    const x = new X509Certificate(await readFile(join(dir, "id-short", "tls.crt")));
    expect(Math.round((Date.parse(x.validTo) - Date.now()) / 86_400_000)).toBe(7);
  });

  it("bad specs are refused with a reason: unknown role, a user without uid or groups, uid on another role, a bad name", async () => {
    const ca = join(dir, "ca");
    await expect(issueToDir(ca, { role: "root" as never, name: "x" }, join(dir, "bad"))).rejects.toThrow(/unknown role 'root'/);
    await expect(issueToDir(ca, { role: "user", name: "x" }, join(dir, "bad"))).rejects.toThrow(/needs --uid/);
    // The master refuses a user certificate with no group, so none is issued.
    await expect(issueToDir(ca, { role: "user", name: "x", uid: 1000 }, join(dir, "bad"))).rejects.toThrow(/needs --gids/);
    await expect(issueToDir(ca, { role: "user", name: "x", uid: 1000, gids: [] }, join(dir, "bad"))).rejects.toThrow(/needs --gids/);
    await expect(issueToDir(ca, { role: "admin", name: "x", uid: 5 }, join(dir, "bad"))).rejects.toThrow(/only a user certificate/);
    await expect(issueToDir(ca, { role: "admin", name: "a,OU=master" }, join(dir, "bad"))).rejects.toThrow(/must be 1-64/);
    await expect(stat(join(dir, "bad"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("a certificate of another CA does not verify, and its holder is refused in the handshake", async () => {
    const other = await createCa();
    const foreign = await issueIdentity(other, { role: "admin", name: "admin" });
    const ours = await readFile(join(dir, "ca", "ca.crt"), "utf8");
    expect(verifiesAgainst(foreign.certPem, ours)).toBe(false);
    expect(verifiesAgainst(await readFile(join(dir, "id-admin", "tls.crt"), "utf8"), ours)).toBe(true);
    // An identity dir holding the foreign certificate (and our CA to check the server with).
    const fdir = join(dir, "foreign");
    await issueToDir(join(dir, "ca"), { role: "admin", name: "placeholder" }, fdir);
    await writeFile(join(fdir, "tls.crt"), foreign.certPem);
    await writeFile(join(fdir, "tls.key"), foreign.keyPem, { mode: 0o600 });
    await writeFile(join(fdir, "ca.crt"), other.certPem); // loadTlsIdentity checks tls.crt against ca.crt
    const id = loadTlsIdentity(fdir);
    expect(id.self.role).toBe("admin");
    await writeFile(join(fdir, "ca.crt"), ours);
    await expect(handshake(join(dir, "id-cs1"), fdir)).rejects.toThrow(/./);
  });

  it("a client refuses a server whose certificate has another role than expected", async () => {
    await expect(handshake(join(dir, "id-cs1"), join(dir, "id-admin"), "master")).rejects.toThrow(/role chunkserver, expected master/);
  });

  it("peerOfCertificate refuses a certificate with no gfs role", () => {
    expect(() => peerOfCertificate({ subject: { CN: "x", OU: "wizard" } } as never)).toThrow(/carries no gfs role/);
  });
});

describe("loading an identity dir", () => {
  it("a missing file is one line naming it and why", () => {
    expect(() => loadTlsIdentity(join(dir, "nowhere"))).toThrow(`cannot read ${join(dir, "nowhere", "ca.crt")}: no such file (ENOENT)`);
  });

  it("a key readable by group or others is refused, as ssh does", async () => {
    const d = join(dir, "loose");
    await issueToDir(join(dir, "ca"), { role: "admin", name: "loose" }, d);
    await chmod(join(d, "tls.key"), 0o640);
    expect(() => loadTlsIdentity(d)).toThrow(/tls\.key is readable by others \(mode 0640\): refusing to use it/);
  });

  it("a certificate not issued by the dir's ca.crt is refused", async () => {
    const d = join(dir, "mixed");
    await issueToDir(join(dir, "ca"), { role: "admin", name: "mixed" }, d);
    await writeFile(join(d, "ca.crt"), (await createCa()).certPem);
    expect(() => loadTlsIdentity(d)).toThrow(/was not issued by the CA/);
  });

  it("the CLI looks in --tls-dir, $GFS_TLS_DIR, then root's GFS_HOME/tls/admin and /etc/gfs/tls, a user's ~/.config/gfs; none: where it looked", () => {
    expect(defaultTlsDirs({ GFS_HOME: "/srv/gfs" }, 0, "/root")).toEqual(["/srv/gfs/tls/admin", "/etc/gfs/tls"]);
    expect(defaultTlsDirs({}, 0, "/root")).toEqual(["/root/.gfs/tls/admin", "/etc/gfs/tls"]);
    expect(defaultTlsDirs({ GFS_TLS_DIR: "/x" }, 1000, "/home/u")).toEqual(["/x", "/home/u/.config/gfs"]);
    expect(() => findTlsIdentity(undefined, [join(dir, "a"), join(dir, "b")]))
      .toThrow(`no TLS identity (ca.crt, tls.crt, tls.key) in ${join(dir, "a")}, ${join(dir, "b")}`);
    expect(findTlsIdentity(undefined, [join(dir, "a"), join(dir, "id-admin")]).self.name).toBe("admin");
  });
});
