// Real processes for integration tests: spawned with their logs captured,
// and killed when the test file ends (or the runner exits), whatever happened.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";

const live = new Set<ChildProcess>();
process.on("exit", () => { for (const p of live) p.kill("SIGKILL"); });

export interface Spawned {
  proc: ChildProcess;
  /** stderr so far (structured log lines). */
  log(): string;
  /** Resolves with the first JSON log line whose msg equals `msg`. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `node script args`; with `prefix` (e.g. `ip netns exec NS`) the
 * prefix runs it, and must exec it so the pid stays the node process's.
 */
export function spawnNode(script: string, args: string[], env: NodeJS.ProcessEnv = {}, prefix: string[] = []): Spawned {
  return spawnArgv([...prefix, process.execPath, script, ...args], env);
}

/** Starts any command line (argv[0] the program) with its logs captured, as spawnNode does. */
export function spawnArgv(argv: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  const proc = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  live.add(proc);
  let stderr = "";
  const waiters: Array<{ msg: string; resolve: (v: Record<string, unknown>) => void }> = [];
  const scan = () => {
    for (const line of stderr.split("\n")) {
      if (!line.startsWith("{")) continue;
      let rec: Record<string, unknown>;
      try { rec = JSON.parse(line); } catch { continue; }
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].msg === rec.msg) { waiters[i].resolve(rec); waiters.splice(i, 1); }
      }
    }
  };
  proc.stderr!.setEncoding("utf8").on("data", (d: string) => { stderr += d; if (waiters.length) scan(); });
  proc.stdout!.resume();
  const exited = once(proc, "exit").then(([code, signal]) => { live.delete(proc); return { code, signal }; });
  return {
    proc,
    log: () => stderr,
    exited,
    waitForLog(msg, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no '${msg}' log line within ${timeoutMs} ms; stderr:\n${stderr.slice(-2000)}`)), timeoutMs);
        const w = { msg, resolve: (v: Record<string, unknown>) => { clearTimeout(timer); resolve(v); } };
        waiters.push(w);
        scan();
        exited.then(({ code, signal }) => {
          if (waiters.includes(w)) { clearTimeout(timer); reject(new Error(`process exited (${code ?? signal}) before '${msg}'; stderr:\n${stderr.slice(-2000)}`)); }
        });
      });
    },
  };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
export async function stopProcess(p: Spawned, graceMs = 3_000): Promise<void> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  p.proc.kill("SIGTERM");
  const timer = setTimeout(() => p.proc.kill("SIGKILL"), graceMs);
  await p.exited;
  clearTimeout(timer);
}
