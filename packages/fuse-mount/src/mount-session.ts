// One mount from start to end: clean a dead mountpoint, reach the master,
// mount, serve, and unmount cleanly on SIGTERM/SIGINT or when someone else
// unmounts it (`fusermount3 -u`, `umount`), leaving no process behind.
import { randomBytes } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { GfsClient } from "@gfs/client-core";
import { defaults, onShutdown, rootCaller, squashRoot, type Logger, type TransportSecurity } from "@gfs/common";
import { CallerResolver } from "./callers";
import { fuseNativeReportsCallers, GfsFuse } from "./gfs-fuse";
import { detachMount, mountedType, mountpointState } from "./mountpoint";
import { timedFuseHandlers } from "./mount-metrics";
import { GfsOperations } from "./operations";
import { SessionKeeper } from "./session-keeper";

export interface MountSessionOptions {
  mountpoint: string;
  master: string;
  fuseOptions: string[];
  /** -o root_squash (callers.ts). */
  rootSquash?: boolean;
  attrCacheMs: number;
  /** How long the kernel keeps attributes we answer (libfuse's attr_timeout, mount-options.ts). */
  kernelAttrTimeoutMs: number;
  /** How often the mount session is renewed (issue 19; default defaults.session_renew_ms). */
  sessionRenewMs?: number;
  pidFile?: string;
  /** The mount's identity (a mount certificate), or insecure. */
  security: TransportSecurity;
  log: Logger;
  onMounted: () => void;
}

const dataOps = ["read", "write", "flush", "fsync", "release", "truncate", "ftruncate", "create", "open"];

function timeouts(): Record<string, number> {
  const t: Record<string, number> = { default: defaults.fuse_op_timeout_ms };
  for (const op of dataOps) t[op] = defaults.fuse_data_op_timeout_ms;
  return t;
}

async function prepareMountpoint(path: string, log: Logger): Promise<void> {
  let state = await mountpointState(path);
  if (state === "dead") {
    log.warn("mountpoint left dead by an earlier mount; detaching it", { mountpoint: path });
    await detachMount(path);
    state = await mountpointState(path);
  }
  if (state === "missing") throw new Error(`mountpoint ${path} does not exist`);
  if (state === "not-a-directory") throw new Error(`mountpoint ${path} is not a directory`);
  if (state === "alive-fuse") throw new Error(`${path} is already a mounted FUSE file system (unmount it first)`);
  if (state === "dead") throw new Error(`mountpoint ${path} is still dead after detaching it`);
}

/** gRPC's "No connection established. Last error: Error: connect ECONNREFUSED ... Resolution note: " -> its cause. */
function briefly(message: string): string {
  const cause = /(connect E[A-Z]+ \S+?)\.?(\s|$)|(getaddrinfo E[A-Z]+ \S+?)\.?(\s|$)/.exec(message);
  return cause ? (cause[1] ?? cause[3]) : message.replace(/\s*Resolution note:.*$/, "");
}

/**
 * libfuse makes the kernel mount (fuse_mount) before it checks the rest of
 * its options (fuse_new), and fuse-native does not undo it when that fails:
 * the mountpoint would stay dead ("Transport endpoint is not connected").
 */
async function undoFailedMount(mountpoint: string, log: Logger): Promise<void> {
  const type = await mountedType(mountpoint).catch(() => undefined);
  if (type === undefined || !type.startsWith("fuse")) return;
  log.warn("mount failed half way; detaching the kernel mount it left", { mountpoint, type });
  await detachMount(mountpoint).catch((e) => log.error("could not detach the failed mount", { mountpoint, error: (e as Error).message }));
}

export async function runMountSession(o: MountSessionOptions): Promise<void> {
  const { log, mountpoint } = o;
  // A stray rejection must not kill the process: that would leave a dead mountpoint behind.
  process.on("unhandledRejection", (e) => log.error("unhandled rejection", { error: e instanceof Error ? e.stack : String(e) }));
  await prepareMountpoint(mountpoint, log);

  // Every operation names its caller (runAs below); a call outside one (none today) must not be root on a root_squash mount.
  // The mount keeps its call stream open while idle (0): reopening it after every pause costs a unary call's
  // worth, and the process ends by process.exit, so an open stream cannot keep it alive.
  // Issue 19: this mount's session at the master, which keeps files unlinked while open here alive.
  const sessionId = randomBytes(16).toString("hex");
  const client = new GfsClient({
    master: o.master, sessionId, security: o.security, call_stream_idle_close_ms: 0, ...(o.rootSquash ? { caller: squashRoot(rootCaller) } : {}),
    // A replicated master (issue 16): each move of a call to another master is worth a line (a failover under way).
    onMasterMove: (from, to, why) => o.log.warn("master call moved to another master", { from, to, why }),
  });
  // Before mounting: an unreachable master is a one-line error with nothing left behind.
  try {
    await client.chunkSizeBytes();
  } catch (e) {
    client.close();
    throw new Error(`cannot reach the master at ${o.master}: ${briefly((e as Error).message)}; nothing was mounted`);
  }

  const sessions = new SessionKeeper({
    // The session is the mount's own, not any caller's: renewals speak for root (the mount certificate).
    keep: (req) => client.keepSession(req), renewMs: o.sessionRenewMs ?? defaults.session_renew_ms, log,
  });
  let fuse: GfsFuse | undefined;
  const callers = new CallerResolver({ rootSquash: o.rootSquash ?? false });
  const ops = new GfsOperations(client, {
    attrCacheMs: o.attrCacheMs,
    kernelAttrTimeoutMs: o.kernelAttrTimeoutMs,
    writePieceBytesMax: defaults.fuse_write_piece_bytes_max,
    writesInFlightMax: defaults.fuse_writes_in_flight_max,
    writeBackBytesMax: defaults.fuse_write_back_bytes_max,
    readAheadInitialBytes: defaults.fuse_read_ahead_bytes_initial,
    readAheadMaxBytes: defaults.fuse_read_ahead_bytes_max,
    readAheadWindowBytes: defaults.fuse_read_ahead_window_bytes,
    readAheadReorderBytes: defaults.fuse_read_reorder_bytes,
    readBufferPoolBytes: defaults.fuse_read_buffer_pool_bytes,
    recordAppendFractionOfChunk: defaults.record_append_fraction_of_chunk,
    caller: () => fuse!.caller(),
    // Every operation speaks for its calling process at the master (the mount certificate may).
    runAs: async (caller, fn) => client.runAs(await callers.resolve(caller), fn),
    // Root passes the kernel's checks (default_permissions) that a squashed root would fail at the master.
    uncached: (caller) => (o.rootSquash ?? false) && caller.uid === 0,
    now: Date.now,
    log,
    sessions,
  });
  fuse = new GfsFuse(mountpoint, timedFuseHandlers(ops.fuseHandlers()), { fuseOptions: o.fuseOptions, timeouts: timeouts() });
  try {
    await promisify(fuse.mount.bind(fuse))();
  } catch (e) {
    client.close();
    await undoFailedMount(mountpoint, log);
    throw new Error(`mounting ${mountpoint} failed: ${(e as Error).message} (libfuse's reason is on stderr or in the log); nothing was left mounted`);
  }
  if (o.pidFile) await writeFile(o.pidFile, `${process.pid}\n`);
  log.info("mounted", {
    mountpoint, master: o.master, pid: process.pid, options: o.fuseOptions.join(","), rootSquash: o.rootSquash ?? false,
    callerIds: fuseNativeReportsCallers() ? "per call" : "mount process (fuse-native unpatched)",
  });
  sessions.start();
  log.info("mount session started", { session: sessionId.slice(0, 8) });
  o.onMounted();

  const finish = async (): Promise<void> => {
    clearInterval(watch);
    // Files still open (and unlinked) here are closed now: the master need not wait out the lease.
    await Promise.race([sessions.stop(), new Promise((r) => setTimeout(r, defaults.fuse_shutdown_flush_ms).unref())]);
    client.close();
    if (o.pidFile) {
      const owner = await readFile(o.pidFile, "utf8").catch(() => "");
      if (owner.trim() === String(process.pid)) await rm(o.pidFile, { force: true });
    }
  };

  // Someone unmounted us (fusermount3 -u, umount -l): leave once no file is open any more.
  let unmountedAt = 0;
  const watch = setInterval(() => {
    mountedType(mountpoint).then(async (type) => {
      if (type !== undefined && unmountedAt === 0) return;
      if (unmountedAt === 0) {
        unmountedAt = Date.now();
        log.info("unmounted from outside; exiting once open files are closed", { mountpoint, openFiles: ops.files.size });
      }
      if (ops.files.size > 0 && Date.now() - unmountedAt < defaults.fuse_shutdown_flush_ms) return;
      await ops.flushEverything();
      await finish();
      log.info("exiting", { mountpoint });
      process.exit(0);
    }).catch((e) => log.warn("mount check failed", { error: (e as Error).message }));
  }, defaults.fuse_mount_check_interval_ms);

  onShutdown(async () => {
    log.info("unmounting", { mountpoint, openFiles: ops.files.size });
    const flushed = ops.flushEverything();
    const timedOut = new Promise<string[]>((r) => setTimeout(() => r(["(timed out)"]), defaults.fuse_shutdown_flush_ms).unref());
    const failed = await Promise.race([flushed, timedOut]);
    if (failed.length > 0) log.error("some buffered writes did not reach the cluster", { paths: failed });
    try {
      // Already gone if someone unmounted it from outside just before the signal.
      if (await mountedType(mountpoint)) await promisify(fuse!.unmount.bind(fuse))();
    } catch (e) {
      log.warn("fusermount failed; detaching lazily", { error: (e as Error).message });
      await detachMount(mountpoint).catch(() => {});
    }
    await finish();
    log.info("unmounted", { mountpoint });
  });
}
