// gRPC handlers of the master: they only validate requests, build operation
// records (with the time and new ids chosen here, never inside `apply`) and
// hand them to MasterState. Every answer that shows state goes through
// `state.visible`, so no client sees an operation before it is durable.
import { GfsError, checkHandle, defaults, guardHandlers, peerOf, unary, type CreateRequest__Output, type MasterHandlers } from "@gfs/common";
import { ChunkTokenKeys } from "./chunk-token-keys";
import { withReadToken, withWriteTokens, chunkserverIdentity, keysFor } from "./chunk-grants";
import { MasterState, checkUint } from "./master-state";
import { masterRpcRoles } from "./rpc-roles";

export { MasterState } from "./master-state";
export type { Clock } from "./master-state";

const checkUint32 = (n: number, what: string): number => {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new GfsError("EINVAL", `bad ${what} ${n}`);
  return n;
};

/** Token keys with the default lifetimes, on the wall clock (chunkservers check expiries on theirs). */
export const defaultChunkTokenKeys = (): ChunkTokenKeys =>
  new ChunkTokenKeys({ ttlMs: defaults.chunk_token_ttl_ms, rotateMs: defaults.chunk_token_key_rotate_ms, now: Date.now });

/** The Master service, each method guarded by its role table (rpc-roles.ts). */
export function masterHandlers(state: MasterState, tokens: ChunkTokenKeys = defaultChunkTokenKeys()): MasterHandlers {
  return guardHandlers("Master", unguardedMasterHandlers(state, tokens), masterRpcRoles);
}

function unguardedMasterHandlers(state: MasterState, tokens: ChunkTokenKeys): MasterHandlers {
  const { clock, settings } = state;
  const ns = () => state.namespace;
  // Safe mode (read-only): every namespace and chunk mutation is refused with EROFS and the reasons.
  const writable = (what: string) => state.checkWritable(what);
  const create = (req: CreateRequest__Output) => {
    writable(`create ${req.path}`);
    const [id] = state.allocIds(1);
    return state.commit({
      op: "create", path: req.path, mode: checkUint32(req.mode, "mode"), uid: checkUint32(req.uid, "uid"),
      gid: checkUint32(req.gid, "gid"), exclusive: req.exclusive, id, timeMs: clock(),
    });
  };
  return {
    // ---- namespace ----
    Stat: unary((req) => state.visible(() => ns().stat(req.path))),
    Create: unary(async (req) => (await create(req)).info!),
    CreateForWriting: unary(async (req) => {
      const created = await create(req);
      // Only a spare chunk that is ready: the file exists now, and a chunk that takes chunkservers to
      // make (or fails) is the writer's AddChunk's to wait for and retry, not a slow or failed create.
      const firstChunk = await state.addSpareChunk(req.path, 0).catch((e: Error) => {
        state.log.warn("no first chunk for a new file", { path: req.path, error: e.message });
        return undefined;
      }) ?? null;
      return { info: firstChunk ? state.namespace.file(req.path).info : created.info!, firstChunk: firstChunk && withWriteTokens(tokens, firstChunk) };
    }),
    Mkdir: unary(async (req) => {
      writable(`mkdir ${req.path}`);
      const ids = state.allocIds(ns().missingDirectories(req.path, req.parents));
      const res = await state.commit({
        op: "mkdir", path: req.path, mode: checkUint32(req.mode, "mode"), uid: checkUint32(req.uid, "uid"),
        gid: checkUint32(req.gid, "gid"), parents: req.parents, ids, timeMs: clock(),
      });
      return res.info!;
    }),
    Symlink: unary(async (req) => {
      writable(`symlink ${req.path}`);
      const [id] = state.allocIds(1);
      const res = await state.commit({
        op: "symlink", path: req.path, target: req.target, uid: checkUint32(req.uid, "uid"), gid: checkUint32(req.gid, "gid"),
        id, timeMs: clock(),
      });
      return res.info!;
    }),
    ReadDir: unary((req) => state.visible(() => ({ entries: ns().readdir(req.path) }))),
    Rename: unary(async (req) => {
      writable(`rename ${req.from}`);
      await state.commit({ op: "rename", from: req.from, to: req.to, noReplace: req.noReplace, timeMs: clock() });
      return {};
    }),
    Delete: unary(async (req) => {
      writable(`delete ${req.path}`);
      if (req.directoryOnly && req.fileOnly) throw new GfsError("EINVAL", "directory_only and file_only together");
      await state.commit({
        op: "delete", path: req.path, recursive: req.recursive, directoryOnly: req.directoryOnly, fileOnly: req.fileOnly, timeMs: clock(),
      });
      return {};
    }),
    SetAttributes: unary(async (req) => {
      writable(`setattr ${req.path}`);
      const res = await state.commit({
        op: "setAttributes", path: req.path,
        ...(req.setMode ? { mode: checkUint32(req.mode, "mode") & 0o7777 } : {}),
        ...(req.setUid ? { uid: checkUint32(req.uid, "uid") } : {}),
        ...(req.setGid ? { gid: checkUint32(req.gid, "gid") } : {}),
        ...(req.setAtime ? { atimeMs: checkUint(req.atimeMs, "atime") } : {}),
        ...(req.setMtime ? { mtimeMs: checkUint(req.mtimeMs, "mtime") } : {}),
        timeMs: clock(),
      });
      return res.info!;
    }),
    Truncate: unary(async (req) => {
      writable(`truncate ${req.path}`);
      const res = await state.commit({
        op: "truncate", path: req.path, size: checkUint(req.size, "size"), chunkSizeBytes: settings.chunk_size_bytes, timeMs: clock(),
      });
      return res.info!;
    }),
    ExtendFile: unary(async (req) => {
      writable(`extend ${req.path}`);
      const res = await state.commit({
        op: "extendFile", path: req.path, endOffset: checkUint(req.endOffset, "end offset"), mtimeMs: checkUint(req.mtimeMs, "mtime"),
        timeMs: clock(),
      });
      return res.info!;
    }),
    StatFs: unary(() => state.visible(() => state.statFs())),

    // ---- chunks ----
    FindChunks: unary(async (req) => {
      const found = await state.visible(() => state.findChunks(req.path, req.offset, req.length));
      return { ...found, chunks: found.chunks.map((c) => withReadToken(tokens, c)) };
    }),
    AddChunk: unary(async (req) => {
      writable(`new chunk ${req.index} of ${req.path}`);
      return withWriteTokens(tokens, await state.visible(() => state.addChunk(req.path, req.index)));
    }),
    GetLease: unary(async (req) => {
      const lease = await state.visible(() => state.getLease(req.handle));
      return { ...lease, token: tokens.sign([lease.handle], "write") };
    }),
    ReleaseLease: unary((req, call) => {
      chunkserverIdentity(peerOf(call), req.serverId, "ReleaseLease");
      state.releaseLease(req.handle, req.serverId, req.version);
      return {};
    }),
    ReportBadReplica: unary((req) => {
      checkHandle(req.handle);
      if (!req.serverId) throw new GfsError("EINVAL", "bad replica report without a server id");
      // The reason is logged: a few hundred bytes say it, a 16 MiB one would flood the log.
      state.reportBadReplica(req.handle, req.serverId, req.reason.slice(0, 512));
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
      return { ...res, ...keysFor(peer, tokens, -1) };
    }),
    Heartbeat: unary(async (req, call) => {
      if (!req.serverId) throw new GfsError("EINVAL", "heartbeat without a server id");
      const peer = peerOf(call);
      chunkserverIdentity(peer, req.serverId, "Heartbeat");
      const res = await state.visible(() => state.heartbeat(req));
      return res.reregister ? res : { ...res, ...keysFor(peer, tokens, req.chunkTokenKeysVersion) };
    }),
  };
}
