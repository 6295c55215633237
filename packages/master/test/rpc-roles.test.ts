// The role tables of both services (rpc-roles.ts) and the guard that applies
// them (rpc-guard.ts), with fake calls carrying certificates of each role.
import { describe, expect, it } from "vitest";
import { guardHandlers, peerOfCertificate, type Role } from "@gfs/common";
import type { PeerCertificate } from "node:tls";
import { masterRpcRoles } from "../src/rpc-roles";
import { chunkServerRpcRoles, dataFrameRoles } from "../../chunkserver/src/rpc-roles";
import { chunkserverIdentity, keysFor } from "../src/chunk-grants";
import { ChunkTokenKeys } from "../src/chunk-token-keys";

let serial = 0;
const cert = (role: string, name: string): PeerCertificate =>
  ({ subject: { OU: role, CN: name, O: "gfs" }, subjectaltname: role === "user" ? "URI:urn:gfs:uid:1000, URI:urn:gfs:gid:1000" : "", fingerprint256: `fp-${++serial}` }) as unknown as PeerCertificate;
const callAs = (role: string, name = `${role}-1`) => ({ getAuthContext: () => ({ sslPeerCertificate: cert(role, name) }), emit: () => true });
const allRoles: Role[] = ["master", "chunkserver", "mount", "admin", "user"];

/** Roles whose calls of `method` reach the handler through the guard. */
function admitted<T extends object>(service: string, table: T, method: string): string[] {
  const reached: string[] = [];
  const handlers = Object.fromEntries(Object.keys(table).map((m) => [m, () => { reached.push(m); }]));
  const guarded = guardHandlers(service, handlers, table as never) as Record<string, (call: unknown, cb: (e: unknown) => void) => void>;
  return allRoles.filter((role) => {
    const before = reached.length;
    let refused: { code?: number; details?: string } | undefined;
    guarded[method]!(callAs(role), (e) => { refused = e as typeof refused; });
    if (reached.length === before) expect(refused?.details).toMatch(/^EACCES: .* needs an? .* certificate; caller is/);
    return reached.length > before;
  });
}

describe("master role table", () => {
  it("only chunkserver certificates may Register, Heartbeat and ReleaseLease", () => {
    for (const m of ["Register", "Heartbeat", "ReleaseLease"]) expect(admitted("Master", masterRpcRoles, m)).toEqual(["chunkserver"]);
  });

  it("clients (mount, admin, user) may use client calls only; chunkservers and the master may not", () => {
    for (const m of ["Stat", "Create", "CreateForWriting", "ReadDir", "Delete", "FindChunks", "AddChunk", "GetLease", "ExtendFile", "StatFs", "Status", "ReportBadReplica"]) {
      expect(admitted("Master", masterRpcRoles, m)).toEqual(["mount", "admin", "user"]);
    }
  });

  it("cluster commands need admin: ConfirmGc and Fsck (which lists every path, whatever the directory permissions)", () => {
    expect(admitted("Master", masterRpcRoles, "ConfirmGc")).toEqual(["admin"]);
    expect(admitted("Master", masterRpcRoles, "Fsck")).toEqual(["admin"]);
  });

  it("a chunkserver certificate registers only under its own server id", () => {
    const own = peerOfCertificate(cert("chunkserver", "cs1"));
    expect(() => chunkserverIdentity(own, "cs1", "Register")).not.toThrow();
    expect(() => chunkserverIdentity(own, "cs2", "Register")).toThrow(/^EACCES: Register as chunkserver "cs2" refused: the caller's certificate is chunkserver "cs1"/);
    expect(() => chunkserverIdentity(peerOfCertificate(cert("admin", "root")), "cs1", "Heartbeat")).toThrow(/^EACCES/);
  });

  it("the chunk token keys go only to chunkservers, and on heartbeats only when they changed", () => {
    const tokens = new ChunkTokenKeys({ ttlMs: 1000, rotateMs: 10_000, now: Date.now });
    const cs = peerOfCertificate(cert("chunkserver", "cs1"));
    const first = keysFor(cs, tokens, -1);
    expect(first.chunkTokenKeys.length).toBe(2);
    expect(keysFor(cs, tokens, first.chunkTokenKeysVersion).chunkTokenKeys).toEqual([]);
    for (const role of ["admin", "mount", "master"]) expect(keysFor(peerOfCertificate(cert(role, "x")), tokens, -1).chunkTokenKeys).toEqual([]);
  });
});

describe("chunkserver role table", () => {
  it("only the master may send SetChunkVersion, CreateChunks and RevokeLease", () => {
    for (const m of ["SetChunkVersion", "CreateChunks", "RevokeLease"]) expect(admitted("ChunkServer", chunkServerRpcRoles, m)).toEqual(["master"]);
  });

  it("only chunkservers may call ApplyMutation and FetchChunk", () => {
    for (const m of ["ApplyMutation", "FetchChunk"]) expect(admitted("ChunkServer", chunkServerRpcRoles, m)).toEqual(["chunkserver"]);
  });

  it("clients may Write, RecordAppend and Read; pushes come from clients and from chunkservers forwarding", () => {
    for (const m of ["Write", "RecordAppend", "Read"]) expect(admitted("ChunkServer", chunkServerRpcRoles, m)).toEqual(["mount", "admin", "user"]);
    expect(admitted("ChunkServer", chunkServerRpcRoles, "PushData")).toEqual(["chunkserver", "mount", "admin", "user"]);
  });

  it("the data transport's frames follow the gRPC methods of the same name", () => {
    for (const { what, roles } of dataFrameRoles.values()) expect(roles).toEqual(chunkServerRpcRoles[what as keyof typeof chunkServerRpcRoles]);
  });

  it("a handler without a role table entry is refused at start-up", () => {
    expect(() => guardHandlers("X", { Unlisted: () => {} }, {} as never)).toThrow(/X.Unlisted has no entry in its role table/);
  });

  it("a plaintext (--insecure) server's callers pass every role check", () => {
    const handlers = { SetChunkVersion: () => "reached" };
    const guarded = guardHandlers("ChunkServer", handlers, { SetChunkVersion: ["master"] }) as unknown as Record<string, (c: unknown, cb: () => void) => unknown>;
    expect(guarded.SetChunkVersion!({ getAuthContext: () => ({}) }, () => {})).toBe("reached");
  });
});
