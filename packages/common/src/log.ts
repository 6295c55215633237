// Structured logging: one JSON object per line, so logs can be grepped by
// humans and parsed by tools alike:
//
//   {"ts":"2026-01-01T00:00:00.000Z","level":"info","component":"master","msg":"master listening","address":"..."}
//
// pino serializes and writes (through its sonic-boom destination, in sync
// mode: a line logged right before process.exit is on disk, not in a buffer).
// Lines go to stderr unless a daemon was given --log-file; then they are
// appended to that file, which SIGHUP reopens (logrotate moves it away, the
// next line starts a new file at the same path).
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import pino from "pino";

export type LogLevel = "debug" | "info" | "warn" | "error";

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

type Destination = ReturnType<typeof pino.destination>;

/** Where every logger of this process writes: one sink, so switching it to a file moves every component's lines. */
interface Sink { path?: string; destination: Destination; writer: pino.Logger }

function newSink(path?: string): Sink {
  // No mkdir here: setLogFile made the directory (and a reopen must not make one in a place that vanished).
  const destination = pino.destination({ dest: path ?? 2, sync: true, append: true, mkdir: false });
  // A failed write (a full disk, a closed pipe) must never take the process down with it.
  destination.on("error", () => {});
  const writer = pino({
    level: "debug",
    base: null,
    // The line shape above, key order included: pino writes its level first, so it writes none ("{"), the
    // timestamp next (hence no leading comma), then the object built in `emit` (level, component, msg, fields).
    formatters: { level: () => ({}) },
    timestamp: () => `"ts":"${new Date().toISOString()}"`,
  }, destination);
  return { path, destination, writer };
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdirSync never returns for
 * a path under /proc (--log-file /proc/x/y.log hung the daemon).
 */
function makeDirs(dir: string): void {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) makeDirs(parent);
  mkdirSync(dir);
}

let sink: Sink | undefined;
const currentSink = (): Sink => (sink ??= newSink());

/** Makes the log file's directory and checks the file opens for appending; a one-line error naming it otherwise. */
export function prepareLogFile(path: string): void {
  try {
    makeDirs(dirname(path));
    closeSync(openSync(path, "a"));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`cannot open log file ${path}: ${err.code ?? err.message}`);
  }
}

/**
 * From now on every logger of the process appends to `path` (its directory is
 * made if missing). Throws a one-line error naming the file when it cannot be
 * opened, before anything is switched.
 */
export function setLogFile(path: string): void {
  prepareLogFile(path);
  const old = sink;
  sink = newSink(path);
  if (old?.path) old.destination.destroy();
}

/** The file logs go to, or undefined for stderr. */
export const logFilePath = (): string | undefined => sink?.path;

/**
 * Reopens the log file at its path (SIGHUP, after logrotate renamed it): new
 * lines go to a new file there. False when logging to stderr (nothing to
 * reopen); throws, keeping the old file, when the path cannot be opened.
 */
export function reopenLogFile(): boolean {
  const s = sink;
  if (!s?.path) return false;
  try {
    closeSync(openSync(s.path, "a"));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`cannot reopen log file ${s.path}: ${err.code ?? err.message}`);
  }
  s.destination.reopen();
  return true;
}

export function createLogger(component: string, minLevel: LogLevel = (process.env.GFS_LOG_LEVEL as LogLevel) || "info"): Logger {
  const min = levelRank[minLevel] ?? levelRank.info;
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (levelRank[level] < min) return;
    try {
      currentSink().writer[level]({ level, component, msg, ...fields });
    } catch {
      // Logging is never the reason an operation fails.
    }
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}
