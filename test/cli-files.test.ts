// Issue 18, the file commands of gfs as a shell user knows them from hdfs dfs: cat, tail [-f],
// du, df, touch, chmod/chown -R, ls --json, and the dispatcher's short flags (-R, bundles like
// -sh, -h as help unless the command has an h flag). One real cluster for the whole file; the
// pure helpers (flag expansion, human sizes, where the last lines start) are unit-tested too.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import type { FlagSpec } from "@gfs/common";
import { expandShortFlags } from "../packages/client-core/src/command";
import { lastLinesStart } from "../packages/client-core/src/commands-files";
import { bin, eventually, execFileAsync, TestCluster } from "./harness/cluster";

const chunk = 64 * 1024;

describe("pure helpers of the file commands", () => {
  const flags: Record<string, FlagSpec> = {
    s: { type: "boolean", help: "" }, h: { type: "boolean", help: "" }, R: { type: "boolean", help: "" }, n: { type: "int", help: "" },
  };

  it("short flags expand to long ones, bundles only when every letter is a flag, -h is help unless the command has an h flag", () => {
    expect(expandShortFlags(["-sh", "/d"], flags)).toEqual(["--s", "--h", "/d"]);
    expect(expandShortFlags(["-R", "-n5", "-n", "7"], flags)).toEqual(["--R", "--n=5", "--n", "7"]);
    // r is no flag here (R is): left as typed, so the parser refuses it.
    expect(expandShortFlags(["-r", "-sx"], flags)).toEqual(["-r", "-sx"]);
    expect(expandShortFlags(["-h"], { l: flags.s })).toEqual(["--help"]);
    expect(expandShortFlags(["-lh"], { l: flags.s })).toEqual(["--l", "--help"]);
    // After --, and for "-" (stdin), nothing is a flag.
    expect(expandShortFlags(["-", "--", "-s"], flags)).toEqual(["-", "--", "-s"]);
  });

  it("the last lines start after the Nth line break from the end, a final line break ending the last line", () => {
    const b = Buffer.from("a\nb\nc\n");
    expect(lastLinesStart(b, 1)).toBe(4);
    expect(lastLinesStart(b, 2)).toBe(2);
    expect(lastLinesStart(b, 3)).toBeUndefined(); // read further back (or the file's start)
    expect(lastLinesStart(Buffer.from("a\nb"), 1)).toBe(2);
    expect(lastLinesStart(b, 0)).toBe(6);
  });
});

describe("gfs file commands on a real cluster", { timeout: 120_000 }, () => {
  let c: TestCluster;
  let client: GfsClient;
  const big = randomBytes(3 * chunk + 1234); // across chunk boundaries
  const lines = Array.from({ length: 25 }, (_, i) => `${String(i).padStart(3, "0")} ${"x".repeat(10 * 1024)}`);

  beforeAll(async () => {
    c = await TestCluster.start({ chunkservers: 2, replication: 2, chunkSizeBytes: chunk, heartbeatMisses: 10 });
    client = new GfsClient(c.clientOptions());
    await client.mkdir("/d");
    await client.create("/d/big");
    await client.write("/d/big", 0, big);
    await client.create("/d/small");
    await client.write("/d/small", 0, Buffer.from("small\n"));
    await client.symlink("/d/link", "small");
    await client.create("/d/lines");
    await client.write("/d/lines", 0, Buffer.from(lines.join("\n") + "\n"));
  });
  afterAll(async () => {
    client?.close();
    await c?.stop();
  });

  const gfs = (args: string[], input?: Buffer) => c.gfs(args, input);
  const ok = async (args: string[]) => {
    const r = await gfs(args);
    expect(r.code, `gfs ${args.join(" ")}: ${r.stderr}`).toBe(0);
    expect(r.stderr).toBe("");
    return r.stdout;
  };
  const bytes = (s: string) => Buffer.from(s, "latin1");

  it("cat prints files one after another byte for byte, across chunks, following a symlink", async () => {
    const printed = bytes(await ok(["cat", "/d/big", "/d/link", "/d/small"]));
    expect(printed.equals(Buffer.concat([big, Buffer.from("small\nsmall\n")]))).toBe(true);
  });

  it("cat of a directory or a missing file is one line each with exit 1, and the other files still print", async () => {
    const r = await gfs(["cat", "/d", "/d/small", "/d/none"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("small\n");
    expect(r.stderr.trim().split("\n")).toEqual(["cat: EISDIR: Is a directory: /d", expect.stringMatching(/^cat: ENOENT: No such file or directory: .*\/d\/none/)]);
  });

  it("cat to a stdout that fails (not a closed pipe) is one line naming standard output and exit 1, no stack trace", async () => {
    const cli = [process.execPath, bin.cli, "--master", c.masterAddress, ...c.transportArgs("admin"), "cat", "/d/big"].map((a) => `'${a}'`).join(" ");
    const r = await execFileAsync("bash", ["-c", `${cli} > /dev/full`]).then(() => ({ code: 0, stderr: "" }), (e: { code: number; stderr: string }) => e);
    expect([r.code, r.stderr]).toEqual([1, "gfs: cat: standard output: No space left on device\n"]);
  });

  it("tail prints the last 10 lines, -n N (more than the file: all of it) and -c BYTES, reading back past one block", async () => {
    const last = (n: number) => lines.slice(-n).join("\n") + "\n";
    const [ten, all, kib] = await Promise.all([ok(["tail", "/d/lines"]), ok(["tail", "-n100", "/d/lines"]), ok(["tail", "-c", "1K", "/d/big"])]);
    expect(ten).toBe(last(10)); // ~100 KiB: more than the first 64 KiB read back
    expect(all).toBe(last(25));
    expect(bytes(kib).equals(big.subarray(big.length - 1024))).toBe(true);
  });

  it("tail -f prints what is appended as it is appended, and says when the file was truncated", async () => {
    await client.create("/d/log");
    await client.write("/d/log", 0, Buffer.from("one\n"));
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, [bin.cli, "--master", c.masterAddress, ...c.transportArgs("admin"), "tail", "-f", "--interval-ms", "100", "/d/log"]);
      let stdout = "";
      let stderr = "";
      child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      await eventually(async () => stdout === "one\n", 15_000, "tail -f shows the file");
      await client.write("/d/log", 4, Buffer.from("two\n"));
      await eventually(async () => stdout === "one\ntwo\n", 10_000, "the appended line");
      await client.truncate("/d/log", 0);
      await client.write("/d/log", 0, Buffer.from("new\n"));
      await eventually(async () => stdout === "one\ntwo\nnew\n", 10_000, "the line after truncation");
      expect(stderr).toBe("tail: /d/log: file truncated\n");
      expect(child.exitCode).toBe(null); // still following
    } finally {
      child?.kill("SIGTERM");
    }
  });

  it("du prints each directory's file bytes (post-order), -s one total per path, -sh human-readable, --json objects", async () => {
    await client.mkdir("/du");
    await client.mkdir("/du/sub");
    for (const [p, n] of [["/du/a", 1000], ["/du/sub/b", 2048], ["/du/sub/c", 0]] as const) {
      await client.create(p);
      if (n) await client.write(p, 0, Buffer.alloc(n, 1));
    }
    const [tree, human, asJson] = await Promise.all([gfs(["du", "/du", "/du/none", "/du/a"]), ok(["du", "-sh", "/du"]), ok(["du", "-s", "--json", "/du"])]);
    // A missing path is one line on stderr and exit 1; the others are still counted.
    expect([tree.code, tree.stdout]).toEqual([1, "2048\t/du/sub\n3048\t/du\n1000\t/du/a\n"]);
    expect(tree.stderr).toMatch(/^du: ENOENT: .*\/du\/none\n$/);
    expect(human).toBe("3.0K\t/du\n");
    expect(JSON.parse(asJson)).toEqual([{ path: "/du", bytes: 3048, files: 3, directories: 2 }]);
  });

  it("df shows the cluster's size, used, available and files as statfs says; -h human-readable; --json numbers (gc --json too)", async () => {
    const s = await client.statfs();
    const [asJson, table, gc] = await Promise.all([ok(["df", "--json"]), ok(["df", "-h"]), ok(["gc", "--json"])]);
    expect(JSON.parse(gc)).toEqual({ safeMode: false, safeModeReasons: [], chunkDeletesPending: expect.any(Number), chunkQuarantinesPending: expect.any(Number) });
    const j = JSON.parse(asJson);
    expect(j).toMatchObject({ sizeBytes: s.capacityBytes, replication: 2, chunkSizeBytes: chunk });
    expect(j.usedBytes + j.availableBytes).toBe(j.sizeBytes);
    expect(j.files).toBeGreaterThanOrEqual(4);
    expect(j.usedPercent).toBeGreaterThanOrEqual(0);
    const [head, row] = table.trim().split("\n").map((l) => l.trim().split(/\s+/));
    expect(head).toEqual(["Size", "Used", "Avail", "Use%", "Files", "Replication", "Chunk"]);
    expect(row[6]).toBe("64K");
    expect(row[0]).toMatch(/^\d+(\.\d)?[KMGTPE]$/);
  });

  it("touch creates a missing file empty and owned by the caller, moves an existing file's times to now, -c creates nothing", async () => {
    await client.setAttributes("/d/small", { mtimeMs: 1_000_000, atimeMs: 1_000_000 });
    const before = Date.now();
    await ok(["touch", "/d/t1", "/d/small"]);
    const t1 = await client.stat("/d/t1");
    expect([t1.type, t1.size, t1.uid]).toEqual(["FILE_TYPE_FILE", 0, process.getuid!()]);
    const small = await client.stat("/d/small");
    expect(small.mtimeMs).toBeGreaterThanOrEqual(before - 5_000);
    expect(small.size).toBe(6); // the bytes stay
    await ok(["touch", "-c", "/d/never"]);
    await expect(client.stat("/d/never")).rejects.toThrow(/ENOENT/);
  });

  it("chmod -R and chown -R change a directory and everything below it but not symlinks", async () => {
    await client.mkdir("/r");
    await client.mkdir("/r/s");
    await client.create("/r/s/f");
    await client.symlink("/r/l", "s/f");
    await Promise.all([ok(["chmod", "-R", "750", "/r"]), ok(["chown", "-R", "1000:1001", "/r"])]);
    expect(await Promise.all(["/r", "/r/s", "/r/s/f"].map(async (p) => (await client.stat(p)).mode))).toEqual([0o750, 0o750, 0o750]);
    expect(await Promise.all(["/r", "/r/s", "/r/s/f"].map(async (p) => { const i = await client.stat(p); return [i.uid, i.gid]; })))
      .toEqual([[1000, 1001], [1000, 1001], [1000, 1001]]);
    expect((await client.stat("/r/l")).uid).toBe(0);
  });

  it("ls --json lists each entry's name and attributes; stat --json is stat's JSON", async () => {
    const [list, stat] = await Promise.all([ok(["ls", "--json", "/d"]), ok(["stat", "--json", "/d/big"])]);
    const entries = JSON.parse(list) as Array<{ name: string; type: string; size: number }>;
    expect(entries.map((e) => e.name)).toEqual(expect.arrayContaining(["big", "small", "link", "lines"]));
    expect(entries.find((e) => e.name === "big")).toMatchObject({ type: "FILE_TYPE_FILE", size: big.length });
    expect(JSON.parse(stat)).toMatchObject({ size: big.length });
  });

  it("bash completion with GFS_COMPLETE_REMOTE=1 completes a cluster path from gfs ls, with the global flags already typed", async () => {
    // The script runs the gfs the user typed (COMP_WORDS[0]): here a shell function running this worktree's CLI.
    const { stdout: script } = await execFileAsync(process.execPath, [bin.cli, "completion", "bash"]);
    const words = ["gfs", "--master", c.masterAddress, ...c.transportArgs("admin"), "cat", "/d/s"];
    const { stdout } = await execFileAsync("bash", ["-c", `source /dev/stdin <<'EOF'\n${script}EOF\ngfs() { '${process.execPath}' '${bin.cli}' "$@"; }\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); `
      + `COMP_CWORD=${words.length - 1}; _gfs; printf '%s\\n' "\${COMPREPLY[@]}"`], { env: { ...process.env, GFS_COMPLETE_REMOTE: "1" } });
    expect(stdout.split("\n").filter(Boolean)).toEqual(["/d/small"]);
  });
});
