import { describe, expect, it } from "vitest";
import { PushBuffer } from "../src/push-buffer";

describe("push buffer", () => {
  it("holds pushed data by id until deleted, and a get does not consume it", () => {
    const pb = new PushBuffer({ maxBytes: 100, ttlMs: 1000 });
    pb.put("a", Buffer.from("hello"));
    expect(pb.get("a")?.toString()).toBe("hello");
    expect(pb.get("a")?.toString()).toBe("hello");
    expect(pb.bytes).toBe(5);
    pb.delete("a");
    expect(pb.get("a")).toBeUndefined();
    expect(pb.bytes).toBe(0);
  });

  it("is bounded in bytes: the least recently used push is evicted first", () => {
    const pb = new PushBuffer({ maxBytes: 100, ttlMs: 10_000 });
    pb.put("a", Buffer.alloc(40));
    pb.put("b", Buffer.alloc(40));
    pb.get("a");
    pb.put("c", Buffer.alloc(40));
    expect(pb.get("b")).toBeUndefined();
    expect(pb.get("a")).toBeDefined();
    expect(pb.get("c")).toBeDefined();
    expect(pb.bytes).toBeLessThanOrEqual(100);
    expect(pb.put("huge", Buffer.alloc(101))).toBe(false);
  });

  it("drops pushed data that no mutation used within the TTL", () => {
    let now = 1_000;
    const pb = new PushBuffer({ maxBytes: 100, ttlMs: 500, now: () => now });
    pb.put("a", Buffer.alloc(10));
    now += 499;
    expect(pb.get("a")).toBeDefined();
    now += 2;
    expect(pb.get("a")).toBeUndefined();
    expect(pb.bytes).toBe(0);
  });
});
