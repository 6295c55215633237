// A test "machine" for deployment tests: a network namespace of TestNetwork
// plus a mount namespace of its own, in which /etc, /root, /var/lib, /var/log,
// /mnt and /usr/local/bin are overlays over the real ones. So each host has its own
// /etc/gfs (configs and identities), /var/lib/gfs (state), /var/log/gfs (a
// daemonized mount's log) and /mnt/gfs, and
// its /usr/local/bin/gfs-* launchers run this checkout's build, while the real
// machine's directories are never written. The namespace is held by a
// `sleep` process; every command runs in it through nsenter. A FUSE mount made
// there exists only there and is gone once its processes are.
//
// Why not `ip netns exec`'s /etc/netns/NS/* bind mounts: they need /etc/gfs
// (and /var/lib/gfs for state) to exist on the real machine, and would make
// every chunkserver share /var/lib/gfs/chunkserver.
import { execFile } from "node:child_process";
import { chmod, mkdir, readdir, readFile, readlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { bin } from "./cluster";
import type { TestHost, TestNetwork } from "./netns";
import { spawnArgv, stopProcess, type Spawned } from "./processes";

/** Directories each host sees through an overlay of its own. */
const overlaid = ["/etc", "/root", "/var/lib", "/var/log", "/mnt", "/usr/local/bin"];
/** PATH of a systemd system service (systemd.exec(5) "Environment variables in spawned processes"). */
const servicePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin";

const upperName = (dir: string) => dir.slice(1).replaceAll("/", "_");

export class DeployHost {
  private holder?: Spawned;

  private constructor(readonly net: TestHost, private readonly root: string) {}

  static async create(network: TestNetwork, name: string, root: string): Promise<DeployHost> {
    const host = new DeployHost(await network.addHost(name), join(root, name));
    for (const d of overlaid) {
      await mkdir(join(host.root, "upper", upperName(d)), { recursive: true });
      await mkdir(join(host.root, "work", upperName(d)), { recursive: true });
    }
    // The launchers scripts/setup.sh writes, pointed at this checkout's build (the real ones may point at another).
    const launchers: Record<string, string> = { gfs: bin.cli, "gfs-master": bin.master, "gfs-chunkserver": bin.chunkserver, "gfs-mount": bin.mount };
    for (const [name, script] of Object.entries(launchers)) {
      const file = host.path(`/usr/local/bin/${name}`);
      await writeFile(file, `#!/bin/sh\nexec node "${script}" "$@"\n`);
      await chmod(file, 0o755);
    }
    return host;
  }

  /**
   * Adds a system user and group of that name to this host's /etc/passwd and
   * /etc/group only (as systemd-sysusers or useradd --system would), with an
   * id no real user or group has. Before start().
   */
  async addSystemUser(name: string): Promise<{ uid: number; gid: number }> {
    const passwd = await readFile("/etc/passwd", "utf8");
    const group = await readFile("/etc/group", "utf8");
    const taken = new Set([passwd, group].flatMap((t) => t.split("\n").map((l) => Number(l.split(":")[2]))));
    let id = 999;
    while (taken.has(id)) id--;
    await this.writeFile("/etc/passwd", `${passwd.trimEnd()}\n${name}:x:${id}:${id}:${name}:/var/lib/${name}:/usr/sbin/nologin\n`);
    await this.writeFile("/etc/group", `${group.trimEnd()}\n${name}:x:${id}:\n`);
    return { uid: id, gid: id };
  }

  get name(): string { return this.net.name; }
  get address(): string { return this.net.address; }

  /** Where a file this host sees at `path` (under an overlaid dir) is written from outside before start(). */
  path(path: string): string {
    const top = overlaid.find((d) => path === d || path.startsWith(`${d}/`));
    if (!top) throw new Error(`${path} is not under an overlaid directory (${overlaid.join(", ")})`);
    return join(this.root, "upper", upperName(top), path.slice(top.length));
  }

  async writeFile(path: string, text: string): Promise<void> {
    await mkdir(dirname(this.path(path)), { recursive: true });
    await writeFile(this.path(path), text);
  }

  /** Makes the mount namespace and its overlays; call once the host's files are written. */
  async start(): Promise<void> {
    const mounts = overlaid.map((d) => `mount -t overlay overlay -o lowerdir=${d},upperdir=${join(this.root, "upper", upperName(d))},`
      + `workdir=${join(this.root, "work", upperName(d))} ${d}`).join(" && ");
    this.holder = spawnArgv([...this.net.exec, "unshare", "--mount", "--propagation", "private", "sh", "-c",
      `${mounts} && echo '{"msg":"host ready"}' >&2 && exec sleep infinity`]);
    await this.holder.waitForLog("host ready");
  }

  /** The prefix that runs a command on this host, as a service: its namespaces, / as working directory. */
  prefix(): string[] {
    if (!this.holder?.proc.pid) throw new Error(`host ${this.name} not started`);
    return ["nsenter", `--target=${this.holder.proc.pid}`, "--mount", "--net", "--wd=/", "--"];
  }

  /** Starts a long-running command on this host, with a service's PATH. */
  spawn(argv: string[]): Spawned {
    return spawnArgv([...this.prefix(), ...argv], { PATH: servicePath });
  }

  /** Runs a command on this host to its end. */
  run(argv: string[], input?: Buffer): Promise<{ code: number; stdout: string; stderr: string }> {
    const full = [...this.prefix(), ...argv];
    return new Promise((resolve) => {
      const child = execFile(full[0], full.slice(1), { env: { ...process.env, PATH: servicePath }, encoding: "buffer", maxBuffer: 1 << 28 },
        (err, stdout, stderr) => resolve({
          code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout: stdout.toString("latin1"), stderr: stderr.toString(),
        }));
      // A command that exits without reading its stdin closes the pipe under us: not an error of the test's.
      child.stdin!.on("error", () => {});
      if (input) child.stdin!.end(input); else child.stdin!.end();
    });
  }

  /**
   * Kills what still runs on this host (a daemonized gfs-mount started by
   * mount(8), say: its pid is no child of ours), found by its mount namespace,
   * then ends the holder; the network namespace goes with TestNetwork.destroy.
   */
  async stop(): Promise<void> {
    const pid = this.holder?.proc.pid;
    if (!pid || !this.holder) return;
    const ns = await readlink(`/proc/${pid}/ns/mnt`).catch(() => undefined);
    if (ns) {
      for (const other of await readdir("/proc")) {
        if (!/^\d+$/.test(other) || Number(other) === pid) continue;
        if (await readlink(`/proc/${other}/ns/mnt`).catch(() => undefined) !== ns) continue;
        try { process.kill(Number(other), "SIGKILL"); } catch { /* already gone */ }
      }
    }
    await stopProcess(this.holder, 1_000);
  }
}
