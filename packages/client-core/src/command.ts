// What a `gfs` subcommand is, for the registry in cli.ts: each command file
// (commands-*.ts) exports a record of these, so commands of one concept live together.
import type { FileInfo__Output, FlagSpec } from "@gfs/common";
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

export const typeChar = (i: FileInfo__Output) => (i.type === "FILE_TYPE_DIRECTORY" ? "d" : i.type === "FILE_TYPE_SYMLINK" ? "l" : "-");
export function modeString(i: FileInfo__Output): string {
  const rwx = (b: number) => `${b & 4 ? "r" : "-"}${b & 2 ? "w" : "-"}${b & 1 ? "x" : "-"}`;
  return typeChar(i) + rwx(i.mode >> 6) + rwx(i.mode >> 3) + rwx(i.mode);
}

