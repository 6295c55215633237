import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger, reopenLogFile, setLogFile } from "../src/log";

const dist = resolve(__dirname, "../dist/index.js");
const dir = mkdtempSync(join(tmpdir(), "gfs-log-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lines = (text: string) => text.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);

describe("log lines (pino underneath)", () => {
  it("one JSON object per line: ts, level, component, msg, then the fields; lines logged right before process.exit are all written", () => {
    // A child process logs 500 lines to a pipe and exits at once: a buffered logger would lose the tail.
    const script = `const { createLogger } = require(${JSON.stringify(dist)});
      const log = createLogger("test-component");
      for (let i = 0; i < 500; i++) log.info("line", { i, pad: "x".repeat(200) });
      log.debug("below the level");
      log.error("last words", { n: NaN, nested: { a: [1, 2] } });
      process.exit(3);`;
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", env: { ...process.env, GFS_LOG_LEVEL: "info" } });
    expect(r.status).toBe(3);
    const got = lines(r.stderr);
    expect(got).toHaveLength(501);
    expect(Object.keys(got[0])).toEqual(["ts", "level", "component", "msg", "i", "pad"]);
    expect(got[0]).toMatchObject({ level: "info", component: "test-component", msg: "line", i: 0 });
    expect(new Date(String(got[0].ts)).toISOString()).toBe(got[0].ts);
    expect(got[500]).toEqual({ ts: got[500].ts, level: "error", component: "test-component", msg: "last words", n: null, nested: { a: [1, 2] } });
  });

  it("setLogFile sends every logger's lines to the file; reopenLogFile starts a new file at the path after a rename", () => {
    const log = createLogger("file-test");
    const path = join(dir, "sub", "gfs.log");
    setLogFile(path);
    log.info("before rotation");
    renameSync(path, `${path}.1`);
    log.info("still to the renamed file");
    expect(reopenLogFile()).toBe(true);
    log.warn("after reopen", { k: "v" });
    expect(lines(readFileSync(`${path}.1`, "utf8")).map((l) => l.msg)).toEqual(["before rotation", "still to the renamed file"]);
    expect(lines(readFileSync(path, "utf8"))).toEqual([{ ts: expect.any(String), level: "warn", component: "file-test", msg: "after reopen", k: "v" }]);
  });

  it("a log file that cannot be opened is a one-line error naming it", () => {
    expect(() => setLogFile(join(dir, "sub", "gfs.log", "x.log"))).toThrow(/^cannot open log file .*x\.log: E[A-Z]+$/);
    // Node's recursive mkdir never returns under /proc: the directory is made one level at a time.
    expect(() => setLogFile("/proc/nope/x.log")).toThrow("cannot open log file /proc/nope/x.log: ENOENT");
  });
});
