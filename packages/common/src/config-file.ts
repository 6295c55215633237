// `--config FILE` (issue 17): a daemon's flags from a TOML file, so a systemd
// unit says `gfs-master --config /etc/gfs/master.toml` and the settings live in
// one reviewed file. Top-level keys are the long flag names (or their aliases);
// values are typed as TOML: strings, integers, booleans; a bytes flag takes an
// integer or a string like "64M"; a hostports flag a string "A,B" or an array.
// Relative paths are relative to the file's directory, not the cwd of whoever
// started the daemon (a unit's cwd is "/"). Any mistake is one line naming the
// file and the key: a typo in a config must stop the start, not be ignored.
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse, stringify } from "smol-toml";
import type { FlagSpec } from "./cli-flags";

/** The TOML reader the daemons use, for what reads their files or --print-config output (tests, tools). */
export const parseToml = (text: string): Record<string, unknown> => parse(text) as Record<string, unknown>;

/** Thrown for a bad config file; cli-flags turns it into a UsageError (exit 2). */
export class ConfigFileError extends Error {}

/** The raw values a file gives, by long flag name (as the command line would give them), plus extra keys a command allows. */
export interface ConfigFileValues {
  flags: Record<string, string | boolean>;
  extras: Record<string, string>;
}

/** Extra keys a command accepts in its file besides its flags (gfs-mount: `options`), all strings. */
export type ConfigExtraKeys = Record<string, string>;

/** Flags that steer the reading of flags: never keys of a file. */
const notInFile = new Set(["config", "print-config", "help", "version"]);

export function readConfigFile(file: string, specs: Record<string, FlagSpec>, extraKeys: ConfigExtraKeys = {}): ConfigFileValues {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigFileError(`cannot read config file ${file}: ${(e as Error).message.split(",")[0]}`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    const line = (e as { line?: number }).line;
    throw new ConfigFileError(`${file}: not valid TOML${line ? ` (line ${line})` : ""}: ${(e as Error).message.split("\n")[0].replace(/^Invalid TOML document: /, "")}`);
  }
  const byName = new Map<string, string>();
  for (const [name, s] of Object.entries(specs)) {
    if (notInFile.has(name)) continue;
    byName.set(name, name);
    if (s.alias) byName.set(s.alias, name);
  }
  const out: ConfigFileValues = { flags: {}, extras: {} };
  const baseDir = dirname(resolve(file));
  for (const [key, value] of Object.entries(doc)) {
    if (key in extraKeys) {
      if (typeof value !== "string") throw new ConfigFileError(`${file}: key '${key}' must be a string (${extraKeys[key]})`);
      out.extras[key] = value;
      continue;
    }
    const name = byName.get(key);
    if (!name) throw new ConfigFileError(`${file}: unknown key '${key}' (keys are the long flag names; see --help)`);
    if (out.flags[name] !== undefined) throw new ConfigFileError(`${file}: keys '${name}' and '${specs[name].alias}' are the same setting: give one`);
    out.flags[name] = fileValue(file, key, value, specs[name], baseDir);
  }
  return out;
}

/** One key's TOML value as the text the command line would carry, checked against the flag's type. */
function fileValue(file: string, key: string, value: unknown, spec: FlagSpec, baseDir: string): string | boolean {
  const wrong = (want: string) => new ConfigFileError(`${file}: key '${key}' must be ${want}, got ${describe(value)}`);
  switch (spec.type) {
    case "boolean":
      if (typeof value !== "boolean") throw wrong("true or false");
      return value;
    case "int":
      if (typeof value !== "number" || !Number.isInteger(value)) throw wrong("an integer");
      return String(value);
    case "bytes":
      if (typeof value === "number" && Number.isInteger(value)) return String(value);
      if (typeof value === "string") return value;
      throw wrong('an integer or a string like "64M"');
    case "hostports":
      if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(",");
      if (typeof value !== "string") throw wrong('a string "HOST:PORT[,HOST:PORT...]" or an array of them');
      return value;
    case "path":
      if (typeof value !== "string") throw wrong("a string");
      return value === "" || isAbsolute(value) ? value : resolve(baseDir, value);
    case "string":
    case "hostport":
      if (typeof value !== "string") throw wrong("a string");
      return value;
  }
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date || (typeof value === "object" && value !== null && "toISOString" in value)) return "a date";
  if (typeof value === "object" && value !== null) return "a table";
  if (typeof value === "number" && !Number.isInteger(value)) return `the float ${value}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * The effective settings as TOML (`--print-config`): every flag with a value,
 * defaults included, in the order --help lists them, so the output is itself a
 * valid config file for the same command.
 */
export function configToToml(specs: Record<string, FlagSpec>, values: Record<string, unknown>, extras: Record<string, string> = {}): string {
  const doc: Record<string, unknown> = {};
  for (const name of Object.keys(specs)) {
    if (notInFile.has(name) || values[name] === undefined) continue;
    doc[name] = values[name];
  }
  Object.assign(doc, extras);
  return stringify(doc);
}
