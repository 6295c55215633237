// The primary's decisions about a client's mutation (GFS §3.1, §3.3): whether
// it may order it at all (it holds an unexpired lease on the chunk at the
// version the client names, the client names exactly the grant's
// secondaries), the serial it gets (and for a record append, the offset, or
// padding when the record does not fit), and, once every replica answered,
// what the client hears. Pure: the lease view and serials are state given
// in, nothing here does I/O.
import { GfsError, type ServerAddress__Output } from "@gfs/common";
import type { LeaseView } from "./lease";
import type { PrimarySerials } from "./mutation-order";

export type MutationKind = "WRITE" | "PAD" | "TRUNCATE" | "SYNC";

/** One mutation as every replica applies it. */
export interface Mutation {
  handle: string;
  version: number;
  serial: number;
  kind: MutationKind;
  dataId: string;
  offset: number;
  length: number;
  sync: boolean;
  /** The data travels with the mutation (small writes) instead of being pushed under dataId. */
  inline: boolean;
}

/** A client's Write (WRITE, TRUNCATE or SYNC) or RecordAppend (APPEND), its shape already checked. */
export interface ClientMutation {
  handle: string;
  version: number;
  op: "WRITE" | "TRUNCATE" | "SYNC" | "APPEND";
  offset: number;
  length: number;
  sync: boolean;
  dataId: string;
  inline: boolean;
  secondaries: ServerAddress__Output[];
  /** Why the mutation's data cannot be used (not pushed, wrong length), if so. */
  dataError?: GfsError;
}

/** What the primary knows besides its state: itself, the cluster, the chunk here. */
export interface PrimaryContext {
  serverId: string;
  replication: number;
  chunkSizeBytes: number;
  recordAppendFraction: number;
  /** The chunk on this server (undefined: not here). */
  chunk: { version: number; length: number } | undefined;
}

export type ClientAnswer = { serial: number } | { retryNextChunk: boolean; offset: number; serial: number };

export type PrimaryPlan =
  /** Nothing to apply: answer at once (an append to a full chunk). */
  | { t: "answer"; answer: ClientAnswer }
  /** Apply `mutation` here and on every secondary; answer `answer` if all did. */
  | { t: "mutate"; mutation: Mutation; answer: ClientAnswer };

/** Throws ENOENT or ESTALE unless the chunk is here at exactly `version`. */
export function checkChunkAt(handle: string, version: number, chunk: { version: number } | undefined): void {
  if (!chunk) throw new GfsError("ENOENT", `chunk ${handle} not on this server`);
  if (version !== chunk.version) throw new GfsError("ESTALE", `chunk ${handle} is at version ${chunk.version} here, not ${version}`);
}

/** A secondary list is well formed: at most replication - 1, each with an address, once, never this server. (Whether it is the grant's is the lease view's check.) */
export function checkSecondaryList(serverId: string, replication: number, handle: string, secondaries: ServerAddress__Output[]): void {
  const most = Math.max(0, replication - 1);
  if (secondaries.length > most) throw new GfsError("EINVAL", `chunk ${handle}: ${secondaries.length} secondaries; at most ${most} (replication ${replication})`);
  const seen = new Set<string>();
  for (const s of secondaries) {
    if (!s.address) throw new GfsError("EINVAL", `secondary of chunk ${handle} without an address`);
    if (s.serverId === serverId) throw new GfsError("EINVAL", `chunk ${handle}: the primary is listed as its own secondary`);
    if (seen.has(s.address)) throw new GfsError("EINVAL", `chunk ${handle}: secondary ${s.address} listed twice`);
    seen.add(s.address);
  }
}

/**
 * §3.1: "The primary assigns consecutive serial numbers to all the mutations
 * it receives". Throws the refusal (nothing changes) or returns the plan,
 * with the serial (and append offset) taken from `serials`.
 */
export function planClientMutation(leases: LeaseView, serials: PrimarySerials, ctx: PrimaryContext, m: ClientMutation): PrimaryPlan {
  const { handle, version } = m;
  checkChunkAt(handle, version, ctx.chunk);
  const length = ctx.chunk!.length;
  leases.checkPrimary(handle, version);
  checkSecondaryList(ctx.serverId, ctx.replication, handle, m.secondaries);
  leases.checkSecondaries(handle, version, m.secondaries);
  const base = { handle, version, sync: m.sync, inline: false, dataId: "" };
  if (m.op === "SYNC") {
    // A serial like any mutation: each replica runs it after every mutation ordered before it, so it
    // makes exactly those durable; and a replica that missed one refuses it or waits, as it would a write.
    const serial = serials.assign(handle, version, length, "SYNC", 0, 0);
    return { t: "mutate", mutation: { ...base, sync: true, serial, kind: "SYNC", offset: 0, length: 0 }, answer: { serial } };
  }
  if (m.op === "TRUNCATE") {
    if (m.offset > ctx.chunkSizeBytes) throw new GfsError("EINVAL", `truncate of chunk ${handle} to ${m.offset} beyond its ${ctx.chunkSizeBytes} bytes`);
    const serial = serials.assign(handle, version, length, "TRUNCATE", m.offset, 0);
    return { t: "mutate", mutation: { ...base, serial, kind: "TRUNCATE", offset: m.offset, length: 0 }, answer: { serial } };
  }
  const data = { inline: m.inline, dataId: m.inline ? "" : m.dataId };
  if (m.op === "WRITE") {
    if (m.length === 0) throw new GfsError("EINVAL", `empty write to chunk ${handle}`);
    if (m.offset + m.length > ctx.chunkSizeBytes) throw new GfsError("EINVAL", `write [${m.offset}, +${m.length}) outside chunk ${handle} of ${ctx.chunkSizeBytes} bytes`);
    if (m.dataError) throw m.dataError;
    const serial = serials.assign(handle, version, length, "WRITE", m.offset, m.length);
    return { t: "mutate", mutation: { ...base, ...data, serial, kind: "WRITE", offset: m.offset, length: m.length }, answer: { serial } };
  }
  // §3.3: the primary picks the offset of a record append; a record that does not fit pads the chunk and the client retries on the next.
  const maxRecord = Math.floor(ctx.chunkSizeBytes * ctx.recordAppendFraction);
  if (m.length === 0) throw new GfsError("EINVAL", `empty record for chunk ${handle}`);
  if (m.length > maxRecord) throw new GfsError("EINVAL", `record of ${m.length} bytes exceeds the largest append of ${maxRecord} bytes`);
  if (m.dataError) throw m.dataError;
  const plan = serials.planAppend(handle, version, length, m.length, ctx.chunkSizeBytes);
  if (plan.kind === "FULL") return { t: "answer", answer: { retryNextChunk: true, offset: 0, serial: 0 } };
  if (plan.kind === "PAD") {
    const mutation: Mutation = { ...base, serial: plan.serial, kind: "PAD", offset: plan.offset, length: ctx.chunkSizeBytes - plan.offset };
    return { t: "mutate", mutation, answer: { retryNextChunk: true, offset: 0, serial: plan.serial } };
  }
  const mutation: Mutation = { ...base, ...data, serial: plan.serial, kind: "WRITE", offset: plan.offset, length: m.length };
  return { t: "mutate", mutation, answer: { retryNextChunk: false, offset: plan.offset, serial: plan.serial } };
}

/**
 * What the client hears when replica `failedAt` (0: this primary, then the
 * secondaries in the write's order) failed the mutation. A secondary that
 * lost the lease's state (restarted: no token; chunk or version gone) is the
 * lease's problem, not the writer's: the lease is given up, so a retry gets
 * a new grant (EAGAIN).
 */
export function failureOf(m: Mutation, where: string, failedAt: number, cause: GfsError): GfsError {
  const message = `mutation ${m.serial} of chunk ${m.handle} failed on ${where}: ${cause.message.replace(/^E[A-Z]+: /, "")}`;
  if (failedAt > 0 && ["EPERM", "ENOENT", "ESTALE"].includes(cause.errno)) return new GfsError("EAGAIN", message);
  return new GfsError(cause.errno, message, cause.grpcCode);
}
