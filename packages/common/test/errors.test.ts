import { describe, expect, it } from "vitest";
import { describeErrno, fromServiceError, GfsError, toServiceError } from "../src/errors";

/** A Node system error as fs calls throw it. */
const systemError = (code: string, message: string) => Object.assign(new Error(`${code}: ${message}`), { code, errno: -28, syscall: "write" });

describe("error conversion", () => {
  it("a full disk's Node error stays ENOSPC across the wire (not EIO), and EDQUOT counts as a full disk", () => {
    for (const code of ["ENOSPC", "EDQUOT"]) {
      const wire = toServiceError(systemError(code, "no space left on device, write"));
      expect(wire.details).toMatch(/^ENOSPC: /);
      const back = fromServiceError(wire);
      expect(back.errno).toBe("ENOSPC");
      expect(back.grpcCode).toBe(new GfsError("ENOSPC", "x").grpcCode);
      // Caught locally (the primary's own apply) it is ENOSPC too.
      expect(fromServiceError(systemError(code, "no space")).errno).toBe("ENOSPC");
    }
    expect(fromServiceError(systemError("EFBIG", "file too large")).errno).toBe("EFBIG");
  });

  it("other system errors are still EIO", () => {
    expect(toServiceError(systemError("EBADF", "bad file descriptor")).details).toMatch(/^EIO: /);
    expect(fromServiceError(systemError("EBADF", "bad file descriptor")).errno).toBe("EIO");
  });

  it("errnos read as strerror says them", () => {
    expect(describeErrno("ENOSPC")).toBe("No space left on device");
  });
});
