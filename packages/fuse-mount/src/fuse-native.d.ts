// fuse-native ships no types; this is the part gfs-mount uses.
declare module "fuse-native" {
  interface FuseOptions {
    timeout?: number | false | Record<string, number | false>;
    force?: boolean;
    mkdir?: boolean;
    debug?: boolean;
    [option: string]: unknown;
  }
  class Fuse {
    constructor(mnt: string, ops: Record<string, (...args: any[]) => void>, opts?: FuseOptions);
    readonly mnt: string;
    opts: FuseOptions;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    /** The "-o a,b,c" string handed to libfuse's fuse_mount. */
    _fuseOptions(): string;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
  }
  export = Fuse;
}
