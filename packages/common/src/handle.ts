// Chunk handles: 64-bit numbers written as 16 lower-case hex digits. The
// chunkserver names files by handle, so a handle is validated exactly before
// it ever touches a path.
import { randomBytes } from "node:crypto";
import { GfsError } from "./errors";

const handlePattern = /^[0-9a-f]{16}$/;

export const isHandle = (s: string): boolean => handlePattern.test(s);

export function checkHandle(s: string): string {
  if (!isHandle(s)) throw new GfsError("EINVAL", `bad chunk handle '${s}' (want 16 hex digits)`);
  return s;
}

/** A fresh random 64-bit handle (never zero), from `bytes` (an Env's randomBytes; crypto by default). */
export function randomHandle(bytes: (n: number) => Buffer = randomBytes): string {
  for (;;) {
    const h = bytes(8).toString("hex");
    if (h !== "0000000000000000") return h;
  }
}
