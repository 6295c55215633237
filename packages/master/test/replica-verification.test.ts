import { describe, expect, it } from "vitest";
import { ReporterLimit, VerifyQueue } from "../src/replica-verification";

const settings = { verify_chunks_queued_max: 3, verify_chunks_per_heartbeat_max: 2, verify_chunk_repeat_after_ms: 1_000 };

describe("a client's bad-replica reports only queue verifications by the replica's own server", () => {
  it("reports of one replica are deduplicated while it waits, and handed out a bounded few per heartbeat, oldest first", () => {
    const q = new VerifyQueue(settings);
    expect(q.request("cs1", "a", 0)).toBe("queued");
    expect(q.request("cs1", "a", 0)).toBe("already queued");
    expect(q.request("cs1", "b", 0)).toBe("queued");
    expect(q.request("cs1", "c", 0)).toBe("queued");
    expect(q.request("cs2", "a", 0)).toBe("queued"); // another server's replica of the same chunk is another question
    expect(q.take("cs1", 10)).toEqual(["a", "b"]);
    expect(q.take("cs1", 20)).toEqual(["c"]);
    expect(q.take("cs1", 30)).toEqual([]);
    expect(q.take("cs2", 30)).toEqual(["a"]);
  });

  it("a server's queue is bounded: reports past the bound are dropped, not queued", () => {
    const q = new VerifyQueue(settings);
    for (const h of ["a", "b", "c"]) expect(q.request("cs1", h, 0)).toBe("queued");
    expect(q.request("cs1", "d", 0)).toBe("queue full");
    expect(q.waitingFor("cs1")).toBe(3);
    expect(q.request("cs2", "d", 0)).toBe("queued");
  });

  it("a replica verified lately is not verified again on every report (each verification reads a whole chunk)", () => {
    const q = new VerifyQueue(settings);
    q.request("cs1", "a", 0);
    expect(q.take("cs1", 100)).toEqual(["a"]);
    expect(q.request("cs1", "a", 500)).toBe("verified lately");
    expect(q.request("cs1", "a", 1_099)).toBe("verified lately");
    expect(q.request("cs1", "a", 1_100)).toBe("queued");
    expect(q.take("cs1", 1_200)).toEqual(["a"]);
    expect(q.request("cs1", "a", 1_300)).toBe("verified lately");
  });

  it("a server that re-registers loses its waiting verifications", () => {
    const q = new VerifyQueue(settings);
    q.request("cs1", "a", 0);
    q.forgetServer("cs1");
    expect(q.take("cs1", 0)).toEqual([]);
  });

  it("bad limits are refused at construction", () => {
    expect(() => new VerifyQueue({ ...settings, verify_chunks_per_heartbeat_max: 0 })).toThrow(/positive/);
    expect(() => new ReporterLimit(0, 10)).toThrow(/positive/);
  });
});

describe("bad-replica reports are rate-limited per reporter certificate", () => {
  it("a reporter gets its per-minute allowance, then is dropped until the next minute; others are not affected", () => {
    const l = new ReporterLimit(2, 10);
    expect(l.admit("user:m", 0).ok).toBe(true);
    expect(l.admit("user:m", 10).ok).toBe(true);
    expect(l.admit("user:m", 20)).toEqual({ ok: false, firstDrop: true, droppedBefore: 0 });
    expect(l.admit("user:m", 30)).toEqual({ ok: false, firstDrop: false, droppedBefore: 0 });
    expect(l.admit("user:x", 30).ok).toBe(true);
    expect(l.admit("user:m", 60_000)).toEqual({ ok: true, firstDrop: false, droppedBefore: 2 });
  });

  it("tracks a bounded number of reporters, forgetting the oldest", () => {
    const l = new ReporterLimit(1, 2);
    l.admit("a", 0);
    l.admit("b", 0);
    l.admit("c", 0); // "a" forgotten
    expect(l.admit("a", 1).ok).toBe(true);
    expect(l.admit("c", 1).ok).toBe(false);
  });
});
