// The check a client makes of a chunkserver's certificate in the TLS handshake
// when it knows which server it means: the certificate must be a chunkserver's
// and name that server id (its CN). Pure logic on certificate fields; the real
// handshakes are in test/chunkserver-identity.test.ts.
import type { PeerCertificate } from "node:tls";
import { describe, expect, it } from "vitest";
import { chunkserverCheckOf, serverIdCheck, serverIdCheckOf, serverRoleCheckOf } from "../src/transport-security";

let serial = 0;
/** The fields of a verified peer certificate the check reads (a unique fingerprint per certificate). */
const cert = (role: string, name: string): PeerCertificate =>
  ({ subject: { CN: name, OU: role, O: "gfs" }, fingerprint256: `test-${role}-${name}-${++serial}`, subjectaltname: "" }) as unknown as PeerCertificate;

describe("a chunkserver's certificate must name the server id the caller expects", () => {
  it("passes the certificate of the server expected", () => {
    expect(serverIdCheck("cs1", "127.0.0.1:7001")("gfs", cert("chunkserver", "cs1"))).toBeUndefined();
  });

  it("refuses another chunkserver's certificate with one line naming the address, the expected id and the certificate's name", () => {
    const e = serverIdCheck("cs1", "127.0.0.1:7001")("gfs", cert("chunkserver", "cs2"));
    expect(e?.message).toBe('chunkserver at 127.0.0.1:7001 is not the server expected: certificate names "cs2", expected server id "cs1"');
    expect(e?.message).not.toMatch(/\n/);
  });

  it("refuses a certificate of another role even when its name is the id expected", () => {
    for (const role of ["master", "admin", "mount"]) {
      const e = serverIdCheck("cs1", "127.0.0.1:7001")("gfs", cert(role, "cs1"));
      expect(e?.message, role).toBe(`chunkserver at 127.0.0.1:7001: server certificate "cs1" has role ${role}, expected chunkserver`);
    }
    expect(serverIdCheck("cs1", "h:1")("gfs", cert("wizard", "cs1"))?.message).toMatch(/carries no gfs role/);
  });

  it("ignores the host name (addresses are ephemeral; grpc-js passes its SNI override)", () => {
    for (const host of ["gfs", "127.0.0.1", "cs1", "elsewhere"]) {
      expect(serverIdCheck("cs1", "127.0.0.1:7001")(host, cert("chunkserver", "cs1")), host).toBeUndefined();
      expect(serverIdCheck("cs1", "127.0.0.1:7001")(host, cert("chunkserver", "cs2")), host).toBeInstanceOf(Error);
    }
  });

  it("an empty id is a programming error, not a check that passes every server", () => {
    expect(() => serverIdCheck("", "h:1")).toThrow(/needs a server id/);
  });

  it("is one function per id and address, so equal channel credentials compare equal and connections are shared", () => {
    expect(serverIdCheckOf("cs1", "h:1")).toBe(serverIdCheckOf("cs1", "h:1"));
    expect(serverIdCheckOf("cs1", "h:1")).not.toBe(serverIdCheckOf("cs2", "h:1"));
    expect(serverIdCheckOf("cs1", "h:1")).not.toBe(serverIdCheckOf("cs1", "h:2"));
  });

  it("a caller with no id falls back to the chunkserver role check (any chunkserver passes, other roles do not)", () => {
    expect(chunkserverCheckOf("h:1")).toBe(serverRoleCheckOf("chunkserver"));
    expect(chunkserverCheckOf("h:1", "")).toBe(serverRoleCheckOf("chunkserver"));
    expect(chunkserverCheckOf("h:1", "cs1")).toBe(serverIdCheckOf("cs1", "h:1"));
    expect(chunkserverCheckOf("h:1")("gfs", cert("chunkserver", "anyone"))).toBeUndefined();
    expect(chunkserverCheckOf("h:1")("gfs", cert("master", "master"))).toBeInstanceOf(Error);
    expect(chunkserverCheckOf("h:1", "cs1")("gfs", cert("chunkserver", "anyone"))).toBeInstanceOf(Error);
  });
});
