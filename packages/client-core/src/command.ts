// What a `gfs` subcommand is, for the registry in cli.ts: each command file
// (commands-*.ts) exports a record of these, so commands of one concept live together.
import { status as GrpcStatus } from "@grpc/grpc-js";
import { describeErrno, GfsError, type FileInfo__Output, type FlagSpec } from "@gfs/common";
import type { GfsClient } from "./gfs-client";

export interface Command {
  synopsis: string;
  help: string;
  flags: Record<string, FlagSpec>;
  /** Positional argument count: [min, max]. */
  args: [number, number];
  /** What its exit status means, when more than success or failure (shown by `gfs COMMAND --help`). */
  exits?: string;
  run(client: GfsClient, values: Record<string, unknown>, args: string[]): Promise<void>;
}

/** A command that works on local files only (no master, no identity needed). */
export interface LocalCommand {
  synopsis: string;
  help: string;
  flags: Record<string, FlagSpec>;
  args: [number, number];
  local(values: Record<string, unknown>, args: string[]): Promise<void>;
}

export const out = (s: string) => process.stdout.write(s);
/** What --json prints, the same way for every command: pretty, 2 spaces, one final line break. */
export const outJson = (o: unknown) => out(JSON.stringify(o, null, 2) + "\n");

const typeChars: Partial<Record<FileInfo__Output["type"], string>> = {
  FILE_TYPE_DIRECTORY: "d", FILE_TYPE_SYMLINK: "l", FILE_TYPE_FIFO: "p", FILE_TYPE_CHAR_DEVICE: "c", FILE_TYPE_BLOCK_DEVICE: "b", FILE_TYPE_SOCKET: "s",
};
/** ls -l's type letter (issue 19: special files too). */
export const typeChar = (i: FileInfo__Output) => typeChars[i.type] ?? "-";
export function modeString(i: FileInfo__Output): string {
  const rwx = (b: number) => `${b & 4 ? "r" : "-"}${b & 2 ? "w" : "-"}${b & 1 ? "x" : "-"}`;
  return typeChar(i) + rwx(i.mode >> 6) + rwx(i.mode >> 3) + rwx(i.mode);
}


/**
 * A subcommand's short flags as users type them, for parseFlags (which knows long names only):
 * `-l` -> `--l`, `-R` -> `--R` (a flag's letter in its own case), a bundle `-sh` -> `--s --h` when
 * every letter is a flag of the command, `-n5` -> `--n=5` (a flag taking a value ends the bundle,
 * its value the rest or the next argument). `-h` is help unless the command has an `h` flag
 * (du -h: human-readable). Anything else is left as it is (parseFlags refuses an unknown flag);
 * `--` ends the flags.
 */
export function expandShortFlags(argv: string[], flags: Record<string, FlagSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") return [...out, ...argv.slice(i)];
    out.push(...(/^-[a-zA-Z]/.test(a) ? expandBundle(a.slice(1), flags) ?? [a] : [a]));
  }
  return out;
}

/** The letters of one `-xyz` as long flags, or undefined when one of them is no flag of the command. */
function expandBundle(letters: string, flags: Record<string, FlagSpec>): string[] | undefined {
  const expanded: string[] = [];
  for (let j = 0; j < letters.length; j++) {
    const c = letters[j];
    const spec = flags[c];
    if (!spec) {
      if (c !== "h") return undefined;
      expanded.push("--help");
      continue;
    }
    if (spec.type === "boolean") {
      expanded.push(`--${c}`);
      continue;
    }
    const rest = letters.slice(j + 1);
    expanded.push(rest ? `--${c}=${rest}` : `--${c}`);
    return expanded;
  }
  return expanded;
}

/**
 * Runs `fn` on each path, as a shell tool does with several operands: a refused one (a GfsError,
 * ENOENT, EACCES...) is one line on stderr, the others still run, and the exit status is 1.
 * A transport failure (cannot reach the master) ends the command at once.
 */
export async function eachPath(command: string, paths: string[], fn: (path: string) => Promise<void>): Promise<void> {
  for (const path of paths) {
    try {
      await fn(path);
    } catch (e) {
      if (!(e instanceof GfsError) || unreachable(e)) throw e;
      process.stderr.write(`${pathErrorLine(command, e)}\n`);
      process.exitCode = 1;
    }
  }
}

/** "cat: EISDIR: Is a directory: /d", as cli.ts names an error that ends a command. */
export function pathErrorLine(command: string, e: GfsError): string {
  return `${command}: ${e.errno}: ${describeErrno(e.errno)}: ${e.message.replace(/^E[A-Z]+: /, "")}`;
}

/** A master call that failed in transport (no answer), not by the master's refusal. */
export function unreachable(e: GfsError): boolean {
  return e.errno === "EIO" && (e.grpcCode === GrpcStatus.UNAVAILABLE || e.grpcCode === GrpcStatus.DEADLINE_EXCEEDED);
}
