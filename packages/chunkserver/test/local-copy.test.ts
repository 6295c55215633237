// Issue 20: the chunkserver's local copy (copy-on-write of a snapshot's shared
// chunk), in the store (on the real disk and on a SimDisk, crashed at every
// step) and through the ChunkServer service over gRPC in-process. The rules:
// the copy reads back identical at its new version with its own checksums and
// is independent of its source; it is never torn by a mutation; each refusal
// has its errno and leaves nothing behind; a crash never leaves a half copy
// that is served; the service counts copies and admits only the active
// master's epoch. Real processes with certificates: test/copy-chunk-local.test.ts.
import { mkdtemp, open, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ChunkServerPool, chunkServerDefinition, createLogger, fromServiceError, GfsError, insecureTransport, setTransportSecurity, startServer, stopServer,
} from "@gfs/common";
import { ChunkStore } from "../src/chunk-store";
import { ChunkServerService } from "../src/chunkserver-service";
import { LeaseView } from "../src/lease";
import { MasterEpoch } from "../src/master-epoch";
import { PushBuffer } from "../src/push-buffer";
import { PeerDirectory } from "../src/push-chain";
import { verifyWhole } from "../src/scrubber";
import { defaultChunkserverSettings } from "../src/settings";
import { SimDisk } from "../src/sim-disk";
import { errnoOf } from "./errno-of";

setTransportSecurity(insecureTransport);

const B = 1024;
const CHUNK = 64 * B;
const SRC = "00000000000000aa";
const COPY = "00000000000000bb";
const pattern = (n: number, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

async function readAll(store: ChunkStore, handle: string): Promise<Buffer> {
  return Buffer.from((await store.read(handle, 0, store.get(handle)!.length)).data);
}

/** A deterministic generator for crash choices. */
function lcg(seed: number): (n: number) => number {
  let x = (seed * 2654435761) % 2147483648;
  return (n) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return Math.floor((x / 2147483648) * n);
  };
}

describe("local copy in the store (real disk)", () => {
  let dir: string;
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), "gfs-local-copy-")); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  const openStore = (sub: string, onCorrupt?: (h: string) => void) =>
    ChunkStore.open(join(dir, sub), { blockBytes: B, chunkSizeBytes: CHUNK, onCorrupt });

  it("the copy reads back identical at its new version with the source's checksums, survives a restart, and later writes to either stay apart", async () => {
    const s = await openStore("identical");
    const data = pattern(5 * B + 100);
    await s.create(SRC, 3);
    await s.write(SRC, 0, data);
    const info = await s.copyLocal(SRC, 3, COPY, 7);
    expect(info).toMatchObject({ version: 7, length: data.length, corrupt: false, unverified: false });
    expect((await readAll(s, COPY)).equals(data)).toBe(true);
    expect(s.get(SRC)).toMatchObject({ version: 3, length: data.length });
    // Its own sidecar, clean (the copy's data was synced), with the same CRCs as the source's.
    await s.markIdleClean(0);
    const sideOf = async (h: string) => JSON.parse(await readFile(join(dir, "identical", `${h}.meta`), "utf8")) as { version: number; clean: boolean; crcs: number[] };
    const [src, copy] = [await sideOf(SRC), await sideOf(COPY)];
    expect(copy).toMatchObject({ version: 7, clean: true });
    expect(copy.crcs).toEqual(src.crcs);
    // Independent files: a write to one does not reach the other.
    await s.write(COPY, 10, Buffer.from("copy side"));
    await s.write(SRC, 20, Buffer.from("source side"));
    await s.close();
    const again = await openStore("identical");
    const copyNow = Buffer.from(data);
    Buffer.from("copy side").copy(copyNow, 10);
    const srcNow = Buffer.from(data);
    Buffer.from("source side").copy(srcNow, 20);
    expect(again.get(COPY)).toMatchObject({ version: 7, unverified: false, corrupt: false });
    expect((await readAll(again, COPY)).equals(copyNow)).toBe(true);
    expect((await readAll(again, SRC)).equals(srcNow)).toBe(true);
    await again.close();
  });

  it("damage to the copy's bytes fails the copy's reads and scrub and is reported for the copy, not the source", async () => {
    const corrupt: string[] = [];
    const s = await openStore("damage", (h) => corrupt.push(h));
    const data = pattern(4 * B, 5);
    await s.create(SRC, 1);
    await s.write(SRC, 0, data, true);
    await s.copyLocal(SRC, 1, COPY, 2);
    const fh = await open(join(dir, "damage", `${COPY}.chunk`), "r+");
    await fh.write(Buffer.from([data[2 * B + 3]! ^ 0xff]), 0, 1, 2 * B + 3);
    await fh.close();
    expect(await errnoOf(s.read(COPY, 2 * B, B))).toBe("EIO");
    expect((await verifyWhole(s, COPY)).verdict).toBe("bad");
    expect((await verifyWhole(s, SRC)).verdict).toBe("good");
    expect(corrupt).toEqual([COPY]);
    expect((await readAll(s, SRC)).equals(data)).toBe(true);
    await s.close();
  });

  it("bytes a failed mutation left past the source's end are not copied", async () => {
    const s = await openStore("tail");
    const data = pattern(3 * B + 7, 9);
    await s.create(SRC, 1);
    await s.write(SRC, 0, data, true);
    const fh = await open(join(dir, "tail", `${SRC}.chunk`), "r+");
    await fh.write(Buffer.alloc(B, 0xee), 0, B, data.length); // what a write that failed half-way may leave
    await fh.close();
    expect((await s.copyLocal(SRC, 1, COPY, 1)).length).toBe(data.length);
    expect((await readFile(join(dir, "tail", `${COPY}.chunk`))).equals(data)).toBe(true);
    await s.close();
  });

  it("each refusal has its errno and leaves no file: ENOENT, ESTALE, EEXIST, EINVAL", async () => {
    const s = await openStore("refusals");
    await s.create(SRC, 2);
    await s.write(SRC, 0, pattern(B), true);
    await s.create(COPY, 1);
    const files = async () => (await readdir(join(dir, "refusals"))).sort();
    const before = await files();
    const other = "00000000000000cc";
    expect(await errnoOf(s.copyLocal("00000000000000dd", 2, other, 1))).toBe("ENOENT");
    expect(await errnoOf(s.copyLocal(SRC, 1, other, 1))).toBe("ESTALE");
    expect(await errnoOf(s.copyLocal(SRC, 3, other, 1))).toBe("ESTALE");
    expect(await errnoOf(s.copyLocal(SRC, 2, COPY, 1))).toBe("EEXIST");
    expect(await errnoOf(s.copyLocal(SRC, 2, SRC, 3))).toBe("EINVAL");
    expect(await errnoOf(s.copyLocal(SRC, 2, "not-a-handle", 1))).toBe("EINVAL");
    expect(await errnoOf(s.copyLocal(SRC, 2, other, 0))).toBe("EINVAL");
    expect(await errnoOf(s.copyLocal(SRC, 0, other, 1))).toBe("EINVAL");
    expect(await errnoOf(s.copyLocal(SRC, 2, other, 1.5))).toBe("EINVAL");
    // Two copies to one new handle at once: one is made, the other refused (the handle is taken while it is being made).
    const both = await Promise.allSettled([s.copyLocal(SRC, 2, other, 1), s.copyLocal(SRC, 2, other, 1)]);
    expect(both.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    expect(((both.find((r) => r.status === "rejected") as PromiseRejectedResult).reason as GfsError).errno).toBe("EEXIST");
    expect(await files()).toEqual([...before, `${other}.chunk`, `${other}.meta`].sort());
    await s.close();
  });
});

describe("local copy in the store (simulated disk)", () => {
  const DIR = "/sim-only/chunks";
  const openSim = (disk: SimDisk | ReturnType<SimDisk["session"]>) =>
    ChunkStore.open(DIR, { blockBytes: B, chunkSizeBytes: CHUNK, disk, directWriteBytesMin: 0 });

  it("a source that is bad, unverified, or failed a checksum is not copied (EIO), and nothing is left", async () => {
    const data = pattern(3 * B, 2);
    // Unverified: written in the dirty window before a crash.
    const d1 = new SimDisk();
    const s1 = await openSim(d1.session());
    await s1.create(SRC, 1);
    await s1.write(SRC, 0, data, true);
    d1.crash();
    const r1 = await openSim(d1.session());
    expect(r1.get(SRC)?.unverified).toBe(true);
    expect(await errnoOf(r1.copyLocal(SRC, 1, COPY, 1))).toBe("EIO");
    // Bad: its file is shorter than its length (a cut found by the copy itself).
    const d2 = new SimDisk();
    const s2 = await openSim(d2);
    await s2.create(SRC, 1);
    await s2.write(SRC, 0, data, true);
    d2.cut(`${DIR}/${SRC}.chunk`, B);
    expect(await errnoOf(s2.copyLocal(SRC, 1, COPY, 1))).toBe("EIO");
    expect(s2.get(SRC)?.corrupt).toBe(true);
    // A checksum failure found by a read.
    const d3 = new SimDisk();
    const s3 = await openSim(d3);
    await s3.create(SRC, 1);
    await s3.write(SRC, 0, data, true);
    d3.flipBit(`${DIR}/${SRC}.chunk`, 100);
    expect(await errnoOf(s3.read(SRC, 0, B))).toBe("EIO");
    expect(await errnoOf(s3.copyLocal(SRC, 1, COPY, 1))).toBe("EIO");
    for (const [d, s] of [[d1, r1], [d2, s2], [d3, s3]] as const) {
      expect(s.get(COPY)).toBeUndefined();
      expect(await d.readdir(DIR)).toEqual([`${SRC}.chunk`, `${SRC}.meta`]);
    }
  });

  it("ENOSPC on a full disk, for the data or for the sidecar, leaves no file and no replica; with room again the copy is made", async () => {
    const data = pattern(8 * B, 4);
    const disk = new SimDisk();
    const s = await openSim(disk);
    await s.create(SRC, 1);
    await s.write(SRC, 0, data, true);
    const used = disk.usedBytes();
    // The data does not fit; the data fits but not the sidecar; a disk full for any new file.
    for (const full of [() => { disk.capacityBytes = used + data.length - 1; }, () => { disk.capacityBytes = used + data.length + 10; }, () => { disk.full = true; }]) {
      full();
      expect(await errnoOf(s.copyLocal(SRC, 1, COPY, 2))).toBe("ENOSPC");
      expect(s.get(COPY)).toBeUndefined();
      expect(await disk.readdir(DIR)).toEqual([`${SRC}.chunk`, `${SRC}.meta`]);
      disk.capacityBytes = undefined;
      disk.full = false;
    }
    expect((await s.copyLocal(SRC, 1, COPY, 2)).length).toBe(data.length);
    expect((await readAll(s, COPY)).equals(data)).toBe(true);
  });

  it("a copy ordered while a write is on its way to disk waits for it: it holds the write whole, and its checksums match", async () => {
    const disk = new SimDisk();
    const s = await openSim(disk);
    const first = pattern(4 * B, 1);
    await s.create(SRC, 1);
    await s.write(SRC, 0, first, true);
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    let writing!: () => void;
    const started = new Promise<void>((r) => { writing = r; });
    disk.hook = (op, path) => {
      if (op === "write" && path === `${DIR}/${SRC}.chunk`) {
        writing();
        return held;
      }
    };
    const second = pattern(4 * B, 99);
    const write = s.write(SRC, 0, second, true);
    await started; // the write is under way: its bytes are not on disk yet
    const copy = s.copyLocal(SRC, 1, COPY, 2);
    await new Promise((r) => setTimeout(r, 20));
    release();
    await write;
    await copy;
    disk.hook = undefined;
    expect((await readAll(s, COPY)).equals(second)).toBe(true);
    expect((await verifyWhole(s, COPY)).verdict).toBe("good");
  });

  it("crashed at every disk operation of a copy: after the restart the copy is whole or absent (present once acknowledged), no temporary file is left, and the source is intact", async () => {
    const data = pattern(6 * B + 11, 7);
    /** Runs a copy, crashing at its `crashAt`-th disk operation (0: once it ended); what the restarted store holds. */
    const run = async (crashAt: number, seed: number) => {
      const disk = new SimDisk();
      const s = await openSim(disk.session());
      await s.create(SRC, 4);
      await s.write(SRC, 0, data, true);
      await s.markIdleClean(0); // a clean source: it comes back trusted
      let ops = 0;
      disk.hook = () => {
        if (++ops === crashAt) disk.crash(seed ? lcg(seed) : undefined);
      };
      let acknowledged = false;
      await s.copyLocal(SRC, 4, COPY, 5).then(() => { acknowledged = true; }, () => {});
      if (crashAt === 0 || ops < crashAt) disk.crash(seed ? lcg(seed) : undefined); // after the copy ended
      disk.hook = undefined;
      const again = await openSim(disk.session());
      const names = await disk.readdir(DIR);
      expect(names.filter((n) => n.endsWith(".tmp"))).toEqual([]);
      expect(again.get(SRC)).toMatchObject({ version: 4, unverified: false, corrupt: false });
      expect((await readAll(again, SRC)).equals(data)).toBe(true);
      const copy = again.get(COPY);
      if (acknowledged) expect(copy).toBeDefined();
      if (copy) {
        expect(copy).toMatchObject({ version: 5, length: data.length, unverified: false, corrupt: false });
        expect((await readAll(again, COPY)).equals(data)).toBe(true);
      } else {
        expect(names.filter((n) => n.startsWith(COPY))).toEqual([]);
      }
      return { ops, present: !!copy };
    };
    const { ops: total, present } = await run(0, 0);
    expect(present).toBe(true);
    expect(total).toBeGreaterThan(4);
    const outcomes = new Set<boolean>();
    for (let k = 1; k <= total; k++) {
      // Seed 0: nothing unsynced survives; others keep a seeded part of it (each unsynced directory entry change, each file's content).
      for (let seed = 0; seed <= 12; seed++) outcomes.add((await run(k, seed && 100 * k + seed)).present);
    }
    expect([...outcomes].sort()).toEqual([false, true]);
  });
});

describe("CopyChunkLocal through the service (gRPC, in-process)", () => {
  let dir: string;
  let server: Server;
  let store: ChunkStore;
  let service: ChunkServerService;
  const epoch = new MasterEpoch();
  const changed: string[] = [];
  const quarantined = new Set<string>();
  const pool = new ChunkServerPool();
  let api: ReturnType<ChunkServerPool["get"]>["api"];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gfs-local-copy-svc-"));
    const settings = { ...defaultChunkserverSettings(), chunk_size_bytes: CHUNK, checksum_block_bytes: B };
    store = await ChunkStore.open(dir, { blockBytes: B, chunkSizeBytes: CHUNK });
    service = new ChunkServerService({
      serverId: "cs-test", store, pool, peers: new PeerDirectory(1), settings, log: createLogger("test", "error"), now: Date.now,
      pushBuffer: new PushBuffer({ maxBytes: CHUNK, ttlMs: 60_000 }), leases: new LeaseView(Date.now, settings.lease_extension_window_ms),
      releaseLease: async () => {}, checkToken: () => {}, onChunkChanged: (h) => changed.push(h), masterEpoch: epoch,
      quarantined: (h) => quarantined.has(h),
    });
    const started = await startServer("127.0.0.1:0", [{ definition: chunkServerDefinition(), handlers: service.handlers() }]);
    server = started.server;
    api = pool.get(`127.0.0.1:${started.port}`).api;
  });
  afterAll(async () => {
    pool.close();
    if (server) await stopServer(server);
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const refusal = (p: Promise<unknown>) => p.then(() => "ok", (e) => fromServiceError(e).message);

  it("answers the chunk's length, counts the copy and its bytes in Stats (no push bytes), and notes the new replica for the next heartbeat", async () => {
    const data = pattern(10 * B + 1, 3);
    await api.SetChunkVersion({ handle: SRC, version: 1, create: true });
    await store.write(SRC, 0, data, true);
    const before = await api.Stats({});
    const res = await api.CopyChunkLocal({ handle: SRC, version: 1, newHandle: COPY, newVersion: 2 });
    expect(Number(res.chunkLength)).toBe(data.length);
    const after = await api.Stats({});
    expect(Number(after.localCopies) - Number(before.localCopies)).toBe(1);
    expect(Number(after.localCopyBytes) - Number(before.localCopyBytes)).toBe(data.length);
    expect(Number(after.pushBytesReceived)).toBe(Number(before.pushBytesReceived));
    expect(Number(after.chunkCount)).toBe(Number(before.chunkCount) + 1);
    expect(changed).toContain(COPY);
    expect((await readAll(store, COPY)).equals(data)).toBe(true);
  });

  it("each refusal reaches the master with its errno and is not counted: ENOENT, ESTALE, EEXIST, EINVAL, EIO for a quarantined source, EEXIST for a quarantined new handle, EAGAIN while stopping", async () => {
    const before = (await api.Stats({})).localCopies;
    const fresh = "00000000000000ee";
    expect(await refusal(api.CopyChunkLocal({ handle: "00000000000000dd", version: 1, newHandle: fresh, newVersion: 1 }))).toMatch(/^ENOENT: /);
    expect(await refusal(api.CopyChunkLocal({ handle: SRC, version: 5, newHandle: fresh, newVersion: 1 }))).toMatch(/^ESTALE: chunk 00000000000000aa is at version 1 here, not 5/);
    expect(await refusal(api.CopyChunkLocal({ handle: SRC, version: 1, newHandle: COPY, newVersion: 1 }))).toMatch(/^EEXIST: /);
    expect(await refusal(api.CopyChunkLocal({ handle: SRC, version: 1, newHandle: "xyz", newVersion: 1 }))).toMatch(/^EINVAL: bad chunk handle/);
    expect(await refusal(api.CopyChunkLocal({ handle: SRC, version: 1, newHandle: fresh, newVersion: 0 }))).toMatch(/^EINVAL: bad new version 0/);
    expect(await refusal(api.CopyChunkLocal({ handle: SRC, version: 1, newHandle: SRC, newVersion: 2 }))).toMatch(/^EINVAL: .*onto itself/);
    quarantined.add("00000000000000dd");
    quarantined.add("00000000000000ff");
    expect(await refusal(api.CopyChunkLocal({ handle: "00000000000000dd", version: 1, newHandle: fresh, newVersion: 1 }))).toMatch(/^EIO: .*quarantined/);
    expect(await refusal(api.CopyChunkLocal({ handle: SRC, version: 1, newHandle: "00000000000000ff", newVersion: 1 }))).toMatch(/^EEXIST: .*quarantined/);
    // A stopping server makes no new replica (the master leaves it out of the copy's replicas).
    service.leaving = true;
    expect(await refusal(api.CopyChunkLocal({ handle: SRC, version: 1, newHandle: fresh, newVersion: 1 }))).toMatch(/^EAGAIN: chunkserver is stopping/);
    service.leaving = false;
    expect(store.get(fresh)).toBeUndefined();
    expect((await api.Stats({})).localCopies).toBe(before);
  });

  it("a CopyChunkLocal from a master below the highest epoch seen (a deposed one) is refused and copies nothing", async () => {
    epoch.admit("SetChunkVersion", 5);
    const fresh = "0000000000000abc";
    expect(await refusal(api.CopyChunkLocal({ handle: SRC, version: 1, newHandle: fresh, newVersion: 1, masterEpoch: 4 })))
      .toMatch(/^ESTALE: CopyChunkLocal from a master at epoch 4 refused: a master at epoch 5 is active/);
    expect(store.get(fresh)).toBeUndefined();
    await api.CopyChunkLocal({ handle: SRC, version: 1, newHandle: fresh, newVersion: 1, masterEpoch: 5 });
    expect(store.get(fresh)?.version).toBe(1);
  });
});
