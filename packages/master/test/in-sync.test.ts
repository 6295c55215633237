// The pure rules of the in-sync set and log matching (in-sync.ts).
import { describe, expect, it } from "vitest";
import { ackError, catchUpFrom, dropReason, mayJoin, membersToRecord, replicatedSeq, staleActive, type ShadowView } from "../src/in-sync";

const shadow = (o: Partial<ShadowView> = {}): ShadowView =>
  ({ id: "b", connected: true, ackedSeq: 10, oldestUnackedSentMs: undefined, live: true, ...o });

describe("in-sync set rules", () => {
  it("an in-sync shadow whose stream broke, or that left a batch unacknowledged for ship_ack_timeout_ms, must leave", () => {
    expect(dropReason(undefined, 0, 2000)).toMatch(/stream broke/);
    expect(dropReason(shadow({ connected: false }), 0, 2000)).toMatch(/stream broke/);
    expect(dropReason(shadow({ oldestUnackedSentMs: 1000 }), 2999, 2000)).toBeUndefined();
    expect(dropReason(shadow({ oldestUnackedSentMs: 1000 }), 3000, 2000)).toMatch(/no acknowledgement within ship_ack_timeout_ms \(2000 ms\)/);
    expect(dropReason(shadow(), 1e9, 2000)).toBeUndefined();
  });

  it("a shadow that left a frame unacknowledged for half the ack timeout does not join, however far it got (a stopped shadow would flap in and out); a busy one that answers does", () => {
    expect(mayJoin(shadow({ ackedSeq: 10, oldestUnackedSentMs: 0 }), 10, 1000, 2000)).toBe(false);
    expect(mayJoin(shadow({ ackedSeq: 10, oldestUnackedSentMs: 900 }), 10, 1000, 2000)).toBe(true);
  });

  it("a shadow joins only when live and holding every record released so far", () => {
    expect(mayJoin(shadow({ ackedSeq: 10 }), 10, 0, 2000)).toBe(true);
    expect(mayJoin(shadow({ ackedSeq: 9 }), 10, 0, 2000)).toBe(false);
    expect(mayJoin(shadow({ live: false }), 10, 0, 2000)).toBe(false);
    expect(mayJoin(shadow({ connected: false }), 10, 0, 2000)).toBe(false);
  });

  it("a record is replicated only when every waited-for shadow acknowledged it; with none, at once", () => {
    const acked: Record<string, number> = { b: 7, c: 9 };
    expect(replicatedSeq(["b", "c"], (id) => acked[id] ?? 0)).toBe(7);
    expect(replicatedSeq(["b", "c", "gone"], (id) => acked[id] ?? 0)).toBe(0);
    expect(replicatedSeq([], () => 0)).toBe(Infinity);
  });

  it("the recorded set names the active first, then the shadows waited for and not being dropped", () => {
    expect(membersToRecord("a", ["c", "b", "d"], new Set(["d"]))).toEqual(["a", "b", "c"]);
    expect(membersToRecord("a", [], new Set())).toEqual(["a"]);
  });
});

describe("log matching", () => {
  const info = { seq: 5, epoch: 3, crc: 77 };
  it("a shadow whose last record is the active's continues from it", () => {
    expect(catchUpFrom({ lastSeq: 5, lastEpoch: 3, lastCrc: 77 }, info, 9, 0)).toEqual({ from: "records", afterSeq: 5 });
    expect(catchUpFrom({ lastSeq: 0, lastEpoch: 0, lastCrc: 0 }, undefined, 9, 0)).toEqual({ from: "records", afterSeq: 0 });
  });

  it("a divergent tail, a log past the active's, a log behind its checkpoint or an unknown record start over from the checkpoint", () => {
    expect(catchUpFrom({ lastSeq: 5, lastEpoch: 2, lastCrc: 77 }, info, 9, 0)).toMatchObject({ from: "checkpoint", why: expect.stringMatching(/differs/) });
    expect(catchUpFrom({ lastSeq: 5, lastEpoch: 3, lastCrc: 78 }, info, 9, 0).from).toBe("checkpoint");
    expect(catchUpFrom({ lastSeq: 12, lastEpoch: 3, lastCrc: 1 }, undefined, 9, 0)).toMatchObject({ from: "checkpoint", why: expect.stringMatching(/past the active's 9/) });
    expect(catchUpFrom({ lastSeq: 2, lastEpoch: 3, lastCrc: 1 }, undefined, 9, 4)).toMatchObject({ from: "checkpoint", why: expect.stringMatching(/behind the active's checkpoint at 4/) });
    expect(catchUpFrom({ lastSeq: 0, lastEpoch: 0, lastCrc: 0 }, undefined, 9, 4).from).toBe("checkpoint");
    expect(catchUpFrom({ lastSeq: 5, lastEpoch: 3, lastCrc: 77 }, { seq: 5, epoch: -1, crc: -1 }, 9, 5).from).toBe("checkpoint");
    expect(catchUpFrom({ lastSeq: 5, lastEpoch: 0, lastCrc: 0 }, { seq: 5, epoch: 0, crc: 0 }, 9, 0).from).toBe("checkpoint");
  });
});

describe("lying shadows and stale actives", () => {
  it("an acknowledgement past what was sent, or going back, is refused", () => {
    expect(ackError(5, 3, 5)).toBeUndefined();
    expect(ackError(6, 3, 5)).toMatch(/acknowledges record 6 but was sent records up to 5/);
    expect(ackError(2, 3, 5)).toMatch(/went back from 3 to 2/);
    expect(ackError(-1, 0, 5)).toMatch(/no record number/);
  });

  it("an active below the epoch a shadow has seen does not ship to it", () => {
    expect(staleActive(5, 5)).toBeUndefined();
    expect(staleActive(5, 4)).toBeUndefined();
    expect(staleActive(5, 6)).toMatch(/epoch 5 is below epoch 6/);
  });
});
