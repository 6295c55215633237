// The ChunkServer gRPC service: validates every request's shape, then feeds
// it to the mutation pipeline's core (chunk-core.ts) and carries out what
// the core decides with the store, the push buffer and the peers.
// A refused request changes nothing.
import {
  applyInline, checkHandle, deadlineFor, defaults, GfsError, realEnv, toServiceError, unary, type ApplyMutationRequest__Output,
  type ChunkServerHandlers, type ChunkServerPool, type ChunkserverStats, type Env, type FetchChunkRequest__Output,
  type FetchChunkResponse, type Logger, type MutationKind as ProtoMutationKind, type ReadRequest__Output, type RecordAppendRequest__Output,
  type RevokeLeaseRequest__Output, type RecordAppendResponse, type ReplicationOrder__Output, type SetChunkVersionRequest__Output,
  type WriteRequest__Output, type CreateChunksRequest__Output, type ChunkAccess, type CopyChunkLocalRequest__Output, type CopyChunkLocalResponse, type Peer, type PushDataRequest__Output, guardHandlers, peerOf,
} from "@gfs/common";
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { ChunkStore } from "./chunk-store";
import { ChunkCore, type Effect, type ForwardedMutation } from "./chunk-core";
import { timedDataHandlers } from "./chunkserver-metrics";
import type { HeldReplica } from "./copy-orders";
import type { LeaseView } from "./lease";
import { checkLocalCopy, quarantineRefusal, type LocalCopyCounters } from "./local-copy";
import type { MasterEpoch } from "./master-epoch";
import type { Timers } from "./mutation-order";
import type { ClientMutation, Mutation, MutationKind, PrimaryContext } from "./primary-mutation";
import type { PushBuffer } from "./push-buffer";
import type { DataHandlers } from "./data-server";
import { PushAdmission } from "./push-admission";
import type { PeerDirectory } from "./push-chain";
import { receiveGrpcPush, receivePush, type PushCounters, type PushReceiverDeps } from "./push-receiver";
import { replicate } from "./replication";
import { chunkServerRpcRoles } from "./rpc-roles";
import type { ChunkserverSettings } from "./settings";
import type { StoreStep, VersionOrder } from "./version-grant";

export interface ChunkServiceDeps {
  serverId: string;
  store: ChunkStore;
  pushBuffer: PushBuffer;
  leases: LeaseView;
  pool: ChunkServerPool;
  /** The live chunkservers the master listed: the only servers a push is forwarded to. */
  peers: PeerDirectory;
  settings: ChunkserverSettings;
  log: Logger;
  /** The clock, timers and random numbers (default realEnv); `now` and `timers`, when given, take precedence. */
  env?: Env;
  now?: () => number;
  timers?: Timers;
  /** Tells the master this primary gives up its lease on the chunk at `version`. */
  releaseLease(handle: string, version: number): Promise<void>;
  /** A chunk appeared or changed version (reported on the next heartbeat). */
  onChunkChanged?(handle: string): void;
  /** A copy ordered by the master was installed (after onChunkChanged): worth reporting at once. */
  onCopied?(handle: string): void;
  /** Throws unless `token` grants `access` to `handle` (token-keys.ts: ESTALE expired or unknown key, EACCES otherwise). */
  checkToken(token: string, handle: string, access: ChunkAccess): void;
  /** The highest master epoch seen (issue 16): the master's commands from a lower epoch are refused. None: no check. */
  masterEpoch?: MasterEpoch;
  /** Whether some version of the chunk is in quarantine here (quarantine.ts); none: nothing is. */
  quarantined?(handle: string): boolean;
}

const kindOf: Record<string, MutationKind | undefined> = {
  MUTATION_KIND_WRITE: "WRITE", MUTATION_KIND_PAD: "PAD", MUTATION_KIND_TRUNCATE: "TRUNCATE", MUTATION_KIND_SYNC: "SYNC",
};

const checkInt = (what: string, n: number): number => {
  if (!Number.isSafeInteger(n) || n < 0) throw new GfsError("EINVAL", `bad ${what} ${n}`);
  return n;
};

/**
 * The driver of the mutation pipeline: the decisions are ChunkCore's
 * (chunk-core.ts); this validates requests' shape, feeds them in with the
 * time, and carries out the effects (store, push buffer, peers, master).
 */
export class ChunkServerService {
  readonly stats: PushCounters & LocalCopyCounters & { mutationsApplied: number; bytesRead: number; bytesWritten: number } = {
    pushBytesReceived: 0, pushBytesForwarded: 0, mutationsApplied: 0, bytesRead: 0, bytesWritten: 0, localCopies: 0, localCopyBytes: 0,
  };
  /** Requests being served now: the load reported on heartbeats. */
  inFlight = 0;
  /** Issue 18: stopping (SIGTERM): no new client mutation is taken (graceful-leave.ts). */
  leaving = false;
  /** HOST:PORT of this server's bulk data transport, once it listens (told to clients through Stats). */
  dataAddress = "";
  /** Pushes being received now, bounded in number and bytes. */
  readonly admission: PushAdmission;
  private readonly core: ChunkCore;
  private readonly now: () => number;
  private readonly timers: Timers;
  private nextKey = 1;
  /** Requests (by the core's key) waiting for their answer. */
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(e: Error): void }>();
  /** The data a mutation applies (and forwards inline), by key; a secondary's checks its shape first. */
  private readonly bodies = new Map<number, () => Buffer>();
  /** Gap-wait timers, by key. */
  private readonly waits = new Map<number, unknown>();

  constructor(private readonly deps: ChunkServiceDeps) {
    const env = deps.env ?? realEnv;
    this.now = deps.now ?? (() => env.now());
    this.timers = deps.timers ?? { set: (fn, ms) => env.setTimer(fn, ms), clear: (t) => env.clearTimer(t) };
    this.core = new ChunkCore({ serverId: deps.serverId, leases: deps.leases, gapWaitMs: deps.settings.serial_gap_wait_ms });
    this.admission = new PushAdmission(deps.settings.pushes_in_flight_max, deps.settings.push_in_flight_bytes_max);
  }

  private get chunkSize(): number {
    return this.deps.store.chunkSizeBytes;
  }

  /** The gRPC service, each method guarded by its role table (rpc-roles.ts). */
  handlers(): ChunkServerHandlers {
    return guardHandlers("ChunkServer", this.unguardedHandlers(), chunkServerRpcRoles);
  }

  private unguardedHandlers(): ChunkServerHandlers {
    return {
      PushData: (call, callback) => {
        this.tracked(() => receiveGrpcPush(call, this.pushDeps(peerOf(call))))
          .then((res) => callback(null, res), (e) => callback(toServiceError(e)));
      },
      Write: unary((req: WriteRequest__Output) => this.tracked(() => this.write(req))),
      ApplyMutation: unary((req: ApplyMutationRequest__Output, call) => this.tracked(() => this.applyMutation(req, peerOf(call)))),
      RecordAppend: unary((req: RecordAppendRequest__Output) => this.tracked(() => this.recordAppend(req))),
      RevokeLease: unary((req: RevokeLeaseRequest__Output) => {
        this.admitMaster("RevokeLease", req.masterEpoch);
        return this.revokeLease(req.handle, req.version);
      }),
      Read: unary((req: ReadRequest__Output) => this.tracked(() => this.read(req))),
      FetchChunk: (call: ServerWritableStream<FetchChunkRequest__Output, FetchChunkResponse>) => {
        this.tracked(() => this.fetchChunk(call)).then(() => call.end(), (e) => call.emit("error", toServiceError(e)));
      },
      SetChunkVersion: unary((req: SetChunkVersionRequest__Output) => {
        this.admitMaster("SetChunkVersion", req.masterEpoch);
        return this.tracked(() => this.setChunkVersion(req));
      }),
      CreateChunks: unary((req: CreateChunksRequest__Output) => {
        this.admitMaster("CreateChunks", req.masterEpoch);
        return this.tracked(() => this.createChunks(req));
      }),
      // Issue 20: copy-on-write of a snapshot's shared chunk on this server's own disks (local-copy.ts).
      CopyChunkLocal: unary((req: CopyChunkLocalRequest__Output) => {
        this.admitMaster("CopyChunkLocal", req.masterEpoch);
        return this.tracked(() => this.copyChunkLocal(req));
      }),
      Stats: unary(async (): Promise<ChunkserverStats> => ({
        serverId: this.deps.serverId,
        chunkCount: this.deps.store.chunkCount,
        pushBytesReceived: this.stats.pushBytesReceived,
        pushBytesForwarded: this.stats.pushBytesForwarded,
        mutationsApplied: this.stats.mutationsApplied,
        bytesRead: this.stats.bytesRead,
        checksumFailures: this.deps.store.checksumFailures,
        pushBufferBytes: this.deps.pushBuffer.bytes,
        dataAddress: this.dataAddress,
        localCopies: this.stats.localCopies,
        localCopyBytes: this.stats.localCopyBytes,
      })),
    };
  }

  /** The same PushData and Read, for the bulk data transport (data-server.ts, which checks each frame's role); counted and timed as the gRPC ones. */
  dataHandlers(): DataHandlers {
    return timedDataHandlers({
      push: (header, pieces, peer) => this.tracked(() => receivePush(header, pieces, this.pushDeps(peer))),
      read: (req) => this.tracked(() => this.read(req)),
      write: (req) => this.tracked(() => this.write(req)),
      append: (req) => this.tracked(() => this.recordAppend(req)),
      apply: (req, peer) => this.tracked(() => this.applyMutation(req, peer)),
    });
  }

  /**
   * A push needs a write token for the chunk it names, except from a
   * chunkserver forwarding it down the chain (authorized by its role: pushed
   * bytes change nothing until a Write, checked itself, applies them; and a
   * server that heard of a new key a heartbeat later must not fail the chain).
   */
  private authorizePush(peer: Peer, header: PushDataRequest__Output): void {
    if (peer.role === "chunkserver") return;
    this.deps.checkToken(header.token, header.handle, "write"); // a token names only well-formed handles
  }

  private pushDeps(peer: Peer): PushReceiverDeps {
    return {
      authorize: (header) => this.authorizePush(peer, header),
      pool: this.deps.pool,
      maxBytes: this.chunkSize,
      dataIdCharsMax: this.deps.settings.data_id_chars_max,
      counters: this.stats,
      keep: (dataId, data) => {
        if (!this.deps.pushBuffer.put(dataId, data)) throw new GfsError("ENOSPC", `push ${dataId} of ${data.length} bytes does not fit the push buffer`);
      },
      checkChain: (chain, what) => this.deps.peers.check(chain, what),
      peerOf: (s) => this.deps.peers.target(s),
      stallTimeoutMs: this.deps.settings.push_stall_timeout_ms,
      timers: this.timers,
      admit: (bytes, what) => this.admission.admit(bytes, what),
    };
  }

  private async tracked<T>(fn: () => Promise<T>): Promise<T> {
    this.inFlight++;
    try {
      return await fn();
    } finally {
      this.inFlight--;
    }
  }

  /** The chunk's state, if it is here at exactly `version`. */
  private chunkAt(handle: string, version: number): { version: number; length: number } {
    const info = this.deps.store.get(handle);
    if (!info) throw new GfsError("ENOENT", `chunk ${handle} not on this server`);
    if (version !== info.version) throw new GfsError("ESTALE", `chunk ${handle} is at version ${info.version} here, not ${version}`);
    return info;
  }

  /** Why a mutation's data cannot be used, if so: inline in the request, or pushed earlier under its data id; of the announced length either way. */
  private dataProblem(req: { dataId: string; data: Buffer }, length: number): GfsError | undefined {
    if (req.data.length > 0) {
      if (req.data.length > defaults.inline_write_bytes_max) return new GfsError("EINVAL", `inline data of ${req.data.length} bytes exceeds ${defaults.inline_write_bytes_max}; push it instead`);
      if (req.data.length !== length) return new GfsError("EINVAL", `inline data has ${req.data.length} bytes, not ${length}`);
      return undefined;
    }
    const size = req.dataId ? this.deps.pushBuffer.sizeOf(req.dataId) : undefined;
    if (size === undefined) return new GfsError("EAGAIN", `pushed data ${req.dataId} not found`);
    if (size !== length) return new GfsError("EINVAL", `pushed data ${req.dataId} has ${size} bytes, not ${length}`);
    return undefined;
  }

  /** A mutation's data (dataProblem first). */
  private dataOf(req: { dataId: string; data: Buffer }, length: number): Buffer {
    const problem = this.dataProblem(req, length);
    if (problem) throw problem;
    return req.data.length > 0 ? req.data : this.deps.pushBuffer.get(req.dataId)!;
  }

  // ------------------------------------------------------------------------
  // Carrying out the core's effects
  // ------------------------------------------------------------------------

  /** Feeds one request into the core under a new key; resolves with the core's answer for it. */
  private request<T>(input: (key: number) => Effect[], body?: () => Buffer): Promise<T> {
    const key = this.nextKey++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(key, { resolve: resolve as (value: unknown) => void, reject });
      if (body) this.bodies.set(key, body);
      this.run(input(key));
    });
  }

  /** Carries out effects in order. None calls back into the core before this returns (each outcome comes a tick later at least). */
  private run(effects: Effect[]): void {
    for (const e of effects) this.effect(e);
  }

  private effect(e: Effect): void {
    switch (e.t) {
      case "apply": void this.applyLocal(e.key, e.mutation); break;
      case "forward": this.forward(e); break;
      case "release": void this.release(e.key, e.handle, e.version); break;
      case "answer": this.settle(e.key, undefined, e.value); break;
      case "refuse": this.settle(e.key, e.error); break;
      case "wait":
        this.waits.set(e.key, this.timers.set(() => this.run(this.core.expire(this.now(), e.handle, e.version, e.serial)), Math.max(0, e.untilMs - this.now())));
        break;
      case "unwait":
        this.timers.clear(this.waits.get(e.key));
        this.waits.delete(e.key);
        break;
      case "drop-data": this.deps.pushBuffer.delete(e.dataId); break;
      case "store-version": void this.storeVersion(e.key, e.handle, e.version, e.step, e.acceptUnverified); break;
      case "fetch": void this.fetch(e.order); break;
      case "changed": this.deps.onChunkChanged?.(e.handle); break;
      case "log": this.deps.log[e.level](e.message, e.fields); break;
    }
  }

  private settle(key: number, error: Error | undefined, value?: unknown): void {
    const p = this.pending.get(key);
    if (!p) throw new Error(`invariant: answer for request ${key}, which waits for none`);
    this.pending.delete(key);
    this.bodies.delete(key);
    if (error) p.reject(error);
    else p.resolve(value);
  }

  /** Applies a mutation to this replica, in its turn (the core decided the turn). */
  private async applyLocal(key: number, m: Mutation): Promise<void> {
    let error: Error | undefined;
    try {
      this.chunkAt(m.handle, m.version); // the version may have moved on while this waited
      const { store } = this.deps;
      switch (m.kind) {
        case "WRITE":
          await store.write(m.handle, m.offset, this.bodies.get(key)!(), m.sync, m.version);
          break;
        case "PAD":
          await store.pad(m.handle, this.chunkSize, m.sync, m.version);
          break;
        case "TRUNCATE":
          await store.truncate(m.handle, m.offset, m.sync, m.version);
          break;
        case "SYNC":
          await store.sync(m.handle, m.version);
          break;
      }
      // The check above and the store's own lock are two steps: a version change (a master fencing a
      // dead primary's lease) may come between them. The store checks the version again under its lock
      // (atVersion), so such a mutation neither lands on the new version's bytes nor is acknowledged.
      this.chunkAt(m.handle, m.version);
      this.stats.mutationsApplied++;
      if (m.kind === "WRITE") this.stats.bytesWritten += m.length;
    } catch (e) {
      error = e as Error;
    }
    this.run(this.core.applied(key, error));
  }

  /** Sends a mutation to a secondary, addressed to the id the grant (else the master's list) has for it. */
  private forward(e: Extract<Effect, { t: "forward" }>): void {
    const m = e.mutation;
    const timeoutMs = this.deps.settings.serial_gap_wait_ms + deadlineFor(m.length);
    const apply = {
      handle: m.handle, version: m.version, serial: m.serial, kind: `MUTATION_KIND_${m.kind}` as ProtoMutationKind, dataId: m.dataId,
      offset: m.offset, length: m.length, sync: m.sync, leaseToken: e.leaseToken,
    };
    // A SYNC carries no data, but goes as an (empty) inline mutation all the same: one frame on the
    // already open data connection instead of a gRPC call, so an fsync costs what a small write does.
    const body = m.inline ? this.bodies.get(e.key)!() : m.kind === "SYNC" ? Buffer.alloc(0) : null;
    Promise.resolve()
      .then((): Promise<unknown> => {
        // The certificate must name the secondary's id (the grant's, checked against the write's by checkSecondaries).
        const peer = this.deps.pool.get({ address: e.to.address, serverId: e.serverId || this.deps.peers.target(e.to).serverId });
        return body ? applyInline(peer, apply, body, timeoutMs) : peer.api.ApplyMutation(apply, { timeoutMs });
      })
      .then(() => this.run(this.core.forwarded(e.key, e.index)), (err) => this.run(this.core.forwarded(e.key, e.index, err as Error)));
  }

  private async release(key: number, handle: string, version: number): Promise<void> {
    try {
      await this.deps.releaseLease(handle, version);
    } catch (e) {
      this.deps.log.warn("cannot release lease at the master; it will expire", { handle, version, error: (e as Error).message });
    }
    this.run(this.core.released(key));
  }

  private async storeVersion(key: number, handle: string, version: number, step: StoreStep, acceptUnverified: boolean): Promise<void> {
    const { store } = this.deps;
    let error: Error | undefined;
    try {
      // Not synced: an empty chunk lost in a crash loses no data, and the first sync write syncs it.
      if (step === "create") await store.create(handle, version, false);
      // Refuses to go down (ESTALE), or to vouch for an unverified replica the master did not accept (EIO); durable before we answer.
      else if (step === "raise") await store.setVersion(handle, version, acceptUnverified);
    } catch (e) {
      error = e as Error;
    }
    this.run(this.core.versionStored(key, error, store.get(handle)?.length ?? 0));
  }

  /** The replica here, as copy orders see it. */
  private held(handle: string): HeldReplica | undefined {
    const info = this.deps.store.get(handle);
    return info && { version: info.version, suspect: info.corrupt || info.unverified };
  }

  private async fetch(order: ReplicationOrder__Output): Promise<void> {
    let error: Error | undefined;
    try {
      await replicate(this.deps.pool, this.deps.store, order, deadlineFor(this.deps.store.chunkSizeBytes), this.now);
    } catch (e) {
      error = e as Error;
    }
    this.run(this.core.copied(order, error, this.held(order.handle)));
    if (!error) this.deps.onCopied?.(order.handle);
  }

  /** A copy order from the master (heartbeat answer): fetch the chunk from the order's source, one copy of a chunk at a time. */
  copyOrder(order: ReplicationOrder__Output): void {
    this.run(this.core.copyOrder(order, this.held(order.handle)));
  }

  /** The chunk was deleted (master's order): forget its lease and order. */
  forgetChunk(handle: string): void {
    this.run(this.core.forget(handle));
  }

  // ------------------------------------------------------------------------
  // Handlers
  // ------------------------------------------------------------------------

  /** The core's view of the primary's surroundings for a mutation of `handle`. */
  private primaryContext(handle: string): Omit<PrimaryContext, "serverId"> {
    return {
      replication: this.deps.peers.replication, chunkSizeBytes: this.chunkSize,
      recordAppendFraction: this.deps.settings.record_append_fraction_of_chunk, chunk: this.deps.store.get(handle),
    };
  }

  /**
   * A client mutation at the primary. Its data is taken from the push buffer
   * as soon as the core accepts it (not when refused: a pushed buffer handed
   * out once is reused for a later push once applied).
   */
  private clientMutation<T>(m: ClientMutation, req: { dataId: string; data: Buffer }): Promise<T> {
    let data: Buffer | undefined;
    const body = () => (data ??= this.dataOf(req, m.length));
    return this.request<T>((key) => {
      const effects = this.core.clientMutation(this.now(), key, m, this.primaryContext(m.handle));
      if (m.op !== "TRUNCATE" && m.op !== "SYNC" && !effects.some((e) => e.t === "refuse" && e.key === key)) body();
      return effects;
    }, body);
  }

  private async write(req: WriteRequest__Output): Promise<{ serial: number }> {
    const handle = checkHandle(req.handle);
    this.checkNotLeaving(handle);
    const kind = kindOf[req.kind];
    if (kind !== "WRITE" && kind !== "TRUNCATE" && kind !== "SYNC") {
      throw new GfsError("EINVAL", `Write of chunk ${handle}: kind must be WRITE, TRUNCATE or SYNC, not ${req.kind}`);
    }
    this.deps.checkToken(req.token, handle, "write");
    const offset = checkInt("offset", req.offset);
    const length = kind === "WRITE" ? checkInt("length", req.length) : 0;
    if (kind === "SYNC" && (offset !== 0 || req.length !== 0 || req.data.length > 0 || req.dataId)) {
      throw new GfsError("EINVAL", `SYNC of chunk ${handle} carries no offset, length or data`);
    }
    const m: ClientMutation = {
      handle, version: req.version, op: kind, offset, length, sync: req.sync, dataId: req.dataId, inline: kind === "WRITE" && req.data.length > 0,
      secondaries: req.secondaries, dataError: kind === "WRITE" ? this.dataProblem(req, length) : undefined,
    };
    return this.clientMutation(m, req);
  }

  /** A secondary's half of a mutation, ordered by `sender` (the chunk's primary, lease.ts checks). */
  private async applyMutation(req: ApplyMutationRequest__Output, sender: Peer): Promise<Record<string, never>> {
    const handle = checkHandle(req.handle);
    const kind = kindOf[req.kind];
    if (!kind) throw new GfsError("EINVAL", `ApplyMutation of chunk ${handle}: bad kind ${req.kind}`);
    const m: ForwardedMutation = {
      handle, version: req.version, serial: req.serial, kind, dataId: req.dataId, offset: req.offset, length: req.length, sync: req.sync,
      inline: req.data.length > 0, leaseToken: req.leaseToken, sender,
    };
    // Everything else is checked in the mutation's turn, so a refused
    // mutation still uses up its serial and the ones after it can go on.
    const body = () => {
      checkInt("offset", m.offset);
      checkInt("length", m.length);
      if (m.length === 0 || m.offset + m.length > this.chunkSize) throw new GfsError("EINVAL", `write [${m.offset}, +${m.length}) outside chunk ${handle} of ${this.chunkSize} bytes`);
      return this.dataOf(req, m.length);
    };
    return this.request((key) => this.core.forwardedMutation(this.now(), key, m, this.deps.store.get(handle)), body);
  }

  private checkNotLeaving(handle: string): void {
    if (this.leaving) throw new GfsError("EAGAIN", `chunkserver is stopping: no new mutation of chunk ${handle} here; ask the master again`);
  }

  private async recordAppend(req: RecordAppendRequest__Output): Promise<RecordAppendResponse> {
    const handle = checkHandle(req.handle);
    this.checkNotLeaving(handle);
    this.deps.checkToken(req.token, handle, "write");
    const length = checkInt("length", req.length);
    const m: ClientMutation = {
      handle, version: req.version, op: "APPEND", offset: 0, length, sync: req.sync, dataId: req.dataId, inline: req.data.length > 0,
      secondaries: req.secondaries, dataError: this.dataProblem(req, length),
    };
    return this.clientMutation(m, req);
  }

  /** Refuses (one line naming both epochs) a master command from an epoch below the highest seen: a deposed master's. */
  private admitMaster(what: string, epoch: number | undefined): void {
    this.deps.masterEpoch?.admit(what, Number(epoch ?? 0));
  }

  /** The master takes the lease back (to copy the chunk); answered once the mutations already ordered finished. */
  private revokeLease(handle: string, version: number): Promise<Record<string, never>> {
    checkHandle(handle);
    return this.request((key) => this.core.revoke(key, handle, version));
  }

  private async read(req: ReadRequest__Output): Promise<{ data: Buffer; chunkLength: number; release?: () => void }> {
    const handle = checkHandle(req.handle);
    this.deps.checkToken(req.token, handle, "read");
    const offset = checkInt("offset", req.offset);
    const length = checkInt("length", req.length);
    if (length > this.deps.settings.read_request_bytes_max) {
      throw new GfsError("EINVAL", `read of ${length} bytes exceeds the limit of ${this.deps.settings.read_request_bytes_max}`);
    }
    if (req.version !== 0) this.chunkAt(handle, req.version);
    const res = await this.deps.store.read(handle, offset, length);
    this.stats.bytesRead += res.data.length;
    return res;
  }

  private async fetchChunk(call: ServerWritableStream<FetchChunkRequest__Output, FetchChunkResponse>): Promise<void> {
    const handle = checkHandle(call.request.handle);
    if (call.request.version !== 0) this.chunkAt(handle, call.request.version);
    const whole = await this.deps.store.fetchWhole(handle);
    if (call.request.version !== 0 && whole.version !== call.request.version) {
      throw new GfsError("ESTALE", `chunk ${handle} is at version ${whole.version} here, not ${call.request.version}`);
    }
    const piece = this.deps.settings.push_frame_bytes;
    let off = 0;
    do {
      const data = whole.data.subarray(off, Math.min(off + piece, whole.length));
      const msg: FetchChunkResponse = off === 0 ? { chunkLength: whole.length, blockCrc32c: whole.blockCrc32c, data } : { data };
      off += data.length;
      if (call.cancelled) throw new GfsError("EIO", `fetch of chunk ${handle} cancelled`);
      if (!call.write(msg)) await new Promise((resolve) => call.once("drain", resolve));
    } while (off < whole.length);
  }

  private async setChunkVersion(req: SetChunkVersionRequest__Output): Promise<{ chunkLength: number }> {
    const receivedAt = this.now();
    const handle = checkHandle(req.handle);
    const order: VersionOrder = {
      handle, version: req.version, create: req.create, leaseMs: req.leaseMs, leaseToken: req.leaseToken, primaryId: req.primaryId, secondaries: req.secondaries,
      acceptUnverified: req.acceptUnverified === true,
    };
    return this.request((key) => this.core.setVersion(receivedAt, key, order, this.deps.store.get(handle), this.deps.peers.replication));
  }

  /**
   * Copy-on-write (issue 20): the replica of `handle` copied to `newHandle` on
   * this server's disks (ChunkStore.copyLocal), counted, and reported on the
   * next heartbeat like any new replica. The master commits the copy after
   * the answers, naming only the servers that copied.
   */
  private async copyChunkLocal(req: CopyChunkLocalRequest__Output): Promise<CopyChunkLocalResponse> {
    const order = checkLocalCopy(req);
    // A leaving server's copy would be one more replica to move off it at once, or lost if it were the only one.
    if (this.leaving) throw new GfsError("EAGAIN", `chunkserver is stopping: no local copy of chunk ${order.handle} here`);
    const { store, quarantined } = this.deps;
    const refusal = quarantined && quarantineRefusal(order, { sourceLive: store.has(order.handle), quarantined });
    if (refusal) throw refusal;
    const copy = await store.copyLocal(order.handle, order.version, order.newHandle, order.newVersion);
    this.stats.localCopies++;
    this.stats.localCopyBytes += copy.length;
    this.deps.onChunkChanged?.(order.newHandle);
    this.deps.log.info("chunk copied locally (copy-on-write)", { ...order, length: copy.length });
    return { chunkLength: copy.length };
  }

  /** Several new chunks, each as SetChunkVersion with create makes it. */
  private async createChunks(req: CreateChunksRequest__Output): Promise<Record<string, never>> {
    const max = defaults.create_chunks_max;
    if (req.chunks.length > max) throw new GfsError("EINVAL", `CreateChunks of ${req.chunks.length} chunks; at most ${max}`);
    const results = await Promise.allSettled(req.chunks.map((c) => this.setChunkVersion({ ...c, create: true })));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return {};
  }
}
