// Log shipping (issue 16) between op logs in this process over real grpc-js
// streams on 127.0.0.1 (insecure transport), each log in its own temp dir,
// with an in-memory InSyncStore: catch-up from the log and from a
// checkpoint, a divergent tail reset, the in-sync set written before a
// record is acknowledged without a shadow, acknowledgement only once durable
// on in-sync shadows, and epochs refused.
import type * as grpc from "@grpc/grpc-js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  crc32c, createLogger, insecureTransport, masterDefinition, newMasterClient, startServer, stopServer,
  type MasterHandlers, type ShipLogResponse__Output,
} from "@gfs/common";
import { LogFollower } from "../src/log-follower";
import { LogShipper, type InSyncStore } from "../src/log-shipper";
import type { MetadataOp } from "../src/metadata";
import { OpLog, type LogRecord } from "../src/op-log";
import { ReplicatedJournal } from "../src/replicated-journal";
import { masterHandlers } from "../src/master-service";
import { MasterState } from "../src/master-state";
import { defaultMasterSettings } from "../src/settings";

const log = createLogger("ship-test", "error");
const op = (n: number) => ({ op: "add", n }) as unknown as MetadataOp;
const nOf = (o: MetadataOp) => (o as unknown as { n: number }).n;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

const freshDir = () => {
  const d = mkdtempSync(join(tmpdir(), "ship-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
};

const openLog = (dir = freshDir()) => {
  const { log: oplog } = OpLog.open<MetadataOp>(dir);
  cleanups.push(() => oplog.close());
  return oplog;
};

/** Polls `cond` until true (or fails after `ms`): waiting for the other side of a stream. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An InSyncStore in memory; while `gate` is set, writes wait for it. */
class MemoryStore implements InSyncStore {
  history: string[][] = [];
  events: string[] = [];
  gate: Promise<void> | undefined;
  async write(members: string[]): Promise<void> {
    this.events.push(`write-start ${members.join(",")}`);
    if (this.gate) await this.gate;
    this.history.push(members);
    this.events.push(`write-done ${members.join(",")}`);
  }
}

async function serve(handlers: Partial<MasterHandlers>): Promise<string> {
  const { server, port } = await startServer("127.0.0.1:0", [{ definition: masterDefinition(), handlers: handlers as grpc.UntypedServiceImplementation }], insecureTransport);
  cleanups.push(() => stopServer(server, 500));
  return `127.0.0.1:${port}`;
}

async function activeMaster(o: { epoch?: number; store?: MemoryStore; oplog?: OpLog<MetadataOp>; ackTimeoutMs?: number; frameBytes?: number; batchRecords?: number } = {}) {
  const oplog = o.oplog ?? openLog();
  const store = o.store ?? new MemoryStore();
  let canAcknowledge = true;
  const shipper = new LogShipper({
    oplog: oplog as OpLog<unknown>, epoch: o.epoch ?? 1, selfId: "a", inSync: store, log,
    settings: { ship_ack_timeout_ms: o.ackTimeoutMs ?? 2_000, ship_frame_bytes_max: o.frameBytes ?? 1024 * 1024, ship_batch_records_max: o.batchRecords ?? 1000 },
    checkpoint: () => oplog.checkpoint([JSON.stringify({ upTo: oplog.lastSeq })], oplog.lastSeq, Date.now()),
  });
  cleanups.push(() => shipper.close());
  const journal = new ReplicatedJournal(oplog, shipper, { canAcknowledge: () => canAcknowledge });
  const address = await serve({ ShipLog: shipper.handler });
  return { oplog, store, shipper, journal, address, stopAcknowledging: () => { canAcknowledge = false; } };
}

function shadowMaster(id: string, oplog = openLog()) {
  const applied: number[] = [];
  let resets = 0;
  const follower = new LogFollower({
    oplog, selfId: id, selfAddress: `${id}.invalid:1`, security: insecureTransport, log, reconnectMs: 50,
    onCommitted: (ops) => { for (const o of ops) applied.push(nOf(o)); },
    onReset: async () => { resets++; applied.length = 0; },
  });
  cleanups.push(() => follower.close());
  return { oplog, follower, applied, resets: () => resets };
}

const record = (seq: number, epoch: number, n: number): LogRecord => {
  const payload = JSON.stringify({ op: "add", n });
  return { seq, epoch, format: 1, crc: crc32c(Buffer.from(payload, "utf8")), payload };
};

describe("log shipping", () => {
  it("a master that ships no log (single, or a shadow) refuses ShipLog with one line the shadow receives", async () => {
    const state = new MasterState(defaultMasterSettings(), () => 1, log);
    const address = await serve(masterHandlers(state));
    const client = newMasterClient(address, insecureTransport);
    cleanups.push(() => client.close());
    const stream = client.ShipLog();
    const error = new Promise<Error>((resolve) => stream.on("error", resolve));
    stream.write({ masterId: "b", address: "b.invalid:1", lastSeq: 0, epoch: 1 });
    expect((await error).message).toMatch(/not an active master of a replicated set: it ships no log/);
  });

  it("a new shadow catches up from the log, joins the in-sync set, and applies only committed records", async () => {
    const a = await activeMaster();
    for (let n = 1; n <= 5; n++) await a.journal.append(op(n));
    const b = shadowMaster("b");
    b.follower.follow(a.address, 1);
    await until(() => b.applied.length === 5, "the shadow to apply 5 records");
    expect(b.applied).toEqual([1, 2, 3, 4, 5]);
    await until(() => a.store.history.some((m) => m.includes("b")), "b to join the in-sync set");
    expect(a.store.history.at(-1)).toEqual(["a", "b"]);
    expect(b.oplog.lastRecord()).toEqual(a.oplog.lastRecord());
    expect(b.follower.status()).toMatchObject({ lastSeq: 5, appliedSeq: 5, connected: true });
    expect(a.shipper.shadows()).toEqual([expect.objectContaining({ id: "b", inSync: true, lastSeq: 5, reachable: true })]);
  });

  it("a shadow whose log already matches the active's is told so at once and sent nothing to write", async () => {
    const a = await activeMaster({ epoch: 2 });
    for (let n = 1; n <= 3; n++) await a.journal.append(op(n));
    const own = openLog();
    await own.appendReplicated(a.oplog.recordsAfter(0, 10)!);
    const b = shadowMaster("b", own); // its state was recovered from that log
    const commits = b.oplog.stats.commits;
    b.follower.follow(a.address, 2);
    await until(() => b.follower.status().connected, "b to hear from the active");
    await until(() => a.shipper.members.includes("b"), "b to join");
    expect(b.oplog.stats.commits).toBe(commits);
    expect(b.resets()).toBe(0);
    expect(b.follower.status()).toMatchObject({ lastSeq: 3, appliedSeq: 3, lagRecords: 0 });
  });

  it("a record is acknowledged only once durable on every in-sync shadow", async () => {
    const a = await activeMaster();
    const b = shadowMaster("b");
    const c = shadowMaster("c");
    b.follower.follow(a.address, 1);
    c.follower.follow(a.address, 1);
    await until(() => a.shipper.members.length === 3, "both shadows in sync");
    for (let n = 1; n <= 20; n++) {
      const writes = [a.journal.append(op(n)), a.journal.append(op(n + 1000))];
      await writes[0];
      const seq = a.oplog.lastSeq;
      // Answered: each in-sync shadow holds the record durably (its log's lastSeq moves only after the commit).
      expect(b.oplog.lastSeq).toBeGreaterThanOrEqual(seq - 1);
      expect(c.oplog.lastSeq).toBeGreaterThanOrEqual(seq - 1);
      await writes[1];
      expect(b.oplog.lastSeq).toBeGreaterThanOrEqual(a.oplog.lastSeq);
      expect(c.oplog.lastSeq).toBeGreaterThanOrEqual(a.oplog.lastSeq);
    }
    // Shadows apply what was acknowledged, in the active's order.
    await until(() => b.applied.length === 40, "b to apply all");
    expect(b.applied).toEqual(c.applied);
  });

  it("records a shadow receives while writing go to disk together: catching up takes fewer commits than frames", async () => {
    const a = await activeMaster({ batchRecords: 10 });
    await Promise.all(Array.from({ length: 400 }, (_, i) => a.journal.append(op(i))));
    const b = shadowMaster("b");
    b.follower.follow(a.address, 1);
    await until(() => b.oplog.lastSeq === 400, "b to hold 400 records");
    expect(b.oplog.stats.records).toBe(400);
    expect(b.oplog.stats.commits).toBeLessThan(40); // 40 frames of 10
    await until(() => b.applied.length === 400, "b to apply them");
    expect(b.applied).toEqual(Array.from({ length: 400 }, (_, i) => i));
  });

  it("a master past its step-down time acknowledges nothing, though the record is durable", async () => {
    const a = await activeMaster();
    a.stopAcknowledging();
    await expect(a.journal.append(op(1))).rejects.toThrow(/record 1 is durable but not acknowledged/);
  });

  it("a shadow behind the active's checkpoint starts over from it (sent in parts), then follows the log", async () => {
    const active = openLog();
    for (let n = 1; n <= 6; n++) await active.append(op(n));
    const parts = Array.from({ length: 5 }, (_, i) => `part-${i}-${"x".repeat(20)}`);
    await active.checkpoint(parts, 4, Date.now());
    const a = await activeMaster({ oplog: active, frameBytes: 40 });
    const b = shadowMaster("b");
    await b.oplog.appendReplicated([record(1, 1, 1)]); // behind: record 2 is gone from the active's log
    b.follower.follow(a.address, 1);
    await until(() => b.oplog.lastSeq === 6, "b to hold record 6");
    expect(b.resets()).toBe(1);
    await a.journal.append(op(7));
    await until(() => b.applied.includes(7), "b to apply record 7");
    expect(b.applied).toEqual([5, 6, 7]);
    expect(b.oplog.recordInfo(4)).toEqual(active.recordInfo(4));
    await b.oplog.close();
    const { log: reopened, recovered } = OpLog.open<MetadataOp>(b.oplog.dir);
    expect([...recovered.checkpoint!.parts()]).toEqual(parts);
    expect(recovered.records.map(nOf)).toEqual([5, 6, 7]);
    await reopened.close();
  });

  it("a shadow whose tail diverges from the active's log (another epoch's records) is reset from a checkpoint", async () => {
    const a = await activeMaster({ epoch: 3 });
    for (let n = 1; n <= 4; n++) await a.journal.append(op(n));
    const b = shadowMaster("b");
    // Records 1-2 match, then 3-5 were written by an old active of epoch 2 and never acknowledged.
    await b.oplog.appendReplicated([...(a.oplog.recordsAfter(0, 2)!), record(3, 3, 99), record(4, 3, 98), record(5, 3, 97)]);
    b.follower.follow(a.address, 3);
    await until(() => b.resets() === 1 && b.oplog.lastSeq === 4, "b to start over at the active's record 4");
    expect(b.oplog.lastRecord()).toEqual(a.oplog.lastRecord());
    await a.journal.append(op(5));
    await until(() => b.applied.includes(5), "b to apply record 5");
    expect(b.oplog.recordsAfter(4, 10)!.map((r) => JSON.parse(r.payload).n)).toEqual([5]);
  });

  it("a shadow that stops acknowledging leaves the in-sync set, recorded before any record it lacks is acknowledged", async () => {
    const a = await activeMaster({ ackTimeoutMs: 300 });
    // A shadow speaking the protocol by hand: it acknowledges until told to stop.
    let acking = true;
    const client = newMasterClient(a.address, insecureTransport);
    cleanups.push(() => client.close());
    const stream = client.ShipLog();
    cleanups.push(() => stream.cancel());
    stream.on("error", () => {});
    stream.write({ masterId: "c", address: "c.invalid:1", lastSeq: 0, epoch: 1 });
    stream.on("data", (f: ShipLogResponse__Output) => {
      if (acking && f.records.length) stream.write({ durableSeq: f.records.at(-1)!.seq, epoch: 1 });
    });
    await a.journal.append(op(1));
    await until(() => a.shipper.members.includes("c"), "c to join");
    acking = false;
    let release!: () => void;
    a.store.gate = new Promise((r) => { release = r; });
    let answered = false;
    const p = a.journal.append(op(2)).then(() => { answered = true; a.store.events.push("answered 2"); });
    await until(() => a.store.events.includes("write-start a"), "the write dropping c");
    await new Promise((r) => setTimeout(r, 100));
    expect(answered).toBe(false); // c lacks record 2 and the set still names it
    release();
    await p;
    expect(a.store.events.slice(-3)).toEqual(["write-start a", "write-done a", "answered 2"]);
    expect(a.shipper.shadows()).toEqual([expect.objectContaining({ id: "c", inSync: false })]);
  });

  it("a shadow acknowledging records it was never sent is cut off", async () => {
    const a = await activeMaster();
    await a.journal.append(op(1));
    const client = newMasterClient(a.address, insecureTransport);
    cleanups.push(() => client.close());
    const stream = client.ShipLog();
    const error = new Promise<Error>((resolve) => stream.on("error", resolve));
    stream.write({ masterId: "c", address: "c.invalid:1", lastSeq: 0, epoch: 1 });
    stream.write({ durableSeq: 50, epoch: 1 });
    expect((await error).message).toMatch(/acknowledges record 50 but was sent records up to/);
    expect(a.shipper.members).toEqual(["a"]);
  });

  it("an active below the epoch a shadow has seen is refused, and so is a frame of a lower epoch", async () => {
    const a = await activeMaster({ epoch: 3 });
    await a.journal.append(op(1));
    const b = shadowMaster("b");
    b.follower.follow(a.address, 5);
    await new Promise((r) => setTimeout(r, 300));
    expect(b.oplog.lastSeq).toBe(0);
    expect(a.shipper.shadows()).toEqual([]);
    expect(() => b.follower.follow(a.address, 4)).toThrow(/epoch 4: epoch 5 was seen already/);

    // An active that ignores the shadow's epoch and sends frames of epoch 2: the shadow writes nothing.
    let frames = 0;
    const liar = await serve({
      ShipLog: (call) => {
        call.on("data", () => { frames++; call.write({ epoch: 2, records: [record(1, 2, 1)], committedSeq: 1 }); });
        call.on("error", () => {});
      },
    });
    const c = shadowMaster("c");
    c.follower.follow(liar, 5);
    await until(() => frames >= 2, "the follower to reconnect after refusing the frame");
    expect(c.oplog.lastSeq).toBe(0);
    expect(c.applied).toEqual([]);
  });
});
