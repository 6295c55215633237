// The chunkserver's disk behind one interface: exactly the file operations the
// chunk store, its open-file cache, direct writer and directory sync, and the
// quarantine use. Daemons run on nodeDisk (node:fs, the same syscalls as
// before); the deterministic simulator runs the same code on SimDisk
// (sim-disk.ts), an in-memory disk that loses what was not synced on a crash.
//
// Shapes follow node:fs/promises, so nodeDisk hands out node's own FileHandle
// and Stats unwrapped: the write path costs no extra allocation or await.
import { constants as fsConstants } from "node:fs";
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, relative, sep } from "node:path";

/**
 * How a file is opened (node's flags in brackets):
 * - "r": read only, existing file or directory (a directory is opened to sync it) [r]
 * - "r+": read-write, existing file [r+]
 * - "w": write only, created or truncated [w]
 * - "w+": read-write, created or truncated [w+]
 * - "w-dsync": as "w", and every write returns once its bytes (and the size) are on disk [O_WRONLY|O_CREAT|O_TRUNC|O_DSYNC]
 * - "direct": write only, existing file, bypassing the page cache; EINVAL where the file system refuses [O_WRONLY|O_DIRECT]
 */
export type OpenMode = "r" | "r+" | "w" | "w+" | "w-dsync" | "direct";

export interface DiskStat {
  size: number;
  isFile(): boolean;
  isDirectory(): boolean;
}

/** An open file (or directory, for sync). Positions are file offsets; offset/length index `buffer`. */
export interface DiskFile {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  /** Writes `data` as the file's content (on a file just opened with "w"). */
  writeFile(data: string | Buffer): Promise<void>;
  /** fsync: data and metadata durable; for a directory, its entries (creations, renames, removals in it). */
  sync(): Promise<void>;
  /** fdatasync: data (and the size) durable. */
  datasync(): Promise<void>;
  stat(): Promise<DiskStat>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface Disk {
  open(path: string, mode: OpenMode): Promise<DiskFile>;
  readFile(path: string, encoding: "utf8"): Promise<string>;
  /** Creates or replaces the file (not synced). */
  writeFile(path: string, data: string | Buffer): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /**
   * Creates or replaces `to` with `from`'s current content (not synced). On
   * the real disk a reflink where the file system can (btrfs, XFS: the copy
   * shares the extents until either file is written), else an ordinary copy
   * in the kernel, off the event loop (libuv's thread pool).
   */
  copyFile(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Removes a file or a whole tree; `force`: a missing path is no error. */
  rm(path: string, opts: { recursive: boolean; force: boolean }): Promise<void>;
  /** As node's: with `recursive`, the first directory it created, or undefined if all existed. */
  mkdir(path: string, opts: { recursive: true }): Promise<string | undefined>;
  readdir(path: string): Promise<string[]>;
  stat(path: string): Promise<DiskStat>;
  /** fsync of a directory: its entries become durable. */
  syncDir(path: string): Promise<void>;
}

const nodeFlags: Record<OpenMode, string | number> = {
  "r": "r",
  "r+": "r+",
  "w": "w",
  "w+": "w+",
  "w-dsync": fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_DSYNC,
  "direct": fsConstants.O_WRONLY | fsConstants.O_DIRECT,
};

/** The real disk (node:fs/promises). */
export const nodeDisk: Disk = {
  open: (path, mode) => open(path, nodeFlags[mode]),
  readFile: (path, encoding) => readFile(path, encoding),
  writeFile: (path, data) => writeFile(path, data),
  rename: (from, to) => rename(from, to),
  copyFile: (from, to) => copyFile(from, to, fsConstants.COPYFILE_FICLONE),
  unlink: (path) => unlink(path),
  rm: (path, opts) => rm(path, opts),
  mkdir: (path, opts) => mkdir(path, opts),
  readdir: (path) => readdir(path),
  stat: (path) => stat(path),
  syncDir: async (path) => {
    const fh = await open(path, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};

/**
 * mkdir -p whose result survives a crash: each directory it created is made
 * durable by a sync of its parent. Nothing extra when the directory existed
 * (every start but the first).
 */
export async function mkdirDurable(disk: Disk, path: string): Promise<void> {
  const first = await disk.mkdir(path, { recursive: true });
  if (first === undefined) return;
  const created = [first];
  for (const part of relative(first, path).split(sep)) if (part) created.push(created[created.length - 1] + sep + part);
  for (const dir of created) await disk.syncDir(dirname(dir));
}
