// Process entry plumbing shared by every command: one-line fatal errors,
// clean shutdown on SIGTERM/SIGINT, log files and SIGHUP.
import { resolve } from "node:path";
import { UsageError, type FlagSpec } from "./cli-flags";
import { GfsError } from "./errors";
import { createLogger, logFilePath, reopenLogFile, setLogFile, type Logger } from "./log";

/** `--log-file FILE` of every daemon (the flag name is also its key in a --config file). */
export const logFlagSpecs = {
  "log-file": {
    type: "path" as const,
    help: "append log lines to FILE (made with its directory if missing; SIGHUP reopens it, for logrotate; default: stderr)",
  },
} satisfies Record<string, FlagSpec>;

/**
 * Runs `main`; a UsageError exits 2 with "command: message", any other error
 * exits 1 with one line. No stack traces for expected failures.
 */
export function runMain(command: string, main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`${command}: ${msg.split("\n")[0]}\n`);
    if (e instanceof UsageError) process.stderr.write(`Try '${command} --help'.\n`);
    if (process.env.GFS_DEBUG && e instanceof Error && !(e instanceof GfsError)) process.stderr.write(`${e.stack}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  });
}

/** Calls `stop` once on SIGTERM or SIGINT, then exits 0; a second signal exits at once. */
export function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    stop().then(() => process.exit(0), (e) => {
      process.stderr.write(`shutdown after ${signal} failed: ${(e as Error).message}\n`);
      process.exit(1);
    });
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
}

/**
 * The daemon's logger: to `logFile` (resolved now: a daemon may chdir later)
 * when given, else stderr; and SIGHUP reopens that file instead of killing
 * the process (Node's default for SIGHUP is to exit, silently).
 */
export function startDaemonLog(component: string, logFile: string | undefined): Logger {
  if (logFile !== undefined) {
    if (logFile === "") throw new UsageError("--log-file needs a file name");
    setLogFile(resolve(logFile));
  }
  const log = createLogger(component);
  onHangup(log);
  return log;
}

/** SIGHUP: reopen the log file at its path (logrotate renamed it), and say so in the new one. */
let hangupHandled = false;
export function onHangup(log: Logger): void {
  if (hangupHandled) return;
  hangupHandled = true;
  process.on("SIGHUP", () => {
    try {
      if (reopenLogFile()) log.info("log file reopened", { path: logFilePath() });
      else log.info("log file reopened", { path: "stderr", note: "logging to stderr: nothing to reopen" });
    } catch (e) {
      log.error("log file not reopened; still writing to the old one", { error: (e as Error).message });
    }
  });
}
