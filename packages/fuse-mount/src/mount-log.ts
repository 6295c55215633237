// Where a daemonized gfs-mount logs when not told (--log-file): it has no
// terminal, and a mount whose lines are thrown away cannot say why a write
// failed. One file per mountpoint, named after it (/mnt/gfs: mount-mnt-gfs.log):
//   root       /var/log/gfs/
//   others     ${XDG_STATE_HOME:-~/.local/state}/gfs/
//   GFS_LOG_DIR overrides both (tests, packaging).
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * "/mnt/gfs data" -> "mnt-gfs_x20data" (a file name; "root" for "/"). Like systemd-escape: "/" becomes "-", and
 * "-", "_" and every other unsafe byte become _xNN, so /mnt/a-b and /mnt/a/b do not share a log file.
 */
export function escapeMountpoint(mountpoint: string): string {
  const trimmed = mountpoint.replace(/^\/+|\/+$/g, "").replace(/\/+/g, "/");
  if (trimmed === "") return "root";
  return [...Buffer.from(trimmed)].map((b) => {
    const c = String.fromCharCode(b);
    if (c === "/") return "-";
    return /[A-Za-z0-9.]/.test(c) ? c : `_x${b.toString(16).padStart(2, "0")}`;
  }).join("");
}

export function defaultMountLogDir(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  if (env.GFS_LOG_DIR) return env.GFS_LOG_DIR;
  if (uid === 0) return "/var/log/gfs";
  return join(env.XDG_STATE_HOME || join(env.HOME || homedir(), ".local", "state"), "gfs");
}

export const defaultMountLogPath = (mountpoint: string, env: NodeJS.ProcessEnv = process.env, uid?: number): string =>
  join(defaultMountLogDir(env, uid), `mount-${escapeMountpoint(mountpoint)}.log`);
