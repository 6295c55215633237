import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { chunkTokenError, requireChunkToken, signChunkToken, verifyChunkToken } from "../src/chunk-token";

const key = { id: 7, key: randomBytes(32) };
const keys = new Map([[key.id, key.key]]);
const keyOf = (id: number) => keys.get(id);
const A = "00000000000000a1";
const B = "00000000000000b2";
const now = 1_000_000;

const reasonOf = (token: string, handle: string, access: "read" | "write", at = now) => {
  const v = verifyChunkToken(token, keyOf, handle, access, at);
  return v.ok ? "ok" : v.reason;
};

describe("chunk access tokens", () => {
  it("a token signed with the master's key grants its access to its handles until it expires", () => {
    const t = signChunkToken(key, [A, B], "write", now + 1000);
    expect(reasonOf(t, A, "write")).toBe("ok");
    expect(reasonOf(t, B, "write", now + 999)).toBe("ok");
    expect(() => requireChunkToken(t, keyOf, A, "write", now)).not.toThrow();
  });

  it("an expired token is refused with ESTALE (the client asks the master again), not EACCES", () => {
    const t = signChunkToken(key, [A], "read", now + 1000);
    expect(reasonOf(t, A, "read", now + 1000)).toBe("expired");
    expect(() => requireChunkToken(t, keyOf, A, "read", now + 5000)).toThrow(/^ESTALE: chunk access token expired 4000 ms ago/);
  });

  it("a token signed with a key this chunkserver does not know (master restarted) is refused with ESTALE", () => {
    const t = signChunkToken({ id: 8, key: randomBytes(32) }, [A], "read", now + 1000);
    expect(reasonOf(t, A, "read")).toBe("unknown key");
    expect(() => requireChunkToken(t, keyOf, A, "read", now)).toThrow(/^ESTALE: .*key 8/);
  });

  it("a forged token (signed with another secret under the right key id) is refused with EACCES", () => {
    const forged = signChunkToken({ id: key.id, key: randomBytes(32) }, [A], "write", now + 1000);
    expect(reasonOf(forged, A, "write")).toBe("bad signature");
    expect(() => requireChunkToken(forged, keyOf, A, "write", now)).toThrow(/^EACCES: .*bad signature/);
  });

  it("an altered token (expiry pushed out, another handle or access written in) fails its signature", () => {
    const t = signChunkToken(key, [A], "read", now + 1000);
    const [v, id, exp, acc, hs, mac] = t.split(".");
    expect(reasonOf([v, id, Number(exp) + 1e9, acc, hs, mac].join("."), A, "read")).toBe("bad signature");
    expect(reasonOf([v, id, exp, "w", hs, mac].join("."), A, "write")).toBe("bad signature");
    expect(reasonOf([v, id, exp, acc, `${hs},${B}`, mac].join("."), B, "read")).toBe("bad signature");
    expect(reasonOf([v, id, exp, acc, hs, mac!.slice(0, -2)].join("."), A, "read")).toBe("bad signature");
  });

  it("a token for one chunk opens no other chunk (EACCES, no retry)", () => {
    const t = signChunkToken(key, [A], "write", now + 1000);
    expect(reasonOf(t, B, "read")).toBe("wrong handle");
    expect(() => requireChunkToken(t, keyOf, B, "read", now)).toThrow(/^EACCES: chunk access token does not name chunk 00000000000000b2/);
  });

  it("a read token does not allow writes; a write token allows reads", () => {
    const r = signChunkToken(key, [A], "read", now + 1000);
    const w = signChunkToken(key, [A], "write", now + 1000);
    expect(reasonOf(r, A, "write")).toBe("wrong access");
    expect(reasonOf(w, A, "read")).toBe("ok");
  });

  it("no token, or garbage, is refused with EACCES", () => {
    for (const t of ["", "t1", "t1.7.x.r.00000000000000a1.abc", "t2.7.1.r.00000000000000a1.abc", "x".repeat(70_000)]) {
      const v = verifyChunkToken(t, keyOf, A, "read", now);
      expect(v.ok).toBe(false);
      if (!v.ok) {
        expect(v.reason).toBe("malformed");
        expect(chunkTokenError(v).errno).toBe("EACCES");
      }
    }
  });
});
