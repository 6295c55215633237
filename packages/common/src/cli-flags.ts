// Flag parsing for every command: declared flags with types and help, strict
// validation, and one-line errors (never a stack trace) on bad input.
import { parseArgs } from "node:util";
import { parseHostPort, parseHostPortList } from "./address";

/** hostports: a comma-separated list of HOST:PORT (a replicated master's addresses). */
export type FlagType = "string" | "boolean" | "int" | "bytes" | "hostport" | "hostports";

export interface FlagSpec {
  type: FlagType;
  help: string;
  default?: string | number | boolean;
  required?: boolean;
  /** Smallest accepted value of an int or bytes flag. */
  min?: number;
  /** Another name for the same flag (--metrics-listen for --http-listen). */
  alias?: string;
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

export function helpText(command: string, synopsis: string, specs: Record<string, FlagSpec>): string {
  const lines = [`usage: ${command} ${synopsis}`, "", "options:"];
  for (const [name, s] of Object.entries(specs)) {
    const arg = s.type === "boolean" ? "" : ` ${s.type === "hostport" ? "HOST:PORT" : s.type === "hostports" ? "HOST:PORT[,...]" : s.type === "bytes" ? "BYTES" : s.type === "int" ? "N" : "VALUE"}`;
    const dflt = s.default !== undefined && s.type !== "boolean" ? ` (default ${s.default})` : s.required ? " (required)" : "";
    lines.push(`  --${name}${arg}`.padEnd(34) + s.help + dflt + (s.alias ? ` (also --${s.alias})` : ""));
  }
  lines.push(`  --help`.padEnd(34) + "show this help");
  return lines.join("\n");
}

/**
 * Parses argv against `specs`. Unknown flags, missing values, bad numbers and
 * bad addresses throw UsageError with a one-line message.
 */
export function parseFlags(argv: string[], specs: Record<string, FlagSpec>, allowPositionals = false):
  { values: FlagValues; positionals: string[]; help: boolean } {
  const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
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
  if (raw.help) return { values: {}, positionals: parsed.positionals, help: true };
  const values: FlagValues = {};
  for (const [name, s] of Object.entries(specs)) {
    if (s.alias && raw[name] !== undefined && raw[s.alias] !== undefined) throw new UsageError(`--${name} and --${s.alias} are the same flag: give one`);
    const v = raw[name] ?? (s.alias ? raw[s.alias] : undefined);
    if (v === undefined) {
      if (s.required) throw new UsageError(`--${name} is required`);
      values[name] = s.default;
      continue;
    }
    switch (s.type) {
      case "boolean":
      case "string":
        values[name] = v;
        break;
      case "int": {
        if (!/^-?\d+$/.test(String(v))) throw new UsageError(`--${name} must be a whole number, got '${v}'`);
        values[name] = Number(v);
        break;
      }
      case "bytes":
        values[name] = parseBytes(String(v), name);
        break;
      case "hostport":
        try { parseHostPort(String(v), `--${name}`); } catch (e) { throw new UsageError((e as Error).message.replace(/^EINVAL: /, "")); }
        values[name] = v;
        break;
      case "hostports":
        try {
          values[name] = parseHostPortList(String(v), `--${name}`).join(",");
        } catch (e) { throw new UsageError((e as Error).message.replace(/^EINVAL: /, "")); }
        break;
    }
    if (s.min !== undefined && typeof values[name] === "number" && (values[name] as number) < s.min) {
      throw new UsageError(`--${name} must be at least ${s.min}, got ${values[name]}`);
    }
  }
  return { values, positionals: parsed.positionals, help: false };
}
