// Structured logging: one JSON object per line on stderr, so logs can be
// grepped by humans and parsed by tools alike.

export type LogLevel = "debug" | "info" | "warn" | "error";

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(component: string, minLevel: LogLevel = (process.env.GFS_LOG_LEVEL as LogLevel) || "info"): Logger {
  const min = levelRank[minLevel] ?? levelRank.info;
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (levelRank[level] < min) return;
    const line = JSON.stringify({ ts: new Date().toISOString(), level, component, msg, ...fields });
    process.stderr.write(line + "\n");
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}
