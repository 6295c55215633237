// The deployment of docs/DEPLOY.md, run: one master host, three chunkserver
// hosts in three racks and one client host, each a network namespace with a
// mount namespace of its own (harness/deploy-host.ts), so each has its own
// /etc/gfs, /var/lib/gfs and /mnt. Every daemon is started with exactly the
// command lines its unit in deploy/systemd runs (ExecStartPre, ExecStart,
// ExecStartPost, read from the unit file) under the unit's User=, Group=,
// NoNewPrivileges= and CapabilityBoundingSet= (setpriv; the master and the
// chunkservers as a gfs user of their host's own /etc/passwd, the mount as
// root with CAP_SYS_ADMIN only). systemd itself is not running here, so the
// rest of the sandboxing and Restart= are not exercised (the units test has
// systemd-analyze verify them). Each host's /etc/gfs/NAME.toml is the example in
// deploy/ with only its addresses and rack changed; its identities are made as
// DEPLOY.md says (gfs ca init and gfs cert issue on the master host, copied to
// each host, owned by gfs there) and sit where its config file says.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatusResponse__Output } from "@gfs/common";
import { eventually, repoRoot } from "./harness/cluster";
import { DeployHost } from "./harness/deploy-host";
import { TestNetwork } from "./harness/netns";
import { stopProcess, type Spawned } from "./harness/processes";
import { credentialsPrefix, readUnitFile, unitCommands, unitValues } from "./harness/unit-file";

const canMakeNamespaces = await TestNetwork.available();
const MASTER_PORT = 9000;
const MASTER_HTTP_PORT = 9080;
const CHUNKSERVER_PORT = 9100;
const CHUNKSERVER_HTTP_PORT = 9081;
const RACKS = ["rack1", "rack2", "rack3"];
/** Five hosts, eight `gfs cert issue` runs and five daemons: ~10 s idle, ~25 s on a loaded 2-core machine. */
const SETUP_TIMEOUT_MS = 120_000;

/** Sets a top-level `key = value` line of a TOML example (uncommenting it if it was commented out), or appends it. */
function setTomlKey(text: string, key: string, value: string): string {
  const line = new RegExp(`^#?\\s*${key.replace(/[-]/g, "\\-")}\\s*=.*$`, "m");
  const set = `${key} = ${JSON.stringify(value)}`;
  return line.test(text) ? text.replace(line, set) : `${text}\n${set}\n`;
}

/** The string value of a top-level key, as the example sets it. */
function tomlString(text: string, key: string): string {
  const m = new RegExp(`^${key}\\s*=\\s*"([^"]*)"`, "m").exec(text);
  if (!m) throw new Error(`no ${key} = "..." in the example config`);
  return m[1];
}

const example = (name: string) => readFile(join(repoRoot, "deploy", name), "utf8");

/** sha256 of a file as a host reads it. */
async function sha256(host: DeployHost, path: string): Promise<string> {
  const r = await host.run(["sha256sum", path]);
  if (r.code !== 0) throw new Error(`sha256sum ${path}: ${r.stderr}`);
  return r.stdout.split(" ")[0];
}

describe.runIf(canMakeNamespaces)("a cluster deployed with deploy/ units and configs on five namespace hosts", () => {
  let root: string;
  let net: TestNetwork;
  const hosts: DeployHost[] = [];
  let master: DeployHost;
  const servers: DeployHost[] = [];
  let client: DeployHost;
  const daemons: Array<{ host: DeployHost; unit: string; proc: Spawned }> = [];
  /** What the write test put in /deployed.bin. */
  const written = { sha256: "" };
  const masterAddress = () => `${master.address}:${MASTER_PORT}`;
  /** The gfs CLI on the client host, as its admin. */
  const gfs = (args: string[]) => client.run(["gfs", "--master", masterAddress(), "--tls-dir", "/etc/gfs/tls/admin", "--timeout-ms", "5000", ...args]);

  /** What systemd does to start the unit, in the unit's words: state dirs, ExecStartPre, ExecStart, ExecStartPost. */
  async function startUnit(host: DeployHost, file: string, ready: string, instance?: string): Promise<Spawned> {
    const unit = readUnitFile(join(repoRoot, "deploy/systemd", file));
    const as = credentialsPrefix(unit);
    const mode = unitValues(unit, "Service", "StateDirectoryMode")[0] ?? "0755";
    const user = unitValues(unit, "Service", "User")[0] ?? "root";
    for (const dir of unitValues(unit, "Service", "StateDirectory").flatMap((v) => v.split(/\s+/))) {
      const path = `/var/lib/${dir.replace(/%i/g, instance ?? "")}`;
      for (const step of [["mkdir", "-p", "-m", mode, path], ["chown", `${user}:${unitValues(unit, "Service", "Group")[0] ?? user}`, path]]) {
        const r = await host.run(step);
        expect(r.code, r.stderr).toBe(0);
      }
    }
    const step = async (key: string) => {
      for (const c of unitCommands(unit, key, instance)) {
        const r = await host.run([...as, ...c.argv]);
        if (r.code !== 0 && !c.ignoreFailure) throw new Error(`${file} ${key} ${c.argv.join(" ")} exited ${r.code}: ${r.stderr}`);
      }
    };
    await step("ExecStartPre");
    const [start] = unitCommands(unit, "ExecStart", instance);
    const proc = host.spawn([...as, ...start.argv]);
    daemons.push({ host, unit: file, proc });
    // As under systemd, a main process that exits while ExecStartPost runs fails the start.
    let starting = true;
    const died = proc.exited.then(({ code, signal }) => {
      if (starting) throw new Error(`${file}: ${start.argv.join(" ")} exited (${code ?? signal}) while starting:\n${proc.log().slice(-2000)}`);
    });
    try { await Promise.race([step("ExecStartPost"), died]); } finally { starting = false; }
    await proc.waitForLog(ready, 20_000);
    return proc;
  }

  /** What systemd does to stop it: KillSignal=, wait (at most TimeoutStopSec=), ExecStopPost. */
  async function stopUnit(d: { host: DeployHost; unit: string; proc: Spawned }, instance?: string): Promise<void> {
    const unit = readUnitFile(join(repoRoot, "deploy/systemd", d.unit));
    const signal = unitValues(unit, "Service", "KillSignal")[0] as NodeJS.Signals;
    const timeoutSec = Number(unitValues(unit, "Service", "TimeoutStopSec")[0]);
    d.proc.proc.kill(signal);
    const exit = await eventually(async () => (d.proc.proc.exitCode !== null || d.proc.proc.signalCode !== null ? d.proc.exited : undefined),
      timeoutSec * 1000, `${d.unit} on ${d.host.name} exits within TimeoutStopSec`);
    expect(exit, `${d.unit}: ${d.proc.log().slice(-1000)}`).toEqual({ code: 0, signal: null });
    for (const c of unitCommands(unit, "ExecStopPost", instance)) await d.host.run([...credentialsPrefix(unit), ...c.argv]);
  }

  /** Mounts /mnt/gfs on the client host from a one-line fstab through mount(8), runs `check`, and unmounts. */
  async function mountWithFstab(line: string, check: () => Promise<void>): Promise<void> {
    await client.run(["sh", "-c", "cat > /etc/gfs/fstab.test"], Buffer.from(`${line}\n`));
    const mounted = await client.run(["mount", "--fstab", "/etc/gfs/fstab.test", "/mnt/gfs"]);
    expect(mounted.code, mounted.stderr).toBe(0);
    try {
      expect((await client.run(["findmnt", "-n", "-o", "FSTYPE", "/mnt/gfs"])).stdout.trim()).toBe("fuse.gfs");
      await check();
    } finally {
      const un = await client.run(["umount", "/mnt/gfs"]);
      expect(un.code, un.stderr).toBe(0);
    }
  }

  /** Runs a command on a host; any failure fails the set-up with its stderr. */
  async function must(host: DeployHost, argv: string[], input?: Buffer): Promise<string> {
    const r = await host.run(argv, input);
    if (r.code !== 0) throw new Error(`on ${host.name}: ${argv.join(" ")} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** scp -rp of a directory from one host to a parent directory on another (tar through pipes, modes kept). */
  async function copyDir(from: DeployHost, dir: string, to: DeployHost, parent: string): Promise<void> {
    const tar = await must(from, ["tar", "-C", dirname(dir), "-cf", "-", basename(dir)]);
    await must(to, ["tar", "-C", parent, "-xpf", "-"], Buffer.from(tar, "latin1"));
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "gfs-deploy-"));
    net = await TestNetwork.create();
    try {
      master = await DeployHost.create(net, "m", root);
      for (let i = 1; i <= 3; i++) servers.push(await DeployHost.create(net, `c${i}`, root));
      client = await DeployHost.create(net, "cl", root);
      hosts.push(master, ...servers, client);

      // DEPLOY.md 1: the gfs user (in each host's own /etc/passwd) and the config files, which differ from deploy/ only in addresses and racks.
      for (const h of [master, ...servers]) await h.addSystemUser("gfs");
      const masterToml = setTomlKey(setTomlKey(await example("master.toml"), "listen", `${master.address}:${MASTER_PORT}`),
        "http-listen", `${master.address}:${MASTER_HTTP_PORT}`);
      await master.writeFile("/etc/gfs/master.toml", masterToml);
      const csExample = await example("chunkserver.toml");
      const csTomls = servers.map((h, i) =>
        setTomlKey(setTomlKey(setTomlKey(csExample, "master", masterAddress()), "advertise", `${h.address}:${CHUNKSERVER_PORT}`), "rack", RACKS[i]));
      for (const [i, h] of servers.entries()) await h.writeFile("/etc/gfs/chunkserver.toml", csTomls[i]);
      const mountToml = setTomlKey(await example("mount.toml"), "master", masterAddress());
      await client.writeFile("/etc/gfs/mount.toml", mountToml);
      for (const h of hosts) await h.start();
      for (const h of hosts) await must(h, ["install", "-d", "-m", "0755", "/etc/gfs", "/etc/gfs/tls"]);

      // DEPLOY.md 2: the CA on the master host, every identity issued there with gfs cert issue and copied to its host.
      const issue = (role: string, name: string, out: string) => must(master, ["gfs", "cert", "issue", "--ca", "/etc/gfs/ca", "--role", role, "--name", name, "--out", out]);
      await must(master, ["gfs", "ca", "init", "/etc/gfs/ca"]);
      await issue("master", "m1", tomlString(masterToml, "tls-dir"));
      await must(master, ["chown", "-R", "gfs:gfs", tomlString(masterToml, "tls-dir")]);
      for (const [i, h] of servers.entries()) {
        const tlsDir = tomlString(csTomls[i], "tls-dir");
        await issue("chunkserver", `cs${i + 1}`, `/root/issued/cs${i + 1}/${basename(tlsDir)}`);
        await copyDir(master, `/root/issued/cs${i + 1}/${basename(tlsDir)}`, h, dirname(tlsDir));
        await must(h, ["chown", "-R", "gfs:gfs", tlsDir]);
      }
      await issue("mount", "client1", `/root/issued/client1/${basename(tomlString(mountToml, "tls-dir"))}`);
      await issue("admin", "ops", "/root/issued/client1/admin");
      for (const dir of [basename(tomlString(mountToml, "tls-dir")), "admin"]) await copyDir(master, `/root/issued/client1/${dir}`, client, "/etc/gfs/tls");
      await must(master, ["rm", "-r", "/root/issued"]);

      // DEPLOY.md 3-5: the units.
      await startUnit(master, "gfs-master.service", "master listening");
      for (const h of servers) await startUnit(h, "gfs-chunkserver.service", "registered with master");
      await startUnit(client, "gfs-mount@.service", "mounted", "mnt-gfs");
    } catch (e) {
      await teardown();
      throw e;
    }
  }, SETUP_TIMEOUT_MS);

  async function teardown() {
    await Promise.all(daemons.map((d) => stopProcess(d.proc)));
    for (const h of hosts) await h.stop();
    await net?.destroy();
    await rm(root, { recursive: true, force: true });
  }
  afterAll(teardown);

  it("each daemon read /etc/gfs/NAME.toml on its own host: the chunkservers' data dirs and racks are their config files'", () => {
    for (const [i, h] of servers.entries()) {
      const d = daemons.find((x) => x.host === h)!;
      const listening = d.proc.log().split("\n").find((l) => l.includes('"chunkserver listening"'));
      expect(listening, d.proc.log().slice(-1000)).toBeDefined();
      const rec = JSON.parse(listening!) as { data: string; rack: string; serverId: string };
      expect(rec).toMatchObject({ data: "/var/lib/gfs/chunkserver", rack: RACKS[i], serverId: `cs${i + 1}` });
    }
  });

  it("the master and chunkservers run as their host's gfs user with no capabilities, the mount as root with CAP_SYS_ADMIN only", async () => {
    const CAP_SYS_ADMIN_MASK = 1n << 21n;
    for (const d of daemons) {
      const status = await readFile(`/proc/${d.proc.proc.pid}/status`, "utf8");
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
      const bounding = BigInt(`0x${/^CapBnd:\s+([0-9a-f]+)/m.exec(status)![1]}`);
      const name = (await readFile(`/proc/${d.proc.proc.pid}/cmdline`, "utf8")).split("\0")[1];
      if (d.unit.startsWith("gfs-mount")) {
        expect([uid, bounding], name).toEqual([0, CAP_SYS_ADMIN_MASK]);
      } else {
        const passwd = await readFile(d.host.path("/etc/passwd"), "utf8");
        expect(passwd, name).toContain(`gfs:x:${uid}:`);
        expect(uid).not.toBe(0);
        expect(bounding, name).toBe(0n);
      }
    }
  });

  it("gfs status on the client host lists the three chunkservers at their hosts' addresses, in their racks, alive", async () => {
    const r = await gfs(["status", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as StatusResponse__Output;
    const seen = s.chunkservers.map((c) => `${c.address} ${c.rack} ${c.alive}`).sort();
    expect(seen).toEqual(servers.map((h, i) => `${h.address}:${CHUNKSERVER_PORT} ${RACKS[i]} true`).sort());
  });

  it("the master's and every chunkserver's HTTP port answer /healthz and /readyz with 200 from the client host", async () => {
    const ports = [`${master.address}:${MASTER_HTTP_PORT}`, ...servers.map((h) => `${h.address}:${CHUNKSERVER_HTTP_PORT}`)];
    const urls = ports.flatMap((p) => [`http://${p}/healthz`, `http://${p}/readyz`]);
    // One node run fetching them all (set-up does not install curl); a failed fetch prints its error instead of a status.
    const fetchAll = "Promise.all(process.argv.slice(1).map((u) => fetch(u).then((r) => `${u} ${r.status}`, (e) => `${u} ${e.cause?.code ?? e.message}`)))"
      + ".then((lines) => process.stdout.write(lines.join('\\n')))";
    const r = await client.run(["node", "-e", fetchAll, ...urls]);
    expect(r.stdout.split("\n"), r.stderr).toEqual(urls.map((u) => `${u} 200`));
  });

  it("a file written through the unit's mount at /mnt/gfs on the client host reads back byte-exact with the CLI", async () => {
    const fstype = await client.run(["findmnt", "-n", "-o", "FSTYPE", "/mnt/gfs"]);
    expect(fstype.stdout.trim()).toBe("fuse.gfs");
    const data = randomBytes(3 * 1024 * 1024 + 17);
    written.sha256 = createHash("sha256").update(data).digest("hex");
    const write = await client.run(["sh", "-c", "cat > /mnt/gfs/deployed.bin"], data);
    expect(write.code, write.stderr).toBe(0);
    const read = await gfs(["get", "/deployed.bin", "-"]);
    expect(read.code, read.stderr).toBe(0);
    expect(Buffer.from(read.stdout, "latin1").equals(data)).toBe(true);
  });

  it("SIGTERM (the unit's KillSignal) unmounts the unit's mount with exit code 0, and ExecStopPost leaves /mnt/gfs unmounted", async () => {
    const d = daemons.find((x) => x.unit === "gfs-mount@.service")!;
    await stopUnit(d, "mnt-gfs");
    const still = await client.run(["mountpoint", "-q", "/mnt/gfs"]);
    expect(still.code).not.toBe(0);
  });

  it("the fstab line, as shipped, mounts /mnt/gfs through mount(8) and mount.fuse3 with the unit's mount.toml (its HTTP port too)", async () => {
    const text = await readFile(join(repoRoot, "deploy/fstab"), "utf8");
    const line = text.split("\n").find((l) => l.trim() && !l.startsWith("#"))!;
    expect(line.split(/\s+/)[2]).toBe("fuse.gfs-mount");
    await mountWithFstab(line, async () => {
      expect(await sha256(client, "/mnt/gfs/deployed.bin")).toBe(written.sha256);
      const ready = await client.run(["node", "-e", "fetch(process.argv[1]).then((r) => process.stdout.write(String(r.status)))", "http://127.0.0.1:9082/readyz"]);
      expect(ready.stdout, ready.stderr).toBe("200");
    });
  });

  it("the fstab form without a config file takes a list of masters as its first field", async () => {
    const text = await readFile(join(repoRoot, "deploy/fstab"), "utf8");
    const fields = text.split("\n").find((l) => /^#\d/.test(l))!.slice(1).trim().split(/\s+/);
    // Only the master list changes: ours, then one that does not answer (as a replicated set's list while a master is down).
    await mountWithFstab([`${masterAddress()},127.0.0.1:${MASTER_PORT}`, ...fields.slice(1)].join(" "), async () => {
      expect(await sha256(client, "/mnt/gfs/deployed.bin")).toBe(written.sha256);
    });
  });

  it("SIGTERM (the units' KillSignal) stops every chunkserver and the master with exit code 0", async () => {
    for (const d of [...daemons].reverse()) {
      if (d.unit !== "gfs-mount@.service") await stopUnit(d);
    }
  });

  it("a config file with an unknown key: the unit's command exits 2 (RestartPreventExitStatus) with one line naming the file and key", async () => {
    const unit = readUnitFile(join(repoRoot, "deploy/systemd/gfs-master.service"));
    const [start] = unitCommands(unit, "ExecStart");
    const good = await readFile(master.path("/etc/gfs/master.toml"), "utf8");
    const broken = await master.run(["sh", "-c", "echo 'heartbeat-intervall-ms = 100' >> /etc/gfs/master.toml"]);
    expect(broken.code, broken.stderr).toBe(0);
    try {
      const r = await master.run([...credentialsPrefix(unit), ...start.argv]);
      expect(r.code).toBe(unitValues(unit, "Service", "RestartPreventExitStatus").map(Number)[0]);
      expect(r.stderr).toMatch(/^gfs-master: .*\/etc\/gfs\/master\.toml.*heartbeat-intervall-ms/);
    } finally {
      await master.run(["sh", "-c", `cat > /etc/gfs/master.toml`], Buffer.from(good));
    }
  });
});
