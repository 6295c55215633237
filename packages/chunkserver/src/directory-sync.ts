// fsync of the chunk directory, which makes file creations and renames in it
// durable. The directory stays open, and concurrent requests share a sync: a
// caller is answered by the first sync that *started* after it asked, so
// every rename it made before asking is covered.
import { nodeDisk, type Disk, type DiskFile } from "./disk";

export class DirectorySync {
  private fh?: Promise<DiskFile>;
  private running?: Promise<void>;
  private queued?: Promise<void>;
  /** fsync calls made (for tests). */
  syncs = 0;

  constructor(private readonly dir: string, private readonly disk: Disk = nodeDisk) {}

  sync(): Promise<void> {
    if (!this.running) return this.start();
    // The running sync may have started before the caller's rename: wait for the next one.
    this.queued ??= this.running.catch(() => {}).then(() => {
      this.queued = undefined;
      return this.start();
    });
    return this.queued;
  }

  private start(): Promise<void> {
    const p: Promise<void> = this.handle()
      .then((fh) => {
        this.syncs++;
        return fh.sync();
      })
      .finally(() => {
        if (this.running === p) this.running = undefined;
      });
    this.running = p;
    return p;
  }

  private handle(): Promise<DiskFile> {
    if (!this.fh) {
      const fh = this.disk.open(this.dir, "r");
      fh.catch(() => {
        if (this.fh === fh) this.fh = undefined;
      });
      this.fh = fh;
    }
    return this.fh;
  }

  /** Closes the directory (a later sync opens it again). */
  async close(): Promise<void> {
    await Promise.allSettled([this.running, this.queued]);
    const fh = this.fh;
    this.fh = undefined;
    if (fh) await fh.then((h) => h.close(), () => {});
  }
}
