// FileInfo (the master's view of an entry) as the stat(2) record fuse-native
// passes to the kernel.
import type { FileInfo__Output } from "@gfs/common";

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFSOCK = 0o140000;

/** Block size st_blksize advertises: large, so tools like cp move big pieces. */
export const PREFERRED_IO_BYTES = 128 * 1024;

export interface FuseStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  ino: number;
  /** The device a character or block special file stands for (the number mknod(2) was given); 0 otherwise. */
  rdev: number;
  blksize: number;
  blocks: number;
  atime: number;
  mtime: number;
  ctime: number;
}

const typeBitsOf: Partial<Record<FileInfo__Output["type"], number>> = {
  FILE_TYPE_DIRECTORY: S_IFDIR, FILE_TYPE_SYMLINK: S_IFLNK, FILE_TYPE_FIFO: S_IFIFO,
  FILE_TYPE_CHAR_DEVICE: S_IFCHR, FILE_TYPE_BLOCK_DEVICE: S_IFBLK, FILE_TYPE_SOCKET: S_IFSOCK,
};

const typeBits = (info: FileInfo__Output): number => typeBitsOf[info.type] ?? S_IFREG;

/**
 * The stat record of `info`. `size` overrides the master's size when this
 * mount holds written bytes the master has not recorded yet. `withheld`: the
 * master withheld the attributes (a listing by a caller who may read the
 * directory but not search it), so their zeros mean "unknown", not "none".
 */
export function toFuseStat(info: FileInfo__Output, size = info.size, withheld = false): FuseStat {
  const isLink = info.type === "FILE_TYPE_SYMLINK";
  const bytes = isLink ? Buffer.byteLength(info.symlinkTarget) : size;
  return {
    mode: typeBits(info) | (info.mode & 0o7777),
    uid: info.uid,
    gid: info.gid,
    size: bytes,
    // The master's nlink is exact: 0 is an orphan (unlinked, kept while open) and fstat must say so.
    nlink: withheld ? (info.type === "FILE_TYPE_DIRECTORY" ? 2 : 1) : info.nlink,
    ino: info.id,
    rdev: info.type === "FILE_TYPE_CHAR_DEVICE" || info.type === "FILE_TYPE_BLOCK_DEVICE" ? info.rdev : 0,
    blksize: PREFERRED_IO_BYTES,
    // st_blocks counts 512-byte units actually stored; holes are not tracked, so this is an upper bound.
    blocks: Math.ceil(bytes / 512),
    atime: info.atimeMs,
    mtime: info.mtimeMs,
    ctime: info.ctimeMs,
  };
}
