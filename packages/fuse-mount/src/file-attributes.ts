// FileInfo (the master's view of an entry) as the stat(2) record fuse-native
// passes to the kernel.
import type { FileInfo__Output } from "@gfs/common";

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

/** Block size st_blksize advertises: large, so tools like cp move big pieces. */
export const PREFERRED_IO_BYTES = 128 * 1024;

export interface FuseStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  ino: number;
  blksize: number;
  blocks: number;
  atime: number;
  mtime: number;
  ctime: number;
}

const typeBits = (info: FileInfo__Output): number =>
  info.type === "FILE_TYPE_DIRECTORY" ? S_IFDIR : info.type === "FILE_TYPE_SYMLINK" ? S_IFLNK : S_IFREG;

/**
 * The stat record of `info`. `size` overrides the master's size when this
 * mount holds written bytes the master has not recorded yet.
 */
export function toFuseStat(info: FileInfo__Output, size = info.size): FuseStat {
  const isLink = info.type === "FILE_TYPE_SYMLINK";
  const bytes = isLink ? Buffer.byteLength(info.symlinkTarget) : size;
  return {
    mode: typeBits(info) | (info.mode & 0o7777),
    uid: info.uid,
    gid: info.gid,
    size: bytes,
    nlink: info.nlink || (info.type === "FILE_TYPE_DIRECTORY" ? 2 : 1),
    ino: info.id,
    blksize: PREFERRED_IO_BYTES,
    // st_blocks counts 512-byte units actually stored; holes are not tracked, so this is an upper bound.
    blocks: Math.ceil(bytes / 512),
    atime: info.atimeMs,
    mtime: info.mtimeMs,
    ctime: info.ctimeMs,
  };
}
