// Issue 18: every gfs subcommand's --help names its own flags correctly, `gfs completion bash`
// completes what the registry holds (checked with a real bash), and README's command table names
// every command. Commands are found as a user finds them (`gfs --help`), so a command another
// lane adds is checked without this file changing. Each command's help and flag parsing is
// checked against the registry in this process (a node start per command and check would cost
// minutes), and the real binary answers a few of them the same. No cluster: nothing reaches a master.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseFlags, UsageError } from "@gfs/common";
import { expandShortFlags } from "../packages/client-core/src/command";
import { commandFlagWords } from "../packages/client-core/src/completion";
import { commandHelp, commands, localCommands } from "../packages/client-core/src/registry";
import { bin, execFileAsync, repoRoot } from "./harness/cluster";
import { run } from "./harness/mount";

const gfs = (args: string[]) => run(process.execPath, [bin.cli, ...args], { timeoutMs: 60_000 });

/** Runs `fn` over `items`, `width` at a time (each run is a node start: a second on a busy machine). */
async function pool<T, R>(items: T[], width: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  }));
  return results;
}

/** The flags a help text lists under options, as typed (-l, --json, -h, --help), and whether each takes a value. */
function listedFlags(help: string): Array<{ word: string; takesValue: boolean }> {
  const options = help.split("\noptions:\n")[1] ?? "";
  return [...options.matchAll(/^ {2}(?:(-h), )?(--?[a-zA-Z][a-zA-Z0-9-]*)( [A-Z])?/gm)]
    .flatMap((m) => [...(m[1] ? [{ word: m[1], takesValue: false }] : []), { word: m[2], takesValue: m[3] !== undefined }]);
}

describe("gfs help, completion and README agree with the command registry", { timeout: 180_000 }, () => {
  let subcommands: string[] = [];
  let script = "";
  let dir = "";

  beforeAll(async () => {
    const [help, completion] = await Promise.all([gfs(["--help"]), gfs(["completion", "bash"])]);
    expect([help.code, completion.code]).toEqual([0, 0]);
    subcommands = help.stdout.split("\ncommands:\n")[1].split("\n").filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim().split(/\s/)[0]);
    script = completion.stdout;
    dir = await mkdtemp(join(tmpdir(), "gfs-help-"));
    await writeFile(join(dir, "gfs.bash"), script);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** What the generated script offers for the words typed so far (the last one being completed), run by bash. */
  async function complete(...words: string[]): Promise<string[]> {
    const array = words.map((w) => `'${w}'`).join(" ");
    const { stdout } = await execFileAsync("bash", ["-c",
      `source ${join(dir, "gfs.bash")}; COMP_WORDS=(gfs ${array}); COMP_CWORD=${words.length}; _gfs; printf '%s\\n' "\${COMPREPLY[@]}"`]);
    return stdout.split("\n").filter(Boolean).sort();
  }

  /** The flag words the completion script holds for a command (generated from the registry). */
  const completionFlags = (name: string) => new RegExp(`^ {4}${name}\\) flags="([^"]*)"`, "m").exec(script)?.[1].split(" ").sort();

  it("every command gfs --help lists is in the registry, and its --help lists exactly the registry's flags, all accepted, the synopsis' flags among them; an unknown flag is a usage error", () => {
    expect(subcommands).toEqual(expect.arrayContaining(["ls", "cat", "tail", "du", "df", "touch", "chmod", "chown", "status", "completion", "ca", "cert"]));
    const registry = { ...commands, ...localCommands };
    expect([...subcommands].sort()).toEqual(Object.keys(registry).sort());
    const problems: string[] = [];
    for (const name of subcommands) {
      const c = registry[name];
      const help = commandHelp(name, c);
      const listed = listedFlags(help);
      const words = listed.map((f) => f.word).sort();
      // What the command accepts (its flags, help, version) is what help lists: no more, no fewer; the completion script offers the same.
      const registered = commandFlagWords(c.flags).sort();
      if (JSON.stringify(words) !== JSON.stringify(registered)) problems.push(`${name}: help lists ${words}, the command takes ${registered}`);
      if (JSON.stringify(completionFlags(name)) !== JSON.stringify(registered)) problems.push(`${name}: completion offers ${completionFlags(name)}`);
      const usage = help.split("\noptions:\n")[0];
      for (const m of usage.matchAll(/(?<![\w-])(--?[a-zA-Z][a-zA-Z0-9-]*)/g)) if (!words.includes(m[1])) problems.push(`${name}: synopsis names ${m[1]}, help does not`);
      // Every listed flag is accepted as typed: all at once (with a value where one is taken) are no unknown option, and --help still answers.
      const all = listed.filter((f) => f.word !== "--help").flatMap((f) => (f.takesValue ? [f.word, "1"] : [f.word]));
      try {
        if (!parseFlags(expandShortFlags([...all, "--help"], c.flags), c.flags, true).help) problems.push(`${name} ${all.join(" ")} --help: no help`);
      } catch (e) {
        problems.push(`${name} ${all.join(" ")} --help: ${(e as Error).message}`);
      }
      for (const unknown of ["--no-such-flag", "-Z"]) {
        try {
          parseFlags(expandShortFlags([unknown], c.flags), c.flags, true);
          problems.push(`${name} ${unknown}: accepted`);
        } catch (e) {
          if (!(e instanceof UsageError)) problems.push(`${name} ${unknown}: ${(e as Error).message}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("-h is help, except for a command with an h flag (du -h, df -h: human-readable), whose help says --help only", () => {
    const parse = (name: string, args: string[]) => parseFlags(expandShortFlags(args, commands[name].flags), commands[name].flags, true);
    expect(parse("ls", ["-h"]).help).toBe(true);
    expect(parse("du", ["-h"])).toMatchObject({ help: false, values: { h: true } });
    expect(parse("du", ["-sh"])).toMatchObject({ help: false, values: { h: true, s: true } });
    expect(parse("du", ["--help"]).help).toBe(true);
    const du = commandHelp("du", commands.du);
    expect(du).toMatch(/^ {2}-h {2,}sizes as/m);
    expect(du).toMatch(/^ {2}--help {2,}show this help$/m);
    expect(du).not.toMatch(/-h, --help/);
  });

  it("the binary answers as the registry does: help on --help and -h, an unknown flag exit 2 with one line naming it (remote and local commands)", async () => {
    const [du, ls, tail, ca] = await pool([["du", "--help"], ["ls", "-h"], ["tail", "--no-such-flag"], ["ca", "--no-such-flag"]], 2, gfs);
    expect([du.code, du.stdout]).toEqual([0, commandHelp("du", commands.du)]);
    expect([ls.code, ls.stdout]).toEqual([0, commandHelp("ls", commands.ls)]);
    for (const unknown of [tail, ca]) {
      expect([unknown.code, unknown.stdout]).toEqual([2, ""]);
      expect(unknown.stderr).toMatch(/^gfs: .*no-such-flag.*\n/);
    }
  });

  it("bash completion completes commands, global flags, each command's flags and fixed first words from the registry", async () => {
    expect(await complete("")).toEqual([...subcommands].sort());
    expect(await complete("st")).toEqual(["stat", "status"]);
    expect(await complete("--master", "127.0.0.1:1", "ch")).toEqual(["chmod", "chown"]);
    expect(await complete("--ma")).toEqual(["--master"]);
    expect(await complete("du", "-")).toEqual(["--help", "--json", "--version", "-h", "-s"]);
    expect(await complete("chmod", "-")).toEqual(["--help", "--version", "-R", "-h"]);
    expect(await complete("ca", "")).toEqual(["init"]);
    expect(await complete("completion", "b")).toEqual(["bash"]);
    // Every registered command has its flags in the script.
    for (const name of subcommands) expect(completionFlags(name), name).toContain("--help");
  });

  it("README's command table names every command gfs --help lists, and no command gfs lacks", async () => {
    const readme = await readFile(join(repoRoot, "README.md"), "utf8");
    // The table under "### The `gfs` commands" (other tables, exit statuses say, name a few commands too).
    const section = readme.split("\n### The `gfs` commands\n")[1]?.split(/\n#{2,3} /)[0] ?? "";
    const table = section.split("\n| command | what it does |\n")[1]?.split("\n\n")[0] ?? "";
    const rows = [...table.matchAll(/^\| `gfs ([a-z][a-z-]*)\b[^`]*` \|/gm)].map((m) => m[1]);
    expect(rows.length).toBeGreaterThan(0);
    expect(subcommands.filter((s) => !rows.includes(s)), "commands missing from README's table").toEqual([]);
    expect([...new Set(rows)].filter((r) => !subcommands.includes(r)), "README rows of commands gfs does not have").toEqual([]);
  });
});
