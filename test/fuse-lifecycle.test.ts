// gfs-mount's life and the cluster's trouble as a user sees them: the master
// or every replica gone gives EIO within bounded time (never an empty listing
// or a silent success) and the same mount works again once they are back;
// SIGTERM, fusermount3 -u and a crash all end without a process or a dead
// mountpoint left behind; the daemon mode returns once mounted.
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bin, eventually, TestCluster } from "./harness/cluster";
import { forceUnmount, isMounted, run, sh, shBackground, TestMount } from "./harness/mount";
import { stopProcess } from "./harness/processes";

const MiB = 1024 * 1024;

describe("gfs-mount life cycle and cluster trouble", { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let mount: TestMount;
  let m: string;

  beforeAll(async () => {
    cluster = await TestCluster.start({ chunkSizeBytes: MiB, leaseMs: 2_000 });
    mount = await TestMount.start(cluster);
    m = mount.mountpoint;
  });
  afterAll(async () => {
    await mount?.stop();
    await cluster?.stop();
  });

  const ok = async (script: string) => {
    const r = await sh(script);
    expect(r.code, `${script}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };

  /** Runs `script`, expecting it to fail with EIO, within `boundMs`. */
  const failsWithEio = async (script: string, boundMs: number) => {
    const started = Date.now();
    const r = await sh(script, { timeoutMs: boundMs + 5_000 });
    const took = Date.now() - started;
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr).toMatch(/Input\/output error/);
    expect(took).toBeLessThan(boundMs);
  };

  it("master stopped: listing, stat, reading and writing fail with EIO within seconds; restarted: the same mount works again", async () => {
    await ok(`mkdir -p ${m}/keep; head -c ${2 * MiB} /dev/urandom > ${cluster.dir}/k; cp ${cluster.dir}/k ${m}/keep/data`);
    const address = cluster.masterAddress;
    await stopProcess(cluster.master);
    await new Promise((r) => setTimeout(r, 1_200)); // let the 1 s attribute cache expire
    await failsWithEio(`ls ${m}/keep`, 15_000);
    await failsWithEio(`stat ${m}/keep/data`, 15_000);
    await failsWithEio(`cat ${m}/keep/data > /dev/null`, 15_000);
    await failsWithEio(`echo x > ${m}/keep/new`, 15_000);

    await cluster.startMaster(address);
    // Chunkservers re-register and the master's post-restart lease pause passes; then all works again.
    await eventually(async () => (await sh(`ls ${m}/keep && cmp ${cluster.dir}/k ${m}/keep/data`)).code === 0, 20_000, "reads after restart");
    await eventually(async () => (await sh(`echo after > ${m}/keep/new2 && cat ${m}/keep/new2`)).stdout === "after\n", 20_000, "writes after restart");
    expect(mount.process.proc.exitCode).toBeNull();
  });

  it("every chunkserver gone: reads and writes fail with EIO within bounded time, and work again once they are back", async () => {
    await ok(`head -c ${3 * MiB} /dev/urandom > ${cluster.dir}/cs; cp ${cluster.dir}/cs ${m}/cs`);
    await Promise.all(cluster.chunkservers.map((_, i) => cluster.kill(i)));
    await failsWithEio(`cat ${m}/cs > /dev/null`, 20_000);
    await failsWithEio(`head -c 100000 /dev/urandom > ${m}/cs-new`, 20_000);
    for (let i = 0; i < cluster.chunkservers.length; i++) await cluster.startChunkserver(i);
    await eventually(async () => (await sh(`cmp ${cluster.dir}/cs ${m}/cs`)).code === 0, 20_000, "reads after chunkservers return");
    await eventually(async () => (await sh(`echo back > ${m}/cs-new && cat ${m}/cs-new`)).stdout === "back\n", 20_000, "writes after chunkservers return");
  });

  it("buffered scattered writes that cannot reach any replica make close fail with EIO: never a silent success", async () => {
    const dir = cluster.dir;
    await ok(`head -c ${3 * MiB} /dev/urandom > ${dir}/sc; cp ${dir}/sc ${m}/sc; rm -f ${dir}/sc-written ${dir}/sc-go`);
    const script = `
import os, time
fd = os.open("${m}/sc", os.O_WRONLY)
for i in range(20): os.pwrite(fd, os.urandom(4096), 5000 + i * 150001)
open("${dir}/sc-written", "w").close()
while not os.path.exists("${dir}/sc-go"): time.sleep(0.05)
try:
    os.close(fd)
    print("closed")
except OSError as e:
    print(os.strerror(e.errno))
`;
    const py = shBackground(`python3 - <<'PY'\n${script}\nPY`);
    await eventually(async () => (await sh(`test -e ${dir}/sc-written`)).code === 0, 20_000, "writes buffered");
    await Promise.all(cluster.chunkservers.map((_, i) => cluster.kill(i)));
    await ok(`touch ${dir}/sc-go`);
    const r = await py.done;
    expect(r.stdout.trim()).toBe("Input/output error");
    for (let i = 0; i < cluster.chunkservers.length; i++) await cluster.startChunkserver(i);
    await eventually(async () => (await sh(`echo back > ${m}/sc-new && cat ${m}/sc-new`)).stdout === "back\n", 20_000, "writes after chunkservers return");
  });

  it("SIGTERM unmounts and exits cleanly; what was written before is in the cluster", async () => {
    const other = await TestMount.start(cluster, { name: "term" });
    const data = `${cluster.dir}/term-data`;
    await ok(`head -c ${MiB + 333} /dev/urandom > ${data}; cp ${data} ${other.mountpoint}/t`);
    other.process.proc.kill("SIGTERM");
    const exit = await other.process.exited;
    expect(exit.code).toBe(0);
    expect(await isMounted(other.mountpoint)).toBe(false);
    await ok(`cmp ${data} ${m}/t`);
  });

  it("fusermount3 -u from outside ends the mount process", async () => {
    const other = await TestMount.start(cluster, { name: "outside" });
    await ok(`ls ${other.mountpoint} > /dev/null; fusermount3 -u ${other.mountpoint}`);
    const exit = await Promise.race([other.process.exited, new Promise((r) => setTimeout(() => r("still running"), 10_000))]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await isMounted(other.mountpoint)).toBe(false);
  });

  it("a mountpoint left dead by a killed mount is detected and cleaned by the next mount", async () => {
    const first = await TestMount.start(cluster, { name: "dead" });
    let second: TestMount | undefined;
    try {
      first.process.proc.kill("SIGKILL");
      await first.process.exited;
      const err = await stat(first.mountpoint).then(() => undefined, (e: NodeJS.ErrnoException) => e.code);
      expect(err).toBe("ENOTCONN");
      second = await TestMount.start(cluster, { name: "dead" });
      expect(second.process.log()).toMatch(/left dead/);
      await ok(`echo alive > ${second.mountpoint}/alive; cat ${m}/alive`);
      await second.stop();
      expect(await isMounted(second.mountpoint)).toBe(false);
    } finally {
      // Whatever failed above, no dead mount may outlive the test.
      await second?.stop();
      await first.stop();
    }
  });

  it("without --foreground it returns once mounted, with a pid file; SIGTERM to that pid unmounts and removes it", async () => {
    const mp = join(cluster.dir, "daemon");
    const pidFile = join(cluster.dir, "daemon.pid");
    await ok(`mkdir -p ${mp}`);
    let pid = 0;
    try {
      const r = await run(process.execPath, [bin.mount, mp, "--master", cluster.masterAddress, ...cluster.transportArgs("mount"), "--pid-file", pidFile,
        "--log-file", join(cluster.dir, "daemon.log")], { timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(0);
      pid = Number((await readFile(pidFile, "utf8")).trim());
      expect(pid).toBeGreaterThan(0);
      expect(await isMounted(mp)).toBe(true);
      await ok(`echo via-daemon > ${mp}/d; cat ${m}/d`);
      process.kill(pid, "SIGTERM");
      await eventually(async () => !alive(pid) && !(await isMounted(mp)), 10_000, "daemon gone and unmounted");
      await expect(stat(pidFile)).rejects.toMatchObject({ code: "ENOENT" });
    } finally {
      if (pid && alive(pid)) process.kill(pid, "SIGKILL");
      if (await isMounted(mp)) await forceUnmount(mp);
    }
  });

  it("mount -t fuse.gfs-mount (what an /etc/fstab line runs) mounts with standard options; umount ends it", async () => {
    const mp = join(cluster.dir, "fstab");
    await ok(`mkdir -p ${mp}`);
    // mount.fuse3 runs `gfs-mount SOURCE MOUNTPOINT -o OPTIONS` from PATH (scripts/setup.sh installs it; here a shim
    // points at this checkout's build).
    const serving = () => sh(`pgrep -f "dist/main.js ${cluster.masterAddress} ${mp}"`);
    try {
      const r = await sh(`
        shim=$(mktemp -d); printf '#!/bin/sh\nexec "${process.execPath}" "${bin.mount}" "$@"\n' > $shim/gfs-mount; chmod +x $shim/gfs-mount
        PATH=$shim:$PATH GFS_LOG_DIR=${cluster.dir}/logs mount -t fuse.gfs-mount ${cluster.masterAddress} ${mp} -o defaults,allow_other,noatime,_netdev,tls_dir=${cluster.tlsDir("mount")}
        rm -rf $shim`);
      expect(r.code, r.stderr).toBe(0);
      expect(await isMounted(mp)).toBe(true);
      await ok(`echo via-fstab > ${mp}/fstab-file; cat ${m}/fstab-file; grep " ${mp} " /proc/self/mountinfo | grep -o allow_other`);
      expect((await serving()).code).toBe(0);
      await ok(`umount ${mp}`);
      await eventually(async () => (await serving()).code !== 0, 10_000, "mount process gone");
    } finally {
      if (await isMounted(mp)) await forceUnmount(mp);
    }
  });

  it("bad usage is a one-line error and exit code 2; an unreachable master fails the mount with exit code 1", async () => {
    const usage = await run(process.execPath, [bin.mount, "--foreground"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr.split("\n")[0]).toMatch(/^gfs-mount: /);
    const mp = join(cluster.dir, "unreachable");
    await ok(`mkdir -p ${mp}`);
    const down = await run(process.execPath, [bin.mount, mp, "--master", "127.0.0.1:1", ...cluster.transportArgs("mount"), "--foreground"], { timeoutMs: 30_000 });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot reach the master/);
    expect(await isMounted(mp)).toBe(false);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
