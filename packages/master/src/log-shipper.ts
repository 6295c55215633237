// The active master's end of log shipping (issue 16, Master.ShipLog): each
// shadow opens a stream saying where its log ends; it is sent the records
// after that (or the newest checkpoint, then the records after it), then
// every batch as it goes to the local commit, in parallel with it. Shadows
// acknowledge what is durable on their disk; the journal
// (replicated-journal.ts) asks `replicated(seq)` before answering a client.
// The decisions (who is waited for, when one leaves or joins, log matching)
// are in in-sync.ts; this file does the streams, the timer and the writes of
// the in-sync set, which always complete before anything is released
// without a shadow.
import * as grpc from "@grpc/grpc-js";
import {
  GfsError, defaults, failStream, peerOf,
  type Logger, type MasterHandlers, type MasterStatus, type ShipLogRequest__Output, type ShipLogResponse,
} from "@gfs/common";
import { ackError, catchUpFrom, dropReason, mayJoin, membersToRecord, replicatedSeq, sameMembers, staleActive, type ShadowView } from "./in-sync";
import type { LogRecord, OpLog, RecordInfo } from "./op-log";

/** Where the in-sync set is recorded (etcd, by the coordinator); throws if this master is no longer the leader. */
export interface InSyncStore {
  write(members: string[]): Promise<void>;
}

export type ShipSettings = Record<"ship_ack_timeout_ms" | "ship_batch_records_max" | "ship_frame_bytes_max" | "ship_tail_records_max", number>;

export interface LogShipperOptions {
  oplog: OpLog<unknown>;
  /** This active master's epoch: stamped on its records and every frame. */
  epoch: number;
  selfId: string;
  inSync: InSyncStore;
  /**
   * The in-sync set as recorded when shipping starts (default: [selfId], which
   * a new active writes first). Shadows named here are waited for at once.
   */
  recordedMembers?: string[];
  settings?: Partial<ShipSettings>;
  /**
   * Takes a checkpoint now (the master's Checkpointer.run): a shadow whose log
   * diverges must start over from one, and the log may have none yet.
   */
  checkpoint?: () => Promise<void>;
  log: Logger;
  clock?: () => number;
}

type Call = grpc.ServerDuplexStream<ShipLogRequest__Output, ShipLogResponse>;

class Session {
  connected = true;
  /** Last record sent (or the checkpoint's last record); -1 before the catch-up is chosen. */
  sentSeq = -1;
  ackedSeq = 0;
  needCheckpoint = false;
  /** [last seq of a records frame, when it was sent], oldest first. */
  unacked: Array<[number, number]> = [];
  pumping = false;
  live = false;
  /** -1: nothing sent yet, so a shadow with nothing to catch up still gets a first frame (it then knows it is connected). */
  committedSent = -1;
  /** When it last held every record the active had (lag). */
  caughtUpMs: number;
  constructor(readonly id: string, readonly address: string, readonly call: Call, nowMs: number) {
    this.caughtUpMs = nowMs;
  }
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class LogShipper {
  private readonly oplog: OpLog<unknown>;
  readonly epoch: number;
  private readonly selfId: string;
  private readonly store: InSyncStore;
  private readonly s: ShipSettings;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly takeCheckpoint: (() => Promise<void>) | undefined;
  /** Recent records, consecutive, including every one not yet durable. */
  private tail: LogRecord[] = [];
  private readonly sessions = new Map<string, Session>();
  /** Shadows whose acknowledgement a record needs before release. */
  private readonly waitFor = new Set<string>();
  /** Waited-for shadows leaving: waited for until a write naming the set without them completes. */
  private readonly dropping = new Set<string>();
  private recorded: string[];
  private writing = false;
  private failed: Error | undefined;
  private waiters: Waiter[] = [];
  /** Highest record released to clients by replicated(). */
  private released: number;
  /** Highest record acknowledged to clients (shadows apply up to it). */
  private committedSeq: number;
  private committedBroadcast = false;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(o: LogShipperOptions) {
    this.oplog = o.oplog;
    this.epoch = o.epoch;
    this.selfId = o.selfId;
    this.store = o.inSync;
    this.s = { ...defaults, ...o.settings };
    this.log = o.log;
    this.clock = o.clock ?? Date.now;
    this.takeCheckpoint = o.checkpoint;
    this.recorded = o.recordedMembers ?? [o.selfId];
    for (const id of this.recorded) if (id !== o.selfId) this.waitFor.add(id);
    // Every record in the log when shipping starts is this active's to ship and counts as committed.
    this.released = this.committedSeq = o.oplog.lastSeq;
    o.oplog.epoch = o.epoch;
    o.oplog.onBatch = (records) => this.onBatch(records);
    this.timer = setInterval(() => this.check(), Math.max(10, Math.floor(this.s.ship_ack_timeout_ms / 4)));
    this.timer.unref();
  }

  // ---- the journal's side ----

  /** Resolves once record `seq` (durable locally) is durable on every in-sync shadow; rejects if the in-sync set could not be recorded. */
  replicated(seq: number): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiters.push({ seq, resolve, reject });
      this.release();
    });
  }

  /** Record `seq` was acknowledged to its client: shadows may now serve it. */
  acknowledged(seq: number): void {
    if (seq <= this.committedSeq) return;
    this.committedSeq = seq;
    if (this.committedBroadcast) return;
    this.committedBroadcast = true;
    setImmediate(() => {
      this.committedBroadcast = false;
      for (const s of this.sessions.values()) if (s.live && !s.pumping) this.pump(s);
    });
  }

  private onBatch(records: LogRecord[]): void {
    if (!records.length) return;
    const end = this.tail[this.tail.length - 1];
    if (end && records[0]!.seq !== end.seq + 1) throw new Error(`invariant: batch starts at ${records[0]!.seq}, after ${end.seq}`);
    for (const r of records) this.tail.push(r);
    this.trimTail();
    for (const s of this.sessions.values()) if (s.live) this.pump(s);
  }

  /** Keeps ship_tail_records_max records, never dropping one that is not durable (the log cannot give it yet). */
  private trimTail(): void {
    const max = this.s.ship_tail_records_max;
    if (this.tail.length <= max * 1.5) return;
    let drop = this.tail.length - max;
    const durable = this.oplog.lastSeq;
    while (drop > 0 && this.tail[drop - 1]!.seq > durable) drop--;
    if (drop > 0) this.tail = this.tail.slice(drop);
  }

  /** Highest record the active has, durable or not. */
  private get lastSeq(): number {
    return Math.max(this.oplog.lastSeq, this.tail[this.tail.length - 1]?.seq ?? 0);
  }

  private recordInfo(seq: number): RecordInfo | undefined {
    const first = this.tail[0]?.seq;
    if (first !== undefined && seq >= first && seq <= this.lastSeq) {
      const r = this.tail[seq - first]!;
      return { seq: r.seq, epoch: r.epoch, crc: r.crc };
    }
    return this.oplog.recordInfo(seq);
  }

  // ---- the streams ----

  readonly handler: MasterHandlers["ShipLog"] = (call) => {
    let session: Session | undefined;
    const refuse = (e: Error) => {
      this.log.warn("ship log stream refused", { shadow: session?.id, error: e.message });
      failStream(call, e);
    };
    call.on("data", (m: ShipLogRequest__Output) => {
      try {
        if (!session) session = this.open(call, m);
        else this.onAck(session, m);
      } catch (e) {
        refuse(e as Error);
      }
    });
    const gone = () => { if (session) this.lost(session); };
    call.on("end", () => { gone(); call.end(); });
    call.on("error", gone);
    call.on("cancelled", gone);
    call.on("close", gone);
  };

  private open(call: Call, hello: ShipLogRequest__Output): Session {
    if (this.closed) throw new GfsError("EIO", "this master is shutting down", grpc.status.UNAVAILABLE);
    if (!hello.masterId) throw new GfsError("EINVAL", "ship log: the first message names no master_id");
    const peer = peerOf(call);
    if (peer.role !== "insecure" && peer.name !== hello.masterId) {
      throw new GfsError("EACCES", `ship log: master_id "${hello.masterId}" is not the caller's certificate name "${peer.name}"`);
    }
    const stale = staleActive(this.epoch, hello.epoch);
    if (stale) throw new GfsError("EINVAL", `ship log: ${stale}`);
    const old = this.sessions.get(hello.masterId);
    if (old) { old.call.end(); this.lost(old); } // a reconnect: the older stream is finished
    const s = new Session(hello.masterId, hello.address, call, this.clock());
    this.sessions.set(s.id, s);
    const plan = catchUpFrom({ lastSeq: hello.lastSeq, lastEpoch: hello.lastEpoch, lastCrc: hello.lastCrc },
      this.recordInfo(hello.lastSeq), this.lastSeq, this.oplog.checkpointLastSeq);
    if (plan.from === "records") {
      s.sentSeq = s.ackedSeq = plan.afterSeq;
    } else {
      s.needCheckpoint = true;
      this.log.info("shadow starts over from the checkpoint", { shadow: s.id, why: plan.why });
    }
    this.log.info("shadow connected", { shadow: s.id, address: s.address, lastSeq: hello.lastSeq, from: plan.from });
    this.pump(s);
    return s;
  }

  private onAck(s: Session, m: ShipLogRequest__Output): void {
    if (!s.connected) return;
    const err = ackError(m.durableSeq, s.ackedSeq, s.sentSeq);
    if (err) throw new GfsError("EINVAL", `ship log: shadow ${s.id} ${err}`);
    s.ackedSeq = m.durableSeq;
    while (s.unacked.length && s.unacked[0]![0] <= s.ackedSeq) s.unacked.shift();
    if (s.ackedSeq >= this.lastSeq) s.caughtUpMs = this.clock();
    this.check();
  }

  private lost(s: Session): void {
    if (!s.connected) return;
    s.connected = false;
    if (this.sessions.get(s.id) === s) this.sessions.delete(s.id);
    this.log.info("shadow disconnected", { shadow: s.id, ackedSeq: s.ackedSeq });
    this.check();
  }

  /** Sends `s` what it lacks, one frame at a time, waiting when its stream is full; one pump per session. */
  private pump(s: Session): void {
    if (s.pumping || !s.connected) return;
    s.pumping = true;
    this.pumpLoop(s).catch((e: Error) => {
      this.log.warn("shipping to a shadow failed", { shadow: s.id, error: e.message });
      failStream(s.call, e);
      this.lost(s);
    });
  }

  private async pumpLoop(s: Session): Promise<void> {
    try {
      await this.pumpUntilDone(s);
    } finally {
      s.pumping = false; // in the same turn as the loop's end: a batch arriving later starts a new pump
    }
  }

  private async pumpUntilDone(s: Session): Promise<void> {
    for (;;) {
      if (!s.connected || this.closed) return;
      if (s.needCheckpoint) { await this.sendCheckpoint(s); continue; }
      if (s.sentSeq >= this.lastSeq) {
        s.live = true;
        if (s.committedSent < this.committedSeq) { s.committedSent = this.committedSeq; await this.write(s, { epoch: this.epoch, committedSeq: s.committedSent }); }
        if (s.sentSeq >= this.lastSeq && s.committedSent >= this.committedSeq) { this.check(); return; }
        continue;
      }
      const records = this.recordsAfter(s.sentSeq);
      if (!records) { s.needCheckpoint = true; s.live = false; continue; }
      const committedSeq = Math.min(this.committedSeq, records[records.length - 1]!.seq);
      // Counted as sent before the write may wait for the stream to drain: the shadow may acknowledge them meanwhile.
      s.committedSent = Math.max(s.committedSent, committedSeq);
      s.sentSeq = records[records.length - 1]!.seq;
      s.unacked.push([s.sentSeq, this.clock()]);
      await this.write(s, { epoch: this.epoch, records, committedSeq });
    }
  }

  /** The records after `seq`, from memory when it has them, else from the log; undefined: a checkpoint covers seq + 1. */
  private recordsAfter(seq: number): LogRecord[] | undefined {
    const max = this.s.ship_batch_records_max;
    const first = this.tail[0]?.seq;
    if (first !== undefined && first <= seq + 1) return this.tail.slice(seq + 1 - first, seq + 1 - first + max);
    const records = this.oplog.recordsAfter(seq, max);
    if (records && !records.length) throw new Error(`invariant: record ${seq + 1} is neither durable nor in memory (memory starts at ${first})`);
    return records;
  }

  private async sendCheckpoint(s: Session): Promise<void> {
    if (!this.oplog.currentCheckpoint()) {
      if (!this.takeCheckpoint || this.oplog.lastSeq === 0) {
        throw new GfsError("EIO", `shadow ${s.id} must start over from a checkpoint and this master has none to send (its log ends at ${this.oplog.lastSeq})`);
      }
      await this.takeCheckpoint();
    }
    const current = this.oplog.currentCheckpoint();
    if (!current) throw new GfsError("EIO", `shadow ${s.id} must start over from a checkpoint and none could be taken`);
    const { checkpoint, last } = current;
    const frame = (parts: string[], done: boolean): ShipLogResponse => ({
      epoch: this.epoch, checkpointSeq: checkpoint.lastSeq, checkpointParts: parts, checkpointDone: done,
      ...(done ? { checkpointLastEpoch: last.epoch, checkpointLastCrc: last.crc } : {}),
    });
    let parts: string[] = [];
    let bytes = 0;
    for (const part of checkpoint.parts()) {
      if (!s.connected) return; // leaving the loop closes the checkpoint file
      parts.push(part);
      bytes += part.length;
      if (bytes >= this.s.ship_frame_bytes_max) {
        await this.write(s, frame(parts, false));
        parts = [];
        bytes = 0;
      }
    }
    s.needCheckpoint = false;
    s.sentSeq = checkpoint.lastSeq;
    s.ackedSeq = Math.min(s.ackedSeq, checkpoint.lastSeq);
    s.unacked.push([s.sentSeq, this.clock()]);
    await this.write(s, frame(parts, true));
    this.log.info("checkpoint shipped", { shadow: s.id, lastSeq: checkpoint.lastSeq, parts: checkpoint.partCount });
  }

  private write(s: Session, frame: ShipLogResponse): Promise<void> {
    if (!s.connected) return Promise.resolve();
    if (s.call.write(frame)) return Promise.resolve();
    return new Promise((resolve) => {
      const events = ["drain", "close", "cancelled", "error"];
      const done = () => { for (const e of events) s.call.off(e, done); resolve(); };
      for (const e of events) s.call.on(e, done);
    });
  }

  // ---- the in-sync set ----

  private view(s: Session): ShadowView {
    return { id: s.id, connected: s.connected, ackedSeq: s.ackedSeq, oldestUnackedSentMs: s.unacked[0]?.[1], live: s.live };
  }

  /** Applies the rules: drops, joins, the write of the set, then releases what may be. */
  private check(): void {
    if (this.failed || this.closed) return;
    const now = this.clock();
    for (const id of this.waitFor) {
      if (this.dropping.has(id)) continue;
      const s = this.sessions.get(id);
      const why = dropReason(s && this.view(s), now, this.s.ship_ack_timeout_ms);
      if (why) {
        this.dropping.add(id);
        this.log.warn("shadow leaves the in-sync set", { shadow: id, why, ackedSeq: s?.ackedSeq });
      }
    }
    for (const s of this.sessions.values()) {
      if (this.waitFor.has(s.id) || !mayJoin(this.view(s), this.released, now, this.s.ship_ack_timeout_ms)) continue;
      this.waitFor.add(s.id); // waited for from now on, before the write: nothing released later can lack it
      this.log.info("shadow joins the in-sync set", { shadow: s.id, ackedSeq: s.ackedSeq });
    }
    this.writeMembers();
    this.release();
  }

  private writeMembers(): void {
    if (this.writing || this.failed) return;
    const members = membersToRecord(this.selfId, this.waitFor, this.dropping);
    if (sameMembers(members, this.recorded)) return;
    this.writing = true;
    this.store.write(members).then(() => {
      this.writing = false;
      this.recorded = members;
      for (const id of [...this.dropping]) {
        if (!members.includes(id)) { this.dropping.delete(id); this.waitFor.delete(id); }
      }
      this.log.info("in-sync set recorded", { members });
      this.check();
    }, (e: Error) => {
      this.writing = false;
      // Without the record, releasing without the shadow could lose what it lacks: nothing more is released.
      this.fail(new GfsError("EIO", `the in-sync set [${members.join(", ")}] could not be recorded: ${e.message}`));
    });
  }

  private fail(e: Error): void {
    if (this.failed) return;
    this.failed = e;
    this.log.error("log shipping failed; nothing more is acknowledged", { error: e.message });
    for (const w of this.waiters.splice(0)) w.reject(e);
  }

  private release(): void {
    if (this.failed) { for (const w of this.waiters.splice(0)) w.reject(this.failed); return; }
    if (!this.waiters.length) return;
    const upTo = replicatedSeq(this.waitFor, (id) => this.sessions.get(id)?.ackedSeq ?? 0);
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.seq <= upTo) {
        this.released = Math.max(this.released, w.seq);
        w.resolve();
      } else {
        still.push(w);
      }
    }
    this.waiters = still;
  }

  // ---- status ----

  /** The shadows as `gfs status` shows them. */
  shadows(): MasterStatus[] {
    const now = this.clock();
    const last = this.oplog.lastSeq;
    const ids = new Set([...this.sessions.keys(), ...this.waitFor]);
    return [...ids].sort().map((id) => {
      const s = this.sessions.get(id);
      const acked = s?.ackedSeq ?? 0;
      return {
        id, address: s?.address ?? "", role: "MASTER_ROLE_SHADOW", epoch: this.epoch,
        lastSeq: acked, appliedSeq: Math.min(acked, this.committedSeq), lagRecords: Math.max(0, last - acked),
        lagMs: s && acked >= last ? 0 : now - (s?.caughtUpMs ?? now),
        inSync: this.waitFor.has(id) && !this.dropping.has(id), reachable: s?.connected ?? false,
      };
    });
  }

  /** Highest record acknowledged to clients (what shadows may serve). */
  get committed(): number {
    return this.committedSeq;
  }

  /** The in-sync set as last recorded. */
  get members(): readonly string[] {
    return this.recorded;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    if (this.oplog.onBatch) this.oplog.onBatch = undefined;
    for (const s of this.sessions.values()) { s.connected = false; s.call.end(); }
    this.sessions.clear();
    const e = new GfsError("EIO", "log shipping stopped: this master is no longer active");
    this.failed ??= e;
    for (const w of this.waiters.splice(0)) w.reject(this.failed);
  }
}
