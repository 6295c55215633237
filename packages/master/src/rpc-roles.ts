// Who may call each Master method, by certificate role (see @gfs/common's
// peer.ts and rpc-guard.ts). One table: every method has exactly one entry.
//
// - Namespace and chunk calls: the client roles (mount, user, admin). POSIX
//   permissions on the path are the namespace's own check, per call.
// - ReleaseLease, Register, Heartbeat: chunkservers only, and only under the
//   server id their certificate names (checked in master-service.ts).
// - ReportBadReplica: clients (a checksum failure or short replica seen on a
//   read). Chunkservers report their own corrupt chunks on heartbeats and
//   never call it, so they may not. A report is only a hint: the master asks
//   the replica's own server to verify it (replica-verification.ts), which
//   reports it corrupt only if it is; rate-limited per certificate.
// - Calls: the client roles. It only carries calls (call-stream-server.ts),
//   each checked against this table again as if it were a unary call.
// - Status: every client role. It shows chunkservers, capacity and safe mode
//   (as df(1) shows a file system to anyone), no file names or contents.
// - Fsck: admin only. It walks the whole namespace regardless of directory
//   permissions, so it would list the names under another user's 0700 directory.
// - ConfirmGc: admin only (it resumes deletions after safe mode).
// - SetReplication (issue 18): the client roles; like chmod, only the entry's owner
//   or root (or an admin certificate) may change its goal (checked in master-service.ts).
// - KeepSession (issue 19): mounts (and admin). A session holds unlinked files open and gives
//   its peer the right to address them by inode path; a user certificate has no descriptors to keep.
import type { MasterHandlers, RoleTable } from "@gfs/common";

const clients = ["mount", "user", "admin"] as const;

export const masterRpcRoles: RoleTable<MasterHandlers> = {
  Stat: clients,
  Create: clients,
  CreateForWriting: clients,
  Mkdir: clients,
  Symlink: clients,
  ReadDir: clients,
  Rename: clients,
  Delete: clients,
  SetAttributes: clients,
  Truncate: clients,
  ExtendFile: clients,
  StatFs: clients,
  FindChunks: clients,
  AddChunk: clients,
  GetLease: clients,
  ReleaseLease: ["chunkserver"],
  ReportBadReplica: clients,
  Status: clients,
  Fsck: ["admin"],
  ConfirmGc: ["admin"],
  Register: ["chunkserver"],
  Heartbeat: ["chunkserver"],
  Calls: clients,
  // Issue 16: only another master (a shadow) may follow the op log.
  ShipLog: ["master"],
  // Issue 18: a chunkserver says it is stopping, under its own id (checked in master-service.ts).
  Leave: ["chunkserver"],
  // Issue 18: draining, forgetting and balancing change where the cluster's data lives: admin only.
  ChunkserverAdmin: ["admin"],
  Balance: ["admin"],
  SetReplication: clients,
  // Issue 19: POSIX fidelity.
  Link: clients,
  Mknod: clients,
  GetXattr: clients,
  ListXattr: clients,
  SetXattr: clients,
  RemoveXattr: clients,
  KeepSession: ["mount", "admin"],
  // Issue 20: snapshots and trash are namespace calls (permissions checked per entry in their handlers);
  // quotas are set by admin (or root through a client certificate: checked in quota-handlers.ts), read by anyone who may stat the directory.
  Snapshot: clients,
  ListTrash: clients,
  RestoreTrash: clients,
  PurgeTrash: clients,
  SetQuota: clients,
  GetQuota: clients,
  ListQuotas: clients,
};
