// Large chunk writes bypass the page cache (O_DIRECT). Measured on the
// benchmark machine (2-core VM, ext4 on virtio), a buffered write costs
// 0.5-1.5 ms of CPU per MiB (copying into freshly allocated page-cache pages,
// later written back by the kernel's flusher threads too), a direct write
// about 0.23 ms including the copy below; with three replicas on one host
// that decides how fast a large write can go. Reads still go through the
// page cache, which the kernel keeps coherent with direct writes.
//
// O_DIRECT wants the memory, the file offset and the length aligned. Node
// cannot allocate aligned Buffers, so aligned bytes are copied through a few
// reusable staging buffers carved from one WebAssembly.Memory (whose backing
// store starts on a page boundary); a copy into a hot buffer is cheap next to
// the page-cache copy it replaces. The unaligned head and tail of a write go
// through the ordinary descriptor.
import { nodeDisk, type Disk, type DiskFile } from "./disk";

export interface DirectWriterOptions {
  /** File offsets and lengths of direct writes are multiples of this (the file system block). */
  alignBytes: number;
  /** A write goes direct only if at least this many of its bytes are aligned. */
  minBytes: number;
  /** Size of one staging buffer (a multiple of alignBytes). */
  bufferBytes: number;
  /** Staging buffers; writes beyond this many wait for one. */
  buffers: number;
  /** Where the files are (default: the real disk). */
  disk?: Disk;
}

const wasmPageBytes = 64 * 1024;
// The project compiles without the DOM library, which is where TypeScript declares WebAssembly.
declare const WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer } };

export class DirectWriter {
  private readonly free: Buffer[] = [];
  private readonly waiting: Array<(b: Buffer) => void> = [];
  /** False once the file system refused O_DIRECT (tmpfs, some overlays): everything is buffered from then on. */
  private supported = true;
  private readonly disk: Disk;

  constructor(private readonly opts: DirectWriterOptions) {
    const { alignBytes, bufferBytes, buffers } = opts;
    this.disk = opts.disk ?? nodeDisk;
    if (!(alignBytes > 0) || bufferBytes % alignBytes !== 0 || wasmPageBytes % alignBytes !== 0 || !(buffers >= 1)) {
      throw new Error("direct writer: bad alignment or buffer size");
    }
    const pages = Math.ceil((bufferBytes * buffers) / wasmPageBytes);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    for (let i = 0; i < buffers; i++) this.free.push(Buffer.from(memory.buffer, i * bufferBytes, bufferBytes));
  }

  get enabled(): boolean {
    return this.supported;
  }

  /** The aligned middle [lo, hi) of a write of `length` bytes at `position`, if it is worth a direct write. */
  directRange(position: number, length: number): { lo: number; hi: number } | undefined {
    if (!this.supported) return undefined;
    const A = this.opts.alignBytes;
    const lo = Math.ceil(position / A) * A;
    const hi = Math.floor((position + length) / A) * A;
    return hi - lo >= this.opts.minBytes ? { lo, hi } : undefined;
  }

  /**
   * Writes `data` (which belongs at file offset `position`) to `path`: the
   * aligned middle direct, the rest through `fh`. Falls back to `fh` for all
   * of it where O_DIRECT is refused.
   */
  async write(path: string, fh: DiskFile, data: Buffer, position: number): Promise<void> {
    const range = this.directRange(position, data.length);
    if (!range) return writeFully(fh, data, 0, data.length, position);
    const { lo, hi } = range;
    const middle = data.subarray(lo - position, hi - position);
    if (lo > position) await writeFully(fh, data, 0, lo - position, position);
    if (!(await this.writeDirect(path, middle, lo))) await writeFully(fh, middle, 0, middle.length, lo);
    if (position + data.length > hi) await writeFully(fh, data, hi - position, position + data.length - hi, hi);
  }

  /** False (having written nothing) if the file system does not do O_DIRECT. */
  private async writeDirect(path: string, data: Buffer, position: number): Promise<boolean> {
    let dfh: DiskFile;
    try {
      dfh = await this.disk.open(path, "direct");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EINVAL") throw e;
      this.supported = false;
      return false;
    }
    try {
      for (let done = 0; done < data.length;) {
        const stage = await this.take();
        try {
          const n = Math.min(stage.length, data.length - done);
          data.copy(stage, 0, done, done + n);
          try {
            await writeFully(dfh, stage, 0, n, position + done);
          } catch (e) {
            // Refused before anything was written: the file system does not take aligned direct writes.
            if ((e as NodeJS.ErrnoException).code !== "EINVAL" || done > 0) throw e;
            this.supported = false;
            return false;
          }
          done += n;
        } finally {
          this.give(stage);
        }
      }
      return true;
    } finally {
      await dfh.close();
    }
  }

  private take(): Promise<Buffer> {
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private give(b: Buffer): void {
    const w = this.waiting.shift();
    if (w) w(b);
    else this.free.push(b);
  }
}

export async function writeFully(fh: DiskFile, data: Buffer, offset: number, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await fh.write(data, offset + done, length - done, position + done);
    done += bytesWritten;
  }
}
