// The largest file (file_size_bytes_max in config.ts), checked where a size
// or offset enters: the master refuses anything beyond it, and clients and
// the mount refuse early so an application sees EFBIG at write(2) time.
import { defaults } from "./config";
import { GfsError } from "./errors";

/** EFBIG when [offset, offset + length) of `path` reaches past the largest file; EINVAL for a bad offset. */
export function checkFileEnd(path: string, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new GfsError("EINVAL", `bad offset ${offset} in ${path}`);
  if (offset + length > defaults.file_size_bytes_max) {
    throw new GfsError("EFBIG", `${path}: offset ${offset + length} is beyond the largest file size, ${defaults.file_size_bytes_max} bytes`);
  }
}
