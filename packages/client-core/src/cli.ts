#!/usr/bin/env node
// gfs: the command-line client. Global flags come before the command; the commands are in registry.ts.
import { status as GrpcStatus } from "@grpc/grpc-js";
import { describeErrno, GfsError, processCaller, UsageError, parseFlags, runMain, versionLine } from "@gfs/common";
import { expandShortFlags, out } from "./command";
import { clientSecurity, GfsClient } from "./gfs-client";
import { commandHelp, commands, globalFlags, localCommands, usage, valuedGlobals } from "./registry";

runMain("gfs", async () => {
  const argv = process.argv.slice(2);
  const commandAt = argv.findIndex((a, i) => !a.startsWith("-") && !(i > 0 && valuedGlobals.includes(argv[i - 1])));
  const global = parseFlags(commandAt < 0 ? argv : argv.slice(0, commandAt), globalFlags);
  if (global.version) return void out(`${versionLine("gfs")}\n`);
  if (global.help || commandAt < 0) {
    if (!global.help) throw new UsageError("missing command");
    out(usage());
    return;
  }
  const name = argv[commandAt];
  const localCommand = localCommands[name];
  if (localCommand) {
    const parsedLocal = parseFlags(expandShortFlags(argv.slice(commandAt + 1), localCommand.flags), localCommand.flags, true);
    if (parsedLocal.version) return void out(`${versionLine("gfs")}\n`);
    if (parsedLocal.help) return void out(commandHelp(name, localCommand));
    const [lo, hi] = localCommand.args;
    if (parsedLocal.positionals.length < lo || parsedLocal.positionals.length > hi) throw new UsageError(`usage: gfs ${localCommand.synopsis}`);
    return localCommand.local(parsedLocal.values, parsedLocal.positionals);
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command '${name}'`);
  // Short flags (-l, -R) and bundles of them (-sh) are accepted as their long spelling.
  const parsed = parseFlags(expandShortFlags(argv.slice(commandAt + 1), command.flags), command.flags, true);
  if (parsed.version) return void out(`${versionLine("gfs")}\n`);
  if (parsed.help) return void out(commandHelp(name, command));
  const [min, max] = command.args;
  if (parsed.positionals.length < min || parsed.positionals.length > max) throw new UsageError(`usage: gfs ${command.synopsis}`);
  const master = global.values.master as string;
  if (global.values.insecure && global.values["tls-dir"]) throw new UsageError("--tls-dir and --insecure exclude each other");
  // The identity is loaded before any call: a missing or unreadable credential is one line naming the file.
  const security = clientSecurity({ tlsDir: global.values["tls-dir"] as string | undefined, insecure: global.values.insecure as boolean | undefined });
  // The CLI speaks for the user running it; with a user certificate the master holds it to the certificate's uid.
  const client = new GfsClient({
    master, rpc_deadline_ms: global.values["timeout-ms"] as number, client_failover_wait_ms: global.values["failover-wait-ms"] as number,
    security, caller: processCaller(),
  });
  try {
    await command.run(client, parsed.values, parsed.positionals);
  } catch (e) {
    if (e instanceof UsageError) throw e; // a bad argument found by the command (gfs chmod 9 /f): exit 2, as is
    // A transport failure of a master call carries no errno of its own (EIO with the transport's code).
    if (e instanceof GfsError && e.errno === "EIO" && (e.grpcCode === GrpcStatus.UNAVAILABLE || e.grpcCode === GrpcStatus.DEADLINE_EXCEEDED)) {
      throw new Error(`cannot reach ${master.includes(",") ? "the masters" : "master"} at ${master}: ${e.message}`);
    }
    // Named as a local disk's error would be: "put: ENOSPC: No space left on device: <what failed>".
    if (e instanceof GfsError) throw new Error(`${name}: ${e.errno}: ${describeErrno(e.errno)}: ${e.message.replace(/^E[A-Z]+: /, "")}`);
    throw new Error(`${name}: ${(e as Error).message}`);
  } finally {
    client.close();
  }
});
