// The table of open files of one mount: what the kernel's file handle number
// (fuse_file_info.fh) stands for.
import { AppendBuffer } from "./append-buffer";
import type { ReadAhead } from "./read-ahead";
import type { WriteBack } from "./write-back";

const O_ACCMODE = 0o3;
const O_WRONLY = 0o1;
const O_RDWR = 0o2;
export const O_APPEND = 0o2000;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;

/** Open flags that allow writing. */
export function writableFlags(flags: number): boolean {
  const mode = flags & O_ACCMODE;
  return mode === O_WRONLY || mode === O_RDWR;
}

export class OpenFile {
  writer: WriteBack | AppendBuffer | undefined;
  writerReady: Promise<WriteBack | AppendBuffer> | undefined;
  reader: ReadAhead | undefined;
  /**
   * Who opened it (operations.ts Caller): its buffered writes reach the master as the opener, as a
   * descriptor carries the permission its open was given, whichever operation happens to flush them.
   */
  opener: { uid: number; gid: number; pid: number } | undefined;

  /**
   * @param id the inode (issue 19; 0: unknown): with a mount session, every backend call made through
   * the descriptor addresses it by inode path, so a rename or unlink never redirects them.
   */
  constructor(readonly fd: number, public path: string, readonly flags: number, readonly id = 0) {}

  get writable(): boolean {
    return writableFlags(this.flags);
  }

  get appendOnly(): boolean {
    return (this.flags & O_APPEND) !== 0;
  }

  get dirty(): boolean {
    return this.writer?.dirty ?? false;
  }

  /** The file size as this handle sees it, given the size the master recorded. */
  sizeSeen(masterSize: number): number {
    if (!this.writer) return masterSize;
    if (this.writer instanceof AppendBuffer) return masterSize + this.writer.pendingBytes;
    return Math.max(masterSize, this.writer.pendingEnd);
  }
}

const isUnder = (path: string, dir: string): boolean => path === dir || path.startsWith(dir === "/" ? "/" : dir + "/");

export class OpenFiles {
  private readonly byFd = new Map<number, OpenFile>();
  private next = 1;

  open(path: string, flags: number, id = 0): OpenFile {
    // fh 0 means "no handle" to fuse-native; numbers are reused only after 2^31 opens.
    while (this.byFd.has(this.next) || this.next === 0) this.next = (this.next + 1) % 0x8000_0000;
    const f = new OpenFile(this.next, path, flags, id);
    this.byFd.set(f.fd, f);
    this.next = (this.next + 1) % 0x8000_0000;
    return f;
  }

  get(fd: number): OpenFile | undefined {
    return this.byFd.get(fd);
  }

  close(fd: number): void {
    this.byFd.delete(fd);
  }

  /** Open files of exactly `path`. */
  of(path: string): OpenFile[] {
    return [...this.byFd.values()].filter((f) => f.path === path);
  }

  /**
   * Open files of `path` and, with `id` known (> 0), every other descriptor of that inode (opened
   * through another hard link, or since renamed): what this mount wrote through any name of the
   * inode is the file's, whichever name is read or statted.
   */
  ofInode(path: string, id: number): OpenFile[] {
    return [...this.byFd.values()].filter((f) => f.path === path || (id > 0 && f.id === id));
  }

  /** Open files at or below `path`. */
  under(path: string): OpenFile[] {
    return [...this.byFd.values()].filter((f) => isUnder(f.path, path));
  }

  all(): OpenFile[] {
    return [...this.byFd.values()];
  }

  /** `from` was renamed to `to`: files open below it now live below `to`. */
  moved(from: string, to: string): void {
    for (const f of this.byFd.values()) if (isUnder(f.path, from)) f.path = to + f.path.slice(from.length);
  }

  get size(): number {
    return this.byFd.size;
  }
}
