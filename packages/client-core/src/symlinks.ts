// Following symlinks in the cluster's namespace, as a mount's kernel does for a path: the master
// resolves none in a path's last part, so commands that read a named file (cat, tail, get, cp)
// follow them here.
import { posix } from "node:path";
import { GfsError, type FileInfo__Output } from "@gfs/common";
import type { GfsClient } from "./gfs-client";

/** Symlinks followed on the way to a file's bytes (the kernel's limit for one lookup; its ELOOP is our EINVAL). */
const symlinkHopsMax = 40;

/** `path` with its symlinks followed, and what it names (ENOENT for a dangling one, as stat(2)). */
export async function resolveSymlinks(client: GfsClient, path: string): Promise<{ path: string; info: FileInfo__Output }> {
  for (let hops = 0; ; hops++) {
    const info = await client.stat(path);
    if (info.type !== "FILE_TYPE_SYMLINK") return { path, info };
    if (hops >= symlinkHopsMax) throw new GfsError("EINVAL", `${path}: too many levels of symbolic links`);
    path = posix.resolve(posix.dirname(path), info.symlinkTarget);
  }
}
