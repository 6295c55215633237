// Reads a systemd unit file the way systemd does for the parts our units use:
// sections, repeated keys, backslash-continued lines, command lines split into
// words with quotes, `$$` for a literal `$`, the specifiers %i %I %f %%, and
// the command prefixes `-` (failure ignored) and `@`/`:`/`+`/`!`. The netns
// deployment test runs what this returns, so it runs what systemd would.
import { readFileSync } from "node:fs";

export interface UnitFile {
  path: string;
  /** section -> key -> every value, in order (a key may repeat: ExecStartPre=). */
  sections: Map<string, Map<string, string[]>>;
}

export interface UnitCommand {
  argv: string[];
  /** `-` prefix: a non-zero exit is ignored. */
  ignoreFailure: boolean;
}

export function readUnitFile(path: string): UnitFile {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  const lines = readFileSync(path, "utf8").replace(/\\\n/g, " ").split("\n");
  for (const raw of lines) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1], current);
      continue;
    }
    const eq = line.indexOf("=");
    if (!current || eq < 0) throw new Error(`${path}: not a unit file line: ${line}`);
    const key = line.slice(0, eq).trim();
    const values = current.get(key) ?? [];
    values.push(line.slice(eq + 1).trim());
    current.set(key, values);
  }
  return { path, sections };
}

/** Every value of `key` in `section` (empty when absent). */
export const unitValues = (unit: UnitFile, section: string, key: string): string[] => unit.sections.get(section)?.get(key) ?? [];

/** The unescaped instance of a template unit name: "mnt-gfs" -> "mnt/gfs" (systemd-escape --unescape). */
export function unescapeInstance(instance: string): string {
  return instance.replace(/-/g, "/").replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** Expands the specifiers our units use; `instance` is the escaped instance name (undefined for a plain unit). */
export function expandSpecifiers(text: string, instance: string | undefined): string {
  return text.replace(/%(.)/g, (_, c: string) => {
    if (c === "%") return "%";
    if (instance === undefined) throw new Error(`specifier %${c} in a unit that is not an instance`);
    if (c === "i") return instance;
    if (c === "I") return unescapeInstance(instance);
    if (c === "f") return `/${unescapeInstance(instance)}`;
    throw new Error(`specifier %${c} not supported by this reader`);
  });
}

/** Splits one Exec*= value into its prefix flags and words (systemd.service(5) "Command lines"). */
export function parseCommandLine(value: string, instance?: string): UnitCommand {
  let rest = value.trim();
  let ignoreFailure = false;
  for (;;) {
    const c = rest[0];
    if (c === "-") ignoreFailure = true;
    else if (!(c === "@" || c === ":" || c === "+" || c === "!")) break;
    rest = rest.slice(1);
  }
  const argv: string[] = [];
  let i = 0;
  while (i < rest.length) {
    while (rest[i] === " " || rest[i] === "\t") i++;
    if (i >= rest.length) break;
    let word = "";
    const quote = rest[i] === "'" || rest[i] === '"' ? rest[i] : undefined;
    if (quote) {
      const end = rest.indexOf(quote, i + 1);
      if (end < 0) throw new Error(`unterminated quote in: ${value}`);
      word = rest.slice(i + 1, end);
      i = end + 1;
    } else {
      while (i < rest.length && rest[i] !== " " && rest[i] !== "\t") word += rest[i++];
    }
    if (/\$(?!\$)\{?[A-Za-z_]/.test(word.replace(/\$\$/g, ""))) throw new Error(`environment variables are not expanded by this reader: ${word}`);
    argv.push(expandSpecifiers(word.replace(/\$\$/g, "$"), instance));
  }
  return { argv, ignoreFailure };
}

/** The commands of one Exec key (ExecStartPre may appear several times). */
export const unitCommands = (unit: UnitFile, key: string, instance?: string): UnitCommand[] =>
  unitValues(unit, "Service", key).map((v) => parseCommandLine(v, instance));

/**
 * The credentials systemd gives every Exec* command of the unit, as a setpriv(1)
 * prefix: User=/Group= (with the user's groups), NoNewPrivileges=, and
 * CapabilityBoundingSet= (empty: none; else the capabilities named). Other
 * sandboxing (ProtectSystem=, SystemCallFilter=, ...) has no setpriv form.
 */
export function credentialsPrefix(unit: UnitFile): string[] {
  const one = (key: string) => unitValues(unit, "Service", key).at(-1);
  const args: string[] = [];
  const user = one("User");
  if (user && user !== "root") args.push(`--reuid=${user}`, `--regid=${one("Group") ?? user}`, "--init-groups");
  if (one("NoNewPrivileges") === "yes") args.push("--no-new-privs");
  const caps = one("CapabilityBoundingSet");
  if (caps !== undefined) {
    if (caps.startsWith("~")) throw new Error("CapabilityBoundingSet=~... is not supported by this reader");
    const keep = caps.split(/\s+/).filter(Boolean).map((c) => `,+${c.replace(/^CAP_/, "").toLowerCase()}`).join("");
    args.push(`--bounding-set=-all${keep}`);
  }
  return args.length > 0 ? ["setpriv", ...args] : [];
}
