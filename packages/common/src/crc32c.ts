// CRC32C (Castagnoli) of chunk blocks, hardware-accelerated through @node-rs/crc32.
import { crc32c as nativeCrc32c } from "@node-rs/crc32";

/** CRC32C of `data`, continuing from `initial` (0 for a fresh checksum). */
export function crc32c(data: Uint8Array, initial = 0): number {
  return nativeCrc32c(Buffer.from(data.buffer, data.byteOffset, data.byteLength), initial) >>> 0;
}
