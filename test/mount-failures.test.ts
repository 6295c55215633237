// Issue 17, with real processes: gfs-mount never leaves a mount behind when
// it cannot serve one (a bad -o option, an unreachable master, libfuse failing
// half way), and a daemonized mount keeps its log in a file by default.
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bin, eventually, TestCluster } from "./harness/cluster";
import { forceUnmount, isMounted, run } from "./harness/mount";

let c: TestCluster;
let logDir = "";
beforeAll(async () => {
  c = await TestCluster.start({ chunkservers: 1, replication: 1 });
  logDir = await mkdtemp(join(tmpdir(), "gfs-mount-logs-"));
});
afterAll(async () => {
  await c?.stop();
  if (logDir) await rm(logDir, { recursive: true, force: true });
});

/** gfs-mount with GFS_LOG_DIR pointing into this test's temp dir (never /var/log). */
const gfsMount = (args: string[]) => run("env", [`GFS_LOG_DIR=${logDir}`, process.execPath, bin.mount, ...args], { timeoutMs: 60_000 });

async function freshMountpoint(name: string): Promise<string> {
  const mp = join(c.dir, name);
  await mkdir(mp, { recursive: true });
  return mp;
}

/** Nothing mounted at `mp` (per /proc/mounts) and the directory usable: stat works, no "Transport endpoint is not connected". */
async function leftNoMount(mp: string): Promise<void> {
  const mounts = await readFile("/proc/mounts", "utf8");
  expect(mounts.split("\n").some((l) => l.split(" ")[1] === mp), `${mp} in /proc/mounts`).toBe(false);
  expect((await stat(mp)).isDirectory()).toBe(true);
}

async function cleanUp(mp: string): Promise<void> {
  if (await isMounted(mp)) await forceUnmount(mp);
}

describe("gfs-mount leaves no mount behind when it cannot mount", () => {
  it("-o bogus is a usage error (exit 2) before anything is mounted, daemonized or in the foreground", async () => {
    const mp = await freshMountpoint("bogus");
    try {
      for (const extra of [[], ["--foreground"]]) {
        const r = await gfsMount([mp, "--master", c.masterAddress, ...c.transportArgs("mount"), "-o", "allow_other,bogus", ...extra]);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr.split("\n")[0]).toBe("gfs-mount: -o bogus: not a mount option libfuse knows; nothing was mounted");
        await leftNoMount(mp);
      }
    } finally {
      await cleanUp(mp);
    }
  });

  it("an unreachable master fails before mounting: one line naming it, exit 1, nothing mounted", async () => {
    const mp = await freshMountpoint("unreachable");
    try {
      const r = await gfsMount([mp, "--master", "127.0.0.1:1", ...c.transportArgs("mount")]);
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split("\n");
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^gfs-mount: cannot reach the master at 127\.0\.0\.1:1: .*nothing was mounted \(log: .*\)$/);
      await leftNoMount(mp);
    } finally {
      await cleanUp(mp);
    }
  });

  it("a mount libfuse fails after making the kernel mount (-o modules=nosuch: checked only then) is detached again", async () => {
    const mp = await freshMountpoint("halfway");
    try {
      const r = await gfsMount([mp, "--master", c.masterAddress, ...c.transportArgs("mount"), "-o", "modules=nosuch", "--foreground"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/gfs-mount: mounting .* failed: .*nothing was left mounted/);
      expect(r.stderr).toMatch(/detaching the kernel mount it left/);
      await leftNoMount(mp);
    } finally {
      await cleanUp(mp);
    }
  });
});

describe("a daemonized gfs-mount logs to a file by default", () => {
  it("without --log-file it prints nothing, logs to mount-<mountpoint>.log in the log dir, and SIGHUP reopens that file", async () => {
    const mp = await freshMountpoint("daemon-log");
    const pidFile = join(c.dir, "daemon-log.pid");
    // Named as systemd-escape names the mountpoint ("/" -> "-", "-" -> "_x2d"): /mnt/a-b and /mnt/a/b differ.
    const escaped = [...Buffer.from(mp.slice(1))].map((b) => {
      const ch = String.fromCharCode(b);
      return ch === "/" ? "-" : /[A-Za-z0-9.]/.test(ch) ? ch : `_x${b.toString(16).padStart(2, "0")}`;
    }).join("");
    const logFile = join(logDir, `mount-${escaped}.log`);
    let pid = 0;
    try {
      const r = await gfsMount([mp, "--master", c.masterAddress, ...c.transportArgs("mount"), "--pid-file", pidFile]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toBe("");
      pid = Number((await readFile(pidFile, "utf8")).trim());
      expect(await isMounted(mp)).toBe(true);
      const mounted = await eventually(async () => (await readFile(logFile, "utf8").catch(() => "")).split("\n")
        .filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "mounted"), 10_000, "'mounted' in the default log");
      expect(mounted).toMatchObject({ level: "info", component: "gfs-mount", mountpoint: mp, pid });

      await rename(logFile, `${logFile}.1`);
      process.kill(pid, "SIGHUP");
      await eventually(async () => (await readFile(logFile, "utf8").catch(() => "")).includes('"msg":"log file reopened"'), 10_000, "reopened log");
      // Still mounted and serving after the signal.
      await writeFile(join(mp, "after-hup"), "still here\n");
      expect(await readFile(join(mp, "after-hup"), "utf8")).toBe("still here\n");
      expect(await isMounted(mp)).toBe(true);

      process.kill(pid, "SIGTERM");
      await eventually(async () => !(await isMounted(mp)), 15_000, "unmounted after SIGTERM");
      await eventually(async () => (await readFile(logFile, "utf8")).includes('"msg":"unmounted"'), 10_000, "'unmounted' in the reopened log");
    } finally {
      if (pid) try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
      await cleanUp(mp);
    }
  });
});
