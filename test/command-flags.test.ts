// Issue 17, commands behave: `--version` and `-h` on every command (gfs-master
// and its backup, gfs-chunkserver, gfs-mount, gfs and each gfs subcommand),
// exit 0, output to stdout; -h is --help; help shows every flag a command takes.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bin, repoRoot } from "./harness/cluster";
import { run, type RunResult } from "./harness/mount";

const commands = { "gfs-master": bin.master, "gfs-chunkserver": bin.chunkserver, "gfs-mount": bin.mount, gfs: bin.cli } as const;
type Command = keyof typeof commands;

const runCommand = (c: Command, args: string[]): Promise<RunResult> => run(process.execPath, [commands[c], ...args], { timeoutMs: 30_000 });

/** A successful run: exit 0, nothing on stderr; its stdout. */
async function ok(c: Command, args: string[]): Promise<string> {
  const r = await runCommand(c, args);
  expect(r.stderr, `${c} ${args.join(" ")}`).toBe("");
  expect(r.code, `${c} ${args.join(" ")}`).toBe(0);
  return r.stdout;
}

/** The gfs subcommands its --help lists ("status", "ca", "cert", ...). */
async function subcommands(): Promise<string[]> {
  const help = await ok("gfs", ["--help"]);
  return help.split("\ncommands:\n")[1].split("\n").filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim().split(/\s/)[0]);
}

// Each run is a node start loading the whole client (about a second on a busy 2-core machine): generous timeouts, runs in pairs.
describe("--version and -h on every command", { timeout: 300_000 }, () => {
  it("--version prints 'COMMAND RELEASE (commit HASH)' with the release of package.json and exits 0", async () => {
    const { version } = JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8")) as { version: string };
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    const escaped = version.replaceAll(".", "\\.");
    for (const c of Object.keys(commands) as Command[]) {
      // Built in a git checkout: the commit is known (outside git it is left out, never a build failure).
      expect(await ok(c, ["--version"])).toMatch(new RegExp(`^${c} ${escaped} \\(commit [0-9a-f]{7,}\\)\\n$`));
    }
    // Wherever it appears, --version wins over everything else (even a missing required flag).
    expect(await ok("gfs-master", ["--listen", "127.0.0.1:1", "--version"])).toMatch(/^gfs-master /);
    expect(await ok("gfs-master", ["backup", "--version"])).toMatch(/^gfs-master /);
  });

  it("-h prints exactly what --help prints, on stdout, and exits 0", async () => {
    for (const c of Object.keys(commands) as Command[]) {
      const [long, short] = await Promise.all([ok(c, ["--help"]), ok(c, ["-h"])]);
      expect(long).toMatch(new RegExp(`^usage: ${c} `));
      expect(short).toBe(long);
    }
    expect(await ok("gfs-master", ["backup", "-h"])).toBe(await ok("gfs-master", ["backup", "--help"]));
    expect(await ok("gfs-master", ["backup", "-h"])).toMatch(/^usage: gfs-master backup /);
  });

  it("every gfs subcommand answers -h (as --help, unless -h is a flag of its own) and --version with exit 0", async () => {
    const subs = await subcommands();
    expect(subs).toEqual(expect.arrayContaining(["status", "put", "get", "ls", "fsck", "ca", "cert"]));
    // Issue 18 added many subcommands: two of their runs go at once (two cores).
    for (const s of subs) {
      const [long, version] = await Promise.all([ok("gfs", [s, "--help"]), ok("gfs", [s, "--version"])]);
      expect(long, s).toMatch(new RegExp(`^usage: gfs ${s}\\b`));
      expect(version, s).toMatch(/^gfs \d+\.\d+\.\d+ /);
      // A command with an h flag of its own (du -h, df -h: human-readable) takes help as --help only (issue 18), and says so.
      if (/^ {2}-h {2,}/m.test(long)) expect(long, s).toMatch(/^ {2}--help {2,}show this help$/m);
      else expect(await ok("gfs", [s, "-h"]), s).toBe(long);
    }
  });

  it("help shows every flag: each option listed is accepted, and the synopsis' flags are listed", async () => {
    for (const c of ["gfs-master", "gfs-chunkserver", "gfs-mount", "gfs"] as Command[]) {
      const help = await ok(c, ["--help"]);
      const options = [...help.matchAll(/^ {2}(?:-h, )?--([a-z][a-z0-9-]*)( [A-Z])?/gm)].map((m) => ({ name: m[1], takesValue: m[2] !== undefined }));
      const listed = options.map((o) => o.name);
      for (const always of ["version", "help"]) expect(listed, c).toContain(always);
      if (c !== "gfs") for (const daemonFlag of ["config", "print-config", "http-listen", "tls-dir", "insecure"]) expect(listed, c).toContain(daemonFlag);
      // Every --flag the usage lines name is explained under options.
      const usage = help.split("\noptions:\n")[0];
      for (const m of usage.matchAll(/--([a-z][a-z0-9-]*)/g)) expect(listed, `${c}: --${m[1]} in the usage`).toContain(m[1]);
      // Every listed flag is one the command accepts: all of them at once are no unknown option (--help then stops it).
      const all = options.filter((o) => o.name !== "help").map((o) => (o.takesValue ? `--${o.name}=1` : `--${o.name}`));
      expect(await ok(c, [...all, "--help"])).toBe(help);
    }
    // A gfs subcommand's short flags are shown as typed (-l), and accepted.
    expect(await ok("gfs", ["ls", "--help"])).toMatch(/^ {2}-l\s/m);
  });
});
