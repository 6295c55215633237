// Who may call each ChunkServer method, by certificate role (see @gfs/common's
// peer.ts and rpc-guard.ts), and which data transport frames each role may
// send (data-server.ts). One table per transport; every entry is listed.
//
// - Client data calls (Write, RecordAppend, Read): client roles, each also
//   with a chunk access token for the chunk (token-keys.ts).
// - PushData: clients (with a write token) and chunkservers forwarding a push
//   down the chain (authorized by role: the pushed bytes do nothing until a
//   Write or ApplyMutation with its own authorization uses them).
// - ApplyMutation: chunkservers (a primary ordering a mutation), and only
//   under the lease token of the chunk's current grant (lease.ts).
// - FetchChunk: chunkservers copying a replica on the master's order.
// - SetChunkVersion, CreateChunks, RevokeLease: the master's orders.
// - Stats: anyone with a cluster certificate (counters and the data address).
import type { ChunkServerHandlers, Role, RoleTable } from "@gfs/common";
import { FrameKind } from "@gfs/common";

const clients = ["mount", "user", "admin"] as const;

export const chunkServerRpcRoles: RoleTable<ChunkServerHandlers> = {
  PushData: [...clients, "chunkserver"],
  Write: clients,
  RecordAppend: clients,
  Read: clients,
  ApplyMutation: ["chunkserver"],
  FetchChunk: ["chunkserver"],
  SetChunkVersion: ["master"],
  CreateChunks: ["master"],
  RevokeLease: ["master"],
  Stats: [...clients, "chunkserver", "master"],
  // Issue 20: copy-on-write of a snapshot's shared chunk, on the master's order.
  CopyChunkLocal: ["master"],
};

/** Data transport frame kind (requests only) -> roles that may send it; as the gRPC method of the same name. */
export const dataFrameRoles: ReadonlyMap<number, { what: string; roles: readonly Role[] }> = new Map([
  [FrameKind.PUSH, { what: "PushData", roles: chunkServerRpcRoles.PushData }],
  [FrameKind.READ, { what: "Read", roles: chunkServerRpcRoles.Read }],
  [FrameKind.WRITE, { what: "Write", roles: chunkServerRpcRoles.Write }],
  [FrameKind.APPEND, { what: "RecordAppend", roles: chunkServerRpcRoles.RecordAppend }],
  [FrameKind.APPLY, { what: "ApplyMutation", roles: chunkServerRpcRoles.ApplyMutation }],
]);
