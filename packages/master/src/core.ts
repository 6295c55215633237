// The master's pure core: what every decision module (lease-grant,
// chunk-creation, lease-revocation, fencing, reported-leases, replica-reports,
// version-announce, tick) reads and changes, and the effects they return. A
// decision takes this state, `now`, the ids and random values it needs and
// its input, changes only this in-memory state, and returns effects: records
// to log, messages to send, answers, events. It never does I/O, reads a clock
// or draws a random number: MasterState (the driver) does that and feeds the
// results back; the golden scripts (test/golden) drive the same functions
// with a fake clock.
import type { ServerAddress__Output, SetChunkVersionRequest } from "@gfs/common";
import type { ChunkEntry, ChunkTable } from "./chunk-table";
import type { LeaseManager } from "./lease-manager";
import type { Liveness } from "./liveness";
import type { ReplicationScheduler } from "./replication-scheduler";
import type { SafeMode } from "./safe-mode";
import type { MasterSettings } from "./settings";

export interface MasterCore {
  readonly settings: MasterSettings;
  readonly chunks: ChunkTable;
  readonly leases: LeaseManager;
  readonly liveness: Liveness;
  readonly replication: Pick<ReplicationScheduler, "noteChange" | "needsCopy" | "onReplicaReported" | "plan" | "leaseBlocked">;
  readonly safeMode: SafeMode;
  /** Servers that registered since this master started: they reported every lease they hold. */
  readonly registeredSinceStart: ReadonlySet<string>;
  /** serverId -> until when new chunks avoid it (it failed a chunk creation; see chunk-creation.ts). */
  readonly suspects: Map<string, number>;
  /** Some replica of the chunk is unverified since a crash, held back or released as the best left (unverified-replicas.ts). */
  hasUnverifiedReplica(handle: string): boolean;
  /** `serverId`'s unverified replica of the chunk is in use as the best left (released, unverified-replicas.ts). */
  isReleasedReplica(handle: string, serverId: string): boolean;
  /** Until then a lease this master forgot (it restarted) may still be held (see reported-leases.ts). */
  readonly leaseGrantsFromMs: number;
  /** Issue 18: drained chunkservers: new chunks avoid them, grants leave them out when the goal allows. */
  readonly retiringIds?: ReadonlySet<string>;
  /** Issue 18: replicas wanted of a chunk (its file's goal); absent: settings.replication for every chunk. */
  goalOf?(c: ChunkEntry): number;
}

/** Replicas wanted of chunk `c` (its file's goal, see MasterCore.goalOf). */
export function goalOfChunk(core: Pick<MasterCore, "goalOf" | "settings">, c: ChunkEntry): number {
  return core.goalOf?.(c) ?? core.settings.replication;
}

/** A message to one chunkserver: the rpc and its request, as the driver sends it. */
export type Message =
  | { to: string; rpc: "SetChunkVersion"; request: SetChunkVersionRequest }
  | { to: string; rpc: "CreateChunks"; request: { chunks: SetChunkVersionRequest[] } }
  | { to: string; rpc: "RevokeLease"; request: { handle: string; version: number } }
  /** Issue 20: copy-on-write of a snapshot's shared chunk on the server's own disks (copy-on-write.ts). */
  | { to: string; rpc: "CopyChunkLocal"; request: { handle: string; version: number; newHandle: string; newVersion: number } };

/** What became of a message: its answer, or the error (errno when the server gave one). */
export type Result<T = { chunkLength: number }> = { ok: true; value: T } | { ok: false; error: string; errno?: string };

/** A line for the master's log: the driver writes it, a golden script shows it. */
export interface LogEvent {
  level: "info" | "warn" | "error";
  msg: string;
  fields: Record<string, unknown>;
}

export const event = (level: LogEvent["level"], msg: string, fields: Record<string, unknown>): LogEvent => ({ level, msg, fields });

export const isAlive = (core: MasterCore, serverId: string): boolean => core.liveness.isAlive(serverId);

export function addressOf(core: MasterCore, serverId: string): ServerAddress__Output {
  const s = core.liveness.get(serverId);
  return { serverId, address: s?.address ?? "", rack: s?.rack ?? "", dataAddress: s?.dataAddress ?? "" };
}

/**
 * A SetChunkVersion (or CreateChunks entry) of a grant: every replica learns
 * the grant's token and primary; the primary also its secondaries, the only
 * replicas it will order mutations to. `token` empty: a re-announcement of
 * a version whose lease (if any) the master does not know.
 */
export function versionRequest(core: MasterCore, handle: string, version: number, create: boolean, serverId: string,
  primaryId: string, token: string, replicas: readonly string[]): SetChunkVersionRequest {
  const primary = serverId === primaryId && token !== "";
  return {
    handle, version, create, leaseMs: primary ? core.settings.lease_ms : 0, leaseToken: token, primaryId,
    secondaries: primary ? replicas.filter((id) => id !== primaryId).sort().map((id) => addressOf(core, id)) : [],
    // Only a released replica may drop its unverified mark with this order; any other one unverified
    // there (its server crashed and came back before this master heard its report) refuses it.
    acceptUnverified: core.isReleasedReplica(handle, serverId),
  };
}
