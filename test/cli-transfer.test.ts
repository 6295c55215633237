// Issue 18, "transfers never destroy", with real processes: gfs put, get and cp
// write each file to a temporary name and rename it into place only when it is
// complete; they refuse to replace a file without -f, refuse a directory
// without -r, and refuse a bad source or a missing local directory before
// anything changes, in one line naming the path. Progress shows on a terminal
// (a pty from util-linux script) and nowhere else; --json prints a summary.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { destinationRefusal, etaText, intoItself, placeSource, tempPathFor } from "../packages/client-core/src/transfer-plan";
import { GfsClient } from "@gfs/client-core";
import { bin, eventually, runCli, TestCluster } from "./harness/cluster";

const KiB = 1024;

describe("where a copy goes and what refuses it (pure)", () => {
  const spec = { source: "/a/f.txt", kind: "file" as const, target: "/d", targetKind: "dir" as const, several: false, recursive: false };
  it("a source goes into an existing directory by its basename, else to the target itself", () => {
    expect(placeSource(spec)).toBe("/d/f.txt");
    expect(placeSource({ ...spec, target: "/n.txt", targetKind: "missing" })).toBe("/n.txt");
    expect(placeSource({ ...spec, source: "dir/", kind: "dir", recursive: true })).toBe("/d/dir");
  });
  it("a missing source, a directory without -r, several sources without a directory and stdin into a directory are refused", () => {
    expect(() => placeSource({ ...spec, kind: "missing" })).toThrow("/a/f.txt: No such file or directory");
    expect(() => placeSource({ ...spec, kind: "dir" })).toThrow("/a/f.txt: is a directory (use -r to copy the tree)");
    expect(() => placeSource({ ...spec, several: true, targetKind: "file", target: "/x" })).toThrow("/x: not a directory");
    expect(() => placeSource({ ...spec, source: "-", kind: "stdin" })).toThrow("/d: is a directory (name the file to write stdin to)");
  });
  it("an existing file is replaced only with -f, a directory never", () => {
    expect(destinationRefusal("/h.txt", "file", false)).toBe("/h.txt: file exists (use -f to replace)");
    expect(destinationRefusal("/h.txt", "file", true)).toBeUndefined();
    expect(destinationRefusal("/d", "dir", true)).toBe("/d: is a directory");
    expect(destinationRefusal("/new", "missing", false)).toBeUndefined();
  });
  it("the temporary name is hidden, in the target's directory, and fits NAME_MAX", () => {
    expect(tempPathFor("/d/h.txt", "put", "ab12")).toBe("/d/.h.txt.gfs-put-ab12");
    expect(tempPathFor(`/d/${"x".repeat(255)}`, "get", "ab12").split("/").pop()!.length).toBeLessThanOrEqual(255);
  });
  it("progress ETA is '?' before anything moved", () => {
    expect([etaText(100, 0), etaText(0, 0), etaText(4200, 100), etaText(185, 1), etaText(3720, 1)]).toEqual(["?", "0s", "42s", "3m05s", "1h02m"]);
  });
  it("a tree is not copied into itself", () => {
    expect(intoItself("/a", "/a/b")).toBe(true);
    expect(intoItself("/a/", "/a")).toBe(true);
    expect(intoItself("/a", "/ab")).toBe(false);
  });
});

describe("gfs put, get and cp never destroy", { timeout: 120_000 }, () => {
  let c: TestCluster;
  let local: string;
  let client: GfsClient; // checks what the CLI did without a process per look
  beforeAll(async () => {
    c = await TestCluster.start({ chunkservers: 2, replication: 2, chunkSizeBytes: 256 * KiB, heartbeatMisses: 10 });
    client = new GfsClient(c.clientOptions());
    local = await mkdtemp(join(tmpdir(), "gfs-transfer-"));
  });
  afterAll(async () => {
    client?.close();
    await c?.stop();
    if (local) await rm(local, { recursive: true, force: true });
  });

  const gfs = (args: string[], input?: Buffer) => c.gfs(args, input);
  const ok = async (args: string[], input?: Buffer) => {
    const r = await gfs(args, input);
    expect(r.code, `gfs ${args.join(" ")}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  /** A refusal: exit `code`, exactly one line on stderr matching `message`, no stack trace. */
  const refused = async (args: string[], message: RegExp | string, code = 1, input?: Buffer) => {
    const r = await gfs(args, input);
    expect(r.code, `gfs ${args.join(" ")} should fail: ${r.stdout}`).toBe(code);
    const lines = r.stderr.trimEnd().split("\n").filter((l) => !l.startsWith("Try 'gfs"));
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    return r;
  };
  const bytes = async (path: string) => client.read(path, 0, Number((await client.stat(path)).size));
  const content = async (path: string) => (await bytes(path)).toString("latin1");
  const names = async (dir: string) => (await client.readdir(dir)).map((e) => e.name).sort();
  const exists = (path: string) => client.stat(path).then(() => true, () => false);
  const file = async (name: string, data: string | Buffer) => { const p = join(local, name); await writeFile(p, data); return p; };

  it("put of a missing local source fails with one line naming it and leaves the existing remote file as it was", async () => {
    await client.mkdir("/p1");
    await ok(["put", await file("h.txt", "hello\n"), "/p1/h.txt"]);
    await refused(["put", join(local, "nonexistent"), "/p1/h.txt"], `gfs: put: ${join(local, "nonexistent")}: No such file or directory`);
    expect(await content("/p1/h.txt")).toBe("hello\n");
    expect(await names("/p1")).toEqual(["h.txt"]);
    // The local source is looked at before any call to the cluster: with no master to reach, the bad source is what is reported.
    const noMaster = await runCli(["--master", "127.0.0.1:1", "--insecure", "put", join(local, "nonexistent"), "/p1/h.txt"]);
    expect([noMaster.code, noMaster.stderr]).toEqual([1, `gfs: put: ${join(local, "nonexistent")}: No such file or directory\n`]);
  });

  it("put refuses to replace an existing file without -f (exit 1), and -f replaces it through a temporary name keeping its mode and replication goal", async () => {
    const other = await file("other.txt", "other\n");
    await refused(["put", other, "/p1/h.txt"], "gfs: put: /p1/h.txt: file exists (use -f to replace)");
    expect(await content("/p1/h.txt")).toBe("hello\n");
    await client.setAttributes("/p1/h.txt", { mode: 0o640 });
    await client.setReplication("/p1/h.txt", 1); // /p1 gives new files the cluster's 2
    await ok(["put", "-f", other, "/p1/h.txt"]);
    expect(await content("/p1/h.txt")).toBe("other\n");
    const replaced = await client.stat("/p1/h.txt");
    expect([replaced.mode & 0o777, replaced.goal]).toEqual([0o640, 1]);
    expect(await names("/p1")).toEqual(["h.txt"]); // no temporary name left
  });

  it("put into an existing directory goes in by basename; several sources need a directory; a missing remote directory is one line", async () => {
    const a = await file("a.txt", "A");
    const b = await file("b.txt", "B");
    await client.mkdir("/p2");
    await ok(["put", a, b, "/p2"]);
    expect(await names("/p2")).toEqual(["a.txt", "b.txt"]);
    await refused(["put", a, b, "/p2/a.txt"], "/p2/a.txt: not a directory");
    await refused(["put", a, "/nodir/a.txt"], "/nodir/a.txt: No such file or directory (/nodir does not exist)");
    await ok(["put", a, "/p1"]);
    expect(await names("/p1")).toContain("a.txt");
  });

  it("put of a local directory needs -r; with -r the whole tree arrives, into an existing directory by basename", async () => {
    const tree = join(local, "tree");
    await mkdir(join(tree, "sub", "deeper"), { recursive: true });
    await writeFile(join(tree, "top.txt"), "top");
    await writeFile(join(tree, "sub", "mid.bin"), randomBytes(300 * KiB)); // more than a chunk
    await writeFile(join(tree, "sub", "deeper", "empty"), "");
    await refused(["put", tree, "/t1"], `${tree}: is a directory (use -r to copy the tree)`);
    expect(await exists("/t1")).toBe(false); // nothing made
    await ok(["put", "-r", tree, "/t1"]);
    expect(await names("/t1")).toEqual(["sub", "top.txt"]);
    expect((await bytes("/t1/sub/mid.bin")).equals(await readFile(join(tree, "sub", "mid.bin")))).toBe(true);
    expect(await content("/t1/sub/deeper/empty")).toBe("");
    await ok(["put", "-r", tree, "/t1"]); // an existing directory: into it, as /t1/tree
    expect(await names("/t1")).toEqual(["sub", "top.txt", "tree"]);
    // Again without -f: every file exists, refused before anything is written.
    await refused(["put", "-r", tree, "/t1"], "/t1/tree/sub/deeper/empty: file exists (use -f to replace)");
  });

  it("put - reads stdin, refuses an existing file without -f and a directory target", async () => {
    await ok(["put", "-", "/p1/stdin.txt"], Buffer.from("from stdin\n"));
    expect(await content("/p1/stdin.txt")).toBe("from stdin\n");
    await refused(["put", "-", "/p1/stdin.txt"], "/p1/stdin.txt: file exists (use -f to replace)", 1, Buffer.from("lost?"));
    await refused(["put", "-", "/p1"], "/p1: is a directory (name the file to write stdin to)", 1, Buffer.from("x"));
    await ok(["put", "-f", "-", "/p1/stdin.txt"], Buffer.from("replaced\n"));
    expect(await content("/p1/stdin.txt")).toBe("replaced\n");
  });

  it("a put interrupted by SIGINT leaves neither the target nor its temporary file, and the file it would replace is intact", async () => {
    await client.mkdir("/int");
    await client.create("/int/keep.txt");
    await client.write("/int/keep.txt", 0, Buffer.from("keep me\n"));
    const child = spawn(process.execPath, [bin.cli, "--master", c.masterAddress, "--tls-dir", c.tlsDir("admin"), "put", "-f", "-", "/int/keep.txt"],
      { stdio: ["pipe", "pipe", "pipe"] });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      child.stdin.write(randomBytes(600 * KiB)); // stdin stays open: the put waits for more
      await eventually(async () => (await names("/int")).some((n) => n.startsWith(".keep.txt.gfs-put-")), 15_000, "the temporary file");
      child.kill("SIGINT");
      expect(await exited).toBe(130); // as a shell reports SIGINT, after removing the temporary file
    } finally {
      child.kill("SIGKILL");
    }
    expect(await names("/int")).toEqual(["keep.txt"]);
    expect(await content("/int/keep.txt")).toBe("keep me\n");
  });

  it("a file that appears while a put runs is not replaced without -f: the put fails at its rename and removes its temporary file", async () => {
    await client.mkdir("/race");
    const child = spawn(process.execPath, [bin.cli, "--master", c.masterAddress, "--tls-dir", c.tlsDir("admin"), "put", "-", "/race/x"],
      { stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      child.stdin.write(randomBytes(10 * KiB));
      await eventually(async () => (await names("/race")).some((n) => n.startsWith(".x.gfs-put-")), 15_000, "the temporary file");
      await client.create("/race/x");
      await client.write("/race/x", 0, Buffer.from("the winner\n"));
      child.stdin.end(randomBytes(10 * KiB));
      expect(await exited).toBe(1);
    } finally {
      child.kill("SIGKILL");
    }
    expect(stderr).toBe("gfs: put: /race/x: file exists (use -f to replace)\n");
    expect(await names("/race")).toEqual(["x"]);
    expect(await content("/race/x")).toBe("the winner\n");
  });

  it("get of a directory is an error without -r and makes no local file; with -r the tree arrives", async () => {
    const out = join(local, "got-dir");
    await refused(["get", "/t1", out], "gfs: get: /t1: is a directory (use -r to copy the tree)");
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
    const summary = JSON.parse(await ok(["get", "-r", "--json", "/t1", out])) as Record<string, number>;
    expect(summary).toMatchObject({ files: 6, directories: 6 }); // /t1, sub, deeper and the same under tree
    expect((await readdir(out)).sort()).toEqual(["sub", "top.txt", "tree"]);
    expect(await readFile(join(out, "sub", "mid.bin"))).toEqual(await readFile(join(local, "tree", "sub", "mid.bin")));
  });

  it("get to a missing local directory or one it may not write is one line with the path and the reason, no stack trace", async () => {
    const target = join(local, "missing", "dir", "h.txt");
    await refused(["get", "/p1/h.txt", target], `gfs: get: ${target}: No such file or directory (${join(local, "missing", "dir")} does not exist)`);
    if (process.getuid?.() !== 0) {
      const ro = join(local, "ro");
      await mkdir(ro);
      await chmod(ro, 0o500);
      await refused(["get", "/p1/h.txt", join(ro, "h.txt")], /Permission denied/);
    }
    await refused(["get", "/p1/nothere", join(local, "nothere")], "gfs: get: /p1/nothere: No such file or directory");
    await expect(readFile(join(local, "nothere"))).rejects.toThrow(/ENOENT/);
  });

  it("get refuses to replace an existing local file without -f, replaces it with -f, and goes into an existing local directory by basename", async () => {
    const dir = join(local, "getdir");
    await mkdir(dir);
    const existing = join(dir, "h.txt");
    await writeFile(existing, "local, precious\n");
    await refused(["get", "/p1/h.txt", existing], `gfs: get: ${existing}: file exists (use -f to replace)`);
    await refused(["get", "/p1/h.txt", dir], `${existing}: file exists (use -f to replace)`);
    expect(await readFile(existing, "utf8")).toBe("local, precious\n");
    await ok(["get", "-f", "/p1/h.txt", dir]);
    expect(await readFile(existing, "utf8")).toBe("other\n");
    await ok(["get", "/p1/stdin.txt", "/p2/a.txt", dir]);
    expect((await readdir(dir)).sort()).toEqual(["a.txt", "h.txt", "stdin.txt"]); // no temporary name left
  });

  it("get - writes the file to stdout; --json with - is a usage error (exit 2); a directory to stdout is refused", async () => {
    expect(await ok(["get", "/p1/h.txt", "-"])).toBe("other\n");
    await refused(["get", "--json", "/p1/h.txt", "-"], /--json and - \(stdout\)/, 2);
    await refused(["get", "/p1", "-"], "/p1: is a directory");
    await refused(["put", "/p1/h.txt"], "gfs: usage: gfs put [-f] [-r] LOCAL... REMOTE", 2);
  });

  it("cp copies within the cluster: a file, into a directory, -f to replace, -r for a tree, never a tree into itself", async () => {
    await ok(["cp", "/p1/h.txt", "/p1/h2.txt"]);
    expect(await content("/p1/h2.txt")).toBe("other\n");
    await refused(["cp", "/p1/stdin.txt", "/p1/h2.txt"], "gfs: cp: /p1/h2.txt: file exists (use -f to replace)");
    expect(await content("/p1/h2.txt")).toBe("other\n");
    await ok(["cp", "-f", "/p1/stdin.txt", "/p1/h2.txt"]);
    expect(await content("/p1/h2.txt")).toBe("replaced\n");
    await ok(["cp", "/p1/h.txt", "/p2"]);
    expect(await names("/p2")).toEqual(["a.txt", "b.txt", "h.txt"]);
    await ok(["cp", "-r", "/t1", "/t2"]);
    expect(await content("/t2/sub/mid.bin")).toBe(await content("/t1/sub/mid.bin"));
    await refused(["cp", "-r", "/t1", "/t1/sub"], "/t1: cannot copy a directory into itself (/t1/sub/t1)");
  });

  it("cp and get follow a named remote symlink, as cat does: the copy is the file it points to, under the link's name", async () => {
    await client.symlink("/p2/link", "../p1/h2.txt");
    await ok(["cp", "/p2/link", "/p1"]);
    expect(await content("/p1/link")).toBe("replaced\n");
    await ok(["get", "/p2/link", local]);
    expect(await readFile(join(local, "link"), "utf8")).toBe("replaced\n");
  });

  it("--json prints {files, directories, bytes, seconds} for put, get and cp, pretty as every command's JSON", async () => {
    const data = randomBytes(100 * KiB);
    const src = await file("j.bin", data);
    const shape = (s: string) => {
      expect(s).toMatch(/^\{\n {2}"files": /);
      const j = JSON.parse(s) as Record<string, number>;
      expect(Object.keys(j).sort()).toEqual(["bytes", "directories", "files", "seconds"]);
      expect(j.seconds).toBeGreaterThanOrEqual(0);
      return j;
    };
    expect(shape(await ok(["put", "--json", src, "/j.bin"]))).toMatchObject({ files: 1, directories: 0, bytes: data.length });
    expect(shape(await ok(["cp", "--json", "/j.bin", "/j2.bin"]))).toMatchObject({ files: 1, directories: 0, bytes: data.length });
    expect(shape(await ok(["get", "--json", "/j2.bin", join(local, "j2.bin")]))).toMatchObject({ files: 1, bytes: data.length });
    expect(await readFile(join(local, "j2.bin"))).toEqual(data);
  });

  it("progress (bytes, rate, ETA) shows on a terminal, not in a pipe, and not with --quiet", async () => {
    const src = await file("progress.bin", randomBytes(700 * KiB));
    const base = [process.execPath, bin.cli, "--master", c.masterAddress, "--tls-dir", c.tlsDir("admin")];
    const onPty = (args: string[]) => new Promise<{ code: number; output: string }>((resolve) => {
      const cmd = [...base, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
      execFile("script", ["-qfec", cmd, "/dev/null"], { encoding: "utf8", env: { ...process.env, COLUMNS: "160", TERM: "xterm" } },
        (err, stdout) => resolve({ code: err ? Number(err.code ?? 1) : 0, output: stdout }));
    });
    const tty = await onPty(["put", src, "/progress.bin"]);
    expect(tty.code, tty.output).toBe(0);
    expect(tty.output).toMatch(/put \|=+\| 100% \| 700 KiB \/ 700 KiB \| [\d.]+ [KMG]?i?B\/s \| ETA 0s \| \/progress\.bin/);
    expect(tty.output).not.toMatch(/NaN|Infinity|NF/);
    const quiet = await onPty(["get", "--quiet", "/progress.bin", join(local, "progress-quiet.bin")]);
    expect(quiet.code, quiet.output).toBe(0);
    expect(quiet.output).toBe("");
    const got = await onPty(["cp", "/progress.bin", "/progress2.bin"]);
    expect(got.output).toMatch(/cp \|.*\| 100% \| 700 KiB \/ 700 KiB/);
    const piped = await gfs(["get", "/progress.bin", join(local, "progress-piped.bin")]);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stderr).toBe("");
    expect(piped.stdout).toBe("");
  });
});
