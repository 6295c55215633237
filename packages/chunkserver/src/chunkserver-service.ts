// The ChunkServer gRPC service: validates every request, then wires the
// store, the push buffer, the lease view and the mutation order together.
// A refused request changes nothing.
import {
  applyInline, checkHandle, deadlineFor, defaults, fromServiceError, GfsError, toServiceError, unary, type ApplyMutationRequest__Output,
  type ChunkServerHandlers, type ChunkServerPool, type ChunkserverStats, type FetchChunkRequest__Output,
  type FetchChunkResponse, type Logger, type MutationKind, type ReadRequest__Output, type RecordAppendRequest__Output, type RevokeLeaseRequest__Output,
  type RecordAppendResponse, type ServerAddress__Output, type SetChunkVersionRequest__Output, type WriteRequest__Output,
  type CreateChunksRequest__Output, type ChunkAccess, type Peer, type PushDataRequest__Output, guardHandlers, peerOf,
} from "@gfs/common";
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { ChunkStore } from "./chunk-store";
import type { LeaseView } from "./lease";
import { PrimarySerials, SerialSequencer, type Timers } from "./mutation-order";
import type { PushBuffer } from "./push-buffer";
import type { DataHandlers } from "./data-server";
import { PushAdmission } from "./push-admission";
import type { PeerDirectory } from "./push-chain";
import { receiveGrpcPush, receivePush, type PushCounters, type PushReceiverDeps } from "./push-receiver";
import { chunkServerRpcRoles } from "./rpc-roles";
import type { ChunkserverSettings } from "./settings";

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
  now: () => number;
  timers?: Timers;
  /** Tells the master this primary gives up its lease on the chunk at `version`. */
  releaseLease(handle: string, version: number): Promise<void>;
  /** A chunk appeared or changed version (reported on the next heartbeat). */
  onChunkChanged?(handle: string): void;
  /** Throws unless `token` grants `access` to `handle` (token-keys.ts: ESTALE expired or unknown key, EACCES otherwise). */
  checkToken(token: string, handle: string, access: ChunkAccess): void;
}

type Kind = "WRITE" | "PAD" | "TRUNCATE";

interface Mutation {
  handle: string;
  version: number;
  serial: number;
  kind: Kind;
  dataId: string;
  offset: number;
  length: number;
  sync: boolean;
  /** The data travels with the mutation (small writes) instead of being pushed under dataId. */
  inline: boolean;
}

const kindOf: Record<string, Kind | undefined> = {
  MUTATION_KIND_WRITE: "WRITE", MUTATION_KIND_PAD: "PAD", MUTATION_KIND_TRUNCATE: "TRUNCATE",
};

const checkInt = (what: string, n: number): number => {
  if (!Number.isSafeInteger(n) || n < 0) throw new GfsError("EINVAL", `bad ${what} ${n}`);
  return n;
};

export class ChunkServerService {
  readonly stats: PushCounters & { mutationsApplied: number; bytesRead: number } = {
    pushBytesReceived: 0, pushBytesForwarded: 0, mutationsApplied: 0, bytesRead: 0,
  };
  /** Requests being served now: the load reported on heartbeats. */
  inFlight = 0;
  /** handle -> mutations this primary has ordered and not yet finished. */
  private readonly ordering = new Map<string, Set<Promise<void>>>();
  /** HOST:PORT of this server's bulk data transport, once it listens (told to clients through Stats). */
  dataAddress = "";
  private readonly serials = new PrimarySerials();
  private readonly sequencer: SerialSequencer;
  /** Pushes being received now, bounded in number and bytes. */
  readonly admission: PushAdmission;

  constructor(private readonly deps: ChunkServiceDeps) {
    this.sequencer = new SerialSequencer(deps.settings.serial_gap_wait_ms, deps.timers);
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
      RevokeLease: unary((req: RevokeLeaseRequest__Output) => this.revokeLease(req.handle, req.version)),
      Read: unary((req: ReadRequest__Output) => this.tracked(() => this.read(req))),
      FetchChunk: (call: ServerWritableStream<FetchChunkRequest__Output, FetchChunkResponse>) => {
        this.tracked(() => this.fetchChunk(call)).then(() => call.end(), (e) => call.emit("error", toServiceError(e)));
      },
      SetChunkVersion: unary((req: SetChunkVersionRequest__Output) => this.tracked(() => this.setChunkVersion(req))),
      CreateChunks: unary((req: CreateChunksRequest__Output) => this.tracked(() => this.createChunks(req))),
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
      })),
    };
  }

  /** The same PushData and Read, for the bulk data transport (data-server.ts, which checks each frame's role). */
  dataHandlers(): DataHandlers {
    return {
      push: (header, pieces, peer) => this.tracked(() => receivePush(header, pieces, this.pushDeps(peer))),
      read: (req) => this.tracked(() => this.read(req)),
      write: (req) => this.tracked(() => this.write(req)),
      append: (req) => this.tracked(() => this.recordAppend(req)),
      apply: (req, peer) => this.tracked(() => this.applyMutation(req, peer)),
    };
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

  /** A secondary list is well formed: at most replication - 1, each with an address, once, never this server. (Whether it is the grant's is the lease view's check.) */
  private checkSecondaryList(handle: string, secondaries: ServerAddress__Output[]): void {
    const most = Math.max(0, this.deps.peers.replication - 1);
    if (secondaries.length > most) throw new GfsError("EINVAL", `chunk ${handle}: ${secondaries.length} secondaries; at most ${most} (replication ${this.deps.peers.replication})`);
    const seen = new Set<string>();
    for (const s of secondaries) {
      if (!s.address) throw new GfsError("EINVAL", `secondary of chunk ${handle} without an address`);
      if (s.serverId === this.deps.serverId) throw new GfsError("EINVAL", `chunk ${handle}: the primary is listed as its own secondary`);
      if (seen.has(s.address)) throw new GfsError("EINVAL", `chunk ${handle}: secondary ${s.address} listed twice`);
      seen.add(s.address);
    }
  }

  /** A mutation's data: inline in the request, or pushed earlier under its data id; of the announced length either way. */
  private dataOf(req: { dataId: string; data: Buffer }, length: number): Buffer {
    if (req.data.length > 0) {
      if (req.data.length > defaults.inline_write_bytes_max) throw new GfsError("EINVAL", `inline data of ${req.data.length} bytes exceeds ${defaults.inline_write_bytes_max}; push it instead`);
      if (req.data.length !== length) throw new GfsError("EINVAL", `inline data has ${req.data.length} bytes, not ${length}`);
      return req.data;
    }
    return this.pushed(req.dataId, length);
  }

  /** The pushed data for a mutation, which must be here and of the announced length. */
  private pushed(dataId: string, length: number): Buffer {
    const data = dataId ? this.deps.pushBuffer.get(dataId) : undefined;
    if (!data) throw new GfsError("EAGAIN", `pushed data ${dataId} not found`);
    if (data.length !== length) throw new GfsError("EINVAL", `pushed data ${dataId} has ${data.length} bytes, not ${length}`);
    return data;
  }

  // ------------------------------------------------------------------------
  // Applying mutations, in serial order, on this replica
  // ------------------------------------------------------------------------

  private applyHere(m: Mutation, data: () => Buffer): Promise<void> {
    return this.sequencer.run(m.handle, m.version, m.serial, async () => {
      this.chunkAt(m.handle, m.version); // the version may have moved on while this waited
      const { store } = this.deps;
      switch (m.kind) {
        case "WRITE":
          await store.write(m.handle, m.offset, data(), m.sync);
          break;
        case "PAD":
          await store.pad(m.handle, this.chunkSize, m.sync);
          break;
        case "TRUNCATE":
          await store.truncate(m.handle, m.offset, m.sync);
          break;
      }
      // The check above and the store's own lock are two steps: a version change (a master fencing a
      // dead primary's lease) may have come between them, and this mutation landed after it. Never
      // acknowledge it then: the old primary's write must fail, not count as done at the old version.
      this.chunkAt(m.handle, m.version);
      this.stats.mutationsApplied++;
    });
  }

  /**
   * The primary's half of a mutation: apply here and on every secondary in
   * parallel (each in serial order), succeed only if all did. On any failure
   * the lease is given up, so the master can grant a new one (new version)
   * promptly and replicas that missed the mutation become stale.
   */
  private async mutateEverywhere(m: Mutation, data: Buffer | null, secondaries: ServerAddress__Output[]): Promise<void> {
    // Registered before any await, so a revocation that follows the lease check waits for this mutation.
    let finished!: () => void;
    const done = new Promise<void>((r) => { finished = r; });
    const set = this.ordering.get(m.handle) ?? new Set<Promise<void>>();
    set.add(done);
    this.ordering.set(m.handle, set);
    try {
      await this.mutateEverywhereTracked(m, data, secondaries);
    } finally {
      set.delete(done);
      if (set.size === 0) this.ordering.delete(m.handle);
      finished();
    }
  }

  /**
   * The master takes the lease back (to copy the chunk): no new mutation is
   * ordered from now, and the answer waits for those already ordered, so a
   * copy made after it misses nothing.
   */
  private async revokeLease(handle: string, version: number): Promise<Record<string, never>> {
    checkHandle(handle);
    if (this.deps.leases.isPrimary(handle, version)) {
      this.deps.leases.drop(handle);
      this.serials.forget(handle);
      this.deps.log.info("lease revoked by the master", { handle, version });
    }
    await Promise.all([...(this.ordering.get(handle) ?? [])]);
    return {};
  }

  /**
   * Where a mutation goes for a secondary: its address and the id its
   * certificate must name, the lease's (the master's) first, then the
   * write's, then the master's list of live servers.
   */
  private secondaryTarget(handle: string, s: ServerAddress__Output): { address: string; serverId?: string } {
    return { address: s.address, serverId: this.deps.leases.secondaryIdOf(handle, s.address) || this.deps.peers.target(s).serverId };
  }

  private async mutateEverywhereTracked(m: Mutation, data: Buffer | null, secondaries: ServerAddress__Output[]): Promise<void> {
    this.deps.leases.noteMutation(m.handle);
    const kind = `MUTATION_KIND_${m.kind}` as MutationKind;
    const timeoutMs = this.deps.settings.serial_gap_wait_ms + deadlineFor(m.length);
    const apply = {
      handle: m.handle, version: m.version, serial: m.serial, kind, dataId: m.dataId, offset: m.offset, length: m.length, sync: m.sync,
      leaseToken: this.deps.leases.tokenOf(m.handle),
    };
    const attempts: Array<{ where: string; done: Promise<unknown> }> = [
      { where: `primary ${this.deps.serverId}`, done: this.applyHere(m, () => data!) },
      ...secondaries.map((s) => {
        // The certificate must name the secondary's id (the grant's, checked against the write's by checkSecondaries).
        const peer = this.deps.pool.get(this.secondaryTarget(m.handle, s));
        return {
          where: `secondary ${s.address}`,
          done: m.inline ? applyInline(peer, apply, data!, timeoutMs) : peer.api.ApplyMutation(apply, { timeoutMs }),
        };
      }),
    ];
    const results = await Promise.allSettled(attempts.map((a) => a.done));
    const failedAt = results.findIndex((r) => r.status === "rejected");
    if (failedAt < 0) return;
    const cause = fromServiceError((results[failedAt] as PromiseRejectedResult).reason);
    this.deps.log.warn("mutation failed; giving up the lease", {
      handle: m.handle, version: m.version, serial: m.serial, kind: m.kind, where: attempts[failedAt]!.where, error: cause.message,
    });
    await this.giveUpLease(m.handle, m.version);
    const message = `mutation ${m.serial} of chunk ${m.handle} failed on ${attempts[failedAt]!.where}: ${cause.message.replace(/^E[A-Z]+: /, "")}`;
    // A secondary that lost the lease's state (restarted: no token; chunk or version gone) is the lease's
    // problem, not the writer's: the lease is given up, so a retry gets a new grant.
    if (failedAt > 0 && ["EPERM", "ENOENT", "ESTALE"].includes(cause.errno)) throw new GfsError("EAGAIN", message);
    throw new GfsError(cause.errno, message, cause.grpcCode);
  }

  private async giveUpLease(handle: string, version: number): Promise<void> {
    this.deps.leases.drop(handle);
    this.serials.forget(handle);
    try {
      await this.deps.releaseLease(handle, version);
    } catch (e) {
      this.deps.log.warn("cannot release lease at the master; it will expire", { handle, version, error: (e as Error).message });
    }
  }

  // ------------------------------------------------------------------------
  // Handlers
  // ------------------------------------------------------------------------

  private async write(req: WriteRequest__Output): Promise<{ serial: number }> {
    const handle = checkHandle(req.handle);
    const kind = kindOf[req.kind];
    if (kind !== "WRITE" && kind !== "TRUNCATE") throw new GfsError("EINVAL", `Write of chunk ${handle}: kind must be WRITE or TRUNCATE, not ${req.kind}`);
    this.deps.checkToken(req.token, handle, "write");
    const offset = checkInt("offset", req.offset);
    const length = kind === "WRITE" ? checkInt("length", req.length) : 0;
    const info = this.chunkAt(handle, req.version);
    this.deps.leases.checkPrimary(handle, req.version);
    this.checkSecondaryList(handle, req.secondaries);
    this.deps.leases.checkSecondaries(handle, req.version, req.secondaries);
    let data: Buffer | null = null;
    if (kind === "WRITE") {
      if (length === 0) throw new GfsError("EINVAL", `empty write to chunk ${handle}`);
      if (offset + length > this.chunkSize) throw new GfsError("EINVAL", `write [${offset}, +${length}) outside chunk ${handle} of ${this.chunkSize} bytes`);
      data = this.dataOf(req, length);
    } else if (offset > this.chunkSize) {
      throw new GfsError("EINVAL", `truncate of chunk ${handle} to ${offset} beyond its ${this.chunkSize} bytes`);
    }
    const serial = this.serials.assign(handle, req.version, info.length, kind, offset, length);
    const inline = kind === "WRITE" && req.data.length > 0;
    const dataId = kind === "WRITE" && !inline ? req.dataId : "";
    await this.mutateEverywhere({ handle, version: req.version, serial, kind, dataId, offset, length, sync: req.sync, inline }, data, req.secondaries);
    if (dataId) this.deps.pushBuffer.delete(dataId);
    return { serial };
  }

  /** A secondary's half of a mutation, ordered by `sender` (the chunk's primary, lease.ts checks). */
  private async applyMutation(req: ApplyMutationRequest__Output, sender: Peer): Promise<Record<string, never>> {
    const handle = checkHandle(req.handle);
    const kind = kindOf[req.kind];
    if (!kind) throw new GfsError("EINVAL", `ApplyMutation of chunk ${handle}: bad kind ${req.kind}`);
    this.chunkAt(handle, req.version);
    // Before the sequencer: a mutation nobody with the lease ordered must not even use up a serial.
    this.deps.leases.checkOrderedByLeaseHolder(handle, req.version, req.leaseToken, sender);
    const inline = req.data.length > 0;
    const m: Mutation = { handle, version: req.version, serial: req.serial, kind, dataId: req.dataId, offset: req.offset, length: req.length, sync: req.sync, inline };
    // Everything else is checked in the mutation's turn, so a refused
    // mutation still uses up its serial and the ones after it can go on.
    await this.applyHere(m, () => {
      checkInt("offset", m.offset);
      checkInt("length", m.length);
      if (m.length === 0 || m.offset + m.length > this.chunkSize) throw new GfsError("EINVAL", `write [${m.offset}, +${m.length}) outside chunk ${handle} of ${this.chunkSize} bytes`);
      return this.dataOf(req, m.length);
    });
    if (kind === "WRITE" && !inline) this.deps.pushBuffer.delete(req.dataId);
    return {};
  }

  private async recordAppend(req: RecordAppendRequest__Output): Promise<RecordAppendResponse> {
    const handle = checkHandle(req.handle);
    this.deps.checkToken(req.token, handle, "write");
    const length = checkInt("length", req.length);
    const info = this.chunkAt(handle, req.version);
    this.deps.leases.checkPrimary(handle, req.version);
    this.checkSecondaryList(handle, req.secondaries);
    this.deps.leases.checkSecondaries(handle, req.version, req.secondaries);
    const maxRecord = Math.floor(this.chunkSize * this.deps.settings.record_append_fraction_of_chunk);
    if (length === 0) throw new GfsError("EINVAL", `empty record for chunk ${handle}`);
    if (length > maxRecord) throw new GfsError("EINVAL", `record of ${length} bytes exceeds the largest append of ${maxRecord} bytes`);
    const data = this.dataOf(req, length);
    const inline = req.data.length > 0;
    const plan = this.serials.planAppend(handle, req.version, info.length, length, this.chunkSize);
    if (plan.kind === "FULL") return { retryNextChunk: true, offset: 0, serial: 0 };
    if (plan.kind === "PAD") {
      const m: Mutation = { handle, version: req.version, serial: plan.serial, kind: "PAD", dataId: "", offset: plan.offset, length: this.chunkSize - plan.offset, sync: req.sync, inline: false };
      await this.mutateEverywhere(m, null, req.secondaries);
      return { retryNextChunk: true, offset: 0, serial: plan.serial };
    }
    const m: Mutation = { handle, version: req.version, serial: plan.serial, kind: "WRITE", dataId: inline ? "" : req.dataId, offset: plan.offset, length, sync: req.sync, inline };
    await this.mutateEverywhere(m, data, req.secondaries);
    if (!inline) this.deps.pushBuffer.delete(req.dataId);
    return { retryNextChunk: false, offset: plan.offset, serial: plan.serial };
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
    const receivedAt = this.deps.now();
    const handle = checkHandle(req.handle);
    const version = req.version;
    if (!Number.isSafeInteger(version) || version <= 0) throw new GfsError("EINVAL", `bad version ${version} for chunk ${handle}`);
    if (req.leaseMs > 0) {
      if (!req.leaseToken) throw new GfsError("EINVAL", `lease on chunk ${handle} without a lease token`);
      this.checkSecondaryList(handle, req.secondaries);
    }
    const { store } = this.deps;
    const existing = store.get(handle);
    if (req.create) {
      if (existing && existing.version !== version) throw new GfsError("EEXIST", `chunk ${handle} already exists at version ${existing.version}`);
      // Not synced: an empty chunk lost in a crash loses no data, and the first sync write syncs it.
      if (!existing) await store.create(handle, version, false);
    } else {
      if (!existing) throw new GfsError("ENOENT", `chunk ${handle} not on this server`);
      await store.setVersion(handle, version); // refuses to go down (ESTALE), durable before we answer
    }
    if (!existing || existing.version !== version) this.deps.onChunkChanged?.(handle);
    this.deps.leases.setGrantToken(handle, version, req.leaseToken, req.primaryId);
    if (req.leaseMs > 0) {
      this.deps.leases.grant(handle, version, req.leaseMs, receivedAt, req.leaseToken, req.secondaries);
    } else if (!this.deps.leases.isPrimary(handle, version)) this.deps.leases.drop(handle);
    return { chunkLength: store.get(handle)?.length ?? 0 };
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

  /** The chunk was deleted (master's order): forget its lease and order. */
  forgetChunk(handle: string): void {
    this.deps.leases.forget(handle);
    this.serials.forget(handle);
    this.sequencer.forget(handle);
  }
}
