// mknod(2) on the mount: which file types it may make. FIFOs, character and
// block device nodes and unix sockets are metadata-only objects at the master
// (type, mode, rdev); the kernel does their I/O (a FIFO's pipe, a device's
// driver, a socket's connections) without asking us. A regular file made by
// mknod is an empty file, created and not opened.
import { GfsError } from "@gfs/common";
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG, S_IFSOCK } from "./file-attributes";

/** The special-file kinds the master stores (GfsClient.mknod's `type`). */
export type SpecialKind = "fifo" | "chr" | "blk" | "sock";

const mknodTypes = new Set([0, S_IFREG, S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK]);

/**
 * EPERM for a directory (mkdir(2) makes those, as Linux's may_mknod says), EINVAL for a type that
 * is none of mknod(2)'s. The kernel filters both already; a peer speaking FUSE to us need not.
 */
export function checkMknodMode(path: string, mode: number): void {
  const type = mode & S_IFMT;
  if (type === S_IFDIR) throw new GfsError("EPERM", `${path}: mknod cannot make a directory`);
  if (!mknodTypes.has(type)) throw new GfsError("EINVAL", `${path}: mknod of unknown file type 0${type.toString(8)}`);
}

/** The file type mknod(2)'s mode names (its S_IFMT bits), as the master's special-file kinds; undefined: none of them. */
export function specialKindOf(mode: number): SpecialKind | undefined {
  switch (mode & S_IFMT) {
    case S_IFIFO: return "fifo";
    case S_IFCHR: return "chr";
    case S_IFBLK: return "blk";
    case S_IFSOCK: return "sock";
    default: return undefined;
  }
}
