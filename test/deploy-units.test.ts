// The systemd units in deploy/systemd pass `systemd-analyze verify` with no
// warning at all, and run the daemons the way the deployment contract says
// (/usr/local/bin/gfs-NAME --config /etc/gfs/NAME.toml).
//
// verify loads each unit as systemd would: unknown keys, bad values, and an
// ExecStart program that is missing or not executable are reported. It checks
// the programs on this machine, so the launchers scripts/setup.sh installs in
// /usr/local/bin must exist (scripts/test.sh runs setup first); --root would
// avoid that but systemd 252's verify cannot find units under a root dir.
// A missing User= (no "gfs" user here) is not reported by verify, so nothing
// is accepted or filtered: any output fails the test. Templates are verified
// as instances (gfs-mount@mnt-gfs.service), so their specifiers expand.
import { execFile } from "node:child_process";
import { access, constants, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "./harness/cluster";
import { readUnitFile, unitCommands, unitValues } from "./harness/unit-file";

const unitDir = join(repoRoot, "deploy/systemd");
/** Instance names the templates are verified (and documented) with. */
const instances: Record<string, string> = { "gfs-mount@.service": "mnt-gfs", "gfs-chunkserver@.service": "2" };

function verify(paths: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile("systemd-analyze", ["verify", "--man=no", ...paths], (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, output: `${stdout}${stderr}`.trim() });
    });
  });
}

describe("deploy/systemd units", () => {
  let dir: string;
  let units: string[];
  /** Every unit as verify sees it: templates copied under an instance name. */
  let verifiable: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gfs-units-"));
    units = (await readdir(unitDir)).filter((f) => f.endsWith(".service")).sort();
    verifiable = [];
    for (const u of units) {
      const name = u.includes("@.") ? u.replace("@.", `@${instances[u]}.`) : u;
      await copyFile(join(unitDir, u), join(dir, name));
      verifiable.push(join(dir, name));
    }
  });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it("ships a master, a chunkserver (plain and per-disk template) and a mount unit", () => {
    expect(units).toEqual(["gfs-chunkserver.service", "gfs-chunkserver@.service", "gfs-master.service", "gfs-mount@.service"]);
  });

  it("the launchers the units start exist (scripts/setup.sh installs them)", async () => {
    for (const name of ["gfs-master", "gfs-chunkserver", "gfs-mount"]) {
      await expect(access(`/usr/local/bin/${name}`, constants.X_OK), `/usr/local/bin/${name}: run scripts/setup.sh`).resolves.toBeUndefined();
    }
  });

  it("systemd-analyze verify accepts every unit without a single warning", async () => {
    const r = await verify(verifiable);
    expect(r.output).toBe("");
    expect(r.code).toBe(0);
  });

  it("the check can fail: verify reports an unknown key and a program that does not exist", async () => {
    const bad = join(dir, "gfs-broken.service");
    const text = await readFile(join(unitDir, "gfs-master.service"), "utf8");
    await writeFile(bad, text.replace("Type=exec", "Type=exec\nRestartSecs=5").replace("/usr/local/bin/gfs-master", "/usr/local/bin/gfs-no-such-program"));
    const r = await verify([bad]);
    expect(r.output).toMatch(/Unknown key 'RestartSecs'/);
    expect(r.output).toMatch(/gfs-no-such-program/);
    expect(r.code).not.toBe(0);
  });

  it("each unit runs its daemon as the contract says: /usr/local/bin/gfs-NAME --config /etc/gfs/NAME.toml", () => {
    const start = (file: string, instance?: string) => unitCommands(readUnitFile(join(unitDir, file)), "ExecStart", instance).map((c) => c.argv.join(" "));
    expect(start("gfs-master.service")).toEqual(["/usr/local/bin/gfs-master --config /etc/gfs/master.toml"]);
    expect(start("gfs-chunkserver.service")).toEqual(["/usr/local/bin/gfs-chunkserver --config /etc/gfs/chunkserver.toml"]);
    expect(start("gfs-chunkserver@.service", "2")).toEqual(["/usr/local/bin/gfs-chunkserver --config /etc/gfs/chunkserver-2.toml"]);
    expect(start("gfs-mount@.service", "mnt-gfs")).toEqual(["/usr/local/bin/gfs-mount --config /etc/gfs/mount.toml --foreground /mnt/gfs"]);
  });

  it("daemons restart on failure but not on a config error, stop on SIGTERM within a bound, reload with SIGHUP, and the master and chunkservers run as gfs", () => {
    for (const file of units) {
      const unit = readUnitFile(join(unitDir, file));
      const service = (key: string) => unitValues(unit, "Service", key);
      expect(service("Restart"), file).toEqual(["on-failure"]);
      // Retried for as long as it takes, except a usage or config error (exit 2), which a restart cannot fix.
      expect(unitValues(unit, "Unit", "StartLimitIntervalSec"), file).toEqual(["0"]);
      expect(service("RestartPreventExitStatus"), file).toEqual(["2"]);
      expect(service("KillSignal"), file).toEqual(["SIGTERM"]);
      expect(service("TimeoutStopSec"), file).toHaveLength(1);
      expect(service("ExecReload"), file).toEqual(["/bin/kill -HUP $MAINPID"]);
      expect(unitValues(unit, "Unit", "After"), file).toContain("network-online.target");
      expect(service("User"), file).toEqual([file.startsWith("gfs-mount") ? "root" : "gfs"]);
    }
  });

  it("the sysusers.d entry makes the gfs system user and group the units run as (systemd-sysusers into a scratch root)", async () => {
    const scratch = join(dir, "sysroot");
    await mkdir(join(scratch, "etc"), { recursive: true });
    const r = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile("systemd-sysusers", [`--root=${scratch}`, join(repoRoot, "deploy/sysusers.d/gfs.conf")], (err, stdout, stderr) => {
        resolve({ code: err ? 1 : 0, output: `${stdout}${stderr}` });
      });
    });
    expect(r.code, r.output).toBe(0);
    const passwd = await readFile(join(scratch, "etc/passwd"), "utf8");
    const user = /^gfs:x:(\d+):(\d+):[^:]*:([^:]*):([^:\n]*)$/m.exec(passwd);
    expect(user, passwd).not.toBeNull();
    expect(Number(user![1])).toBeLessThan(1000);
    expect(user![3]).toBe("/var/lib/gfs");
    expect(user![4]).toBe("/usr/sbin/nologin");
    expect(await readFile(join(scratch, "etc/group"), "utf8")).toMatch(new RegExp(`^gfs:x:${user![2]}:`, "m"));
  });

  it("the mount unit keeps FUSE visible: no option that gives the service its own mount namespace, and /dev/fuse allowed", () => {
    const unit = readUnitFile(join(unitDir, "gfs-mount@.service"));
    // systemd.exec(5): each of these sets up a private mount namespace, so the FUSE mount would be invisible outside the service.
    const namespacing = ["ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateMounts", "ReadWritePaths", "ReadOnlyPaths",
      "InaccessiblePaths", "TemporaryFileSystem", "BindPaths", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
      "ProtectControlGroups", "ProtectProc", "ProtectHostname", "StateDirectory", "LogsDirectory", "RuntimeDirectory"];
    for (const key of namespacing) expect(unitValues(unit, "Service", key), key).toEqual([]);
    expect(unitValues(unit, "Service", "DeviceAllow")).toEqual(["/dev/fuse rw"]);
    expect(unitValues(unit, "Service", "CapabilityBoundingSet")).toEqual(["CAP_SYS_ADMIN"]);
  });
});
