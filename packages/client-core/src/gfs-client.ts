// The client library: namespace calls to the master, and reads, writes and
// record appends that go straight to chunkservers the way the GFS paper
// describes (locations and leases from the master, cached; data pushed along a
// chain of replicas; the primary orders the mutation).
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { LRUCache } from "lru-cache";
import {
  appendInline, callStreamClient, parseHostPortList, checkFileEnd, ChunkServerPool, defaults, formatCaller, fromServiceError, GfsError, masterDefinition, masterStreamMethods,
  newMasterClient,
  pushBuffer, readChunkInto, writeInline,
  type ChunkLocation__Output, type DirEntry__Output, type FileInfo__Output, type FsckResponse__Output, type ReadDirResponse__Output,
  type LeaseInfo__Output, type MasterClient, type PromiseClient, type ServerAddress__Output, type StatFsResponse__Output,
  type StatusResponse__Output, type ConfirmGcResponse__Output, type KeepSessionResponse__Output, inodePath, type MutationKind, type CallerIdentity,
  findTlsIdentity, hasTransportSecurity, insecureTransport, loadTlsIdentity, tlsTransport, transportSecurity, type TransportSecurity,
} from "@gfs/common";
import type { ListTrashResponse__Output, PurgeTrashResponse__Output, RestoreTrashResponse__Output } from "@gfs/common"; // issue 20, trash lane
import { splitByChunk, splitBySlice, type ChunkPiece } from "./chunk-ranges";
import { ReadLayout } from "./read-layout";
import { judgeShortAnswers } from "./short-answers";
import { nearestFirst, spreadNearest } from "./replica-order";
import { withRetries, type RetryPolicy } from "./retry";
import { failoverMasterCalls, type MasterCalls } from "./master-calls";
import { MasterSet } from "./master-set";

export interface ClientOptions {
  /** HOST:PORT of the master, or of every master of a replicated set: "A,B,C" (issue 16). */
  master: string;
  /** Replicated master: how long a call looks for a master that takes it (master-set.ts). */
  client_failover_wait_ms?: number;
  /** Replicated master: told of each move of a call to another master. */
  onMasterMove?: (from: string, to: string, why: string) => void;
  /** Deadline of one metadata call. */
  rpc_deadline_ms?: number;
  client_attempts_max?: number;
  client_backoff_initial_ms?: number;
  client_master_restart_wait_ms?: number;
  client_replica_wait_ms?: number;
  /** Close the master call stream after this long idle (0: keep it open until close(); the mount may want that). */
  call_stream_idle_close_ms?: number;
  location_cache_ttl_ms?: number;
  /** Chunk pieces written or read at once by one call. */
  parallel_chunk_ops?: number;
  /** Order in which a write's data is pushed through the replicas (tests choose it; default nearest first). */
  pushOrder?: (replicas: ServerAddress__Output[]) => ServerAddress__Output[];
  /**
   * Whom master calls speak for (the gfs-caller header): the CLI names the user
   * running it. None: the master takes the certificate's identity (a user's
   * own ids; root for admin, mount and insecure peers). runAs overrides it per call.
   */
  caller?: CallerIdentity;
  /** Identity dir (ca.crt, tls.crt, tls.key) this client speaks with. */
  tlsDir?: string;
  /** Plaintext, for a cluster started with --insecure. */
  insecure?: boolean;
  /** Already loaded transport security (wins over tlsDir and insecure). */
  security?: TransportSecurity;
  /**
   * Issue 19: the mount session this client's opens belong to (Stat with access, Create name it):
   * the master keeps a file unlinked while the session holds it open (see keepSession).
   */
  sessionId?: string;
}

/**
 * A client's transport security: given, or from its options, else the
 * process's (a daemon's), else the CLI's default identity (tls-identity.ts).
 */
export function clientSecurity(o: Pick<ClientOptions, "tlsDir" | "insecure" | "security">): TransportSecurity {
  if (o.security) return o.security;
  if (o.insecure) return insecureTransport;
  if (o.tlsDir) return tlsTransport(loadTlsIdentity(o.tlsDir));
  return hasTransportSecurity() ? transportSecurity() : tlsTransport(findTlsIdentity());
}

export interface WriteOptions {
  /** Every replica makes the bytes durable (fdatasync) before the write returns. */
  sync?: boolean;
  /**
   * A write that ends within the size the master already recorded for the file
   * returns once its bytes are on every replica, without a master call: its
   * mtime waits for settle(path) (close, flush), which records it together
   * with any other such writes. The size needs no update (the master's already
   * covers the bytes), so a file never looks longer at the master than its
   * data. Writes that extend the file, or that must clear setuid/setgid (the
   * master does that on ExtendFile), are recorded at once as without it.
   */
  settleLater?: boolean;
}

interface PendingExtends {
  running: boolean;
  waiters: Array<{ end: number; mtimeMs: number; resolve: () => void; reject: (e: unknown) => void }>;
  /** Resolves when the batches stop running (settle waits for one that took its owed mtime along). */
  done: Promise<void>;
  finished: () => void;
}

/** What the master last told this client of a file: its size and mode. */
interface RecordedFile {
  size: number;
  mode: number;
}

/** Writes of a file whose size the master already covers, made since its last settle: their end and latest mtime. */
interface Unsettled {
  end: number;
  mtimeMs: number;
}

/** What a client has learned of one file's chunks. */
interface KnownFile {
  /** chunk index -> handle */
  handles: Map<number, string>;
  /** The chunk this client's last record append went to. */
  appendIndex?: number;
}

export interface SetAttributes {
  mode?: number; uid?: number; gid?: number; atimeMs?: number; mtimeMs?: number; atimeNow?: boolean; mtimeNow?: boolean;
}

export interface CreateOptions {
  mode?: number;
  uid?: number;
  gid?: number;
  exclusive?: boolean;
  /** The caller is about to write the file: its first chunk comes with the creation (one round trip fewer). */
  forWriting?: boolean;
  /**
   * The caller opens the file it creates (a descriptor it will close): the master registers the open
   * with this client's session. Not for a create that opens nothing (mknod(2) of a regular file):
   * no close would ever release it, and it would stay held, as an orphan after unlink, for good.
   */
  open?: boolean;
}

/** Runs `fn` over `items` with at most `limit` in flight; rejects on the first failure. */
async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(workers);
}

/**
 * Like forEachLimited, but settles only once every item it started has
 * settled (starting no more after a failure), then rejects with the first
 * failure. Reads need it: a slice still in flight writes into the caller's
 * buffer, which the caller may reuse as soon as the read has failed.
 */
export async function forEachLimitedSettled<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { e: unknown } | undefined;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (!failure && next < items.length) {
      try {
        await fn(items[next++]);
      } catch (e) {
        failure ??= { e };
      }
    }
  });
  await Promise.all(workers);
  if (failure) throw failure.e;
}

export class GfsClient {
  /**
   * Master calls, carried on one call stream (Master.Calls: call-stream-client.ts);
   * with several masters, one stream per master and each call routed by master-set.ts.
   */
  readonly master: PromiseClient<MasterClient> & { close(): void };
  private readonly pool: ChunkServerPool;
  readonly security: TransportSecurity;
  private readonly retry: RetryPolicy;
  private readonly rpcMs: number;
  private readonly parallel: number;
  private chunkSize: number | undefined;
  /** path -> ExtendFile calls waiting to share the next update. */
  private readonly extending = new Map<string, PendingExtends>();
  /** path -> what this client knows of the file's chunks, for writes and appends. */
  private readonly files: LRUCache<string, KnownFile>;
  /** handle -> current lease (primary and secondaries). */
  private readonly leases: LRUCache<string, LeaseInfo__Output>;
  /**
   * path -> size and mode in the master's last answer about it. Kept only as
   * long as locations (another client may shrink the file meanwhile; its size
   * then comes back up to our writes' end at our settle).
   */
  private readonly recorded: LRUCache<string, RecordedFile>;
  /** path -> writes whose mtime the master has not recorded yet (settleLater). */
  private readonly unsettled = new Map<string, Unsettled>();

  /** The caller of the calls made inside runAs (the mount: one per FUSE operation). */
  private readonly callers = new AsyncLocalStorage<CallerIdentity>();
  /** The gfs-caller value of calls outside runAs ("" for none). */
  private readonly defaultCaller: string;

  constructor(private readonly options: ClientOptions) {
    this.security = clientSecurity(options);
    this.pool = new ChunkServerPool({ security: this.security });
    this.defaultCaller = options.caller ? formatCaller(options.caller) : "";
    const masters = parseHostPortList(options.master, "master");
    const connect = (address: string): MasterCalls => {
      const raw = newMasterClient(address, this.security);
      const calls = callStreamClient(raw, masterDefinition(), "Master", "Calls", {
        methods: masterStreamMethods(),
        caller: () => {
          const c = this.callers.getStore();
          return c ? formatCaller(c) : this.defaultCaller;
        },
        idleCloseMs: options.call_stream_idle_close_ms ?? defaults.call_stream_idle_close_ms,
      });
      const closeStream = calls.close;
      return Object.assign(calls, { close: () => { closeStream(); raw.close(); } });
    };
    // One master: its call stream, exactly as before issue 16. Several: each call routed through the set.
    this.master = masters.length === 1 ? connect(masters[0]) : failoverMasterCalls({
      connect,
      set: new MasterSet(masters, {
        failoverWaitMs: options.client_failover_wait_ms ?? defaults.client_failover_wait_ms,
        backoffInitialMs: defaults.client_failover_backoff_initial_ms,
      }),
      onMove: options.onMasterMove,
    });
    this.retry = {
      attempts: options.client_attempts_max ?? defaults.client_attempts_max,
      initialBackoffMs: options.client_backoff_initial_ms ?? defaults.client_backoff_initial_ms,
      masterRestartWaitMs: options.client_master_restart_wait_ms ?? defaults.client_master_restart_wait_ms,
      replicaWaitMs: options.client_replica_wait_ms ?? defaults.client_replica_wait_ms,
    };
    this.rpcMs = options.rpc_deadline_ms ?? defaults.rpc_deadline_ms;
    this.parallel = options.parallel_chunk_ops ?? 4;
    const ttl = options.location_cache_ttl_ms ?? defaults.location_cache_ttl_ms;
    this.files = new LRUCache({ max: defaults.location_cache_entries_max, ttl });
    this.leases = new LRUCache({ max: defaults.location_cache_entries_max, ttl });
    this.recorded = new LRUCache({ max: defaults.location_cache_entries_max, ttl });
  }

  /** Runs `fn` with every master call it makes (and the calls those start) speaking for `caller`. */
  runAs<T>(caller: CallerIdentity, fn: () => T): T {
    return this.callers.run(caller, fn);
  }

  close(): void {
    this.master.close();
    this.pool.close();
  }

  private opts(): { timeoutMs: number } { return { timeoutMs: this.rpcMs }; }

  /** Deadline of a call moving `bytes`: the control deadline plus time per MiB. */
  private dataDeadline(bytes: number): number {
    return this.rpcMs + Math.ceil(bytes / (1024 * 1024)) * defaults.data_deadline_ms_per_mib;
  }

  // -------------------------------------------------------------------------
  // Namespace
  // -------------------------------------------------------------------------

  /** `access` (4 read, 2 write, 1 execute): the master also checks the caller may do that to it (EACCES). */
  async stat(path: string, o: { access?: number } = {}): Promise<FileInfo__Output> {
    const access = o.access ?? 0;
    const sessionId = access !== 0 ? this.options.sessionId ?? "" : "";
    return this.withOwed(path, this.learn(path, await this.master.Stat({ path, access, sessionId }, this.opts())));
  }

  /**
   * `info` as this client's own writes left it: the mtime of writes not yet
   * settled is not at the master, but the writer must not see its file's
   * mtime go back until it closes (the size already covers them).
   */
  private withOwed<T extends FileInfo__Output | null | undefined>(path: string, info: T): T {
    // Writes through an open descriptor are made by inode path (a mount's): they are owed to every name of it.
    const u = info && (this.unsettled.get(path) ?? (this.unsettled.size > 0 && info.id > 0 ? this.unsettled.get(inodePath(info.id)) : undefined));
    if (!u || u.mtimeMs <= info.mtimeMs) return info;
    return { ...info, mtimeMs: u.mtimeMs, size: Math.max(Number(info.size), u.end) };
  }

  /** Notes what the master says of `path` (its size and mode; see `recorded`) and passes it on. */
  private learn(path: string, info: FileInfo__Output | null | undefined): FileInfo__Output {
    if (!info) throw new GfsError("EIO", `master sent no attributes for ${path}`);
    if (info.type === "FILE_TYPE_FILE") this.recorded.set(path, { size: Number(info.size), mode: info.mode });
    else this.recorded.delete(path);
    return info;
  }

  async create(path: string, o: CreateOptions = {}): Promise<FileInfo__Output> {
    const req = { path, mode: o.mode ?? 0o644, uid: o.uid ?? 0, gid: o.gid ?? 0, exclusive: o.exclusive ?? false, sessionId: o.open ? this.options.sessionId ?? "" : "" };
    // A new file has no writes to settle, whatever an earlier file of that name had.
    this.unsettled.delete(path);
    if (!o.forWriting) return this.learn(path, await this.master.Create(req, this.opts()));
    const res = await this.master.CreateForWriting(req, this.opts());
    const chunk = res.firstChunk;
    if (chunk?.handle) {
      this.files.set(path, { handles: new Map([[0, chunk.handle]]) });
      if (chunk.lease?.primary) this.cacheLease(chunk.lease);
    }
    return this.learn(path, res.info);
  }

  mkdir(path: string, o: { mode?: number; uid?: number; gid?: number; parents?: boolean } = {}): Promise<FileInfo__Output> {
    return this.master.Mkdir({ path, mode: o.mode ?? 0o755, uid: o.uid ?? 0, gid: o.gid ?? 0, parents: o.parents ?? false }, this.opts());
  }

  symlink(path: string, target: string, o: { uid?: number; gid?: number } = {}): Promise<FileInfo__Output> {
    return this.master.Symlink({ path, target, uid: o.uid ?? 0, gid: o.gid ?? 0 }, this.opts());
  }

  /**
   * Issue 20: a snapshot (GFS 3.4) of the file or tree at `from` as `to`. Writes made by this client
   * before it are settled first (the snapshot holds what the master recorded); what this client knew
   * of `from`'s chunks is forgotten: its next write goes to the master, which copies a shared chunk.
   */
  async snapshot(from: string, to: string): Promise<{ nodes: number; chunks: number; leasesRevoked: number; durationUs: number }> {
    await this.settleUnder(from);
    const r = await this.master.Snapshot({ from, to }, { timeoutMs: this.rpcMs * 6 });
    this.forgetPath(from, true);
    this.leases.clear();
    return { nodes: Number(r.nodes), chunks: Number(r.chunks), leasesRevoked: Number(r.leasesRevoked), durationUs: Number(r.durationUs) };
  }

  /** A hard link (issue 19): `to`, a new name of the file at `from`; the inode's info after it (nlink counts both). */
  async link(from: string, to: string): Promise<FileInfo__Output> {
    const info = await this.master.Link({ from, to }, this.opts());
    this.forgetPath(from);
    this.forgetPath(to);
    return info;
  }

  /** A special file (issue 19): FIFO, device node (root only) or socket; metadata only, the kernel does its I/O. */
  mknod(path: string, o: { type: "fifo" | "chr" | "blk" | "sock"; mode: number; rdev?: number; uid?: number; gid?: number }): Promise<FileInfo__Output> {
    const type = ({ fifo: "FILE_TYPE_FIFO", chr: "FILE_TYPE_CHAR_DEVICE", blk: "FILE_TYPE_BLOCK_DEVICE", sock: "FILE_TYPE_SOCKET" } as const)[o.type];
    if (type === undefined) return Promise.reject(new GfsError("EINVAL", `mknod ${path}: bad type ${String(o.type)}`));
    return this.master.Mknod({ path, type, mode: o.mode, rdev: o.rdev ?? 0, uid: o.uid ?? 0, gid: o.gid ?? 0 }, this.opts());
  }

  /** Sets the replication goal of `path` (with `recursive`, of everything under it too); returns how many entries changed. */
  async setReplication(path: string, goal: number, recursive = false): Promise<number> {
    return Number((await this.master.SetReplication({ path, goal, recursive }, this.opts())).changed);
  }

  async readlink(path: string): Promise<string> {
    const info = await this.stat(path);
    if (info.type !== "FILE_TYPE_SYMLINK") throw new GfsError("EINVAL", `${path} is not a symbolic link`);
    return info.symlinkTarget;
  }

  /** The entries of a directory. Their attributes are zero when withheld: use listDir to know. */
  async readdir(path: string): Promise<DirEntry__Output[]> {
    return (await this.listDir(path)).entries;
  }

  /**
   * The entries of a directory, and whether their attributes are withheld (the caller may read the
   * directory but not search it: names, types and ids only).
   */
  async listDir(path: string): Promise<ReadDirResponse__Output> {
    const res = await this.master.ReadDir({ path }, this.opts());
    if (this.unsettled.size === 0 || res.attributesWithheld) return res;
    const dir = path.endsWith("/") ? path : path + "/";
    return { ...res, entries: res.entries.map((e) => (e.info ? { ...e, info: this.withOwed(dir + e.name, e.info) } : e)) };
  }

  async rename(from: string, to: string, o: { noReplace?: boolean } = {}): Promise<void> {
    // Writes waiting to be settled are recorded under the name they were made under, before it changes.
    await this.settleUnder(from);
    this.dropUnsettled(to, true);
    await this.master.Rename({ from, to, noReplace: o.noReplace ?? false }, this.opts());
    // Both names may be directories: nothing known of a path under either holds any more.
    this.forgetPath(from, true);
    this.forgetPath(to, true);
  }

  /** `noTrash`: for good, even while the master keeps a trash (this client's own temporary file; honoured for its owner or root). */
  async unlink(path: string, o: { noTrash?: boolean } = {}): Promise<void> {
    await this.master.Delete({ path, fileOnly: true, noTrash: o.noTrash ?? false }, this.opts());
    this.forgetPath(path);
    this.dropUnsettled(path);
  }

  async rmdir(path: string): Promise<void> {
    await this.master.Delete({ path, directoryOnly: true }, this.opts());
  }

  /** Removes a file, symlink or directory (with everything below it if `recursive`). */
  async remove(path: string, o: { recursive?: boolean } = {}): Promise<void> {
    await this.master.Delete({ path, recursive: o.recursive ?? false }, this.opts());
    this.forgetPath(path, true);
    this.dropUnsettled(path, true);
  }

  /** `atimeNow` / `mtimeNow`: the master's "now" (UTIME_NOW: any writer may; explicit times need the owner). */
  async setAttributes(path: string, a: SetAttributes): Promise<FileInfo__Output> {
    // A time set now supersedes the mtime of earlier writes still owed (settled at close it would undo it).
    if (a.mtimeMs !== undefined || a.mtimeNow) await this.settle(path);
    return this.learn(path, await this.master.SetAttributes({
      path,
      setMode: a.mode !== undefined, mode: a.mode,
      setUid: a.uid !== undefined, uid: a.uid,
      setGid: a.gid !== undefined, gid: a.gid,
      setAtime: a.atimeMs !== undefined, atimeMs: a.atimeMs,
      setMtime: a.mtimeMs !== undefined, mtimeMs: a.mtimeMs,
      atimeNow: a.atimeNow ?? false, mtimeNow: a.mtimeNow ?? false,
    }, this.opts()));
  }

  // ---- extended attributes (issue 19): names with their namespace ("user.x"); the master applies Linux's rules ----

  /** The value of attribute `name` of `path` (ENODATA if it has none). */
  async getXattr(path: string, name: string): Promise<Buffer> {
    return (await this.master.GetXattr({ path, name }, this.opts())).value ?? Buffer.alloc(0);
  }

  /** The names of `path`'s attributes the caller may see, in the order they were first set. */
  async listXattr(path: string): Promise<string[]> {
    return (await this.master.ListXattr({ path }, this.opts())).names;
  }

  /** Sets attribute `name` of `path`; `flags`: XATTR_CREATE (1, EEXIST if set) or XATTR_REPLACE (2, ENODATA if not). Returns its attributes after. */
  async setXattr(path: string, name: string, value: Uint8Array, flags = 0): Promise<FileInfo__Output> {
    return this.learn(path, await this.master.SetXattr({ path, name, value, flags }, this.opts()));
  }

  /** Removes attribute `name` of `path` (ENODATA if it has none). Returns its attributes after. */
  async removeXattr(path: string, name: string): Promise<FileInfo__Output> {
    return this.learn(path, await this.master.RemoveXattr({ path, name }, this.opts()));
  }

  /**
   * What this client learned of `name` (its recorded size and mode, its first chunks) now also
   * holds for `alias`, another path of the same file: a mount's open descriptor addresses the file
   * by inode path (issue 19) right after opening it by name, and its first write needs no master call.
   */
  learnedAs(name: string, alias: string): void {
    const recorded = this.recorded.get(name);
    if (recorded) this.recorded.set(alias, { ...recorded });
    const known = this.files.get(name);
    if (known && !this.files.has(alias)) this.files.set(alias, { handles: new Map(known.handles) });
  }

  /**
   * Renews this client's mount session (issue 19) and tells the master which inodes it closed for the
   * last time; with `full`, every inode it has open (the answer said `unknown`: a new master).
   */
  keepSession(req: { closed: number[]; open?: number[]; full?: boolean }): Promise<KeepSessionResponse__Output> {
    const sessionId = this.options.sessionId;
    if (!sessionId) throw new GfsError("EINVAL", "keepSession: this client has no session id");
    return this.master.KeepSession({ sessionId, closed: req.closed, open: req.open ?? [], full: req.full ?? false }, this.opts());
  }

  statfs(): Promise<StatFsResponse__Output> { return this.master.StatFs({}, this.opts()); }
  status(): Promise<StatusResponse__Output> { return this.master.Status({}, this.opts()); }

  /**
   * Status with every master of a replicated set (issue 16): the answer of one
   * master, whose `masters` rows are replaced by each listed master's own
   * view of itself (its role, epoch, log position), asked of it directly,
   * with the lag and in-sync flag the active reports for it. A master that
   * does not answer is listed as unreachable.
   */
  async statusOfAll(): Promise<StatusResponse__Output> {
    const status = await this.status();
    const addresses = parseHostPortList(this.options.master, "master");
    if (addresses.length < 2) return status;
    const answers = await Promise.all(addresses.map(async (address) => {
      const one = new GfsClient({ ...this.options, master: address, rpc_deadline_ms: Math.min(this.options.rpc_deadline_ms ?? defaults.rpc_deadline_ms, 3_000) });
      try {
        return await one.status();
      } catch {
        return undefined;
      } finally {
        one.close();
      }
    }));
    // Lag and in-sync as the active sees its shadows (a shadow cannot know whether it is in the set).
    const active = answers.find((a) => a?.masters[0]?.role === "MASTER_ROLE_ACTIVE");
    const activeView = new Map((active?.masters ?? []).map((m) => [m.id, m]));
    status.masters = addresses.map((address, i) => {
      // A single master (no replicated set) answers with no master list: it answered, so it is up.
      const self = answers[i]?.masters[0] ?? (answers[i] ? { id: "-", address, role: "MASTER_ROLE_SINGLE" as const, epoch: 0, lastSeq: 0,
        appliedSeq: 0, lagRecords: 0, lagMs: 0, inSync: true, reachable: true } : undefined);
      if (!self) {
        return { id: "?", address, role: "MASTER_ROLE_SINGLE", epoch: 0, lastSeq: 0, appliedSeq: 0, lagRecords: 0, lagMs: 0, inSync: false, reachable: false };
      }
      const seen = activeView.get(self.id);
      return self.role === "MASTER_ROLE_SHADOW" && seen ? { ...self, address, lagRecords: seen.lagRecords, lagMs: seen.lagMs, inSync: seen.inSync } : { ...self, address };
    });
    return status;
  }
  /** Leaves the master's safe mode (the operator confirmed its metadata); says what was confirmed. */
  confirmGc(): Promise<ConfirmGcResponse__Output> { return this.master.ConfirmGc({}, this.opts()); }
  fsck(path = "/"): Promise<FsckResponse__Output> { return this.master.Fsck({ path }, { timeoutMs: this.rpcMs * 6 }); }

  // ---- issue 20, trash lane: gfs trash ls|restore|purge ----
  /** Trash entries the caller may see (their own; root all), deleted from `pathPrefix` or below (empty: all), oldest first. */
  listTrash(pathPrefix = ""): Promise<ListTrashResponse__Output> { return this.master.ListTrash({ pathPrefix }, this.opts()); }
  /** Puts a trash entry back (by id, or the newest deleted from `path`) at `to` (default: where it was deleted from). */
  async restoreTrash(o: { id?: number; path?: string; to?: string }): Promise<RestoreTrashResponse__Output> {
    const res = await this.master.RestoreTrash({ id: o.id ?? 0, path: o.path ?? "", to: o.to ?? "" }, this.opts());
    this.forgetPath(res.path, true);
    return res;
  }
  /** Reclaims trash entries now (`ids`; none: every entry the caller may), only those deleted at least `olderThanMs` ago. */
  purgeTrash(ids: number[] = [], olderThanMs = 0): Promise<PurgeTrashResponse__Output> {
    return this.master.PurgeTrash({ ids, olderThanMs }, { timeoutMs: this.rpcMs * 6 });
  }

  /** Sets the file's size. Shrinking inside a chunk cuts that chunk through its primary first. */
  async truncate(path: string, size: number): Promise<FileInfo__Output> {
    if (!Number.isSafeInteger(size) || size < 0) throw new GfsError("EINVAL", `bad size ${size}`);
    checkFileEnd(path, size, 0);
    // The master checks write permission (as Truncate will) before the cut below, which may use a lease
    // (and its write token) cached for another caller of this client (a mount speaks for many): never cut,
    // then be refused. FindChunks for writing: the file's info, and the same rule as Truncate's.
    const info = (await this.master.FindChunks({ path, offset: 0, length: 0, forWriting: true }, this.opts())).info;
    if (!info) throw new GfsError("EIO", `master sent no attributes for ${path}`);
    if (info.type === "FILE_TYPE_DIRECTORY") throw new GfsError("EISDIR", path);
    // A mount knows an open file by name and by inode path (issue 19, learnedAs): the chunks a truncate
    // drops must be forgotten under both, before the cut (which looks up the chunk it cuts) and after.
    const alias = info.id > 0 ? inodePath(info.id) : path;
    const forget = () => {
      this.forgetPath(path);
      if (alias !== path) this.forgetPath(alias);
    };
    forget();
    const chunkSize = await this.chunkSizeBytes();
    // Bytes past the new end inside the last kept chunk must read as zeros if the file grows again.
    const cutAt = Math.min(size, info.size);
    if (cutAt % chunkSize !== 0 && cutAt < info.chunkCount * chunkSize) {
      const index = Math.floor(cutAt / chunkSize);
      // The handle is looked up again on a retry: a chunk a snapshot shares gets a copy at the first try (issue 20).
      await this.mutate(path, () => this.handleFor(path, index, false, true), `truncate of ${path} chunk ${index}`, "MUTATION_KIND_TRUNCATE", cutAt - index * chunkSize, undefined, false);
    }
    const out = await this.master.Truncate({ path, size }, this.opts());
    forget();
    // The truncate recorded size and mtime after every write made before it: settling those later would grow the file back.
    this.unsettled.delete(path);
    this.unsettled.delete(alias);
    return this.learn(path, out);
  }

  // -------------------------------------------------------------------------
  // Data
  // -------------------------------------------------------------------------

  async chunkSizeBytes(): Promise<number> {
    if (this.chunkSize === undefined) this.chunkSize = (await this.statfs()).chunkSizeBytes;
    return this.chunkSize;
  }

  /**
   * Writes `data` at `offset` (any offset and length; holes before it read as
   * zeros). Resolves only when every replica of every touched chunk applied it
   * and the master recorded the new size; otherwise rejects.
   *
   * The size is recorded only after the data is on every replica, so a file
   * never looks longer than what was written to it: a write cut short (by a
   * crash of the client or the master) leaves the old size, not a tail of
   * zeros passing for data.
   */
  async write(path: string, offset: number, data: Uint8Array, o: WriteOptions = {}): Promise<void> {
    if (data.length === 0) return;
    checkFileEnd(path, offset, data.length);
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const chunkSize = await this.chunkSizeBytes();
    const pieces = splitByChunk(offset, buf.length, chunkSize);
    await forEachLimited(pieces, this.parallel, (p) => this.writePiece(path, p, buf, !!o.sync));
    const end = offset + buf.length;
    const known = this.recorded.get(path);
    if (o.settleLater && known && end <= known.size && (known.mode & 0o6000) === 0) {
      const u = this.unsettled.get(path);
      if (u) {
        u.end = Math.max(u.end, end);
        u.mtimeMs = Math.max(u.mtimeMs, Date.now());
      } else {
        this.unsettled.set(path, { end, mtimeMs: Date.now() });
      }
      return;
    }
    await this.extendTo(path, end);
  }

  /**
   * Records at the master the mtime (and end) of the writes made with
   * settleLater since the last settle: one ExtendFile for all of them, or no
   * call when there are none. Resolves once recorded (close-to-open: a close
   * returns only after this).
   */
  async settle(path: string): Promise<void> {
    // An ExtendFile in flight may carry what is owed (runExtends took it along): its outcome decides,
    // so wait for it, then settle what is still owed (put back if it failed, or owed since).
    for (let running = this.extending.get(path); running?.running; running = this.extending.get(path)) await running.done;
    const u = this.unsettled.get(path);
    if (u) await this.extendTo(path, u.end, u.mtimeMs);
  }

  /** settle() for `path` and every path under it. */
  private async settleUnder(path: string): Promise<void> {
    const under = path.endsWith("/") ? path : path + "/";
    await Promise.all([...this.unsettled.keys()].filter((p) => p === path || p.startsWith(under)).map((p) => this.settle(p)));
  }

  private dropUnsettled(path: string, prefix = false): void {
    this.unsettled.delete(path);
    if (!prefix) return;
    const under = path.endsWith("/") ? path : path + "/";
    for (const p of this.unsettled.keys()) if (p.startsWith(under)) this.unsettled.delete(p);
  }

  /**
   * Makes chunk `index` of `path` durable on every replica: a SYNC mutation
   * through its primary (every replica fdatasyncs, in serial order, so it
   * covers every mutation applied to it before). Nothing to do for a hole.
   */
  async sync(path: string, index: number): Promise<void> {
    if (!Number.isSafeInteger(index) || index < 0) throw new GfsError("EINVAL", `bad chunk index ${index}`);
    await this.mutate(path, () => this.handleFor(path, index, false, true), `sync of ${path} chunk ${index}`,
      "MUTATION_KIND_SYNC", 0, Buffer.alloc(0), true);
  }

  private async writePiece(path: string, piece: ChunkPiece, buf: Buffer, sync: boolean): Promise<void> {
    const bytes = buf.subarray(piece.bufferOffset, piece.bufferOffset + piece.length);
    // Allocation is retried too: a chosen chunkserver may have died since the master last heard from it.
    await this.mutate(path, () => this.handleFor(path, piece.index, true), `write of ${path} chunk ${piece.index}`,
      "MUTATION_KIND_WRITE", piece.chunkOffset, bytes, sync);
  }

  /**
   * Pushes `bytes` (if any) along the replica chain, then has the primary
   * apply the mutation; small writes go to the primary whole, with the mutation.
   */
  private async mutate(path: string, resolveHandle: () => Promise<string | undefined>, what: string, kind: MutationKind, chunkOffset: number,
    bytes: Buffer | undefined, sync: boolean): Promise<void> {
    let handle: string | undefined;
    await withRetries(what, this.retry, async () => {
      handle = await resolveHandle();
      if (!handle) return;
      const lease = await this.leaseFor(path, handle);
      handle = lease.handle; // issue 20: a shared chunk's lease is on the master's copy of it
      const primary = this.pool.get(lease.primary!);
      // The lease's write token (chunk-token.ts) goes with the push and the mutation.
      const req = { handle, version: lease.version, kind, offset: chunkOffset, length: bytes?.length ?? 0, secondaries: lease.secondaries, sync, token: lease.token };
      const timeoutMs = this.dataDeadline(bytes?.length ?? 0);
      if (bytes && bytes.length <= defaults.inline_write_bytes_max) {
        await writeInline(primary, req, bytes, timeoutMs);
        return;
      }
      const dataId = bytes ? await this.push([lease.primary!, ...lease.secondaries], bytes, lease) : "";
      await primary.api.Write({ ...req, dataId }, { timeoutMs });
    }, () => { if (handle) this.leases.delete(handle); });
  }

  /**
   * Record append (GFS §3.3): appends `data` as one atomic record at an offset
   * the primary chooses, and returns that file offset. At least once: after a
   * failure the whole append is retried, so a record may also appear earlier in
   * the file, but the returned offset holds it whole on every replica.
   */
  async append(path: string, data: Uint8Array): Promise<number> {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const chunkSize = await this.chunkSizeBytes();
    const limit = Math.floor(chunkSize * defaults.record_append_fraction_of_chunk);
    if (buf.length > limit) throw new GfsError("EINVAL", `record of ${buf.length} bytes exceeds the record append limit of ${limit} bytes (1/4 chunk)`);
    if (buf.length === 0) return (await this.stat(path)).size;
    // Where this client's last append to the file went: no Stat per record.
    let index = this.files.get(path)?.appendIndex ?? -1;
    if (index < 0) {
      const info = await this.stat(path);
      if (info.type !== "FILE_TYPE_FILE") throw new GfsError(info.type === "FILE_TYPE_DIRECTORY" ? "EISDIR" : "EINVAL", path);
      index = Math.max(0, info.chunkCount - 1);
    }
    const fileOffset = await withRetries(`record append to ${path}`, this.retry, async () => {
      for (;;) {
        const lease = await this.leaseFor(path, (await this.handleFor(path, index, true))!);
        const handle = lease.handle; // issue 20: a shared chunk's lease is on the master's copy of it
        const primary = this.pool.get(lease.primary!);
        const req = { handle, version: lease.version, length: buf.length, secondaries: lease.secondaries, token: lease.token };
        const timeoutMs = this.dataDeadline(buf.length);
        const res = buf.length <= defaults.inline_write_bytes_max
          ? await appendInline(primary, req, buf, timeoutMs)
          : await primary.api.RecordAppend({ ...req, dataId: await this.push([lease.primary!, ...lease.secondaries], buf, lease) }, { timeoutMs });
        if (!res.retryNextChunk) return index * chunkSize + res.offset;
        index++; // the primary padded this chunk: the record goes to the next one
      }
    }, () => this.leases.clear());
    const known = this.files.get(path);
    if (known) known.appendIndex = Math.floor(fileOffset / chunkSize);
    await this.extendTo(path, fileOffset + buf.length);
    return fileOffset;
  }

  /**
   * Has the master record that `path` extends at least to `end`. Calls for one
   * file made while another is in flight share the next ExtendFile (with the
   * largest end), so concurrent writers and appenders cost one durable master
   * update per round instead of one each; every caller still waits for an
   * update that covers its own end.
   */
  private extendTo(path: string, end: number, mtimeMs = Date.now()): Promise<void> {
    return new Promise((resolve, reject) => {
      let pending = this.extending.get(path);
      if (!pending) {
        let finished = () => {};
        const done = new Promise<void>((r) => { finished = r; });
        this.extending.set(path, (pending = { running: false, waiters: [], done, finished }));
      }
      pending.waiters.push({ end, mtimeMs, resolve, reject });
      if (!pending.running) void this.runExtends(path, pending);
    });
  }

  private async runExtends(path: string, pending: PendingExtends): Promise<void> {
    pending.running = true;
    while (pending.waiters.length) {
      const batch = pending.waiters.splice(0);
      // Writes waiting to be settled ride along: this update records their mtime too.
      const owed = this.unsettled.get(path);
      this.unsettled.delete(path);
      let end = owed?.end ?? 0;
      let mtimeMs = owed?.mtimeMs ?? 0;
      for (const w of batch) {
        end = Math.max(end, w.end);
        mtimeMs = Math.max(mtimeMs, w.mtimeMs);
      }
      try {
        this.learn(path, await this.master.ExtendFile({ path, endOffset: end, mtimeMs }, this.opts()));
        for (const w of batch) w.resolve();
      } catch (e) {
        if (owed) {
          // Still owed: the next settle tries again.
          const u = this.unsettled.get(path);
          this.unsettled.set(path, { end: Math.max(owed.end, u?.end ?? 0), mtimeMs: Math.max(owed.mtimeMs, u?.mtimeMs ?? 0) });
        }
        for (const w of batch) w.reject(e);
      }
    }
    pending.running = false;
    this.extending.delete(path);
    pending.finished();
  }

  /** Pushes data to every replica through a chain; returns its data id. */
  private async push(replicas: ServerAddress__Output[], bytes: Buffer, lease: LeaseInfo__Output): Promise<string> {
    const order = this.options.pushOrder ? this.options.pushOrder(replicas) : nearestFirst(replicas);
    const dataId = randomBytes(12).toString("hex");
    await pushBuffer(this.pool.get(order[0]), { dataId, chain: order.slice(1), totalBytes: bytes.length, handle: lease.handle, token: lease.token },
      bytes, this.dataDeadline(bytes.length * order.length));
    return dataId;
  }

  /**
   * The handle of chunk `index` of `path`; allocates it when `create` and it is a hole.
   * `forWriting`: looked up to change it (the master checks write, not read, permission).
   */
  private async handleFor(path: string, index: number, create: boolean, forWriting = create): Promise<string | undefined> {
    const known = this.files.get(path);
    const cached = known?.handles.get(index);
    if (cached) return cached;
    let handle: string | undefined;
    if (create) {
      // AddChunk returns the slot's chunk if it has one: one call whether or not it exists.
      // A chunk created just now comes with its first lease.
      const loc = await this.master.AddChunk({ path, index }, this.opts());
      handle = loc.handle;
      if (loc.lease?.primary) this.cacheLease(loc.lease);
    } else {
      const chunkSize = await this.chunkSizeBytes();
      const found = await this.master.FindChunks({ path, offset: index * chunkSize, length: 1, forWriting }, this.opts());
      handle = found.chunks.find((c) => c.index === index)?.handle;
    }
    if (handle) {
      const entry = this.files.get(path) ?? { handles: new Map<number, string>() };
      entry.handles.set(index, handle);
      this.files.set(path, entry);
    }
    return handle || undefined;
  }

  /**
   * The lease to write `handle` of `path`. Issue 20: on a chunk a snapshot shares, the master copies
   * it and answers the copy's lease: the copy replaces the handle in what this client knows of the
   * file. ESTALE (the handle is no longer the file's, e.g. copied for another client): what this
   * client knows of the file is dropped, so the retry asks the master for its chunks again.
   */
  private async leaseFor(path: string, handle: string): Promise<LeaseInfo__Output> {
    const cached = this.leases.get(handle);
    if (cached) return cached;
    let lease: LeaseInfo__Output;
    try {
      lease = await this.master.GetLease({ handle, path }, this.opts());
    } catch (e) {
      if (fromServiceError(e).errno === "ESTALE") this.files.delete(path);
      throw e;
    }
    if (!lease.primary) throw new GfsError("EAGAIN", `no primary for chunk ${handle}`);
    if (lease.handle !== handle) this.replaceHandle(path, handle, lease.handle);
    this.cacheLease(lease);
    return lease;
  }

  /** Issue 20: `path`'s chunk `from` is now `to` (copied on write): the slot that held it holds the copy. */
  private replaceHandle(path: string, from: string, to: string): void {
    const known = this.files.get(path);
    if (!known) return;
    for (const [index, h] of known.handles) if (h === from) known.handles.set(index, to);
  }

  private cacheLease(lease: LeaseInfo__Output): void {
    // Trust the answer a little less long than the lease, so a stale primary is not our first try.
    const ttl = Math.max(1, Math.min(lease.leaseRemainingMs - 1000, this.leases.ttl));
    this.leases.set(lease.handle, lease, { ttl });
  }

  private forgetPath(path: string, prefix = false): void {
    this.files.delete(path);
    this.recorded.delete(path);
    if (!prefix) return;
    const under = path.endsWith("/") ? path : path + "/";
    for (const p of this.files.keys()) if (p.startsWith(under)) this.files.delete(p);
    for (const p of this.recorded.keys()) if (p.startsWith(under)) this.recorded.delete(p);
  }

  /**
   * Reads up to `length` bytes at `offset`; shorter only at the end of the file.
   * Holes read as zeros. A chunk's slices (read_request_bytes_max each) are
   * read from the nearest replicas in turn, several at once, each falling back
   * to the other replicas; checksum errors never return bad bytes.
   */
  async read(path: string, offset: number, length: number): Promise<Buffer> {
    let out = Buffer.alloc(0);
    await this.readRange(path, offset, length, (n) => (out = Buffer.allocUnsafe(n)));
    return out;
  }

  /**
   * Reads into all of `into` from `offset`, as read() does, without a buffer
   * of its own. Returns the bytes read, fewer only at the end of the file;
   * the rest of `into` is left as it was. A reader making many reads of one
   * file passes the same `layout`: what the master told it is reused for a
   * while instead of asked again per read (see read-layout.ts).
   */
  readInto(path: string, offset: number, into: Buffer, layout?: ReadLayout): Promise<number> {
    return this.readRange(path, offset, into.length, () => into, layout);
  }

  /** A layout for one reader's reads of one file (readInto). */
  newReadLayout(): ReadLayout {
    return new ReadLayout(defaults.read_layout_ttl_ms, defaults.read_layout_span_chunks);
  }

  /** Reads [offset, offset + length) cut at the file's end into `buffer(bytes)`, every byte of which it writes. */
  private async readRange(path: string, offset: number, length: number, buffer: (bytes: number) => Buffer, layout?: ReadLayout): Promise<number> {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new GfsError("EINVAL", `bad range offset=${offset} length=${length}`);
    }
    const known = layout?.covering(offset, length);
    if (known) {
      try {
        return await this.readKnown(path, offset, length, buffer, known.size, known.chunkSizeBytes, known.chunks);
      } catch {
        layout!.forget(); // perhaps it went stale (truncated, moved): ask the master and try again
      }
    }
    const asked = layout ? layout.askLength(offset, length, this.chunkSize ?? 0) : length;
    const found = await this.master.FindChunks({ path, offset, length: asked }, this.opts());
    const info = found.info;
    if (!info) throw new GfsError("EIO", `master sent no attributes for ${path}`);
    if (info.type === "FILE_TYPE_DIRECTORY") throw new GfsError("EISDIR", path);
    layout?.learn(found, offset, asked);
    return this.readKnown(path, offset, length, buffer, info.size, found.chunkSizeBytes, new Map(found.chunks.map((c) => [c.index, c])));
  }

  /** readRange once the file's size and the chunks' locations are known. */
  private async readKnown(path: string, offset: number, length: number, buffer: (bytes: number) => Buffer, size: number, chunkSize: number,
    byIndex: Map<number, ChunkLocation__Output>): Promise<number> {
    const end = Math.min(size, offset + length);
    if (end <= offset) return 0;
    const out = buffer(end - offset);
    this.chunkSize ??= chunkSize;
    const slices = splitBySlice(splitByChunk(offset, end - offset, chunkSize), defaults.read_request_bytes_max);
    await forEachLimitedSettled(slices, this.parallel, async (slice) => {
      let attempt = 0;
      await withRetries(`read of ${path} chunk ${slice.index}`, this.retry, async () => {
        if (attempt++ > 0) {
          const found = await this.master.FindChunks({ path, offset: slice.index * chunkSize, length: 1 }, this.opts());
          for (const c of found.chunks) byIndex.set(c.index, c);
        }
        const loc = byIndex.get(slice.index);
        if (!loc || !loc.handle) {
          out.fill(0, slice.bufferOffset, slice.bufferOffset + slice.length); // a hole
          return;
        }
        await this.readSlice(loc, slice, out);
      });
    });
    return end - offset;
  }

  /**
   * Reads one slice into `out`. A replica that returns fewer bytes than asked
   * is not trusted to mean a hole: the read is inside the file's size, so the
   * master says the data exists. The other replicas are asked too; if one has
   * more, the shorter ones are reported bad (ReportBadReplica) and the slice is
   * retried with fresh locations; only when every replica answered and all
   * agree on where the chunk ends is the rest a true hole (never written, as in
   * a sparse file), filled with zeros. Anything else fails: never zeros for a
   * replica that lost its tail. The common case (a full answer) costs nothing more.
   */
  private async readSlice(loc: ChunkLocation__Output, slice: ChunkPiece, out: Buffer): Promise<void> {
    if (loc.replicas.length === 0) throw new GfsError("EAGAIN", `no live replica of chunk ${loc.handle} (index ${loc.index})`);
    let last: unknown;
    let failures = 0;
    let short: Array<{ replica: ServerAddress__Output; bytes: number }> | undefined;
    const turn = Math.floor(slice.chunkOffset / defaults.read_request_bytes_max);
    for (const replica of spreadNearest(loc.replicas, loc.handle, turn)) {
      try {
        // Straight into `out`: no intermediate buffer per reply.
        const res = await readChunkInto(this.pool.get(replica), { handle: loc.handle, version: loc.version, offset: slice.chunkOffset, length: slice.length, token: loc.token },
          out, slice.bufferOffset, this.dataDeadline(slice.length));
        if (res.bytes === slice.length) {
          for (const s of short ?? []) this.reportShort(loc, slice, s.replica, s.bytes, `another replica has all ${slice.length}`);
          return;
        }
        (short ??= []).push({ replica, bytes: res.bytes });
      } catch (e) {
        last = e;
        failures++;
        const err = fromServiceError(e);
        if (err.errno === "EIO" && /checksum/i.test(err.message)) {
          this.master.ReportBadReplica({ handle: loc.handle, serverId: replica.serverId, reason: err.message }, this.opts()).catch(() => {});
        }
      }
    }
    if (!short) throw fromServiceError(last);
    const verdict = judgeShortAnswers(short, failures);
    if (verdict.kind === "hole") {
      // Every replica answered, and all end at the same place: a true hole. `out` holds the last answer's bytes.
      out.fill(0, slice.bufferOffset + verdict.from, slice.bufferOffset + slice.length);
      return;
    }
    for (const s of verdict.shorter) this.reportShort(loc, slice, s.replica, s.bytes, `another replica has ${verdict.longest}`);
    // EAGAIN: retried with fresh locations, which leave out replicas the master has since marked bad.
    throw new GfsError("EAGAIN", `replicas of chunk ${loc.handle} (index ${loc.index}) disagree on its length at offset ${slice.chunkOffset}`
      + ` (${short.map((s) => `${s.replica.address}: ${s.bytes} bytes`).join(", ")}${failures ? `; ${failures} failed` : ""}); not filling zeros`);
  }

  /** A replica answered with fewer bytes than another one has: it is short, not a hole. */
  private reportShort(loc: ChunkLocation__Output, slice: ChunkPiece, replica: ServerAddress__Output, bytes: number, other: string): void {
    const reason = `short replica: ${bytes} of ${slice.length} bytes at chunk offset ${slice.chunkOffset}, ${other}`;
    this.master.ReportBadReplica({ handle: loc.handle, serverId: replica.serverId, reason }, this.opts()).catch(() => {});
  }
}
