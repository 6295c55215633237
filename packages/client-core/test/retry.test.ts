// Which failures of a chunk operation are worth asking the master again (retry.ts).
import { describe, expect, it } from "vitest";
import { GfsError } from "@gfs/common";
import { isRetryable, withRetries } from "../src/retry";

describe("retry rules", () => {
  it("a chunkserver's 'chunk not on this server' is a stale location (retried with fresh locations); a missing file is not retried", () => {
    expect(isRetryable({ code: 5, details: "ENOENT: chunk 0123456789abcdef not on this server" })).toBe(true);
    expect(isRetryable(new GfsError("ENOENT", "chunk 0123456789abcdef not on this server"))).toBe(true);
    expect(isRetryable(new GfsError("ENOENT", "/a/b"))).toBe(false);
    expect(isRetryable(new GfsError("ESTALE", "lease expired"))).toBe(true);
  });

  it("a primary whose own replica was deleted under a write it had ordered ('mutation N of chunk H failed on primary S: chunk H not on this server') is a stale location too, retried with fresh locations", async () => {
    // Word for word what a mount's write-back gave up on (fuse-files' 24 MiB cp, under load).
    const h = "4b2555dc9fe84e2d";
    const wrapped = `mutation 1 of chunk ${h} failed on primary cs2: chunk ${h} not on this server`;
    expect(isRetryable(new GfsError("ENOENT", wrapped))).toBe(true);
    expect(isRetryable({ code: 5, details: `ENOENT: ${wrapped}` })).toBe(true);
    // Only the primary's replica of that same chunk: anything else wrapped so stays the caller's error.
    expect(isRetryable(new GfsError("ENOENT", `mutation 1 of chunk ${h} failed on primary cs2: chunk 0123456789abcdef not on this server`))).toBe(false);
    expect(isRetryable(new GfsError("ENOENT", `mutation 1 of chunk ${h} failed on primary cs2: /a/b`))).toBe(false);
    const dropped: string[] = [];
    let n = 0;
    const v = await withRetries("write", { attempts: 3, initialBackoffMs: 1 }, async () => {
      if (++n === 1) throw new GfsError("ENOENT", wrapped);
      return "done";
    }, (e) => dropped.push(e.errno), async () => {});
    expect(v).toBe("done");
    expect(dropped).toEqual(["ENOENT"]);
  });

  it("a replica deleted under a write drops the cached lease and succeeds on the next attempt", async () => {
    const dropped: string[] = [];
    let n = 0;
    const v = await withRetries("write", { attempts: 3, initialBackoffMs: 1 }, async () => {
      if (++n === 1) throw new GfsError("ENOENT", "chunk 0123456789abcdef not on this server");
      return "done";
    }, (e) => dropped.push(e.errno), async () => {});
    expect(v).toBe("done");
    expect(dropped).toEqual(["ENOENT"]);
  });
});
