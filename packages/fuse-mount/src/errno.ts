// POSIX errors for the kernel: fuse-native wants a negative errno number, and
// every GfsError already names one. Anything else (a bug, a transport error
// without an errno) is EIO: the caller must see a failure, never a success.
import { constants } from "node:os";
import { GfsError } from "@gfs/common";

const errnoNumbers = constants.errno as Record<string, number>;

/** The negative errno to hand fuse-native for `e`. */
export function toFuseErrno(e: unknown): number {
  const name = e instanceof GfsError ? e.errno : errnoNameOf(e);
  const n = name !== undefined ? errnoNumbers[name] : undefined;
  return -(n ?? errnoNumbers.EIO);
}

/** Node system errors carry their errno name in `code` (e.g. "ENOENT"). */
function errnoNameOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** The errno number (positive) of a POSIX error name, for building errors in tests and checks. */
export const errnoNumber = (name: string): number => errnoNumbers[name];

/**
 * The error a failed write reports to the application: errors that mean
 * something to it (no space, over quota, too large, read-only, permission denied) stay what they are;
 * anything else is an I/O error, with what failed in its message.
 */
export function writeFailure(e: unknown, what: string): GfsError {
  const err = e instanceof GfsError ? e : new GfsError("EIO", e instanceof Error ? e.message : String(e));
  // EACCES / EPERM: the master refused the writer (permission changed since the open, or root_squash).
  return ["ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EACCES", "EPERM"].includes(err.errno) ? err : new GfsError("EIO", `${what} failed: ${err.message}`);
}
