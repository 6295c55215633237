// Log lines of simulated processes go into the trace (at the simulated time), not to stderr.
import type { Logger } from "@gfs/common";
import type { World } from "./world";

export function simLogger(world: World, name: string, minLevel: "info" | "warn" = "info"): Logger {
  const line = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    world.trace(`log ${name} ${level} ${msg}${fields ? " " + JSON.stringify(fields) : ""}`);
  return {
    debug: () => {},
    info: minLevel === "info" ? line("info") : () => {},
    warn: line("warn"),
    error: line("error"),
  };
}
