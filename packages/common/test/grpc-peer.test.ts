// A gRPC handler learns its caller from the client certificate the mutual TLS
// handshake verified (peerOf), the foundation of role authorization.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initCaDir, issueToDir } from "../src/certificates";
import { insecurePeer, peerOf, type Peer } from "../src/peer";
import { masterDefinition, newMasterClient, promiseClient, startServer, stopServer, unary } from "../src/protocol";
import { loadTlsIdentity } from "../src/tls-identity";
import { insecureTransport, setTransportSecurity, tlsTransport, type TransportSecurity } from "../src/transport-security";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gfs-grpc-peer-"));
  await initCaDir(join(dir, "ca"));
  await issueToDir(join(dir, "ca"), { role: "master", name: "master" }, join(dir, "master"));
  await issueToDir(join(dir, "ca"), { role: "user", name: "bob", uid: 1000, gids: [1000, 4] }, join(dir, "bob"));
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

async function callerSeenBy(server: TransportSecurity, client: TransportSecurity): Promise<Peer> {
  let seen: Peer | undefined;
  const { server: s, port } = await startServer("127.0.0.1:0", [{
    definition: masterDefinition(), handlers: { Status: unary(async (_req, call) => { seen = peerOf(call); return {}; }) },
  }], server);
  const raw = newMasterClient(`127.0.0.1:${port}`, client);
  try {
    await promiseClient(raw, masterDefinition()).Status({}, { timeoutMs: 5_000 });
    return seen!;
  } finally {
    raw.close();
    await stopServer(s);
  }
}

describe("peerOf on a gRPC call", () => {
  it("is the identity of the caller's certificate on a TLS server", async () => {
    const peer = await callerSeenBy(tlsTransport(loadTlsIdentity(join(dir, "master"))), tlsTransport(loadTlsIdentity(join(dir, "bob"))));
    expect(peer).toEqual({ role: "user", name: "bob", uid: 1000, gids: [1000, 4] });
  });

  it("is the insecure peer on a plaintext server", async () => {
    expect(await callerSeenBy(insecureTransport, insecureTransport)).toBe(insecurePeer);
  });

  it("in a process serving mutual TLS, a call with no verified certificate is refused, never taken for the insecure peer", () => {
    // What grpc-js reports for a TLS socket that is not authorized: no certificate, as on a plaintext server.
    const unverified = { getAuthContext: () => ({}) };
    setTransportSecurity(tlsTransport(loadTlsIdentity(join(dir, "master"))));
    try {
      expect(() => peerOf(unverified)).toThrow(/^EACCES: no verified client certificate/);
    } finally {
      setTransportSecurity(insecureTransport);
    }
    expect(peerOf(unverified)).toBe(insecurePeer); // a plaintext (--insecure) process
  });
});
