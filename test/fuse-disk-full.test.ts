// A full chunkserver disk is ENOSPC for the application (not EIO), through the
// mount and through the CLI, and `df` on the mount shows what the chunkservers'
// disks really have free, divided by the replication factor. Each chunkserver
// keeps its data on a small tmpfs of its own (the tests run as root).
import { mkdir, mkdtemp, rm, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, TestCluster } from "./harness/cluster";
import { run, sh, TestMount } from "./harness/mount";

const MiB = 1024 * 1024;
const DISK_BYTES = 8 * MiB;
const REPLICATION = 3;

describe("chunkservers on small disks (8 MiB tmpfs each, 1 MiB chunks)", { timeout: 240_000 }, () => {
  let root = "";
  const disks: string[] = [];
  let cluster: TestCluster | undefined;
  let mount: TestMount | undefined;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "gfs-full-"));
    for (let i = 0; i < REPLICATION; i++) {
      const disk = join(root, `disk${i}`);
      await mkdir(disk);
      const r = await run("mount", ["-t", "tmpfs", "-o", `size=${DISK_BYTES}`, "tmpfs", disk]);
      if (r.code !== 0) throw new Error(`mount tmpfs on ${disk}: ${r.stderr}`);
      disks.push(disk);
      await mkdir(join(disk, "data"));
    }
    cluster = await TestCluster.start({ chunkSizeBytes: MiB, leaseMs: 2_000, replication: REPLICATION, dataDirs: disks.map((d) => join(d, "data")) });
    mount = await TestMount.start(cluster);
  });
  afterAll(async () => {
    await mount?.stop();
    await cluster?.stop();
    for (const d of disks) {
      const r = await run("umount", [d]);
      if (r.code !== 0) await run("umount", ["-l", d]);
    }
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** What the chunkservers' disks have free right now, as files can use it (each byte is stored REPLICATION times). */
  const realFree = async () => {
    let free = 0;
    for (const d of disks) {
      const s = await statfs(d);
      free += s.bavail * s.bsize;
    }
    return free / REPLICATION;
  };
  const dfAvail = async () => {
    const r = await sh(`df -B1 --output=avail ${mount!.mountpoint} | tail -1`);
    expect(r.code, r.stderr).toBe(0);
    return Number(r.stdout.trim());
  };

  it("df on the mount shows the chunkservers' real free space divided by replication", async () => {
    // Another program's 4 MiB on each disk: space no chunk uses, and that no file can use either.
    for (const d of disks) await writeFile(join(d, "ballast"), Buffer.alloc(4 * MiB, 1));
    const want = await realFree();
    expect(want).toBeLessThan(4.5 * MiB);
    // Within a heartbeat the master knows; allow a few 4 KiB blocks of rounding and bookkeeping files.
    await eventually(async () => Math.abs((await dfAvail()) - want) < 256 * 1024, 10_000, `df avail near ${want}`);
  });

  it("disk full gives ENOSPC: dd and >> through the mount and `gfs put` fail with \"No space left on device\", and df shows the disks full", async () => {
    const m = mount!.mountpoint;
    const dd = await sh(`dd if=/dev/zero of=${m}/big bs=1M count=16 status=none`, { timeoutMs: 120_000 });
    expect(dd.code, "dd of 16 MiB onto 4 MiB of free space must fail").not.toBe(0);
    expect(dd.stderr).toMatch(/No space left on device/);
    expect(dd.stderr).not.toMatch(/Input\/output error/);

    const local = join(root, "local");
    await writeFile(local, Buffer.alloc(6 * MiB, 7));
    const put = await cluster!.gfs(["put", local, "/big2"]);
    expect(put.code).not.toBe(0);
    expect(put.stderr.trim().split("\n")).toHaveLength(1);
    expect(put.stderr).toMatch(/No space left on device/);

    // An appending shell hears it too (each >> is acknowledged only once applied).
    const append = await sh(`echo more >> ${m}/log`);
    expect(append.code).not.toBe(0);
    expect(append.stderr).toMatch(/No space left on device/);

    // What is left is what the disks really have: nearly nothing.
    const want = await realFree();
    expect(want).toBeLessThan(1 * MiB);
    await eventually(async () => Math.abs((await dfAvail()) - want) < 256 * 1024, 10_000, `df avail near ${want}`);
  });
});
