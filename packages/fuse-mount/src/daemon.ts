// Running in the background: the command re-runs itself detached (new session,
// no terminal, stdout closed, stderr to a log file) and exits once the child
// reports the mount is up, or with the child's error if it is not. Without
// this wait, `gfs-mount /mnt && ls /mnt` would race the mount.
import { spawn } from "node:child_process";
import { open } from "node:fs/promises";
import { prepareLogFile } from "@gfs/common";

type ChildReport = { mounted: true } | { mounted: false; error: string };

/** Opens the log file for appending (its directory made if missing); a one-line error naming it otherwise. */
async function openLog(logFile: string) {
  try {
    prepareLogFile(logFile);
  } catch (e) {
    throw new Error(`${(e as Error).message} (choose another with --log-file)`);
  }
  return open(logFile, "a");
}

/**
 * In the parent: starts the detached server with its stderr on `logFile`
 * (where the child's own logger writes too, and anything it prints before
 * dying); resolves when it is mounted, rejects with its error and where its log is.
 */
export async function startDetached(script: string, args: string[], logFile: string): Promise<number> {
  const log = await openLog(logFile);
  try {
    const child = spawn(process.execPath, [script, ...args], {
      detached: true,
      stdio: ["ignore", "ignore", log.fd, "ipc"],
      env: { ...process.env, GFS_MOUNT_DETACHED: "1" },
    });
    const report = await new Promise<ChildReport>((resolve) => {
      child.once("message", (m) => resolve(m as ChildReport));
      child.once("exit", (code, signal) => resolve({ mounted: false, error: `exited (${code ?? signal}) before mounting` }));
      child.once("error", (e) => resolve({ mounted: false, error: e.message }));
    });
    if (!report.mounted) throw new Error(`${report.error} (log: ${logFile})`);
    child.disconnect();
    child.unref();
    return child.pid!;
  } finally {
    await log.close();
  }
}

/** In the detached child: tells the parent how mounting went, then lets it go. */
export function reportToParent(report: ChildReport): void {
  if (!process.send) return;
  process.send(report, () => {
    if (process.connected) process.disconnect();
  });
}

export const isDetachedChild = (): boolean => process.env.GFS_MOUNT_DETACHED === "1" && typeof process.send === "function";
