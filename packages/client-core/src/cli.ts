#!/usr/bin/env node
// gfs: the command-line client. Global flags come before the command.
import { UsageError, defaults, helpText, masterDefinition, newMasterClient, parseFlags, promiseClient, runMain, type FlagSpec } from "@gfs/common";
import { formatStatus } from "./status-format";

const globalFlags: Record<string, FlagSpec> = {
  master: { type: "hostport", help: "the master's address (or $GFS_MASTER)", default: process.env.GFS_MASTER ?? `127.0.0.1:${defaults.master_port}` },
  "timeout-ms": { type: "int", help: "give up on an unreachable master after this long", default: 10_000, min: 1 },
};

interface Command {
  synopsis: string;
  help: string;
  flags: Record<string, FlagSpec>;
  run(ctx: { master: string; timeoutMs: number }, values: Record<string, unknown>, args: string[]): Promise<void>;
}

const commands: Record<string, Command> = {
  status: {
    synopsis: "status [--json]",
    help: "every chunkserver with id, address, rack, capacity, used bytes, chunks, alive or dead, last heartbeat age",
    flags: { json: { type: "boolean", help: "print JSON instead of a table" } },
    async run(ctx, values) {
      const master = promiseClient(newMasterClient(ctx.master), masterDefinition());
      let status;
      try {
        status = await master.Status({}, { timeoutMs: ctx.timeoutMs });
      } catch (e) {
        throw new Error(`cannot reach master at ${ctx.master}: ${(e as Error).message}`);
      }
      process.stdout.write(values.json ? JSON.stringify(status, null, 2) + "\n" : formatStatus(status));
    },
  },
};

function usage(): string {
  const lines = [helpText("gfs", "[--master HOST:PORT] COMMAND [ARGS]", globalFlags), "", "commands:"];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${c.synopsis.padEnd(32)}${c.help}`);
  return lines.join("\n") + "\n";
}

runMain("gfs", async () => {
  const argv = process.argv.slice(2);
  const commandAt = argv.findIndex((a, i) => !a.startsWith("-") && !(i > 0 && ["--master", "--timeout-ms"].includes(argv[i - 1])));
  const global = parseFlags(commandAt < 0 ? argv : argv.slice(0, commandAt), globalFlags);
  if (global.help || commandAt < 0) {
    if (!global.help) throw new UsageError("missing command");
    process.stdout.write(usage());
    return;
  }
  const name = argv[commandAt];
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command '${name}'`);
  const parsed = parseFlags(argv.slice(commandAt + 1), command.flags, true);
  if (parsed.help) {
    process.stdout.write(helpText(`gfs ${name}`, command.synopsis.replace(/^\S+\s*/, ""), command.flags) + "\n");
    return;
  }
  await command.run({ master: global.values.master as string, timeoutMs: global.values["timeout-ms"] as number }, parsed.values, parsed.positionals);
});
