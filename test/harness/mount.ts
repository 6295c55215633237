// A real gfs-mount for FUSE tests: mounted on a temp dir of the cluster, in
// the foreground as a child process, and always unmounted and killed at the
// end, even when the test failed (SIGTERM, then SIGKILL, then a lazy unmount
// of whatever is left).
import { execFile, spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bin } from "./cluster";

/** What a mount needs of a cluster (TestCluster, ReplicatedCluster). */
export interface MountableCluster { dir: string; masterAddress: string; transportArgs(name: string): string[] }
import { spawnNode, stopProcess, type Spawned } from "./processes";

export interface MountOptions {
  /** Directory name under the cluster's temp dir. */
  name?: string;
  /** Extra gfs-mount arguments (e.g. ["-o", "allow_other"]). */
  args?: string[];
  /** Mount under a fresh world-traversable dir (the cluster's temp dir is private), for other users. */
  public?: boolean;
  /** The mount's identity dir; default the cluster's `mount` identity (--insecure on an insecure cluster). */
  tlsDir?: string;
}

export class TestMount {
  private constructor(readonly mountpoint: string, readonly process: Spawned, private readonly ownDir?: string) {}

  static async start(cluster: MountableCluster, o: MountOptions = {}): Promise<TestMount> {
    const ownDir = o.public ? await mkdtemp(join(tmpdir(), "gfs-mnt-")) : undefined;
    if (ownDir) await chmod(ownDir, 0o755);
    const mountpoint = join(ownDir ?? cluster.dir, o.name ?? "mnt");
    // A mountpoint left dead by a killed mount answers ENOTCONN; gfs-mount itself cleans it up.
    await mkdir(mountpoint, { recursive: true }).catch((e: NodeJS.ErrnoException) => { if (e.code !== "ENOTCONN") throw e; });
    const p = spawnNode(bin.mount, [mountpoint, "--master", cluster.masterAddress, ...(o.tlsDir ? ["--tls-dir", o.tlsDir] : cluster.transportArgs("mount")), "--foreground", ...(o.args ?? [])]);
    const m = new TestMount(mountpoint, p, ownDir);
    try {
      await p.waitForLog("mounted", 20_000);
    } catch (e) {
      await m.stop();
      throw e;
    }
    return m;
  }

  /** The mount's warnings and errors, last `n` lines: what a failed test prints to say why a call failed. */
  problems(n = 20): string {
    return this.process.log().split("\n").filter((l) => /"level":"(warn|error)"/.test(l)).slice(-n).join("\n");
  }

  /** A path inside the mount. */
  path(...parts: string[]): string {
    return join(this.mountpoint, ...parts);
  }

  /** Unmounts and makes sure neither the process nor the mount is left. */
  async stop(): Promise<void> {
    await stopProcess(this.process, 10_000);
    if (await isMounted(this.mountpoint)) await forceUnmount(this.mountpoint);
    if (this.ownDir) await rm(this.ownDir, { recursive: true, force: true });
  }
}

/** Whether anything is mounted exactly at `path`. */
export async function isMounted(path: string): Promise<boolean> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  return info.split("\n").some((l) => l.split(" ")[4] === path);
}

export async function forceUnmount(path: string): Promise<void> {
  const ok = await run("fusermount3", ["-u", "-z", path]);
  if (ok.code !== 0) await run("umount", ["-l", path]);
}

export interface RunResult { code: number; stdout: string; stderr: string }

/**
 * Runs a program without blocking the event loop (the mount under test may be
 * served by this very process's children, and sync calls would stall tests).
 */
export function run(file: string, args: string[], o: { input?: Buffer | string; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolveRun) => {
    const child = execFile(file, args, { maxBuffer: 1 << 30, encoding: "buffer", timeout: o.timeoutMs ?? 120_000, cwd: o.cwd },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === "number" ? Number((err as { code?: unknown }).code) : 1) : 0;
        resolveRun({ code, stdout: stdout.toString("latin1"), stderr: stderr.toString() });
      });
    child.stdin!.on("error", () => {}); // the program may exit without reading its input
    child.stdin!.end(o.input ?? "");
  });
}

/**
 * Runs a bash script (set -euo pipefail), optionally as another user through setpriv: with the
 * supplementary `groups` given, or none.
 */
export function sh(script: string, o: { asUser?: { uid: number; gid: number; groups?: number[] }; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  const bash = ["bash", "-c", `set -euo pipefail\n${script}`];
  if (!o.asUser) return run(bash[0], bash.slice(1), o);
  const groups = o.asUser.groups ? `--groups=${o.asUser.groups.join(",")}` : "--clear-groups";
  return run("setpriv", [`--reuid=${o.asUser.uid}`, `--regid=${o.asUser.gid}`, groups, ...bash], o);
}

/** Starts a long-running shell pipeline (for concurrent writers); resolves with its result. */
export function shBackground(script: string): { done: Promise<RunResult>; pid: number } {
  const child = spawn("bash", ["-c", `set -euo pipefail\n${script}`], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("latin1").on("data", (d: string) => { stdout += d; });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => { stderr += d; });
  const done = new Promise<RunResult>((r) => child.on("exit", (code) => r({ code: code ?? 1, stdout, stderr })));
  return { done, pid: child.pid! };
}
