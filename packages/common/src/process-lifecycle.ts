// Process entry plumbing shared by every command: one-line fatal errors,
// clean shutdown on SIGTERM/SIGINT.
import { UsageError } from "./cli-flags";
import { GfsError } from "./errors";

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
