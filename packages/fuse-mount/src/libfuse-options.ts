// The -o options libfuse 2.9 (the library fuse-native links) accepts, so a
// typo is a usage error before anything is mounted. libfuse itself checks
// most of them only after the kernel mount is made (fuse_new, after
// fuse_mount), and fuse-native then leaves that mount behind, dead
// ("Transport endpoint is not connected"). Names from libfuse 2.9.9's
// mount.c, fuse.c, fuse_lowlevel.c and its subdir and iconv modules.
import { UsageError } from "@gfs/common";

type Kind = "flag" | "uint" | "octal" | "seconds" | "text";

const flags = [
  // mount.c: kernel mount flags and options
  "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "async", "sync", "atime", "noatime", "dirsync",
  "allow_other", "allow_root", "auto_unmount", "nonempty", "blkdev", "default_permissions", "large_read",
  // fuse.c: the high-level library
  "debug", "hard_remove", "use_ino", "readdir_ino", "direct_io", "kernel_cache", "auto_cache", "noauto_cache", "noforget",
  "nopath", "intr",
  // fuse_lowlevel.c
  "async_read", "sync_read", "atomic_o_trunc", "big_writes", "no_remote_lock", "no_remote_flock", "no_remote_posix_lock",
  "splice_write", "no_splice_write", "splice_move", "no_splice_move", "splice_read", "no_splice_read",
  // the subdir module
  "rellinks", "norellinks",
];

const valued: Record<string, Kind> = {
  fsname: "text", subtype: "text", blksize: "uint", max_read: "uint", user: "text",
  context: "text", fscontext: "text", defcontext: "text", rootcontext: "text",
  umask: "octal", uid: "uint", gid: "uint",
  entry_timeout: "seconds", negative_timeout: "seconds", attr_timeout: "seconds", ac_attr_timeout: "seconds",
  remember: "uint", intr_signal: "uint", modules: "text",
  max_write: "uint", max_readahead: "uint", max_background: "uint", congestion_threshold: "uint",
  subdir: "text", from_code: "text", to_code: "text",
};

const kinds = new Map<string, Kind>([...flags.map((f) => [f, "flag"] as [string, Kind]), ...Object.entries(valued)]);

const valueOk: Record<Exclude<Kind, "flag">, (v: string) => boolean> = {
  uint: (v) => /^\d+$/.test(v),
  octal: (v) => /^[0-7]{1,4}$/.test(v),
  seconds: (v) => /^\d+(\.\d+)?$/.test(v),
  text: (v) => v.length > 0,
};

const valueWords: Record<Exclude<Kind, "flag">, string> = {
  uint: "a whole number", octal: "octal digits (e.g. 022)", seconds: "a number of seconds", text: "a value",
};

/** Throws a one-line UsageError unless libfuse would take `opt` ("name" or "name=value"). */
export function checkLibfuseOption(opt: string): void {
  const eq = opt.indexOf("=");
  const name = eq < 0 ? opt : opt.slice(0, eq);
  const kind = kinds.get(name);
  if (kind === undefined) throw new UsageError(`-o ${opt}: not a mount option libfuse knows; nothing was mounted`);
  if (kind === "flag") {
    if (eq >= 0) throw new UsageError(`-o ${opt}: ${name} takes no value`);
    return;
  }
  const value = eq < 0 ? "" : opt.slice(eq + 1);
  if (!valueOk[kind](value)) throw new UsageError(`-o ${opt}: not ${valueWords[kind]}`);
}
