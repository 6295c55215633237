// gRPC handlers of the master: they only validate requests, build operation
// records (with the time and new ids chosen here, never inside `apply`) and
// hand them to MasterState. Every answer that shows state goes through
// `state.visible`, so no client sees an operation before it is durable.
import {
  CallStreamServer, GfsError, checkHandle, defaults, failStream, guardHandlers, masterDefinition, masterStreamMethods, notActiveError, peerOf, toServiceError, unary,
  type CallerIdentity, type CreateRequest__Output, type MasterHandlers,
} from "@gfs/common";
import { ChunkTokenKeys } from "./chunk-token-keys";
import { withReadToken, withWriteTokens, chunkserverIdentity, keysFor } from "./chunk-grants";
import { checkCreate, checkLink, checkList, checkLookup, checkMkdirParents, checkOpen, checkRemove, checkRename, checkSetGoal, checkWriteThrough, nodeAt } from "./access";
import { callerOf } from "./caller";
import { checkInodePaths, mayHoldSessions, peerKey } from "./inode-access";
import { MasterState, checkUint } from "./master-state";
import type { NamespaceOp, OpResult, SpecialType } from "./namespace";
import { checkAccess, checkTimes, chmodMode, chownResult, isRoot, MAY_READ, MAY_WRITE, modeAfterWrite, newOwnership, type Owned } from "./permissions";
import { masterRpcRoles } from "./rpc-roles";
import { ReporterLimit } from "./replica-verification";
import { xattrHandlers } from "./xattr-handlers";
import { snapshotHandlers } from "./snapshot-handlers";
import { listingFor, refuseTrashWrites, trashHandlers, trashOpFor } from "./trash-handlers";
import { quotaHandlers } from "./quota-handlers";
import { chunkAt } from "./chunk-list";

export { MasterState } from "./master-state";
export type { Clock } from "./master-state";

const checkUint32 = (n: number, what: string): number => {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new GfsError("EINVAL", `bad ${what} ${n}`);
  return n;
};

/** Token keys with the default lifetimes, on the wall clock (chunkservers check expiries on theirs). */
export const defaultChunkTokenKeys = (): ChunkTokenKeys =>
  new ChunkTokenKeys({ ttlMs: defaults.chunk_token_ttl_ms, rotateMs: defaults.chunk_token_key_rotate_ms, now: Date.now });

/** Call streams (Master.Calls) with the default limits. */
export const masterCallStreams = (): CallStreamServer => new CallStreamServer("Master", masterDefinition(), masterStreamMethods(), {
  inFlightMax: defaults.call_stream_in_flight_max,
  requestBytesMax: defaults.call_stream_request_bytes_max,
  // Headroom for the frame around the payload (id, method name, error).
  answerBytesMax: defaults.grpc_message_bytes_max - 4096,
});

/**
 * The Master service, each method guarded by its role table (rpc-roles.ts).
 * Calls on `streams` go to the same guarded handlers, so each is checked as a unary call is.
 */
export function masterHandlers(state: MasterState, tokens: ChunkTokenKeys = defaultChunkTokenKeys(),
  streams: CallStreamServer = masterCallStreams(), shipLog: MasterHandlers["ShipLog"] = noShadows): MasterHandlers {
  // Issue 20, trash lane: /.trash is read-only to every call but the trash's own (EROFS first, as Linux).
  const handlers = checkInodePaths(state, refuseTrashWrites({ ...unguardedMasterHandlers(state, tokens, streams), ShipLog: shipLog }));
  const guarded = guardHandlers("Master", refusedOnShadow(state, handlers), masterRpcRoles);
  streams.serve(guarded as unknown as Record<string, unknown>);
  return guarded;
}

function unguardedMasterHandlers(state: MasterState, tokens: ChunkTokenKeys, streams: CallStreamServer): MasterHandlers {
  const { clock, settings } = state;
  const ns = () => state.namespace;
  const reportLimit = new ReporterLimit(defaults.bad_replica_reports_per_reporter_per_min, defaults.bad_replica_reporters_tracked_max);
  // Safe mode (read-only): every namespace and chunk mutation is refused with EROFS and the reasons.
  const writable = (what: string) => state.checkWritable(what);
  // Permissions (access.ts, permissions.ts) are checked in the same turn as the commit that applies the
  // operation, against the caller the call speaks for (caller.ts). Replay never checks: it only repeats.
  /** Owner, group and mode of a node `c` creates under `parent` (missing parent: the commit fails with ENOENT). */
  const owned = (c: CallerIdentity, parent: Owned | undefined, type: Owned["type"], mode: number, req: { uid: number; gid: number }) =>
    parent ? newOwnership(c, parent, type, mode, { uid: checkUint32(req.uid, "uid"), gid: checkUint32(req.gid, "gid") })
      : { uid: c.uid, gid: c.gid, mode };
  /** The create record for `req` by `c`, permissions checked: to be committed in this same turn. */
  const createOp = (req: CreateRequest__Output, c: CallerIdentity, forWriting: boolean) => {
    writable(`create ${req.path}`);
    const { parent, existing } = checkCreate(ns(), c, req.path);
    // Opening an existing file to write it (gfs put over a file) needs write permission on it.
    if (existing && forWriting && !req.exclusive) checkAccess(c, existing, MAY_WRITE, req.path);
    const own = owned(c, parent, "file", checkUint32(req.mode, "mode"), req);
    const [id] = state.allocIds(1);
    return {
      op: "create" as const, path: req.path, mode: own.mode, uid: own.uid, gid: own.gid, exclusive: req.exclusive, id: id!, timeMs: clock(),
    };
  };
  /**
   * After a write or truncate by `c` (already applied as `res`): a non-root writer clears setuid and
   * setgid (permissions.ts modeAfterWrite). Returns the file's info after both.
   */
  const afterWrite = async (c: CallerIdentity, path: string, res: OpResult) => {
    const n = isRoot(c) ? undefined : nodeAt(ns(), path);
    const mode = n && modeAfterWrite(c, n);
    if (mode === undefined) return res.info!;
    return (await state.commit({ op: "setAttributes", path, mode, timeMs: clock() })).info!;
  };
  /**
   * Registers an open of `info` by `sessionId` (directories and symlinks have no descriptors to keep).
   * Only a peer that may hold sessions (mount, admin, insecure): a user certificate's session id is
   * ignored, so users cannot fill the session table or keep deleted files as orphans.
   */
  const opened = (call: Parameters<typeof peerOf>[0], sessionId: string, info: { id: number; type: string }) => {
    if (info.type === "FILE_TYPE_DIRECTORY" || info.type === "FILE_TYPE_SYMLINK") return;
    const peer = peerOf(call);
    if (!mayHoldSessions(peer)) return;
    state.sessions.opened(sessionId, peerKey(peer), Number(info.id));
  };
  /**
   * A delete or rename with its `keep`: the inodes it unlinks for the last time that a mount session
   * has open stay as orphans. Decided in the commit's turn; an op that fails validation is left
   * for the commit to refuse.
   */
  const withKeep = <T extends Extract<NamespaceOp, { op: "delete" | "rename" }>>(op: T): T => {
    try {
      ns().validate(op);
    } catch {
      return op;
    }
    const keep = state.sessions.keepFor(op);
    return keep ? { ...op, keep } : op;
  };
  return {
    // ---- namespace ----
    Stat: unary((req, call) => {
      const c = callerOf(call);
      return state.visible(() => {
        const access = checkUint32(req.access, "access") & 7;
        checkOpen(ns(), c, req.path, access);
        const info = ns().stat(req.path);
        // An open by a mount session: the session holds the file from now on (an unlink keeps it).
        if (access !== 0 && req.sessionId) opened(call, req.sessionId, info);
        return info;
      });
    }),
    Create: unary(async (req, call) => {
      const info = (await state.commit(createOp(req, callerOf(call), false))).info!;
      if (req.sessionId) opened(call, req.sessionId, info);
      return info;
    }),
    CreateForWriting: unary(async (req, call) => {
      // The file and, when a spare chunk is ready, its chunk 0 with its lease, in one commit (see
      // MasterState.createForWriting). Only a ready spare: a chunk that takes chunkservers to make (or
      // fails) is the writer's AddChunk's to wait for and retry, not a slow or failed create.
      const { info, firstChunk } = await state.createForWriting(createOp(req, callerOf(call), true));
      if (req.sessionId) opened(call, req.sessionId, info);
      return { info, firstChunk: firstChunk ? withWriteTokens(tokens, firstChunk) : null };
    }),
    Mkdir: unary(async (req, call) => {
      writable(`mkdir ${req.path}`);
      const c = callerOf(call);
      const parent = req.parents ? checkMkdirParents(ns(), c, req.path) : checkCreate(ns(), c, req.path).parent;
      const own = owned(c, parent, "dir", checkUint32(req.mode, "mode"), req);
      const ids = state.allocIds(ns().missingDirectories(req.path, req.parents));
      const res = await state.commit({
        op: "mkdir", path: req.path, mode: own.mode, uid: own.uid, gid: own.gid, parents: req.parents, ids, timeMs: clock(),
      });
      return res.info!;
    }),
    Symlink: unary(async (req, call) => {
      writable(`symlink ${req.path}`);
      const c = callerOf(call);
      const own = owned(c, checkCreate(ns(), c, req.path).parent, "symlink", 0o777, req);
      const [id] = state.allocIds(1);
      const res = await state.commit({
        op: "symlink", path: req.path, target: req.target, uid: own.uid, gid: own.gid, id, timeMs: clock(),
      });
      return res.info!;
    }),
    ReadDir: unary((req, call) => {
      const c = callerOf(call);
      return state.visible(() => {
        const { attributes } = checkList(ns(), c, req.path);
        // Issue 20, trash lane: the root's listing hides /.trash; the trash's shows a user their own entries.
        return { entries: listingFor(req.path, c, ns().readdir(req.path, attributes)), attributesWithheld: !attributes };
      });
    }),
    Rename: unary(async (req, call) => {
      writable(`rename ${req.from}`);
      checkRename(ns(), callerOf(call), req.from, req.to);
      await state.commit(withKeep({ op: "rename", from: req.from, to: req.to, noReplace: req.noReplace, timeMs: clock() }));
      return {};
    }),
    Delete: unary(async (req, call) => {
      writable(`delete ${req.path}`);
      if (req.directoryOnly && req.fileOnly) throw new GfsError("EINVAL", "directory_only and file_only together");
      checkRemove(ns(), callerOf(call), req.path, req.recursive);
      // Issue 20, trash lane: a last name (or a tree) goes to /.trash while --trash-retention-ms > 0.
      const trash = trashOpFor(state, req, callerOf(call));
      if (trash) {
        await state.commit(trash);
        return {};
      }
      await state.commit(withKeep({
        op: "delete", path: req.path, recursive: req.recursive, directoryOnly: req.directoryOnly, fileOnly: req.fileOnly, timeMs: clock(),
      }));
      return {};
    }),
    SetAttributes: unary(async (req, call) => {
      writable(`setattr ${req.path}`);
      const c = callerOf(call);
      const now = clock();
      let mode = req.setMode ? checkUint32(req.mode, "mode") & 0o7777 : undefined;
      let uid = req.setUid ? checkUint32(req.uid, "uid") : undefined;
      let gid = req.setGid ? checkUint32(req.gid, "gid") : undefined;
      const n = checkLookup(ns(), c, req.path);
      if (n) {
        if (uid !== undefined || gid !== undefined) {
          const chown = chownResult(c, n, uid, gid, req.path);
          ({ uid, gid } = chown);
          if (mode === undefined && chown.mode !== n.mode) mode = chown.mode;
        }
        if (req.setMode) mode = chmodMode(c, { ...n, gid: gid ?? n.gid }, mode!, req.path);
        if (req.setAtime || req.setMtime || req.atimeNow || req.mtimeNow) {
          // touch (both "now", nothing explicit) needs write permission; chosen times need the owner.
          checkTimes(c, n, !req.setAtime && !req.setMtime && req.atimeNow && req.mtimeNow, req.path);
        }
      }
      const atimeMs = req.setAtime ? checkUint(req.atimeMs, "atime") : req.atimeNow ? now : undefined;
      const mtimeMs = req.setMtime ? checkUint(req.mtimeMs, "mtime") : req.mtimeNow ? now : undefined;
      const res = await state.commit({
        op: "setAttributes", path: req.path,
        ...(mode !== undefined ? { mode } : {}),
        ...(uid !== undefined ? { uid } : {}),
        ...(gid !== undefined ? { gid } : {}),
        ...(atimeMs !== undefined ? { atimeMs } : {}),
        ...(mtimeMs !== undefined ? { mtimeMs } : {}),
        timeMs: now,
      });
      return res.info!;
    }),
    Truncate: unary(async (req, call) => {
      writable(`truncate ${req.path}`);
      const c = callerOf(call);
      checkWriteThrough(ns(), c, req.path);
      const res = await state.commit({
        op: "truncate", path: req.path, size: checkUint(req.size, "size"), chunkSizeBytes: settings.chunk_size_bytes, timeMs: clock(),
      });
      return afterWrite(c, req.path, res);
    }),
    ExtendFile: unary(async (req, call) => {
      writable(`extend ${req.path}`);
      const c = callerOf(call);
      checkWriteThrough(ns(), c, req.path);
      // A write's mtime never moves the file's back: a close settling an older write's mtime (another
      // client wrote since) keeps the newer one. Decided here, in the commit's turn; the record says the result.
      const asked = checkUint(req.mtimeMs, "mtime");
      const res = await state.commit({
        op: "extendFile", path: req.path, endOffset: checkUint(req.endOffset, "end offset"),
        mtimeMs: asked > 0 ? Math.max(asked, ns().stat(req.path).mtimeMs) : 0, timeMs: clock(),
      });
      return afterWrite(c, req.path, res);
    }),
    StatFs: unary(() => state.visible(() => state.statFs())),

    // Issue 18: a file's or directory's replication goal (`gfs setrep`). Like chmod: the owner or root
    // (or an admin certificate); with `recursive`, of every file under it too.
    SetReplication: unary(async (req, call) => {
      writable(`setrep ${req.path}`);
      const goal = checkUint32(req.goal, "goal");
      if (goal < 1 || goal > defaults.replication_goal_max) {
        throw new GfsError("EINVAL", `replication goal ${goal} is outside 1..${defaults.replication_goal_max} (replication_goal_max)`);
      }
      const c = callerOf(call);
      if (peerOf(call).role === "admin") checkLookup(ns(), c, req.path);
      else checkSetGoal(ns(), c, req.path, req.recursive);
      return state.setReplication(req.path, goal, req.recursive);
    }),

    // ---- chunks ----
    FindChunks: unary(async (req, call) => {
      const c = callerOf(call);
      const found = await state.visible(() => {
        if (req.forWriting) checkWriteThrough(ns(), c, req.path);
        else checkOpen(ns(), c, req.path, MAY_READ);
        return state.findChunks(req.path, req.offset, req.length);
      });
      return { ...found, chunks: found.chunks.map((ch) => withReadToken(tokens, ch)) };
    }),
    AddChunk: unary(async (req, call) => {
      writable(`new chunk ${req.index} of ${req.path}`);
      const c = callerOf(call);
      return withWriteTokens(tokens, await state.visible(() => {
        checkWriteThrough(ns(), c, req.path);
        return state.addChunk(req.path, req.index);
      }));
    }),
    GetLease: unary(async (req, call) => {
      const c = callerOf(call);
      const lease = await state.visible(() => {
        // A lease is for writing: write permission on the file the chunk belongs to.
        if (req.path) {
          checkWriteThrough(ns(), c, req.path);
          // Issue 20: a chunk may be in several files (snapshots): the file must reference it at its index. ESTALE,
          // not EACCES: a client whose layout predates a copy-on-write asks for the file's chunks again.
          const chunk = state.chunks.get(req.handle);
          if (chunk && chunkAt(ns().file(req.path).chunks, chunk.index) !== req.handle) throw new GfsError("ESTALE", `chunk ${req.handle} is not chunk ${chunk.index} of ${req.path} (any more): ask for its chunks again`);
        } else if (!isRoot(c)) {
          throw new GfsError("EACCES", `permission denied: a lease on chunk ${req.handle} needs the path of its file (write permission is checked on it)`);
        }
        return state.getLease(req.handle, req.path || undefined);
      });
      return { ...lease, token: tokens.sign([lease.handle], "write") };
    }),
    ReleaseLease: unary((req, call) => {
      chunkserverIdentity(peerOf(call), req.serverId, "ReleaseLease");
      state.releaseLease(req.handle, req.serverId, req.version);
      return {};
    }),
    ReportBadReplica: unary((req, call) => {
      checkHandle(req.handle);
      if (!req.serverId) throw new GfsError("EINVAL", "bad replica report without a server id");
      // Only a request to verify (see replica-verification.ts), and rate-limited per certificate:
      // a flood of reports must neither fill the log nor keep chunkservers reading whole chunks.
      const peer = peerOf(call);
      const reporter = `${peer.role}:${peer.name}`.slice(0, 256);
      const admitted = reportLimit.admit(reporter, clock());
      if (admitted.droppedBefore > 0) state.log.warn("bad replica reports dropped over the rate limit", { reporter, dropped: admitted.droppedBefore });
      if (!admitted.ok) {
        if (admitted.firstDrop) state.log.warn("bad replica reports over the rate limit; dropping them for the rest of the minute", { reporter, perMinute: defaults.bad_replica_reports_per_reporter_per_min });
        return {};
      }
      // The reason is logged: a few hundred bytes say it, a 16 MiB one would flood the log.
      state.reportBadReplica(req.handle, req.serverId.slice(0, 256), req.reason.slice(0, 512), reporter);
      return {};
    }),

    // ---- operations ----
    Status: unary(() => state.visible(() => state.status())),
    Fsck: unary((req) => state.visible(() => state.fsck(req.path || "/"))),
    ConfirmGc: unary(() => state.visible(() => state.confirmGc())),

    // ---- chunkservers ----
    // Replies carry chunk deletions, which must not follow from a delete a crash could still undo.
    // A chunkserver is who its certificate says: no process registers or heartbeats under another's id.
    // The token keys go only to chunkservers (keysFor), and on heartbeats only when they changed.
    Register: unary(async (req, call) => {
      const peer = peerOf(call);
      chunkserverIdentity(peer, req.serverId, "Register");
      const res = await state.visible(() => state.register(req));
      return roleReply(state, { ...res, ...keysFor(peer, tokens, -1) });
    }),
    Heartbeat: unary(async (req, call) => {
      if (!req.serverId) throw new GfsError("EINVAL", "heartbeat without a server id");
      const peer = peerOf(call);
      chunkserverIdentity(peer, req.serverId, "Heartbeat");
      const res = await state.visible(() => state.heartbeat(req));
      return roleReply(state, res.reregister ? res : { ...res, ...keysFor(peer, tokens, req.chunkTokenKeysVersion) });
    }),

    // ---- issue 18: chunkserver lifecycle and balancing ----
    Leave: unary(async (req, call) => {
      chunkserverIdentity(peerOf(call), req.serverId, "Leave");
      await state.visible(() => state.lifecycle.leave(req.serverId, req.done));
      return {};
    }),
    ChunkserverAdmin: unary((req) => state.visible(() => state.lifecycle.admin(req.serverId, req.action))),
    Balance: unary((req) => state.visible(() => state.lifecycle.balance(req.dryRun, state.clock()))),

    // ---- issue 19: POSIX fidelity (stubs until each lands) ----
    Link: unary(async (req, call) => {
      writable(`link ${req.to}`);
      checkLink(ns(), callerOf(call), req.from, req.to);
      return (await state.commit({ op: "link", from: req.from, to: req.to, timeMs: clock() })).info!;
    }),
    Mknod: unary(async (req, call) => {
      writable(`mknod ${req.path}`);
      const c = callerOf(call);
      const type = specialTypeOf[req.type] ?? badSpecialType(req.type);
      // mknod(2) of a device node needs CAP_MKNOD: root (or an admin certificate) only.
      if ((type === "chr" || type === "blk") && !isRoot(c)) throw new GfsError("EPERM", `mknod ${req.path}: only root may make device nodes; caller is uid ${c.uid}`);
      const own = owned(c, checkCreate(ns(), c, req.path).parent, type, checkUint32(req.mode, "mode"), req);
      const [id] = state.allocIds(1);
      const res = await state.commit({
        op: "mknod", path: req.path, type, mode: own.mode, rdev: checkUint(Number(req.rdev), "device number"), uid: own.uid, gid: own.gid, id: id!, timeMs: clock(),
      });
      return res.info!;
    }),
    ...xattrHandlers(state),
    // ---- issue 20: snapshots, trash and quotas (one file each) ----
    ...snapshotHandlers(state),
    ...trashHandlers(state),
    ...quotaHandlers(state),
    // A mount's session (issue 19): renewed, with the files it closed, or its whole open set after `unknown`.
    KeepSession: unary((req, call) => state.sessions.keep(req.sessionId, peerKey(peerOf(call)), {
      closed: req.closed.map(Number), open: req.open.map(Number), full: req.full,
    })),

    // ---- clients' call streams: each call inside goes to its guarded handler above ----
    Calls: streams.handler,
    ShipLog: noShadows,
  };
}

/**
 * What a shadow master answers (issue 16): reads, and the chunkservers'
 * reports it keeps to know where replicas are. Everything else changes state
 * and goes to the active master: refused with ENOTACTIVE naming it.
 */
const shadowAnswers = new Set(["Stat", "ReadDir", "FindChunks", "StatFs", "Status", "Fsck", "Register", "Heartbeat", "Calls", "ShipLog", "Leave", "GetXattr", "ListXattr", "ListTrash", "GetQuota", "ListQuotas"]);

function refusedOnShadow(state: MasterState, handlers: MasterHandlers): MasterHandlers {
  const out: Record<string, unknown> = { ...handlers };
  for (const [name, h] of Object.entries(handlers)) {
    if (shadowAnswers.has(name)) continue;
    const unaryHandler = h as (call: unknown, callback: (e: unknown, res?: unknown) => void) => void;
    out[name] = (call: unknown, callback: (e: unknown, res?: unknown) => void) => {
      if (!state.actsAsShadow) return unaryHandler(call, callback);
      callback(toServiceError(notActiveError(name, state.activeAddress)));
    };
  }
  return out as unknown as MasterHandlers;
}

/**
 * A Register or Heartbeat reply with this master's epoch and role. A shadow's
 * carries the chunk token keys only: the active alone deletes, copies,
 * extends leases or names the push peers (chunkservers check the role too).
 */
function roleReply<T extends object>(state: MasterState, res: T): T {
  const role = state.actsAsShadow ? "MASTER_ROLE_SHADOW" : state.role === "active" ? "MASTER_ROLE_ACTIVE" : "MASTER_ROLE_SINGLE";
  const stamped = { ...res, masterEpoch: state.epoch, masterRole: role };
  if (!state.actsAsShadow) return stamped;
  for (const k of ["deleteChunks", "quarantineChunks", "restoreChunks", "replicationOrders", "extendedLeases", "verifyChunks", "chunkservers"]) {
    if (k in stamped) (stamped as Record<string, unknown>)[k] = [];
  }
  return stamped;
}

/** MknodRequest.type -> the namespace's special type (regular files are Create's). */
const specialTypeOf: Partial<Record<string, SpecialType>> = {
  FILE_TYPE_FIFO: "fifo", FILE_TYPE_CHAR_DEVICE: "chr", FILE_TYPE_BLOCK_DEVICE: "blk", FILE_TYPE_SOCKET: "sock",
};

function badSpecialType(t: string): never {
  throw new GfsError("EINVAL", `mknod of type ${t}: only FIFO, CHAR_DEVICE, BLOCK_DEVICE and SOCKET (regular files are created with Create)`);
}

/** ShipLog on a master that ships no log (a single master, or a shadow): refused with one line. */
const noShadows: MasterHandlers["ShipLog"] = (call) => {
  const e = new GfsError("EINVAL", "this master is not an active master of a replicated set: it ships no log");
  failStream(call, e);
};
