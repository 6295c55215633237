// Flag parsing for every command: declared flags with types and help, strict
// validation, and one-line errors (never a stack trace) on bad input.
import { parseArgs } from "node:util";
import { parseHostPort, parseHostPortList } from "./address";
import { ConfigFileError, readConfigFile, type ConfigExtraKeys } from "./config-file";

/**
 * hostports: a comma-separated list of HOST:PORT (a replicated master's addresses).
 * path: a string naming a file or directory; in a config file a relative one is taken from the file's directory.
 */
export type FlagType = "string" | "path" | "boolean" | "int" | "bytes" | "hostport" | "hostports";

export interface FlagSpec {
  type: FlagType;
  help: string;
  default?: string | number | boolean;
  required?: boolean;
  /** Smallest accepted value of an int or bytes flag. */
  min?: number;
  /** Another name for the same flag (--metrics-listen for --http-listen). */
  alias?: string;
  /**
   * Flags this one excludes (--insecure and --tls-dir): given on the command
   * line, it also overrides what a config file says for those.
   */
  overrides?: string[];
}

export type FlagValues = Record<string, string | number | boolean | undefined>;

/** Thrown for bad command-line input; main() prints it on one line and exits 2. */
export class UsageError extends Error {}

const sizeUnits: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "1048576", "64M", "1GiB" -> bytes. */
export function parseBytes(text: string, flag: string): number {
  const m = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--${flag} must be a byte count like 1048576 or 64M, got '${text}'`);
  return Number(m[1]) * sizeUnits[m[2].toLowerCase()];
}

const argName: Record<FlagType, string> = {
  string: "VALUE", path: "PATH", boolean: "", int: "N", bytes: "BYTES", hostport: "HOST:PORT", hostports: "HOST:PORT[,...]",
};

export function helpText(command: string, synopsis: string, specs: Record<string, FlagSpec>): string {
  const lines = [`usage: ${command} ${synopsis}`, "", "options:"];
  for (const [name, s] of Object.entries(specs)) {
    const arg = s.type === "boolean" ? "" : ` ${argName[s.type]}`;
    const dflt = s.default !== undefined && s.default !== "" && s.type !== "boolean" ? ` (default ${s.default})` : s.required ? " (required)" : "";
    // One-letter flags (gfs ls -l) are spelled as users type them.
    lines.push(`  ${name.length === 1 ? "-" : "--"}${name}${arg}`.padEnd(33) + " " + s.help + dflt + (s.alias ? ` (also --${s.alias})` : ""));
  }
  lines.push(`  --version`.padEnd(34) + "print the version and exit");
  lines.push(`  -h, --help`.padEnd(34) + "show this help");
  return lines.join("\n");
}

/**
 * `--config FILE` and `--print-config`: a command that spreads these into its
 * specs reads its flags from a TOML file too (config-file.ts); flags given on
 * the command line win over the file.
 */
export const configFlagSpecs: Record<string, FlagSpec> = {
  config: { type: "path", help: "read settings from this TOML file (keys: the long flag names; command-line flags win)" },
  "print-config": { type: "boolean", help: "print the effective settings as TOML (a valid config file) and exit" },
};

export interface ParseOptions {
  /** Accept positional arguments (otherwise one is a usage error). */
  positionals?: boolean;
  /** Keys a config file may hold besides the flags, each a string (gfs-mount: `options`), with what they mean. */
  configExtraKeys?: ConfigExtraKeys;
  /** The flags a config file is checked against when not `specs` (gfs-master backup reads the master's file, using only `data`). */
  configSpecs?: Record<string, FlagSpec>;
}

export interface ParsedFlags {
  values: FlagValues;
  positionals: string[];
  /** -h or --help: print help and exit 0 (nothing else was checked). */
  help: boolean;
  /** --version: print the version and exit 0 (nothing else was checked). */
  version: boolean;
  /** Extra keys read from the config file (ParseOptions.configExtraKeys). */
  fileExtras: Record<string, string>;
}

/**
 * Parses argv against `specs`, with the config file's values under them when
 * specs has `config` and it is given. Unknown flags or keys, missing values,
 * bad numbers and bad addresses throw UsageError with a one-line message.
 */
export function parseFlags(argv: string[], specs: Record<string, FlagSpec>, opts: boolean | ParseOptions = false): ParsedFlags {
  const { positionals: allowPositionals = false, configExtraKeys, configSpecs = specs } = typeof opts === "boolean" ? { positionals: opts } : opts;
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" }, version: { type: "boolean" },
  };
  for (const [name, s] of Object.entries(specs)) {
    options[name] = { type: s.type === "boolean" ? "boolean" : "string" };
    if (s.alias) options[s.alias] = options[name];
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]);
  }
  const raw = parsed.values as Record<string, string | boolean | undefined>;
  const early = { values: {}, positionals: parsed.positionals, fileExtras: {} };
  if (raw.help) return { ...early, help: true, version: false };
  if (raw.version) return { ...early, help: false, version: true };
  const configFile = specs.config && typeof raw.config === "string" ? raw.config : undefined;
  let file: ReturnType<typeof readConfigFile> = { flags: {}, extras: {} };
  if (configFile !== undefined) {
    try {
      file = readConfigFile(configFile, configSpecs, configExtraKeys);
    } catch (e) {
      if (e instanceof ConfigFileError) throw new UsageError(e.message);
      throw e;
    }
  }
  for (const [name, s] of Object.entries(specs)) {
    if (raw[name] !== undefined || (s.alias && raw[s.alias] !== undefined)) for (const o of s.overrides ?? []) delete file.flags[o];
  }
  const values: FlagValues = {};
  for (const [name, s] of Object.entries(specs)) {
    if (s.alias && raw[name] !== undefined && raw[s.alias] !== undefined) throw new UsageError(`--${name} and --${s.alias} are the same flag: give one`);
    const given = raw[name] ?? (s.alias ? raw[s.alias] : undefined);
    const v = given ?? file.flags[name];
    if (v === undefined) {
      if (s.required) throw new UsageError(`--${name} is required${configFile !== undefined ? ` (as a flag or in ${configFile})` : ""}`);
      values[name] = s.default;
      continue;
    }
    try {
      values[name] = flagValue(name, s, v);
    } catch (e) {
      // A bad value from the file names the file and its key, as a bad key does.
      if (given === undefined && e instanceof UsageError) throw new UsageError(`${configFile}: key '${name}': ${e.message}`);
      throw e;
    }
  }
  return { values, positionals: parsed.positionals, help: false, version: false, fileExtras: file.extras };
}

/** One flag's text (as given on the command line, or as a file's value was turned into) -> its typed, checked value. */
function flagValue(name: string, s: FlagSpec, v: string | boolean): string | number | boolean {
  let value: string | number | boolean;
  switch (s.type) {
    case "boolean":
    case "string":
    case "path":
      value = v;
      break;
    case "int":
      if (!/^-?\d+$/.test(String(v))) throw new UsageError(`--${name} must be a whole number, got '${v}'`);
      value = Number(v);
      break;
    case "bytes":
      value = parseBytes(String(v), name);
      break;
    case "hostport":
      try { parseHostPort(String(v), `--${name}`); } catch (e) { throw new UsageError((e as Error).message.replace(/^EINVAL: /, "")); }
      value = v;
      break;
    case "hostports":
      try {
        value = parseHostPortList(String(v), `--${name}`).join(",");
      } catch (e) { throw new UsageError((e as Error).message.replace(/^EINVAL: /, "")); }
      break;
  }
  if (s.min !== undefined && typeof value === "number" && value < s.min) {
    throw new UsageError(`--${name} must be at least ${s.min}, got ${value}`);
  }
  return value;
}
