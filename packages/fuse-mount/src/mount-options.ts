// The command line of gfs-mount, and the -o option list handed to libfuse.
//
//   gfs-mount MOUNTPOINT --master HOST:PORT [--foreground] [-o opt[,opt...]]...
//   gfs-mount HOST:PORT MOUNTPOINT -o opts       (the form mount.fuse uses for /etc/fstab)
//
// Standard FUSE options (allow_other, ro, uid=, umask=, ...) pass through to
// libfuse. Options that only mean something to mount(8) or fstab are dropped
// here, because libfuse would reject them as unknown.
import { defaults, UsageError } from "@gfs/common";
import { checkLibfuseOption } from "./libfuse-options";

/** Options that only mean something to mount(8) and /etc/fstab, never to libfuse. */
const fstabOnly = new Set(["defaults", "auto", "noauto", "user", "users", "nouser", "nofail", "_netdev", "owner", "group", "rw"]);

/**
 * Always on: the kernel enforces mode bits; and it sends 128 KiB writes instead
 * of 4 KiB ones. Not hard_remove (issue 19): without it libfuse keeps a file
 * unlinked while open reachable by renaming it to a hidden name, which the
 * mount turns into the real unlink while its session holds the inode open
 * (operations.ts hide); descriptors then keep reading and writing it. A rename
 * over an open target is two steps then: the target is unlinked first, and a
 * reader may find the name missing in between.
 */
const alwaysOn = ["default_permissions", "big_writes", "max_write=131072"];

/**
 * st_ino is the master's inode id (FileInfo.id), not libfuse's node number:
 * libfuse 2's path API gives each name its own node, so without use_ino two
 * hard links of one file would show two inode numbers (and tar, cp -a, du,
 * find -samefile would not see them as one file), and a remount would renumber
 * every file.
 */
const inodeNumbers = ["use_ino"];

/**
 * The kernel keeps names and attributes as long as our own cache does (the
 * --attr-timeout-ms flag): with entry_timeout at 0 every path walk cost a
 * LOOKUP per component, and with attr_timeout at 0 every stat a GETATTR, each a
 * round trip into JavaScript (`ls -l` and `find` of 2,000 files: two each per
 * file). A kernel holding attributes could let a reader on this mount read a
 * file another mount rewrote only up to the old size: open, which always asks
 * the master, then makes the kernel look the name up again first
 * (kernel-attributes.ts). Negative entries stay uncached, so a file created on
 * another mount is found at once.
 */
const kernelCache = (attrCacheMs: number, rootSquash: boolean): string[] => {
  const s = String(attrCacheMs / 1000);
  // root_squash: the kernel lets root through (default_permissions) to attributes it cached for
  // other users' calls, which the master would refuse a squashed root; our getattr asks the master
  // for root (operations.ts `uncached`), so the kernel must ask us every time.
  return [`attr_timeout=${rootSquash ? "0" : s}`, `entry_timeout=${s}`, "negative_timeout=0"];
};

/** Splits "-o a,b -oc" out of argv; the rest stays for the long-flag parser. */
export function extractDashO(argv: string[]): { options: string[]; rest: string[] } {
  const options: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-o") {
      if (i + 1 >= argv.length) throw new UsageError("-o needs a value");
      options.push(...splitOptions(argv[++i]));
    } else if (a.startsWith("-o") && !a.startsWith("--")) {
      options.push(...splitOptions(a.slice(2)));
    } else {
      rest.push(a);
    }
  }
  return { options, rest };
}

const splitOptions = (list: string): string[] => list.split(",").map((s) => s.trim()).filter((s) => s.length > 0);

export interface MountOptionsResult {
  /** What libfuse gets, in order (later options override earlier ones). */
  fuseOptions: string[];
  /** master=HOST:PORT given as -o (fstab style), if any. */
  master?: string;
  /** -o root_squash: root's operations reach the master as nobody (65534); -o no_root_squash (the default) undoes it. */
  rootSquash: boolean;
  /** -o tls_dir=DIR and -o insecure (fstab style for --tls-dir and --insecure): never passed to libfuse. */
  tlsDir?: string;
  insecure?: boolean;
  /** How long the kernel keeps attributes: the last attr_timeout= libfuse gets, in ms. */
  kernelAttrTimeoutMs: number;
}

/** Turns the user's -o list into libfuse's, given the master address for the mount's name and the attribute cache time. */
export function fuseOptionList(user: string[], master: string | undefined, attrCacheMs: number = defaults.fuse_attr_cache_ms): MountOptionsResult {
  let masterOpt: string | undefined;
  let rootSquash = false;
  let tlsDir: string | undefined;
  let insecure: boolean | undefined;
  const passed: string[] = [];
  for (const opt of user) {
    const eq = opt.indexOf("=");
    const key = eq < 0 ? opt : opt.slice(0, eq);
    if (key === "master") {
      masterOpt = opt.slice(eq + 1);
      continue;
    }
    // Ours, not libfuse's (the last one given wins, as with any mount option).
    if (opt === "root_squash" || opt === "no_root_squash") {
      rootSquash = opt === "root_squash";
      continue;
    }
    if (key === "tls_dir") {
      if (eq < 0 || eq === opt.length - 1) throw new UsageError("-o tls_dir needs a directory: -o tls_dir=DIR");
      tlsDir = opt.slice(eq + 1);
      continue;
    }
    if (opt === "insecure") {
      insecure = true;
      continue;
    }
    if (fstabOnly.has(key) || key.startsWith("x-") || key === "comment") continue;
    // Checked here, before mounting: libfuse checks most options only once the kernel mount exists.
    checkLibfuseOption(opt);
    passed.push(opt);
  }
  // A replicated master's list (A,B,C) is named A+B+C: a comma would split the FUSE option list.
  const name = `fsname=gfs:${(masterOpt ?? master ?? "unknown").replaceAll(",", "+")}`;
  const fuseOptions = [...alwaysOn, ...inodeNumbers, name, "subtype=gfs", ...kernelCache(attrCacheMs, rootSquash), ...passed];
  return { fuseOptions, master: masterOpt, rootSquash, tlsDir, insecure, kernelAttrTimeoutMs: lastAttrTimeoutMs(fuseOptions) };
}

/** The attr_timeout (seconds) libfuse ends up with, in ms: a user's -o attr_timeout= overrides ours. */
function lastAttrTimeoutMs(options: string[]): number {
  const last = options.filter((o) => o.startsWith("attr_timeout=")).pop()!;
  const seconds = Number(last.slice("attr_timeout=".length));
  if (!Number.isFinite(seconds) || seconds < 0) throw new UsageError(`-o ${last}: not a number of seconds`);
  return Math.round(seconds * 1000);
}
