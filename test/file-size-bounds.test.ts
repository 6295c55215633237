// Issue 12, finding 5: one sparse write killed the master (a chunk index of
// 2^32 made it fill an array up to the index). Files have a largest size
// (EFBIG beyond it) and a sparse file costs memory per written chunk.
// Real processes, 1 MiB chunks (the smallest chunk gives the largest index).
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaults, GfsError, masterDefinition, newMasterClient, promiseClient, type MasterClient, type PromiseClient } from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { eventually, TestCluster } from "./harness/cluster";
import { sh, TestMount } from "./harness/mount";

const MiB = 1024 * 1024;

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) * 1024;
}

describe("a write at 2^52 gives EFBIG or succeeds sparsely, master alive and RSS bounded", () => {
  let cluster: TestCluster;
  let client: GfsClient;
  let master: PromiseClient<MasterClient>;
  let mount: TestMount | undefined;

  beforeAll(async () => {
    cluster = await TestCluster.start({ chunkSizeBytes: MiB, masterArgs: ["--checkpoint-every-records", "20"] });
    client = new GfsClient({ master: cluster.masterAddress });
    master = promiseClient(newMasterClient(cluster.masterAddress), masterDefinition());
  }, 60_000);
  afterAll(async () => {
    await mount?.stop();
    client?.close();
    await cluster?.stop();
  });

  const errnoOf = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
    } catch (e) {
      return (e as GfsError).errno ?? String(e);
    }
    return "no error";
  };

  it("a write, truncate, extend or AddChunk past the largest file is EFBIG; the master answers and its RSS stays bounded", async () => {
    const pid = cluster.master.proc.pid!;
    const rssBefore = await rssBytes(pid);
    await client.create("/huge");
    expect(await errnoOf(client.write("/huge", 2 ** 52, Buffer.from("x")))).toBe("EFBIG");
    expect(await errnoOf(master.AddChunk({ path: "/huge", index: 2 ** 32 }))).toBe("EFBIG");
    expect(await errnoOf(master.AddChunk({ path: "/huge", index: defaults.file_size_bytes_max / MiB }))).toBe("EFBIG");
    expect(await errnoOf(master.ExtendFile({ path: "/huge", endOffset: 2 ** 52, mtimeMs: 0 }))).toBe("EFBIG");
    expect(await errnoOf(master.Truncate({ path: "/huge", size: 2 ** 52 }))).toBe("EFBIG");
    // Nothing changed, the master still answers at once, and it did not grow.
    const t0 = Date.now();
    const info = await client.stat("/huge");
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(info.size).toBe(0);
    expect(info.chunkCount).toBe(0);
    expect(await rssBytes(pid) - rssBefore).toBeLessThan(64 * MiB);
    // Other clients are served as before.
    const cli = await cluster.gfs(["stat", "/huge"]);
    expect(cli.code, cli.stderr).toBe(0);
  });

  it("a sparse file with a chunk at index 2^29 costs little memory, reads holes as zeros and survives a checkpoint and restart", async () => {
    const pid = cluster.master.proc.pid!;
    const rssBefore = await rssBytes(pid);
    const far = 2 ** 29 * MiB + 5; // 512 TiB: below the largest file (1 PiB)
    await client.create("/sparse");
    await client.write("/sparse", 3, Buffer.from("head"));
    await client.write("/sparse", far, Buffer.from("tail"));
    const info = await client.stat("/sparse");
    expect(info.size).toBe(far + 4);
    expect(info.chunkCount).toBe(2 ** 29 + 1);
    expect(await rssBytes(pid) - rssBefore).toBeLessThan(64 * MiB);
    expect((await client.read("/sparse", far - 3, 7)).toString("latin1")).toBe("\0\0\0tail");
    expect((await client.read("/sparse", 2 ** 40, 4)).equals(Buffer.alloc(4))).toBe(true);
    const fsck = await cluster.gfs(["fsck", "/sparse", "--json"]);
    expect(fsck.code, fsck.stderr).toBe(0);
    expect(JSON.parse(fsck.stdout).files[0].chunks.map((c: { index: number }) => c.index)).toEqual([0, 2 ** 29]);

    // Enough records for a checkpoint (every 20), then a restart from it.
    for (let i = 0; i < 25; i++) await client.create(`/pad${i}`);
    await eventually(async () => /"checkpoint written"/.test(cluster.master.log()), 20_000, "a checkpoint");
    expect(cluster.master.log()).not.toMatch(/checkpoint failed/i);
    const address = cluster.masterAddress;
    cluster.master.proc.kill("SIGKILL");
    await cluster.master.exited;
    await cluster.startMaster(address);
    const rec = await cluster.master.waitForLog("master recovered");
    expect(Number(rec.checkpointSeq)).toBeGreaterThan(0);
    const back = await eventually(async () => {
      const b = await client.read("/sparse", far, 4).catch(() => undefined);
      return b?.toString("latin1") === "tail" ? b : undefined;
    }, 20_000, "the far chunk read back after the restart");
    expect(back.toString("latin1")).toBe("tail");
    expect((await client.read("/sparse", 0, 8)).toString("latin1")).toBe("\0\0\0head\0");
  }, 90_000);

  it("dd seek=2^52 through the mount exits non-zero with 'File too large'", async () => {
    mount = await TestMount.start(cluster);
    const r = await sh(`dd if=/dev/zero of=${mount.path("dd-far")} bs=1 count=1 seek=$((2**52)) status=none`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/File too large/);
    expect((await client.stat("/").catch(() => undefined))?.type).toBe("FILE_TYPE_DIRECTORY");
  }, 60_000);
});
