// A shadow master's end of log shipping (issue 16): opens Master.ShipLog on
// the active master, says where its own log ends, writes what it is sent
// into its op log (same seq, epoch and CRC), acknowledges each batch once it
// is durable, and applies to the state it serves only the records the active
// has acknowledged to clients (committed_seq). A checkpoint sent instead
// replaces its log and state. Frames from an epoch below the highest it has
// seen are refused: an old active must not rewrite its log.
import type * as grpc from "@grpc/grpc-js";
import {
  defaults, newMasterClient,
  type Logger, type MasterClient, type ShipLogRequest, type ShipLogResponse__Output, type TransportSecurity,
} from "@gfs/common";
import type { MetadataOp } from "./metadata";
import type { LogRecord, OpLog } from "./op-log";

export interface LogFollowerOptions {
  oplog: OpLog<MetadataOp>;
  selfId: string;
  /** Where this shadow serves reads (told to the active, shown in status). */
  selfAddress: string;
  security: TransportSecurity;
  log: Logger;
  /** Records up to lastSeq are acknowledged by the active: apply them to the state served. */
  onCommitted(ops: MetadataOp[], lastSeq: number): void;
  /** The log was replaced by the active's checkpoint: rebuild the state from disk. */
  onReset(): Promise<void>;
  clock?: () => number;
  reconnectMs?: number;
  /** The last record the state served includes (default: the log's last; a shadow's state stops at its last acknowledged one). */
  appliedSeq?: number;
}

export interface FollowerStatus {
  lastSeq: number;
  appliedSeq: number;
  lagRecords: number;
  lagMs: number;
  connected: boolean;
}

type Stream = grpc.ClientDuplexStream<ShipLogRequest, ShipLogResponse__Output>;

export class LogFollower {
  private readonly o: LogFollowerOptions;
  private readonly clock: () => number;
  private highestEpoch = 0;
  private target: { address: string; epoch: number } | undefined;
  private client: MasterClient | undefined;
  private stream: Stream | undefined;
  /** Bumped at each (re)connect: frames of an older stream are ignored. */
  private generation = 0;
  private connected = false;
  private closed = false;
  private reconnect: NodeJS.Timeout | undefined;
  /** Frames are handled one after the other (their writes are async). */
  private chain: Promise<void> = Promise.resolve();
  /**
   * Records received and not yet handed to the log: those arriving while a
   * write is in flight go to disk together in the next one (one fsync), so a
   * shadow slower than the active catches up instead of falling further behind.
   */
  private toWrite: LogRecord[] = [];
  private writing: Promise<void> | undefined;
  /** Durable records not yet committed by the active: applied once committed_seq covers them. */
  private pending: Array<{ seq: number; op: MetadataOp }> = [];
  private appliedSeq: number;
  private committedSeen = 0;
  /** Highest record the active is known to have. */
  private activeSeq = 0;
  private caughtUpMs: number;
  private checkpoint: { seq: number; parts: string[] } | undefined;

  constructor(o: LogFollowerOptions) {
    this.o = o;
    this.clock = o.clock ?? Date.now;
    // The state served was recovered from the whole log.
    // The state served was recovered up to the last record known acknowledged (MasterPhase); the records after
    // it wait here until the active says they are committed (or a reset drops them).
    this.appliedSeq = o.appliedSeq ?? o.oplog.lastSeq;
    this.committedSeen = this.appliedSeq;
    if (this.appliedSeq < o.oplog.lastSeq) {
      const rest = o.oplog.recordsAfter(this.appliedSeq, Number.MAX_SAFE_INTEGER) ?? [];
      this.pending = rest.map((r) => ({ seq: r.seq, op: JSON.parse(r.payload) as MetadataOp }));
    }
    this.caughtUpMs = this.clock();
  }

  /** Follows the active at `address` (epoch `epoch`), reconnecting until told otherwise; an epoch below one seen is refused. */
  follow(address: string, epoch: number): void {
    if (this.closed) throw new Error("log follower closed");
    if (epoch < this.highestEpoch) throw new Error(`refusing to follow ${address} at epoch ${epoch}: epoch ${this.highestEpoch} was seen already`);
    this.highestEpoch = epoch;
    if (this.target?.address !== address) { this.client?.close(); this.client = undefined; }
    this.target = { address, epoch };
    this.connect();
  }

  private connect(): void {
    clearTimeout(this.reconnect);
    this.reconnect = undefined;
    this.stream?.cancel();
    this.stream = undefined;
    this.connected = false;
    this.checkpoint = undefined;
    this.toWrite = [];
    const gen = ++this.generation;
    // The hello says where the log ends: only once what the older stream handed to the log is durable.
    const settled = this.chain.then(() => this.writing).catch(() => {});
    void settled.then(() => { if (gen === this.generation) this.open(gen); });
  }

  private open(gen: number): void {
    if (this.closed || !this.target) return;
    this.client ??= newMasterClient(this.target.address, this.o.security);
    const stream = this.client.ShipLog();
    this.stream = stream;
    const last = this.o.oplog.lastRecord();
    // An unknown epoch or CRC (a checkpoint from before issue 16) is sent as 0/0, which never matches: the active resets us.
    const known = last && last.epoch >= 0 && last.crc >= 0;
    stream.write({
      masterId: this.o.selfId, address: this.o.selfAddress, epoch: this.highestEpoch,
      lastSeq: last?.seq ?? 0, lastEpoch: known ? last.epoch : 0, lastCrc: known ? last.crc : 0, durableSeq: last?.seq ?? 0,
    });
    stream.on("data", (f: ShipLogResponse__Output) => {
      this.chain = this.chain.then(() => this.onFrame(gen, f)).catch((e: Error) => {
        if (gen !== this.generation) return;
        this.o.log.error("ship log frame refused; reconnecting", { active: this.target?.address, error: e.message });
        this.broken(gen);
      });
    });
    const ended = (e?: Error) => {
      if (gen !== this.generation) return;
      if (e && !this.closed) this.noteBroken(e.message);
      this.broken(gen);
    };
    stream.on("error", ended);
    stream.on("end", () => ended());
  }

  /** The last break logged, and when: a stream retried every ship_reconnect_ms logs a repeated error once a minute. */
  private lastBreak = { error: "", atMs: 0 };

  private noteBroken(error: string): void {
    const now = this.clock();
    if (error === this.lastBreak.error && now - this.lastBreak.atMs < 60_000) return;
    this.lastBreak = { error, atMs: now };
    this.o.log.warn("ship log stream broke", { active: this.target?.address, error });
  }

  private broken(gen: number): void {
    if (gen !== this.generation || this.closed) return;
    this.connected = false;
    this.stream?.cancel();
    this.stream = undefined;
    this.generation++;
    clearTimeout(this.reconnect);
    this.reconnect = setTimeout(() => this.connect(), this.o.reconnectMs ?? defaults.ship_reconnect_ms);
    this.reconnect.unref();
  }

  private async onFrame(gen: number, f: ShipLogResponse__Output): Promise<void> {
    if (gen !== this.generation || this.closed) return;
    if (f.epoch < this.highestEpoch) throw new Error(`frame from epoch ${f.epoch} refused: epoch ${this.highestEpoch} was seen already`);
    this.highestEpoch = f.epoch;
    this.connected = true;
    if (f.checkpointSeq > 0) await this.onCheckpointPart(gen, f);
    if (f.records.length) {
      for (const r of f.records) this.toWrite.push(r);
      this.writing ??= this.writeRecords(gen);
    }
    if (f.committedSeq > this.committedSeen) this.committedSeen = f.committedSeq;
    this.activeSeq = Math.max(this.activeSeq, this.committedSeen);
    this.applyCommitted();
  }

  /** Writes what was received, in batches, acknowledging each once durable. */
  private async writeRecords(gen: number): Promise<void> {
    try {
      while (this.toWrite.length && gen === this.generation) {
        const batch = this.toWrite;
        this.toWrite = [];
        await this.o.oplog.appendReplicated(batch);
        for (const r of batch) this.pending.push({ seq: r.seq, op: JSON.parse(r.payload) as MetadataOp });
        this.activeSeq = Math.max(this.activeSeq, this.o.oplog.lastSeq);
        this.ack(gen);
        this.applyCommitted();
      }
    } catch (e) {
      if (gen === this.generation) {
        this.o.log.error("shipped records refused; reconnecting", { active: this.target?.address, error: (e as Error).message });
        this.broken(gen);
      }
    } finally {
      this.writing = undefined;
    }
  }

  private async onCheckpointPart(gen: number, f: ShipLogResponse__Output): Promise<void> {
    if (this.checkpoint && this.checkpoint.seq !== f.checkpointSeq) throw new Error(`checkpoint ${f.checkpointSeq} began before checkpoint ${this.checkpoint.seq} ended`);
    this.checkpoint ??= { seq: f.checkpointSeq, parts: [] };
    for (const p of f.checkpointParts) this.checkpoint.parts.push(p);
    if (!f.checkpointDone) return;
    await this.writing; // a checkpoint replaces the log: after what was handed to it
    // Closed (the role ends: its log is about to close) or reconnected meanwhile: this checkpoint is not installed.
    if (gen !== this.generation || this.closed) return;
    const { seq, parts } = this.checkpoint;
    this.checkpoint = undefined;
    await this.o.oplog.installCheckpoint(parts, seq, { epoch: f.checkpointLastEpoch, crc: f.checkpointLastCrc });
    this.pending = [];
    this.appliedSeq = seq;
    this.committedSeen = Math.min(this.committedSeen, seq);
    this.activeSeq = Math.max(this.activeSeq, seq);
    this.o.log.info("started over from the active's checkpoint", { lastSeq: seq, parts: parts.length });
    await this.o.onReset();
    this.ack(gen);
  }

  private ack(gen: number): void {
    if (gen !== this.generation || !this.stream) return;
    this.stream.write({ durableSeq: this.o.oplog.lastSeq, epoch: this.highestEpoch });
  }

  private applyCommitted(): void {
    const upTo = Math.min(this.committedSeen, this.o.oplog.lastSeq);
    if (upTo <= this.appliedSeq || !this.pending.length) {
      if (this.appliedSeq >= this.activeSeq) this.caughtUpMs = this.clock();
      return;
    }
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.seq <= upTo) n++;
    if (!n) return;
    const batch = this.pending.splice(0, n);
    const lastSeq = batch[batch.length - 1]!.seq;
    if (batch[0]!.seq !== this.appliedSeq + 1) throw new Error(`invariant: applying record ${batch[0]!.seq} after ${this.appliedSeq}`);
    this.o.onCommitted(batch.map((p) => p.op), lastSeq);
    this.appliedSeq = lastSeq;
    this.o.oplog.noteAcknowledged(lastSeq);
    if (this.appliedSeq >= this.activeSeq) this.caughtUpMs = this.clock();
  }

  status(): FollowerStatus {
    const lagRecords = Math.max(0, this.activeSeq - this.appliedSeq);
    return {
      lastSeq: this.o.oplog.lastSeq, appliedSeq: this.appliedSeq, lagRecords,
      lagMs: lagRecords === 0 && this.connected ? 0 : this.clock() - this.caughtUpMs, connected: this.connected,
    };
  }

  /** The highest epoch seen (in follow() or a frame). */
  get epoch(): number {
    return this.highestEpoch;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnect);
    this.generation++;
    this.stream?.cancel();
    this.stream = undefined;
    this.connected = false;
    await this.chain.catch(() => {});
    await this.writing;
    this.client?.close();
    this.client = undefined;
  }
}
