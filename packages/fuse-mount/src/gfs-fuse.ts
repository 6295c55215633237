// fuse-native, with the libfuse options it leaves out (big_writes, max_write,
// and any standard -o option) and the caller of each operation, which the
// patched fuse-native records (fuse_get_context(): uid, gid, pid).
import Fuse from "fuse-native";
import type { Caller } from "./operations";

export interface GfsFuseOptions {
  /** libfuse -o options, in order. */
  fuseOptions: string[];
  /** Per-operation timeouts in ms (fuse-native answers ETIMEDOUT after them). */
  timeouts: Record<string, number>;
}

/** True when the installed fuse-native is the patched one that records callers. */
export const fuseNativeReportsCallers = (): boolean => (Fuse as unknown as { reportsCaller?: boolean }).reportsCaller === true;

export class GfsFuse extends Fuse {
  constructor(mountpoint: string, handlers: Record<string, (...args: any[]) => void>, private readonly gfs: GfsFuseOptions) {
    super(mountpoint, handlers, { timeout: gfs.timeouts });
  }

  override _fuseOptions(): string {
    return this.gfs.fuseOptions.length > 0 ? `-o${this.gfs.fuseOptions.join(",")}` : "";
  }

  /** The caller of the operation being dispatched now; the mount's own ids when fuse-native cannot tell. */
  caller(): Caller {
    const c = (this as unknown as { caller_?: Caller }).caller_;
    return c ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, pid: 0 };
  }
}
