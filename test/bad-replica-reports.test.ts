// Issue 13 (security review): a client's bad-replica report is a claim, not a
// fact. Before, any client that could read a file could destroy it: report
// replicas 1 and 2 bad (deleted), then 3 (marked corrupt), and the file was
// unreadable. Now a report only makes the master ask the replica's own server
// to verify it; that server reports it corrupt only if its checksums or its
// recorded length say so. Real processes, mutual TLS, a user certificate.
import { randomBytes } from "node:crypto";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GfsClient } from "@gfs/client-core";
import { eventually, fsck, TestCluster, type ClusterOptions } from "./harness/cluster";

const MiB = 1024 * 1024;

const settings: ClusterOptions = {
  chunkservers: 4, chunkSizeBytes: MiB, heartbeatIntervalMs: 200, heartbeatMisses: 3, leaseMs: 3_000,
  masterArgs: ["--copies-per-server", "4", "--copy-timeout-ms", "10000"],
  // No scrubbing: only a verification the master orders may find the damage.
  chunkserverArgs: ["--scrub-bytes-per-sec", "0"],
};

let cluster: TestCluster | undefined;
const clients: GfsClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await cluster?.stop();
  cluster = undefined;
});

function client(c: TestCluster, tlsDir?: string): GfsClient {
  const x = new GfsClient({ ...c.clientOptions(tlsDir), rpc_deadline_ms: 5_000 });
  clients.push(x);
  return x;
}

const chunkFile = (dataDir: string, handle: string) => join(dataDir, "chunks", `${handle}.chunk`);

function logRecords(text: string): Array<Record<string, unknown>> {
  return text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** How many times the chunkservers logged `msg` (summed over all of them). */
function countChunkserverLogs(c: TestCluster, msg: string): number {
  return c.chunkservers.reduce((n, cs) => n + logRecords(cs.process.log()).filter((r) => r.msg === msg).length, 0);
}

describe("a client's bad-replica report is verified by the replica's own server (real processes)", () => {
  it("a client's bad-replica reports of every replica of a healthy chunk delete nothing: the file reads back whole and fsck stays healthy", async () => {
    cluster = await TestCluster.start(settings);
    const c = cluster;
    const data = randomBytes(2 * MiB + 12345);
    await client(c).create("/shared.bin");
    await client(c).write("/shared.bin", 0, data);
    const before = await fsck(c, "/shared.bin");
    expect(before.unhealthyChunks).toBe(0);
    const chunks = before.files[0].chunks;
    expect(chunks.length).toBe(3);

    // A user who may read the file, and reports every replica of every chunk bad, twice.
    const mallory = client(c, await c.issue("user", "mallory", { uid: 4321, gids: [4321] }));
    expect((await mallory.read("/shared.bin", 0, data.length)).equals(data)).toBe(true);
    const locs = await mallory.master.FindChunks({ path: "/shared.bin", offset: 0, length: data.length });
    let reports = 0;
    for (let round = 0; round < 2; round++) {
      for (const loc of locs.chunks) {
        for (const r of loc.replicas) {
          await mallory.master.ReportBadReplica({ handle: loc.handle, serverId: r.serverId, reason: "checksum mismatch (says mallory)" });
          if (round === 0) reports++;
        }
      }
    }
    expect(reports).toBe(9);

    // Each reported replica is verified once by its own server (repeats are deduplicated) and found good.
    const verified = "replica verified on the master's order: good, kept";
    await eventually(async () => countChunkserverLogs(c, verified) >= reports, 15_000, "every reported replica verified by its server");
    await new Promise((r) => setTimeout(r, 1_000)); // five heartbeats: any deletion would have been ordered by now
    expect(countChunkserverLogs(c, verified)).toBe(reports);
    const handles = new Set(chunks.map((ch) => ch.handle));
    const deleted = c.chunkservers.flatMap((cs) => logRecords(cs.process.log()))
      .filter((l) => l.msg === "deleted chunk on the master's order" && handles.has(String(l.handle)));
    expect(deleted).toEqual([]);

    // The master logged who reported what, and why.
    const logged = logRecords(c.master.log()).filter((l) => l.msg === "bad replica reported");
    expect(logged.length).toBe(2 * reports);
    expect(logged.every((l) => l.reporter === "user:mallory" && l.reason === "checksum mismatch (says mallory)")).toBe(true);

    // Nothing deleted or marked: the same replicas, all good, on disk, and the file reads back whole.
    const after = await fsck(c, "/shared.bin");
    expect(after.unhealthyChunks).toBe(0);
    for (const ch of after.files[0].chunks) {
      expect(ch.state).toBe("CHUNK_STATE_HEALTHY");
      expect(ch.replicas.some((x) => x.corrupt || x.stale)).toBe(false);
      const was = chunks.find((x) => x.handle === ch.handle)!;
      expect(ch.replicas.map((x) => x.serverId).sort()).toEqual(was.replicas.map((x) => x.serverId).sort());
      for (const x of ch.replicas) {
        const cs = c.chunkservers.find((s) => s.serverId === x.serverId)!;
        expect((await stat(chunkFile(cs.dataDir, ch.handle))).size).toBeGreaterThan(0);
      }
    }
    expect((await client(c).read("/shared.bin", 0, data.length)).equals(data)).toBe(true);
    expect((await mallory.read("/shared.bin", 0, data.length)).equals(data)).toBe(true);
  });

  it("a replica a client reports that really is corrupt (flip a byte in the chunk file on disk) is verified by its chunkserver, then deleted and re-copied", async () => {
    cluster = await TestCluster.start(settings);
    const c = cluster;
    const data = randomBytes(2 * MiB);
    await client(c).create("/flip.bin");
    await client(c).write("/flip.bin", 0, data);
    const chunk = (await fsck(c, "/flip.bin")).files[0].chunks[0];
    const victim = c.chunkservers.find((s) => s.serverId === chunk.replicas[0].serverId)!;
    const path = chunkFile(victim.dataDir, chunk.handle);
    const bytes = await readFile(path);
    bytes[700_001] ^= 0xff;
    await writeFile(path, bytes);

    // Nobody reads the victim's replica: only the master's verification order can find the damage.
    const reader = client(c, await c.issue("user", "reader", { uid: 4322, gids: [4322] }));
    await reader.master.ReportBadReplica({ handle: chunk.handle, serverId: victim.serverId, reason: "checksum mismatch in block 10" });
    await eventually(async () => logRecords(victim.process.log()).some((l) => l.msg === "replica verified on the master's order: not good (a bad one is reported corrupt)"
      && l.handle === chunk.handle), 15_000, "the victim's server verified the reported replica and found it bad");
    await eventually(async () => logRecords(c.master.log()).some((l) => l.msg === "chunkserver reports a corrupt replica"
      && l.handle === chunk.handle && l.serverId === victim.serverId), 10_000, "the victim's server reported it corrupt");

    // Deleted and re-copied: three good replicas again, every one byte-exact on disk.
    const healed = await eventually(async () => {
      const r = await fsck(c, "/flip.bin");
      const ch = r.files[0].chunks[0];
      return r.unhealthyChunks === 0 && ch.state === "CHUNK_STATE_HEALTHY" && !ch.replicas.some((x) => x.corrupt)
        && ch.replicas.filter((x) => x.alive && !x.stale).length >= 3 ? ch : undefined;
    }, 30_000, "the corrupt replica replaced");
    for (const r of healed.replicas) {
      const cs = c.chunkservers.find((s) => s.serverId === r.serverId)!;
      expect((await readFile(chunkFile(cs.dataDir, chunk.handle))).equals(data.subarray(0, MiB))).toBe(true);
    }
    expect((await reader.read("/flip.bin", 0, data.length)).equals(data)).toBe(true);
  });
});
