import { describe, expect, it } from "vitest";
import { PushBuffer } from "../src/push-buffer";
import { PushMemory } from "../src/push-memory";

const MiB = 1024 * 1024;

describe("push memory", () => {
  it("a push's memory is reused once the one mutation that got it deletes it", () => {
    const memory = new PushMemory(MiB, 64 * MiB);
    const pb = new PushBuffer({ maxBytes: 100 * MiB, ttlMs: 10_000, memory });
    const first = memory.allocate(3 * MiB);
    pb.put("a", first);
    expect(pb.get("a")).toBe(first);
    pb.delete("a");
    expect(memory.idleByteCount).toBe(4 * MiB); // capacity: the next power of two
    const second = memory.allocate(4 * MiB);
    expect(second.buffer).toBe(first.buffer);
    expect(memory.idleByteCount).toBe(0);
  });

  it("memory handed out twice, evicted, or small is left to the garbage collector", () => {
    const memory = new PushMemory(MiB, 64 * MiB);
    const pb = new PushBuffer({ maxBytes: 10 * MiB, ttlMs: 10_000, memory });
    pb.put("twice", memory.allocate(2 * MiB));
    pb.get("twice");
    pb.get("twice"); // a second user may still hold it
    pb.delete("twice");
    expect(memory.idleByteCount).toBe(0);
    pb.put("old", memory.allocate(8 * MiB));
    pb.put("new", memory.allocate(8 * MiB)); // evicts "old" (the bound counts capacity)
    expect(pb.get("old")).toBeUndefined();
    expect(memory.idleByteCount).toBe(0);
    pb.put("small", memory.allocate(1000));
    pb.delete("small");
    expect(memory.idleByteCount).toBe(0);
  });

  it("memory given back twice is pooled once, and the idle pool is bounded", () => {
    const memory = new PushMemory(MiB, 4 * MiB);
    const a = memory.allocate(2 * MiB);
    memory.release(a);
    memory.release(a);
    expect(memory.idleByteCount).toBe(2 * MiB);
    expect(memory.allocate(2 * MiB).buffer).toBe(a.buffer);
    expect(memory.allocate(2 * MiB).buffer).not.toBe(a.buffer);
    const big = [memory.allocate(2 * MiB), memory.allocate(2 * MiB), memory.allocate(2 * MiB)];
    for (const b of big) memory.release(b);
    expect(memory.idleByteCount).toBe(4 * MiB);
  });
});
