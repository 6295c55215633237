// The mountpoint's state as the kernel sees it: mounted or not, and a mount
// whose server died ("Transport endpoint is not connected"), which must be
// unmounted before anything can be mounted there again.
import { execFile } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Decodes mountinfo's octal escapes ("\040" is a space). */
const unescapeMountPath = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The filesystem type mounted exactly at `path` (e.g. "fuse.gfs"), or undefined. */
export async function mountedType(path: string): Promise<string | undefined> {
  const text = await readFile("/proc/self/mountinfo", "utf8");
  let found: string | undefined;
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    if (fields.length < 10) continue;
    if (unescapeMountPath(fields[4]) !== path) continue;
    const dash = fields.indexOf("-", 6);
    found = dash > 0 ? fields[dash + 1] : "unknown";
  }
  return found; // the last one: mounts stack, the top one is what the path shows
}

export type MountpointState = "free" | "dead" | "alive-fuse" | "missing" | "not-a-directory";

export async function mountpointState(path: string): Promise<MountpointState> {
  try {
    const st = await stat(path);
    if (!st.isDirectory()) return "not-a-directory";
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOTCONN" || code === "ECONNABORTED") return "dead";
    if (code === "ENOENT") return "missing";
    throw e;
  }
  const type = await mountedType(path);
  return type !== undefined && type.startsWith("fuse") ? "alive-fuse" : "free";
}

/** Detaches whatever FUSE mount sits at `path` (lazy: busy users keep their open files). */
export async function detachMount(path: string): Promise<void> {
  try {
    await run("fusermount3", ["-u", "-z", path]);
    return;
  } catch {
    // Not ours to fusermount (or no fusermount3): a lazy umount as root does it.
  }
  await run("umount", ["-l", path]);
}
