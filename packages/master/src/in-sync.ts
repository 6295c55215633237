// The active master's decisions about its shadows (issue 16), pure: which
// shadows a record must be durable on before a client is answered (the
// in-sync set), when one leaves or joins it, where a shadow's catch-up
// starts, and which acknowledgements are lies. The shell (log-shipper.ts)
// feeds them the time and what the streams said and does the I/O.
//
// Why no acknowledged record can be missing on an in-sync shadow:
//  - a record is released to its client only once every shadow we wait for
//    has acknowledged it (replicatedSeq);
//  - a shadow leaves the waited-for set only after the set recorded in etcd
//    no longer names it (the shell removes it when that write completes);
//  - a shadow is waited for from the moment its joining write is issued, and
//    may join only once it holds every record released so far (mayJoin).
import type { RecordInfo } from "./op-log";

/** One shadow as the active sees it. */
export interface ShadowView {
  id: string;
  /** Its stream is open. */
  connected: boolean;
  /** Every record up to here is durable on it. */
  ackedSeq: number;
  /** Send time of the oldest records frame it has not acknowledged (undefined: none). */
  oldestUnackedSentMs: number | undefined;
  /** It was sent everything the active has (no checkpoint or log catch-up in progress). */
  live: boolean;
}

/** Why in-sync shadow `s` (undefined: no stream at all) must leave the set now; undefined if it may stay. */
export function dropReason(s: ShadowView | undefined, nowMs: number, ackTimeoutMs: number): string | undefined {
  if (!s || !s.connected) return "its stream broke";
  if (s.oldestUnackedSentMs !== undefined && nowMs - s.oldestUnackedSentMs >= ackTimeoutMs) {
    return `no acknowledgement within ship_ack_timeout_ms (${ackTimeoutMs} ms)`;
  }
  return undefined;
}

/**
 * A shadow outside the set may join once it is live, holds every record
 * released to clients so far, and answers: no frame it was sent has waited
 * for its acknowledgement half of ship_ack_timeout_ms. From then on it is
 * waited for, so nothing released later can be missing on it either. The
 * last condition keeps a shadow that stopped answering out: it holds every
 * released record precisely because nothing was released while it was waited
 * for, and let back in at once it would be dropped again after the timeout,
 * over and over, with no record ever released (seen with a SIGSTOPped shadow
 * in test/replicated-master.test.ts). A busy shadow, with frames always in
 * flight but answered quickly, still joins.
 */
export const mayJoin = (s: ShadowView, releasedSeq: number, nowMs: number, ackTimeoutMs: number): boolean =>
  s.connected && s.live && s.ackedSeq >= releasedSeq && (s.oldestUnackedSentMs === undefined || nowMs - s.oldestUnackedSentMs < ackTimeoutMs / 2);

/** Highest record durable on every shadow in `waitFor` (Infinity when there is none to wait for). */
export function replicatedSeq(waitFor: Iterable<string>, ackedSeq: (id: string) => number): number {
  let min = Infinity;
  for (const id of waitFor) min = Math.min(min, ackedSeq(id));
  return min;
}

/** The in-sync set to record: the active itself first, then the waited-for shadows not being dropped, sorted. */
export function membersToRecord(self: string, waitFor: Iterable<string>, dropping: ReadonlySet<string>): string[] {
  return [self, ...[...waitFor].filter((id) => !dropping.has(id) && id !== self).sort()];
}

export const sameMembers = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Where a shadow's log ends, as its first message says. */
export interface ShadowLogEnd {
  lastSeq: number;
  lastEpoch: number;
  lastCrc: number;
}

export type CatchUp = { from: "records"; afterSeq: number } | { from: "checkpoint"; why: string };

/**
 * Log matching (as in Raft, one writer per epoch): the active continues the
 * shadow's log after its last record if it holds that record too (same epoch
 * and CRC); otherwise the shadow starts over from the active's checkpoint.
 * `info` is the active's record at shadow.lastSeq (undefined: it holds none
 * there), `activeLastSeq` the last record it has, `checkpointSeq` where its
 * log starts. A claim of epoch 0 and CRC 0 never matches: it is what a shadow
 * that does not know its last record's CRC sends (at worst a needless reset).
 */
export function catchUpFrom(shadow: ShadowLogEnd, info: RecordInfo | undefined, activeLastSeq: number, checkpointSeq: number): CatchUp {
  if (shadow.lastSeq === 0) {
    return checkpointSeq === 0 ? { from: "records", afterSeq: 0 } : { from: "checkpoint", why: "its log is empty and the active's starts at a checkpoint" };
  }
  if (shadow.lastSeq > activeLastSeq) return { from: "checkpoint", why: `its log goes on to record ${shadow.lastSeq}, past the active's ${activeLastSeq}` };
  if (!info) return { from: "checkpoint", why: `record ${shadow.lastSeq} is behind the active's checkpoint at ${checkpointSeq}` };
  const unknown = info.epoch < 0 || info.crc < 0 || (shadow.lastEpoch === 0 && shadow.lastCrc === 0);
  if (unknown || info.epoch !== shadow.lastEpoch || info.crc !== shadow.lastCrc) {
    return { from: "checkpoint", why: `its record ${shadow.lastSeq} (epoch ${shadow.lastEpoch}, crc ${shadow.lastCrc}) differs from the active's (epoch ${info.epoch}, crc ${info.crc})` };
  }
  return { from: "records", afterSeq: shadow.lastSeq };
}

/** What is wrong with an acknowledgement of `durableSeq` (undefined: nothing). */
export function ackError(durableSeq: number, previousAck: number, sentSeq: number): string | undefined {
  if (!Number.isSafeInteger(durableSeq) || durableSeq < 0) return `acknowledgement ${durableSeq} is no record number`;
  if (durableSeq > sentSeq) return `acknowledges record ${durableSeq} but was sent records up to ${sentSeq} only`;
  if (durableSeq < previousAck) return `acknowledgement went back from ${previousAck} to ${durableSeq}`;
  return undefined;
}

/** Why an active master at `activeEpoch` must not ship to a shadow that has seen `shadowEpoch` (undefined: it may). */
export function staleActive(activeEpoch: number, shadowEpoch: number): string | undefined {
  return shadowEpoch > activeEpoch
    ? `this active master's epoch ${activeEpoch} is below epoch ${shadowEpoch}, which the shadow has seen: a newer active exists`
    : undefined;
}
