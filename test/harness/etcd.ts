// A real etcd (Debian's etcd-server) for tests: one member on 127.0.0.1 with
// ephemeral ports and a temp data dir. stop() kills it by pid and removes the
// dir; a test calls it in afterEach/finally so a failing test cleans up too,
// and the process is killed when the runner exits whatever happened.
// pause()/resume() freeze and thaw it (SIGSTOP/SIGCONT): an etcd that accepts
// connections but answers nothing, as when it is cut off or overloaded.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const live = new Set<ChildProcess>();
process.on("exit", () => { for (const p of live) { p.kill("SIGCONT"); p.kill("SIGKILL"); } });

/** Ports nobody listens on now: the kernel's picks for port 0, all held until all are known (so they differ), then released for etcd to bind. */
async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer().listen(0, "127.0.0.1"));
  await Promise.all(servers.map((s) => once(s, "listening")));
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

export class TestEtcd {
  private output = "";
  private paused = false;
  private spawnError: Error | undefined;

  private constructor(readonly dir: string, readonly endpoint: string, private readonly proc: ChildProcess) {}

  /** Starts one, healthy; tries again on other ports if it dies at start (a port taken in between). */
  static async start(healthTimeoutMs = 15_000): Promise<TestEtcd> {
    for (let attempt = 1; ; attempt++) {
      const etcd = await TestEtcd.startOnce();
      try {
        await etcd.waitHealthy(healthTimeoutMs);
        return etcd;
      } catch (e) {
        const died = etcd.exited() && !etcd.spawnError;
        await etcd.stop();
        if (attempt >= 3 || !died) throw e;
      }
    }
  }

  private exited(): boolean { return this.proc.exitCode !== null || this.proc.signalCode !== null; }

  private static async startOnce(): Promise<TestEtcd> {
    // On tmpfs where there is one: etcd fsyncs every write, and on a disk shared with a loaded test run those
    // fsyncs took seconds, so leases were not renewed and masters stepped down for nothing.
    const dir = await mkdtemp(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "gfs-etcd-"));
    const [clientPort, peerPort] = await freePorts(2);
    const client = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const proc = spawn("etcd", [
      "--name", "test", "--data-dir", join(dir, "data"),
      "--listen-client-urls", client, "--advertise-client-urls", client,
      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", `test=${peer}`,
      "--logger", "zap", "--log-level", "warn",
    ], { stdio: ["ignore", "pipe", "pipe"] });
    live.add(proc);
    const etcd = new TestEtcd(dir, client, proc);
    const keep = (d: Buffer) => { etcd.output = (etcd.output + d.toString()).slice(-20_000); };
    proc.stdout!.on("data", keep);
    proc.stderr!.on("data", keep);
    proc.on("exit", () => live.delete(proc));
    proc.on("error", (e) => { etcd.spawnError = e; live.delete(proc); });
    return etcd;
  }

  get pid(): number { return this.proc.pid!; }

  /** etcd's own log so far (for failure messages). */
  log(): string { return this.output; }

  private async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      if (this.spawnError) throw new Error(`cannot run etcd (scripts/setup.sh installs Debian's etcd-server): ${this.spawnError.message}`);
      if (this.exited()) break;
      try {
        const res = await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
        last = await res.text();
        if (res.ok && (JSON.parse(last) as { health?: string }).health === "true") return;
      } catch (e) {
        last = e instanceof Error ? e.message : String(e);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd at ${this.endpoint} not healthy within ${timeoutMs} ms (last: ${last}); its log:\n${this.output.slice(-2000)}`);
  }

  /** Runs etcdctl against this etcd; resolves with its stdout. */
  async ctl(...args: string[]): Promise<string> {
    const { stdout } = await promisify(execFile)("etcdctl", ["--endpoints", this.endpoint, ...args], { env: { ...process.env, ETCDCTL_API: "3" } });
    return stdout;
  }

  pause(): void {
    this.proc.kill("SIGSTOP");
    this.paused = true;
  }

  resume(): void {
    this.proc.kill("SIGCONT");
    this.paused = false;
  }

  /** Kills it by pid (thawed first if paused) and removes its data dir; safe to call twice. */
  async stop(): Promise<void> {
    if (!this.exited() && !this.spawnError) {
      const exited = once(this.proc, "exit");
      if (this.paused) this.resume();
      this.proc.kill("SIGKILL");
      await exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
