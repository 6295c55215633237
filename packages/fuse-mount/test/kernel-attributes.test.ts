import { describe, expect, it } from "vitest";
import type { FuseStat } from "../src/file-attributes";
import { KernelAttributes } from "../src/kernel-attributes";

const stat = (size: number, mtime = 1): FuseStat => ({ mode: 0o100644, uid: 1, gid: 2, size, nlink: 1, ino: 5, rdev: 0, blksize: 4096, blocks: 1, atime: 0, mtime, ctime: 0 });

describe("what the kernel holds of each path's attributes", () => {
  it("an open whose fresh attributes differ from what the kernel was told within its timeout must revalidate, once", () => {
    const now = { t: 0 };
    const k = new KernelAttributes({ attrTimeoutMs: 1000, now: () => now.t });
    k.answered("/f", stat(10));
    expect(k.mustRevalidate("/f", stat(10), 7)).toBe(false); // same attributes: the kernel's copy is right
    expect(k.mustRevalidate("/f", stat(20), 7)).toBe(true); // another mount grew it
    // The kernel retries the open once after its revalidating lookup: never a second ESTALE for it.
    expect(k.mustRevalidate("/f", stat(30), 7)).toBe(false);
  });

  it("after the retry, a file changed again within the retry window is caught again", () => {
    const now = { t: 0 };
    const k = new KernelAttributes({ attrTimeoutMs: 1000, now: () => now.t });
    k.answered("/f", stat(10));
    expect(k.mustRevalidate("/f", stat(20), 7)).toBe(true);
    k.answered("/f", stat(20)); // the kernel's revalidating lookup
    now.t += 5;
    expect(k.mustRevalidate("/f", stat(20), 7)).toBe(false); // its retried open
    now.t += 100;
    expect(k.mustRevalidate("/f", stat(35), 7)).toBe(true); // the other mount appended again
  });

  it("the retry that passes is the ESTALE'd task's own: other tasks opening meanwhile are checked, and its retry passes even if the file changed again", () => {
    const now = { t: 0 };
    const k = new KernelAttributes({ attrTimeoutMs: 1000, now: () => now.t });
    k.answered("/log", stat(10));
    expect(k.mustRevalidate("/log", stat(20), 101)).toBe(true); // shell 101's open
    expect(k.mustRevalidate("/log", stat(20), 102)).toBe(true); // shell 102 opens before 101 retried
    k.answered("/log", stat(20)); // the revalidating lookups
    expect(k.mustRevalidate("/log", stat(30), 101)).toBe(false); // 101's retry: another append landed meanwhile
    expect(k.mustRevalidate("/log", stat(30), 102)).toBe(false); // 102's retry too
    expect(k.mustRevalidate("/log", stat(30), 103)).toBe(true); // a new open is checked again
  });

  it("a changed mtime alone also makes the open revalidate", () => {
    const k = new KernelAttributes({ attrTimeoutMs: 1000, now: () => 0 });
    k.answered("/f", stat(10, 1));
    expect(k.mustRevalidate("/f", stat(10, 2), 7)).toBe(true);
  });

  it("answers the kernel no longer holds (past its timeout, with margin) and paths never answered need nothing", () => {
    const now = { t: 0 };
    const k = new KernelAttributes({ attrTimeoutMs: 1000, now: () => now.t });
    expect(k.mustRevalidate("/never", stat(1), 7)).toBe(false);
    k.answered("/f", stat(10));
    now.t = 1400; // within timeout x 1.5: the kernel may have read our answer late
    expect(k.mustRevalidate("/f", stat(11), 7)).toBe(true);
    k.answered("/g", stat(10));
    now.t += 1501;
    expect(k.mustRevalidate("/g", stat(11), 7)).toBe(false);
  });

  it("without a kernel attribute timeout nothing is remembered", () => {
    const k = new KernelAttributes({ attrTimeoutMs: 0, now: () => 0 });
    k.answered("/f", stat(10));
    expect(k.size).toBe(0);
    expect(k.mustRevalidate("/f", stat(11), 7)).toBe(false);
  });

  it("a rename by this mount moves what the kernel holds with the names, a directory's entries too; an unlink forgets", () => {
    const k = new KernelAttributes({ attrTimeoutMs: 1000, now: () => 0 });
    k.answered("/d/a", stat(1));
    k.answered("/d/sub/b", stat(2));
    k.answered("/dx", stat(3));
    k.moved("/d", "/e");
    expect(k.mustRevalidate("/e/a", stat(9), 7)).toBe(true);
    expect(k.mustRevalidate("/e/sub/b", stat(9), 7)).toBe(true);
    expect(k.mustRevalidate("/d/a", stat(9), 7)).toBe(false);
    expect(k.mustRevalidate("/dx", stat(9), 7)).toBe(true); // not under /d
    k.answered("/g", stat(1));
    k.forget("/g");
    expect(k.mustRevalidate("/g", stat(9), 7)).toBe(false);
  });

  it("answers older than the timeout are swept when the map is full, newer ones kept", () => {
    const now = { t: 0 };
    const k = new KernelAttributes({ attrTimeoutMs: 100, now: () => now.t, entriesMax: 3 });
    k.answered("/a", stat(1));
    k.answered("/b", stat(1));
    now.t = 1000;
    k.answered("/c", stat(1));
    k.answered("/d", stat(1)); // over the maximum: /a and /b (expired) go
    expect(k.size).toBe(2);
  });
});
