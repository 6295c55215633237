// Issue 17, config files: `--config FILE` (TOML) on gfs-master,
// gfs-chunkserver and gfs-mount. Real processes: a cluster and a mount started
// from files alone work; the file's values are used, command-line flags win,
// relative paths are the file's directory's; a bad key, type, value or file
// stops the start with exit 2 and one line naming the file and the key; the
// commented examples in deploy/ load through the real binaries, list every
// flag, and print back as a config that loads again.
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseToml as parse } from "@gfs/common";
import { bin, repoRoot, runCli } from "./harness/cluster";
import { isMounted, run, type RunResult } from "./harness/mount";
import { issueIdentity } from "./harness/pki";
import { spawnNode, stopProcess, type Spawned } from "./harness/processes";

/** "64M" -> bytes, as the daemons read a size; anything else as it is. */
const sized = (v: unknown): unknown => {
  const m = typeof v === "string" ? /^(\d+)([KMG])$/.exec(v) : null;
  return m ? Number(m[1]) * 1024 ** (" KMG".indexOf(m[2])) : v;
};

const daemons = { master: bin.master, chunkserver: bin.chunkserver, mount: bin.mount } as const;
type Daemon = keyof typeof daemons;

/** Runs a daemon binary to completion (for --print-config and refusals) from `cwd`. */
const runDaemon = (d: Daemon, args: string[], cwd = repoRoot): Promise<RunResult> =>
  run(process.execPath, [daemons[d], ...args], { cwd, timeoutMs: 30_000 });

/** The effective settings a daemon prints for these arguments, parsed; fails the test with its stderr if it refused. */
async function printConfig(d: Daemon, args: string[], cwd = repoRoot): Promise<Record<string, unknown>> {
  const r = await runDaemon(d, [...args, "--print-config"], cwd);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return parse(r.stdout) as Record<string, unknown>;
}

/** A refusal: exit 2, and the error is one line (then the usual "Try --help" hint), returned. */
async function refusal(d: Daemon, args: string[]): Promise<string> {
  const r = await runDaemon(d, args);
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(2);
  expect(lines[1]).toMatch(/^Try '.*--help'\.$/);
  return lines[0];
}

describe("config files (--config FILE)", { timeout: 120_000 }, () => {
  let dir: string;
  let n = 0;
  /** Writes a TOML file into a fresh subdirectory of the test's dir; returns its path. */
  const file = async (text: string, name = "gfs.toml"): Promise<string> => {
    const sub = join(dir, `cfg${++n}`);
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, name), text);
    return join(sub, name);
  };

  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), "gfs-config-")); });
  afterAll(async () => { if (!process.env.GFS_TEST_KEEP) await rm(dir, { recursive: true, force: true }); });

  it("a cluster and a mount started from config files alone serve files, with the files' settings", async () => {
    // One directory as /etc/gfs would be: configs with relative paths, identities beside them.
    const etc = join(dir, "etc");
    await Promise.all([
      issueIdentity(join(etc, "tls/master"), "master", "master"),
      issueIdentity(join(etc, "tls/cs0"), "chunkserver", "cs0"),
      issueIdentity(join(etc, "tls/mount"), "mount", "mount"),
      issueIdentity(join(etc, "tls/admin"), "admin", "admin"),
    ]);
    await writeFile(join(etc, "master.toml"), [
      'listen = "127.0.0.1:0"', 'data = "state/master"', 'tls-dir = "tls/master"', 'chunk-size = "1M"', "replication = 1",
      "heartbeat-interval-ms = 200", 'metrics-listen = "127.0.0.1:0"', "chunk-spares = 2", "",
    ].join("\n"));
    const procs: Spawned[] = [];
    const mountpoint = join(dir, "mnt");
    try {
      // Started from the repository's directory: the relative paths must still land beside the file.
      const master = spawnNode(bin.master, ["--config", join(etc, "master.toml")]);
      procs.push(master);
      const listening = await master.waitForLog("master listening");
      expect(listening).toMatchObject({ data: join(etc, "state/master"), chunk_size_bytes: 1024 * 1024, replication: 1, heartbeat_interval_ms: 200, chunk_spares: 2 });
      expect((await stat(join(etc, "state/master"))).isDirectory()).toBe(true);
      // metrics-listen, the alias, from the file: the HTTP port is up and answers.
      const http = String((await master.waitForLog("http listening")).address);
      expect((await fetch(`http://${http}/healthz`)).status).toBe(200);
      const address = String(listening.address);

      await writeFile(join(etc, "chunkserver.toml"), [
        `master = ["${address}"]`, 'listen = "127.0.0.1:0"', 'data = "state/cs0"', 'tls-dir = "tls/cs0"', 'rack = "r7"',
        "heartbeat-interval-ms = 200", 'scrub-bytes-per-sec = "1M"', "",
      ].join("\n"));
      const cs = spawnNode(bin.chunkserver, ["--config", join(etc, "chunkserver.toml")]);
      procs.push(cs);
      expect(await cs.waitForLog("chunkserver listening")).toMatchObject({ data: join(etc, "state/cs0"), rack: "r7", serverId: "cs0" });
      await cs.waitForLog("registered with master");

      const admin = ["--master", address, "--tls-dir", join(etc, "tls/admin")];
      const put = await runCli([...admin, "put", "-", "/from-config"], Buffer.from("served by daemons configured from files\n"));
      expect(put.stderr).toBe("");
      expect(put.code).toBe(0);

      // The mount: master, identity and options from its file; -o on the command line adds ro.
      await mkdir(mountpoint, { recursive: true });
      await writeFile(join(etc, "mount.toml"), [`master = "${address}"`, 'tls-dir = "tls/mount"', 'options = "allow_other"', "attr-timeout-ms = 0", ""].join("\n"));
      const mount = spawnNode(bin.mount, [mountpoint, "--config", join(etc, "mount.toml"), "--foreground", "-o", "ro"]);
      procs.push(mount);
      await mount.waitForLog("mounted", 20_000);
      expect(await readFile(join(mountpoint, "from-config"), "utf8")).toBe("served by daemons configured from files\n");
      const line = (await readFile("/proc/self/mountinfo", "utf8")).split("\n").find((l) => l.split(" ")[4] === mountpoint) ?? "";
      expect(line).toMatch(/\bro\b/); // from -o
      expect(line).toMatch(/allow_other/); // from the file
      expect(line).toContain(`gfs:${address}`);

      // gfs-master backup takes the data directory from the master's own file.
      const out = join(dir, "backup");
      const backup = await run(process.execPath, [bin.master, "backup", "--config", join(etc, "master.toml"), out]);
      expect(backup.stderr).toBe("");
      expect(backup.stdout).toContain(`backup of ${join(etc, "state/master")}`);
    } finally {
      for (const p of procs.reverse()) await stopProcess(p, 10_000);
      if (await isMounted(mountpoint)) await run("fusermount3", ["-u", "-z", mountpoint]);
    }
  });

  it("command-line flags win over the file, aliases and the tls-dir/insecure choice included", async () => {
    const f = await file([
      'data = "/var/lib/gfs/master"', "replication = 3", 'http-listen = "0.0.0.0:9080"', 'tls-dir = "/etc/gfs/tls/master"', 'chunk-size = "64M"', "",
    ].join("\n"));
    const fromFile = await printConfig("master", ["--config", f]);
    expect(fromFile).toMatchObject({ data: "/var/lib/gfs/master", replication: 3, "http-listen": "0.0.0.0:9080", "chunk-size": 64 * 1024 * 1024 });
    const overridden = await printConfig("master", [
      "--config", f, "--replication", "2", "--metrics-listen", "127.0.0.1:9999", "--insecure", "--chunk-size", "2M", "--data", "/srv/m",
    ]);
    expect(overridden).toMatchObject({ data: "/srv/m", replication: 2, "http-listen": "127.0.0.1:9999", insecure: true, "chunk-size": 2 * 1024 * 1024 });
    expect(overridden["tls-dir"]).toBeUndefined();
    // The mount: -o options come after the file's, so -o rw undoes the file's ro (the later option wins).
    const m = await file('master = "10.0.0.1:9000"\noptions = "ro,allow_other"\n');
    expect(await printConfig("mount", ["--config", m, "-o", "rw,uid=7", "--master", "10.0.0.2:9000"])).toMatchObject({
      master: "10.0.0.2:9000", options: "ro,allow_other,rw,uid=7",
    });
  });

  it("gfs-mount's -o config=FILE (the /etc/fstab form, where mount(8) passes only -o) reads the file as --config does", async () => {
    const m = await file('master = "10.0.0.1:9000"\noptions = "allow_other"\ntls-dir = "tls/mount"\n');
    // As mount.fuse runs it for "gfs /mnt/gfs fuse.gfs-mount config=FILE,_netdev": source, mountpoint, -o.
    const printed = await printConfig("mount", ["gfs", join(dir, "mnt-never"), "-o", `_netdev,config=${m},ro`]);
    expect(printed).toMatchObject({ master: "10.0.0.1:9000", "tls-dir": join(m, "../tls/mount"), options: "allow_other,_netdev,ro" });
    // A bad key in it is refused the same way.
    const bad = await file('master = "10.0.0.1:9000"\nmount-point = "/mnt"\n');
    expect(await refusal("mount", ["gfs", join(dir, "mnt-never"), "-o", `config=${bad}`])).toMatch(new RegExp(`${bad}.*'mount-point'`));
  });

  it("relative paths in the file are taken from the file's directory, not the working directory", async () => {
    const f = await file('data = "state/master"\ntls-dir = "../tls/master"\n', "master.toml");
    const fileDir = join(f, "..");
    const printed = await printConfig("master", ["--config", f], tmpdir());
    expect(printed.data).toBe(join(fileDir, "state/master"));
    expect(printed["tls-dir"]).toBe(join(fileDir, "../tls/master"));
    // On the command line a relative path stays the caller's (relative to where it runs).
    expect((await printConfig("master", ["--config", f, "--data", "here"], tmpdir())).data).toBe("here");
    // The mount's tls_dir= inside `options` too.
    const m = await file('master = "10.0.0.1:9000"\noptions = "tls_dir=tls/mount,allow_other"\nlog-file = "log/mount.log"\n');
    const mountPrinted = await printConfig("mount", ["--config", m], tmpdir());
    expect(mountPrinted.options).toBe(`tls_dir=${join(m, "../tls/mount")},allow_other`);
    expect(mountPrinted["log-file"]).toBe(join(m, "../log/mount.log"));
  });

  it("an unknown key is refused with exit 2 and one line naming the file and the key", async () => {
    const f = await file('data = "/d"\nreplicaton = 3\n');
    const line = await refusal("master", ["--config", f]);
    expect(line).toContain(f);
    expect(line).toContain("'replicaton'");
    // A key of another daemon is unknown here too, and a mount file's `options` means nothing to a chunkserver.
    const cs = await file('master = "127.0.0.1:9000"\ndata = "/d"\noptions = "ro"\n');
    expect(await refusal("chunkserver", ["--config", cs])).toMatch(new RegExp(`${cs}.*'options'`));
    // Tables are not flags either.
    const t = await file('data = "/d"\n[tls]\ndir = "/x"\n');
    expect(await refusal("master", ["--config", t])).toMatch(new RegExp(`${t}.*'tls'`));
  });

  it("a value of the wrong type or out of range is refused with exit 2 and one line naming the file and the key", async () => {
    const cases: Array<[Daemon, string, string]> = [
      ["master", 'data = "/d"\nreplication = "3"\n', "replication"], // a string for an integer
      ["master", 'data = "/d"\nchunk-size = 1.5\n', "chunk-size"], // a float for bytes
      ["master", 'data = "/d"\nchunk-size = "lots"\n', "chunk-size"], // not a size
      ["master", 'data = "/d"\nreplication = 0\n', "replication"], // below the minimum
      ["master", "data = 7\n", "data"], // an integer for a path
      ["master", 'data = "/d"\ninsecure = "yes"\n', "insecure"], // a string for a boolean
      ["master", 'data = "/d"\nlisten = "nowhere"\n', "listen"], // not HOST:PORT
      ["chunkserver", 'data = "/d"\nmaster = [1, 2]\n', "master"], // an array of numbers for addresses
      ["mount", 'master = "127.0.0.1:9000"\noptions = ["ro"]\n', "options"], // options is one string
      ["mount", 'master = "127.0.0.1:9000"\noptions = "ro,no such option"\n', "options"], // not a mount option
      ["mount", 'master = "127.0.0.1:9000"\nforeground = 1\n', "foreground"],
    ];
    for (const [d, text, key] of cases) {
      const f = await file(text);
      const line = await refusal(d, d === "mount" ? [join(dir, "mnt-never"), "--config", f] : ["--config", f]);
      expect(line, text).toContain(f);
      expect(line, text).toContain(`'${key}'`);
    }
  });

  it("a file that cannot be read, is not TOML or gives a setting twice is refused with one line naming it", async () => {
    const missing = join(dir, "no-such.toml");
    expect(await refusal("master", ["--config", missing])).toContain(missing);
    const bad = await file('data = "/d\n');
    expect(await refusal("chunkserver", ["--config", bad])).toMatch(new RegExp(`${bad}.*line 1`));
    const twice = await file('data = "/d"\nhttp-listen = "127.0.0.1:1"\nmetrics-listen = "127.0.0.1:2"\n');
    expect(await refusal("master", ["--config", twice])).toMatch(new RegExp(`${twice}.*'http-listen'.*'metrics-listen'`));
    // A required flag missing from both says where it was looked for.
    const none = await file('replication = 2\n');
    expect(await refusal("master", ["--config", none])).toMatch(new RegExp(`--data is required.*${none}`));
  });

  describe("the examples in deploy/", () => {
    const examples: Array<[Daemon, string]> = [["master", "deploy/master.toml"], ["chunkserver", "deploy/chunkserver.toml"], ["mount", "deploy/mount.toml"]];
    for (const [d, path] of examples) {
      it(`${path} loads in gfs-${d === "mount" ? "mount" : d} and lists every flag of its --help`, async () => {
        const text = await readFile(join(repoRoot, path), "utf8");
        const printed = await printConfig(d, ["--config", path]);
        // What the example sets is what the daemon would run with (paths are absolute: nothing depends on the file's place).
        const set = parse(text) as Record<string, unknown>;
        expect(Object.keys(set).length).toBeGreaterThan(3);
        for (const [k, v] of Object.entries(set)) expect(printed[k], k).toEqual(sized(v));
        expect(String(printed["http-listen"])).toMatch(/:\d+$/);
        for (const p of ["data", "tls-dir", "log-file"]) if (p in set) expect(String(set[p]), p).toMatch(/^\/(var\/lib\/gfs|etc\/gfs\/tls|var\/log\/gfs)\//);
        // Every flag --help shows is in the example, set or commented out ("# key = default").
        const help = (await runDaemon(d, ["--help"])).stdout;
        const flags = [...help.matchAll(/^ {2}--([a-z][a-z0-9-]*)/gm)].map((m) => m[1]).filter((f) => !["config", "print-config", "version", "help"].includes(f));
        expect(flags.length).toBeGreaterThan(d === "mount" ? 6 : 15);
        const listed = new Set([...text.matchAll(/^#? ?([a-z][a-z0-9-]*) = /gm)].map((m) => m[1]));
        expect(flags.filter((f) => !listed.has(f))).toEqual([]);
        // Each commented-out default is the daemon's real default (uncommented, it changes nothing).
        const defaults = [...text.matchAll(/^# ([a-z][a-z0-9-]*) = (.+)$/gm)].map((m) => [m[1], m[2]] as const);
        for (const [k, v] of defaults) {
          const value = (parse(`x = ${v}`) as { x: unknown }).x;
          if (k in printed) expect(printed[k], `${path}: # ${k} = ${v}`).toEqual(sized(value));
        }
        // --print-config's output is itself a config file that gives the same settings.
        const again = await file(await (await runDaemon(d, ["--config", path, "--print-config"])).stdout);
        expect(await printConfig(d, ["--config", again])).toEqual(printed);
      });
    }
  });
});
