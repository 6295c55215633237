// Where a daemonized gfs-mount logs when not told (--log-file): it has no
// terminal, and a mount whose lines are thrown away cannot say why a write
// failed. One file per mountpoint, named after it (/mnt/gfs: mount-mnt-gfs.log):
//   root       /var/log/gfs/
//   others     ${XDG_STATE_HOME:-~/.local/state}/gfs/
//   GFS_LOG_DIR overrides both (tests, packaging).
import { homedir } from "node:os";
import { join } from "node:path";

/** "/mnt/gfs data" -> "mnt-gfs_data" (a file name; "root" for "/"). */
export function escapeMountpoint(mountpoint: string): string {
  const trimmed = mountpoint.replace(/^\/+|\/+$/g, "");
  return trimmed === "" ? "root" : trimmed.replace(/\/+/g, "-").replace(/[^A-Za-z0-9._-]/g, "_");
}

export function defaultMountLogDir(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  if (env.GFS_LOG_DIR) return env.GFS_LOG_DIR;
  if (uid === 0) return "/var/log/gfs";
  return join(env.XDG_STATE_HOME || join(env.HOME || homedir(), ".local", "state"), "gfs");
}

export const defaultMountLogPath = (mountpoint: string, env: NodeJS.ProcessEnv = process.env, uid?: number): string =>
  join(defaultMountLogDir(env, uid), `mount-${escapeMountpoint(mountpoint)}.log`);
