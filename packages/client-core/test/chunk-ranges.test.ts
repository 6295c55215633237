import { describe, expect, it } from "vitest";
import { splitByChunk, splitBySlice } from "../src/chunk-ranges";
import { nearestFirst, spreadNearest } from "../src/replica-order";
import { withRetries } from "../src/retry";
import { GfsError } from "@gfs/common";

describe("splitting writes at chunk boundaries", () => {
  it("a range inside one chunk is one piece", () => {
    expect(splitByChunk(10, 20, 100)).toEqual([{ index: 0, chunkOffset: 10, bufferOffset: 0, length: 20 }]);
  });
  it("a range crossing boundaries is split so no piece straddles a chunk", () => {
    const pieces = splitByChunk(90, 230, 100);
    expect(pieces).toEqual([
      { index: 0, chunkOffset: 90, bufferOffset: 0, length: 10 },
      { index: 1, chunkOffset: 0, bufferOffset: 10, length: 100 },
      { index: 2, chunkOffset: 0, bufferOffset: 110, length: 100 },
      { index: 3, chunkOffset: 0, bufferOffset: 210, length: 20 },
    ]);
    expect(pieces.reduce((s, p) => s + p.length, 0)).toBe(230);
  });
  it("an empty range has no pieces and bad ranges are refused", () => {
    expect(splitByChunk(5, 0, 100)).toEqual([]);
    expect(() => splitByChunk(-1, 5, 100)).toThrow(RangeError);
  });
});

describe("replica choice", () => {
  it("same-host replicas come first", () => {
    const order = nearestFirst([{ address: "10.9.9.9:1" }, { address: "127.0.0.1:2" }, { address: "10.9.9.8:3" }]);
    expect(order[0].address).toBe("127.0.0.1:2");
    expect(order).toHaveLength(3);
  });
});

describe("client retries", () => {
  it("a transient failure is retried, then succeeds", async () => {
    let calls = 0;
    const v = await withRetries("op", { attempts: 3, initialBackoffMs: 1 }, async () => {
      if (++calls < 3) throw new GfsError("EAGAIN", "busy");
      return 42;
    });
    expect(v).toBe(42);
    expect(calls).toBe(3);
  });
  it("a permanent error is not retried", async () => {
    let calls = 0;
    await expect(withRetries("op", { attempts: 3, initialBackoffMs: 1 }, async () => {
      calls++;
      throw new GfsError("ENOENT", "/x");
    })).rejects.toThrow(/ENOENT/);
    expect(calls).toBe(1);
  });
  it("exhausted retries are EIO, never success", async () => {
    await expect(withRetries("write chunk", { attempts: 2, initialBackoffMs: 1 }, async () => {
      throw new GfsError("EAGAIN", "down");
    })).rejects.toThrow(/^EIO: write chunk failed after 2 attempts/);
  });
  it("a restarted master's 'no lease yet' is waited out for the restart budget, then counts as failed attempts", async () => {
    let clock = 0;
    let calls = 0;
    const sleep = async (ms: number) => { clock += ms; };
    const restarting = () => new GfsError("EAGAIN", "master restarted recently: no new lease on chunk 00000000000000aa yet");
    const v = await withRetries("write", { attempts: 2, initialBackoffMs: 1, masterRestartWaitMs: 5_000 }, async () => {
      if (++calls < 10) throw restarting();
      return "ok";
    }, () => {}, sleep, () => clock);
    expect(v).toBe("ok");
    calls = 0;
    clock = 0;
    await expect(withRetries("write", { attempts: 2, initialBackoffMs: 1, masterRestartWaitMs: 5_000 }, async () => {
      calls++;
      throw restarting();
    }, () => {}, sleep, () => clock)).rejects.toThrow(/^EIO: write failed after 2 attempts: EAGAIN: master restarted recently/);
    expect(clock).toBeGreaterThanOrEqual(5_000);
    expect(clock).toBeLessThan(6_000);
  });

  it("a chunk short of good replicas (no lease until a server is back or a copy is made) is asked again for replicaWaitMs before attempts count", async () => {
    let clock = 0;
    let calls = 0;
    const sleep = async (ms: number) => { clock += ms; };
    const short = () => new GfsError("EAGAIN", "chunk 00000000000000aa has 2 of 3 replicas reachable");
    const policy = { attempts: 2, initialBackoffMs: 1, replicaWaitMs: 10_000 };
    // Back after 4 s of refusals: the write succeeds, though 2 attempts alone would have given up.
    const v = await withRetries("write", policy, async () => {
      if (clock < 4_000) { calls++; throw short(); }
      return "ok";
    }, () => {}, sleep, () => clock);
    expect(v).toBe("ok");
    expect(calls).toBeGreaterThan(2);
    clock = 0;
    await expect(withRetries("write", policy, async () => { throw short(); }, () => {}, sleep, () => clock))
      .rejects.toThrow(/^EIO: write failed after 2 attempts: EAGAIN: chunk 00000000000000aa has 2 of 3 replicas reachable/);
    expect(clock).toBeGreaterThanOrEqual(10_000);
    expect(clock).toBeLessThan(11_000);
  });
});

describe("slices of a large read", () => {
  it("pieces are cut at multiples of the slice size inside their chunk, covering every byte once", () => {
    const slices = splitBySlice(splitByChunk(30, 200, 100), 40);
    expect(slices).toEqual([
      { index: 0, chunkOffset: 30, bufferOffset: 0, length: 10 },
      { index: 0, chunkOffset: 40, bufferOffset: 10, length: 40 },
      { index: 0, chunkOffset: 80, bufferOffset: 50, length: 20 },
      { index: 1, chunkOffset: 0, bufferOffset: 70, length: 40 },
      { index: 1, chunkOffset: 40, bufferOffset: 110, length: 40 },
      { index: 1, chunkOffset: 80, bufferOffset: 150, length: 20 },
      { index: 2, chunkOffset: 0, bufferOffset: 170, length: 30 },
    ]);
    expect(() => splitBySlice([], 0)).toThrow(RangeError);
  });

  it("consecutive slices of a chunk go to different nearest replicas, each slice always to the same one, the others after it", () => {
    const replicas = [{ address: "127.0.0.1:3" }, { address: "127.0.0.1:1" }, { address: "10.0.0.9:2" }, { address: "127.0.0.1:2" }];
    const firsts = [0, 1, 2].map((k) => spreadNearest(replicas, "00ab", k)[0].address);
    expect(new Set(firsts).size).toBe(3);
    expect(firsts.every((a) => a.startsWith("127."))).toBe(true);
    expect(spreadNearest(replicas, "00ab", 1)).toEqual(spreadNearest([...replicas].reverse(), "00ab", 1));
    for (let k = 0; k < 3; k++) {
      const order = spreadNearest(replicas, "00ab", k);
      expect(order).toHaveLength(4);
      expect(order[3].address).toBe("10.0.0.9:2"); // the remote one only as the last fallback
    }
  });

  it("without a same-host replica, slices spread over all of them", () => {
    const replicas = [{ address: "10.0.0.1:1" }, { address: "10.0.0.2:1" }];
    expect(new Set([0, 1].map((k) => spreadNearest(replicas, "h", k)[0].address)).size).toBe(2);
  });
});

describe("slices read at once", () => {
  it("a failed slice fails the read only after the slices in flight are done, and no new one starts", async () => {
    const { forEachLimitedSettled } = await import("../src/gfs-client");
    const done: number[] = [];
    const started: number[] = [];
    const p = forEachLimitedSettled([0, 1, 2, 3, 4, 5], 3, async (i) => {
      started.push(i);
      await new Promise((r) => setTimeout(r, i === 0 ? 1 : 20));
      if (i === 0) throw new Error("slice 0 failed");
      done.push(i);
    });
    await expect(p).rejects.toThrow("slice 0 failed");
    expect(done.sort()).toEqual([1, 2]); // in flight when 0 failed: finished before the read failed
    expect(started).toEqual([0, 1, 2]);
  });
});
