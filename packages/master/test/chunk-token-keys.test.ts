import { describe, expect, it } from "vitest";
import { verifyChunkToken } from "@gfs/common";
import { ChunkTokenKeys } from "../src/chunk-token-keys";

const A = "00000000000000a1";

describe("the master's chunk token keys", () => {
  it("rotate every period; each key is handed out a period before it signs and kept until its last token expired", () => {
    let now = 1_000_000;
    const keys = new ChunkTokenKeys({ ttlMs: 100, rotateMs: 1_000, now: () => now });
    const first = keys.forChunkservers();
    expect(first).toHaveLength(2); // current and next
    const t0 = keys.sign([A], "read");
    expect(Number(t0.split(".")[1])).toBe(first[0]!.id);
    const v0 = keys.version;
    now += 1_000; // the next key signs now; it was already handed out
    const t1 = keys.sign([A], "read");
    expect(Number(t1.split(".")[1])).toBe(first[1]!.id);
    expect(keys.version).not.toBe(v0);
    const second = keys.forChunkservers();
    expect(second.map((k) => k.id)).toEqual([first[0]!.id, first[1]!.id, first[1]!.id + 1]); // the old one is still needed
    now += 100; // the old key's last token expired: dropped
    expect(keys.forChunkservers().map((k) => k.id)).toEqual([first[1]!.id, first[1]!.id + 1]);
    // Every token verifies with the keys as handed out, until its own expiry.
    const keyOf = (id: number) => second.find((k) => k.id === id)?.key;
    expect(verifyChunkToken(t1, keyOf, A, "read", now - 1).ok).toBe(true);
    expect(verifyChunkToken(t1, keyOf, A, "read", now)).toMatchObject({ ok: false, reason: "expired" });
  });

  it("a wall clock that steps back (NTP at boot) still gets tokens, signed by a key chunkservers know, valid ttl from now", () => {
    let now = 1_000_000;
    const keys = new ChunkTokenKeys({ ttlMs: 100, rotateMs: 1_000, now: () => now });
    const handedOut = keys.forChunkservers();
    now -= 60_000; // before the first key's period
    const t = keys.sign([A], "write");
    const keyOf = (id: number) => handedOut.find((k) => k.id === id)?.key;
    expect(verifyChunkToken(t, keyOf, A, "write", now)).toEqual({ ok: true });
    expect(Number(t.split(".")[2])).toBe(now + 100);
  });

  it("a restarted master's keys have other ids, so an old token is 'unknown key' (refresh), never a forgery", () => {
    const now = () => 5_000;
    const before = new ChunkTokenKeys({ ttlMs: 100, rotateMs: 1_000, now });
    const after = new ChunkTokenKeys({ ttlMs: 100, rotateMs: 1_000, now });
    const ids = new Set(before.forChunkservers().map((k) => k.id));
    expect(after.forChunkservers().some((k) => ids.has(k.id))).toBe(false);
    for (const k of after.forChunkservers()) expect(k.key).toHaveLength(32);
  });
});
