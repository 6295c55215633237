// Three chunkservers' services in-process on real gRPC: chain push, primary
// ordered writes, record append, refusals, re-replication. Every node but
// server-1 also serves the raw data transport, so chains mix both transports.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  appendInline, ChunkServerPool, chunkServerDefinition, createLogger, defaults, encodeFrame, FrameKind, GfsError, messages, openPush,
  pushBuffer, startServer, stopServer, writeInline, type ServerAddress,
  insecureTransport, setTransportSecurity,
} from "@gfs/common";
import { ChunkStore, realDataSyncer } from "../src/chunk-store";
import { ChunkServerService } from "../src/chunkserver-service";
import { startDataServer, type DataServer } from "../src/data-server";

// In-process servers and clients of one test process: plaintext (the transport's TLS is tested with real processes).
setTransportSecurity(insecureTransport);
import { LeaseView } from "../src/lease";
import { PushBuffer } from "../src/push-buffer";
import { PeerDirectory } from "../src/push-chain";
import { replicate } from "../src/replication";
import { defaultChunkserverSettings } from "../src/settings";

const CHUNK = 256 * 1024;
const settings = {
  ...defaultChunkserverSettings(),
  chunk_size_bytes: CHUNK, checksum_block_bytes: 4096, push_frame_bytes: 16 * 1024, serial_gap_wait_ms: 2_000,
};

interface Node {
  id: string;
  address: string;
  server: Server;
  store: ChunkStore;
  service: ChunkServerService;
  data?: DataServer;
  peers: PeerDirectory;
  released: Array<{ handle: string; version: number }>;
  /** fdatasyncs of chunk data on this node so far. */
  datasyncs: { n: number };
}

let dir: string;
const nodes: Node[] = [];
const pool = new ChunkServerPool();
const log = createLogger("test", "error");

async function startNode(i: number): Promise<Node> {
  const datasyncs = { n: 0 };
  const store = await ChunkStore.open(join(dir, `cs${i}`), {
    blockBytes: settings.checksum_block_bytes, chunkSizeBytes: CHUNK,
    dataSyncer: { datasync: (fh) => { datasyncs.n++; return realDataSyncer.datasync(fh); } },
  });
  const released: Node["released"] = [];
  const id = `server-${i}`;
  const peers = new PeerDirectory(3);
  const service = new ChunkServerService({
    serverId: id, store, pool, peers, settings, log, now: Date.now,
    pushBuffer: new PushBuffer({ maxBytes: 8 * CHUNK, ttlMs: 60_000 }),
    leases: new LeaseView(Date.now, settings.lease_extension_window_ms),
    releaseLease: async (handle, version) => { released.push({ handle, version }); },
    // Chunk access tokens are not what these tests are about (test/chunk-access-tokens.test.ts covers them).
    checkToken: () => {},
  });
  const { server, port } = await startServer("127.0.0.1:0", [{ definition: chunkServerDefinition(), handlers: service.handlers() }]);
  let data: DataServer | undefined;
  if (i !== 1) {
    data = await startDataServer("127.0.0.1:0", service.dataHandlers(), log);
    service.dataAddress = `127.0.0.1:${data.port}`;
  }
  peers.self = `127.0.0.1:${port}`;
  return { id, address: `127.0.0.1:${port}`, server, store, service, data, peers, released, datasyncs };
}

const api = (n: Node) => pool.get(n.address).api;
const addr = (n: Node): ServerAddress => ({ serverId: n.id, address: n.address });
const pattern = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));
let nextHandle = 0x100;
const newHandle = () => (nextHandle++).toString(16).padStart(16, "0");

async function errorOf(p: Promise<unknown>): Promise<GfsError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof GfsError) return e;
    throw e;
  }
  throw new Error("expected an error");
}

/** A chunk created at version 1 on three nodes, then leased to `primary` at version 2. */
async function chunkWithPrimary(primary: Node): Promise<{ handle: string; version: number }> {
  const handle = newHandle();
  const replicas = nodes.slice(0, 3); // the fourth is a re-replication target
  for (const n of replicas) await api(n).SetChunkVersion({ handle, version: 1, create: true });
  const leaseToken = `token-${handle}`;
  for (const n of replicas) {
    await api(n).SetChunkVersion({
      handle, version: 2, leaseMs: n === primary ? 60_000 : 0, leaseToken, primaryId: primary.id,
      secondaries: n === primary ? replicas.filter((r) => r !== primary).map(addr) : [],
    });
  }
  return { handle, version: 2 };
}

async function pushTo(data: Buffer, dataId: string, first: Node, rest: Node[]): Promise<void> {
  const res = await pushBuffer(pool.get(first.address), { dataId, chain: rest.map(addr), totalBytes: data.length }, data, 10_000, settings.push_frame_bytes);
  expect(res.receivedBytes).toBe(data.length);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gfs-cs-"));
  for (let i = 0; i < 4; i++) nodes.push(await startNode(i));
  // What the master's Register and Heartbeat replies would list.
  for (const n of nodes) n.peers.update(nodes.map(addr));
});

afterAll(async () => {
  pool.close();
  for (const n of nodes) {
    await stopServer(n.server, 500);
    await n.data?.close();
  }
  await rm(dir, { recursive: true, force: true });
});

describe("chunkservers over gRPC", () => {
  it("data pushed along a chain and written through the primary reads back identically from every replica", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const { handle, version } = await chunkWithPrimary(a);
    const before = await Promise.all([a, b, c].map((n) => api(n).Stats({})));
    const data = pattern(100_000, 3);
    // the push starts at a secondary and flows b -> c -> a
    await pushTo(data, "push-1", b, [c, a]);
    const after = await Promise.all([a, b, c].map((n) => api(n).Stats({})));
    const delta = (i: number, k: "pushBytesReceived" | "pushBytesForwarded") => after[i]![k] - before[i]![k];
    expect([delta(0, "pushBytesReceived"), delta(1, "pushBytesReceived"), delta(2, "pushBytesReceived")]).toEqual([data.length, data.length, data.length]);
    // b and c forwarded once; a, the last hop, did not
    expect([delta(0, "pushBytesForwarded"), delta(1, "pushBytesForwarded"), delta(2, "pushBytesForwarded")]).toEqual([0, data.length, data.length]);

    const w = await api(a).Write({ handle, version, kind: "MUTATION_KIND_WRITE", dataId: "push-1", offset: 5000, length: data.length, secondaries: [addr(b), addr(c)] });
    expect(w.serial).toBe(1);
    for (const n of [a, b, c]) {
      const r = await api(n).Read({ handle, version, offset: 5000, length: data.length });
      expect(r.chunkLength).toBe(5000 + data.length);
      expect(Buffer.compare(r.data, data)).toBe(0);
      // the applied data no longer waits in the push buffer
      expect((await api(n).Stats({})).pushBufferBytes).toBe(0);
    }
  });

  it("a chunkserver refuses to act as primary without a lease, and refuses unpushed data, changing nothing", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const { handle, version } = await chunkWithPrimary(a);
    await pushTo(pattern(10, 1), "push-2", b, [c, a]);
    const notPrimary = await errorOf(api(b).Write({ handle, version, kind: "MUTATION_KIND_WRITE", dataId: "push-2", offset: 0, length: 10, secondaries: [addr(a), addr(c)] }));
    expect(notPrimary.message).toBe(`ESTALE: not primary for chunk ${handle} at version ${version}`);
    const missing = await errorOf(api(a).Write({ handle, version, kind: "MUTATION_KIND_WRITE", dataId: "nope", offset: 0, length: 10, secondaries: [addr(b), addr(c)] }));
    expect(missing.message).toBe("EAGAIN: pushed data nope not found");
    const wrongVersion = await errorOf(api(a).Write({ handle, version: 1, kind: "MUTATION_KIND_WRITE", dataId: "push-2", offset: 0, length: 10, secondaries: [] }));
    expect(wrongVersion.errno).toBe("ESTALE");
    const outOfBounds = await errorOf(api(a).Write({ handle, version, kind: "MUTATION_KIND_WRITE", dataId: "push-2", offset: CHUNK - 5, length: 10, secondaries: [] }));
    expect(outOfBounds.errno).toBe("EINVAL");
    const badHandle = await errorOf(api(a).Read({ handle: "../../x", version: 0, offset: 0, length: 1 }));
    expect(badHandle.errno).toBe("EINVAL");
    const unknown = await errorOf(api(a).Read({ handle: "00000000deadbeef", version: 0, offset: 0, length: 1 }));
    expect(unknown.errno).toBe("ENOENT");
    for (const n of [a, b, c]) expect(n.store.get(handle)!.length).toBe(0);
    expect(a.released).toEqual([]);
  });

  it("a secondary refuses a mutation carrying a version other than its own", async () => {
    const [a, b] = nodes as [Node, Node];
    const { handle } = await chunkWithPrimary(a);
    await pushTo(pattern(10, 1), "push-3", b, []);
    const e = await errorOf(api(b).ApplyMutation({ handle, version: 1, serial: 1, kind: "MUTATION_KIND_WRITE", dataId: "push-3", offset: 0, length: 10 }));
    expect(e.errno).toBe("ESTALE");
    expect(b.store.get(handle)!.length).toBe(0);
  });

  it("a failed mutation is an error to the client and the primary gives up its lease", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const { handle, version } = await chunkWithPrimary(a);
    // c never gets the data
    await pushTo(pattern(10, 1), "push-4", b, [a]);
    const e = await errorOf(api(a).Write({ handle, version, kind: "MUTATION_KIND_WRITE", dataId: "push-4", offset: 0, length: 10, secondaries: [addr(b), addr(c)] }));
    expect(e.errno).toBe("EAGAIN");
    expect(e.message).toContain(`failed on secondary ${c.address}`);
    expect(a.released).toEqual([{ handle, version }]);
    const after = await errorOf(api(a).Write({ handle, version, kind: "MUTATION_KIND_WRITE", dataId: "push-4", offset: 0, length: 10, secondaries: [addr(b), addr(c)] }));
    expect(after.message).toMatch(/^ESTALE: not primary/);
  });

  it("record appends land at the chunk's end on every replica; one that does not fit pads the chunk and asks for the next chunk", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const { handle, version } = await chunkWithPrimary(a);
    const record = pattern(60_000, 9); // under a quarter of 256 KiB
    const offsets: number[] = [];
    for (let i = 0; ; i++) {
      await pushTo(record, `rec-${i}`, c, [b, a]);
      const r = await api(a).RecordAppend({ handle, version, dataId: `rec-${i}`, length: record.length, secondaries: [addr(b), addr(c)] });
      if (r.retryNextChunk) break;
      offsets.push(r.offset);
    }
    expect(offsets).toEqual([0, 60_000, 120_000, 180_000]);
    for (const n of [a, b, c]) {
      expect(n.store.get(handle)!.length).toBe(CHUNK);
      const tail = await api(n).Read({ handle, version, offset: 180_000, length: CHUNK - 180_000 });
      expect(Buffer.compare(tail.data.subarray(0, 60_000), record)).toBe(0);
      expect(tail.data.subarray(60_000).every((x) => x === 0)).toBe(true);
    }
    const tooBig = await errorOf(api(a).RecordAppend({ handle, version, dataId: "x", length: CHUNK / 4 + 1, secondaries: [] }));
    expect(tooBig.errno).toBe("EINVAL");
  });

  it("concurrent record appends get distinct offsets, identical on every replica", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const { handle, version } = await chunkWithPrimary(a);
    const records = [0, 1, 2, 3, 4].map((i) => pattern(1000 + i, i));
    await Promise.all(records.map((r, i) => pushTo(r, `conc-${i}`, a, [b, c])));
    const res = await Promise.all(records.map((r, i) =>
      api(a).RecordAppend({ handle, version, dataId: `conc-${i}`, length: r.length, secondaries: [addr(b), addr(c)] })));
    expect(new Set(res.map((r) => r.offset)).size).toBe(5);
    for (const n of [a, b, c]) {
      for (let i = 0; i < 5; i++) {
        const got = await api(n).Read({ handle, version, offset: res[i]!.offset, length: records[i]!.length });
        expect(Buffer.compare(got.data, records[i]!)).toBe(0);
      }
    }
  });

  it("a chunk fetched from a peer is verified and installed at the peer's version", async () => {
    const [a, b, c, d] = nodes as [Node, Node, Node, Node];
    const { handle, version } = await chunkWithPrimary(a);
    const data = pattern(50_000, 5);
    await pushTo(data, "push-r", a, [b, c]);
    await api(a).Write({ handle, version, kind: "MUTATION_KIND_WRITE", dataId: "push-r", offset: 0, length: data.length, secondaries: [addr(b), addr(c)] });
    await replicate(pool, d.store, { handle, version, source: { serverId: b.id, address: b.address, rack: "", dataAddress: "" } }, 10_000);
    expect(d.store.get(handle)).toMatchObject({ version, length: data.length });
    const r = await api(d).Read({ handle, version, offset: 0, length: data.length });
    expect(Buffer.compare(r.data, data)).toBe(0);
  });

  it("a push that ends short of its announced length, or announces more than a chunk, is refused and not kept", async () => {
    const [a, b] = nodes as [Node, Node];
    const sink = openPush(pool.get(a.address), { dataId: "short", chain: [addr(b)], totalBytes: 100 }, 10_000);
    await sink.write(pattern(60, 1));
    const short = await errorOf(sink.end());
    expect(short.message).toBe("EINVAL: push ended after 60 of 100 bytes");
    const huge = await errorOf(pushBuffer(pool.get(a.address), { dataId: "huge", chain: [], totalBytes: CHUNK + 1 }, pattern(10, 1), 10_000));
    expect(huge.errno).toBe("EINVAL");
    const { handle, version } = await chunkWithPrimary(a);
    const e = await errorOf(api(a).Write({ handle, version, kind: "MUTATION_KIND_WRITE", dataId: "short", offset: 0, length: 100, secondaries: [addr(b), addr(nodes[2]!)] }));
    expect(e.message).toBe("EAGAIN: pushed data short not found");
  });

  it("a small write travels whole with the mutation to every replica, over either transport, and nothing waits in a push buffer", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    // b serves gRPC only: the primary forwards to it inside ApplyMutation, to c on the data transport.
    for (const primary of [a, b]) {
      const { handle, version } = await chunkWithPrimary(primary);
      const secondaries = [a, b, c].filter((n) => n !== primary);
      const before = await Promise.all([a, b, c].map((n) => api(n).Stats({})));
      const data = pattern(5000, 4);
      const w = await writeInline(pool.get(primary.address), {
        handle, version, kind: "MUTATION_KIND_WRITE", offset: 100, length: data.length, secondaries: secondaries.map(addr),
      }, data, 10_000);
      expect(w.serial).toBe(1);
      const after = await Promise.all([a, b, c].map((n) => api(n).Stats({})));
      for (let i = 0; i < 3; i++) {
        expect(after[i]!.pushBytesReceived - before[i]!.pushBytesReceived).toBe(0);
        expect(after[i]!.mutationsApplied - before[i]!.mutationsApplied).toBe(1);
        expect(after[i]!.pushBufferBytes - before[i]!.pushBufferBytes).toBe(0);
      }
      for (const n of [a, b, c]) {
        const r = await api(n).Read({ handle, version, offset: 0, length: 100 + data.length });
        expect(r.data.subarray(0, 100).every((x) => x === 0)).toBe(true);
        expect(Buffer.compare(r.data.subarray(100), data)).toBe(0);
      }
    }
  });

  it("a record append sent inline lands at one offset on every replica", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const { handle, version } = await chunkWithPrimary(c);
    const records = [pattern(3000, 1), pattern(4000, 2)];
    const res = await Promise.all(records.map((r) =>
      appendInline(pool.get(c.address), { handle, version, length: r.length, secondaries: [addr(a), addr(b)] }, r, 10_000)));
    expect(res.map((r) => r.offset).sort((x, y) => x - y)).toEqual(res[0]!.offset === 0 ? [0, 3000] : [0, 4000]);
    for (const n of [a, b, c]) {
      for (let i = 0; i < 2; i++) {
        const got = await api(n).Read({ handle, version, offset: res[i]!.offset, length: records[i]!.length });
        expect(Buffer.compare(got.data, records[i]!)).toBe(0);
      }
    }
  });

  it("an inline mutation whose data does not match its length, or exceeds the inline limit, is refused and changes nothing", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const { handle, version } = await chunkWithPrimary(a);
    const req = { handle, version, kind: "MUTATION_KIND_WRITE" as const, offset: 0, secondaries: [addr(b), addr(c)] };
    const short = await errorOf(writeInline(pool.get(a.address), { ...req, length: 11 }, pattern(10, 1), 10_000));
    expect(short.message).toBe("EINVAL: inline data has 10 bytes, not 11");
    const viaGrpc = await errorOf(api(a).Write({ ...req, length: 11, data: pattern(10, 1) }));
    expect(viaGrpc.message).toBe("EINVAL: inline data has 10 bytes, not 11");
    // A frame announcing more inline data than allowed is refused before its body is read.
    const ch = (await pool.get(a.address).data())!;
    const big = defaults.inline_write_bytes_max + 1;
    const tooBig = await errorOf(ch.mutate(FrameKind.WRITE, "oversized inline write", messages.encodeWriteRequest({ ...req, length: big }), Buffer.alloc(big), 10_000));
    expect(tooBig.message).toBe(`EINVAL: inline data of ${big} bytes exceeds ${defaults.inline_write_bytes_max}; push it instead`);
    expect(encodeFrame(FrameKind.APPLY, Buffer.alloc(0), 0).readUInt8(0)).toBe(7);
    for (const n of [a, b, c]) expect(n.store.get(handle)!.length).toBe(0);
    expect(a.released).not.toContainEqual({ handle, version });
  });

  it("an inline write a secondary cannot apply is an error to the client and the primary gives up its lease", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const { handle, version } = await chunkWithPrimary(a);
    await c.store.delete(handle); // c lost its replica
    const e = await errorOf(writeInline(pool.get(a.address), {
      handle, version, kind: "MUTATION_KIND_WRITE", offset: 0, length: 10, secondaries: [addr(b), addr(c)],
    }, pattern(10, 1), 10_000));
    // The secondary's ENOENT is the lease's problem (given up below), so the writer may retry with a new grant.
    expect(e.errno).toBe("EAGAIN");
    expect(e.message).toContain(`failed on secondary ${c.address}`);
    expect(e.message).toContain("not on this server");
    expect(a.released).toContainEqual({ handle, version });
  });

  it("a primary whose own replica is deleted on the master's order while a write it ordered is being applied answers ENOENT 'mutation N of chunk H failed on primary S: chunk H not on this server' and gives up its lease", async () => {
    // The flake of fuse-files' 24 MiB cp: a slow primary declared dead under load is fenced, and its replica,
    // stale from then on, is deleted (heartbeat or registration reply) after it ordered the chunk's first write.
    const [a, b, c] = nodes as [Node, Node, Node];
    const { handle, version } = await chunkWithPrimary(a);
    const write = a.store.write;
    a.store.write = async function (this: ChunkStore, ...args: Parameters<ChunkStore["write"]>) {
      a.store.write = write;
      a.service.forgetChunk(handle); // what chunkserver-node's deleteChunk does
      await a.store.delete(handle);
      return write.apply(this, args);
    };
    const e = await errorOf(writeInline(pool.get(a.address), {
      handle, version, kind: "MUTATION_KIND_WRITE", offset: 0, length: 10, secondaries: [addr(b), addr(c)],
    }, pattern(10, 1), 10_000));
    expect(a.store.write).toBe(write); // the mutation was ordered (the chunk was here then) and reached the store
    expect(e.errno).toBe("ENOENT");
    expect(e.message).toBe(`ENOENT: mutation 1 of chunk ${handle} failed on primary ${a.id}: chunk ${handle} not on this server`);
    expect(a.released).toContainEqual({ handle, version });
  });

  it("CreateChunks makes several empty chunks in one call, a lease only where asked; too many, or a clash, is refused", async () => {
    const [a] = nodes as [Node];
    const handles = [newHandle(), newHandle(), newHandle()];
    await api(a).CreateChunks({ chunks: handles.map((handle, k) => ({ handle, version: 1, leaseMs: k === 1 ? 60_000 : 0, leaseToken: "t" })) });
    for (const h of handles) expect(a.store.get(h)).toMatchObject({ version: 1, length: 0 });
    const secondaries = [addr(nodes[1]!)];
    const notPrimary = await errorOf(writeInline(pool.get(a.address), { handle: handles[0], version: 1, kind: "MUTATION_KIND_WRITE", offset: 0, length: 1, secondaries }, pattern(1, 1), 10_000));
    expect(notPrimary.errno).toBe("ESTALE");
    const tooMany = await errorOf(api(a).CreateChunks({ chunks: Array.from({ length: defaults.create_chunks_max + 1 }, () => ({ handle: newHandle(), version: 1 })) }));
    expect(tooMany.errno).toBe("EINVAL");
    const clash = await errorOf(api(a).CreateChunks({ chunks: [{ handle: handles[0], version: 2 }] }));
    expect(clash.errno).toBe("EEXIST");
    expect(a.store.get(handles[0])!.version).toBe(1);
  });

  it("a SYNC through the primary fdatasyncs the chunk on every replica after the writes ordered before it, over either transport, changing no byte", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    // b serves gRPC only: the primary forwards to it inside ApplyMutation, to c on the data transport.
    for (const primary of [a, b]) {
      const { handle, version } = await chunkWithPrimary(primary);
      const secondaries = [a, b, c].filter((n) => n !== primary).map(addr);
      const data = pattern(5000, 6);
      await writeInline(pool.get(primary.address), { handle, version, kind: "MUTATION_KIND_WRITE", offset: 10, length: data.length, secondaries }, data, 10_000);
      const before = [a, b, c].map((n) => n.datasyncs.n);
      const stats = await Promise.all([a, b, c].map((n) => api(n).Stats({})));
      const res = await writeInline(pool.get(primary.address), { handle, version, kind: "MUTATION_KIND_SYNC", offset: 0, length: 0, secondaries }, Buffer.alloc(0), 10_000);
      expect(res.serial).toBe(2); // ordered after the write like any mutation
      for (const [i, n] of [a, b, c].entries()) {
        expect(n.datasyncs.n - before[i]!).toBe(1);
        expect(n.store.get(handle)!.length).toBe(10 + data.length);
        const r = await api(n).Read({ handle, version, offset: 10, length: data.length });
        expect(Buffer.compare(r.data, data)).toBe(0);
        expect((await api(n).Stats({})).mutationsApplied - stats[i]!.mutationsApplied).toBe(1);
      }
      // Over gRPC too (a client without the data transport).
      await api(primary).Write({ handle, version, kind: "MUTATION_KIND_SYNC", secondaries });
      for (const [i, n] of [a, b, c].entries()) expect(n.datasyncs.n - before[i]!).toBe(2);
    }
  });

  it("a SYNC is refused like any mutation: at a server that is not the primary, at a stale version, with data or an offset; a forged one at a secondary changes nothing", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const { handle, version } = await chunkWithPrimary(a);
    const secondaries = [addr(b), addr(c)];
    const sync = (n: Node, req: Partial<{ version: number; offset: number; length: number }>, body = Buffer.alloc(0)) =>
      errorOf(writeInline(pool.get(n.address), { handle, version, kind: "MUTATION_KIND_SYNC", offset: 0, length: 0, secondaries, ...req }, body, 10_000));
    const before = [a, b, c].map((n) => n.datasyncs.n);
    expect((await sync(b, {})).message).toBe(`ESTALE: not primary for chunk ${handle} at version ${version}`);
    expect((await sync(a, { version: 1 })).errno).toBe("ESTALE");
    expect((await sync(a, { version: version + 1 })).errno).toBe("ESTALE");
    expect((await sync(a, { offset: 5 })).message).toMatch(/^EINVAL: SYNC of chunk .* carries no offset, length or data/);
    expect((await sync(a, { length: 4 }, Buffer.from("data"))).errno).toBe("EINVAL");
    for (const leaseToken of ["", "forged"]) {
      const e = await errorOf(api(b).ApplyMutation({ handle, version, serial: 1, kind: "MUTATION_KIND_SYNC", leaseToken }));
      expect(e.errno).toBe("EPERM");
    }
    expect([a, b, c].map((n) => n.datasyncs.n)).toEqual(before);
    expect(a.released.filter((r) => r.handle === handle)).toEqual([]); // refusals give no lease up
    // Nothing above used up a serial: the primary's first SYNC is serial 1 everywhere.
    const ok = await writeInline(pool.get(a.address), { handle, version, kind: "MUTATION_KIND_SYNC", offset: 0, length: 0, secondaries }, Buffer.alloc(0), 10_000);
    expect(ok.serial).toBe(1);
  });

  it("only the lease holder orders mutations: an ApplyMutation without the grant's token is refused and changes nothing", async () => {
    const [a, b] = nodes as [Node, Node];
    const { handle, version } = await chunkWithPrimary(a);
    const req = { handle, version, serial: 1, kind: "MUTATION_KIND_WRITE" as const, offset: 0, length: 4, data: Buffer.from("evil") };
    for (const leaseToken of ["", "forged"]) {
      const e = await errorOf(api(b).ApplyMutation({ ...req, leaseToken }));
      expect(e.errno).toBe("EPERM");
      expect(e.message).toContain("not ordered by the chunk's lease holder");
    }
    expect(b.store.get(handle)!.length).toBe(0);
    // The refusals used up no serial: the real primary's first mutation still applies everywhere.
    const data = pattern(10, 3);
    await writeInline(pool.get(a.address), { handle, version, kind: "MUTATION_KIND_WRITE", offset: 0, length: 10, secondaries: [addr(b), addr(nodes[2]!)] }, data, 10_000);
    expect((await b.store.read(handle, 0, 10)).data).toEqual(data);
  });

  it("a primary refuses a write whose secondaries differ from the ones the master granted the lease with", async () => {
    const [a, b, c, d] = nodes as [Node, Node, Node, Node];
    const { handle, version } = await chunkWithPrimary(a);
    for (const secondaries of [[], [addr(b)], [addr(b), addr(d)], [addr(b), addr(c), addr(d)]]) {
      const e = await errorOf(writeInline(pool.get(a.address), { handle, version, kind: "MUTATION_KIND_WRITE", offset: 0, length: 4, secondaries }, pattern(4, 1), 10_000));
      expect(e.errno).toBe("EINVAL");
      // Three secondaries are refused even earlier, by the chain-length bound (replication - 1).
      expect(e.message).toMatch(secondaries.length > 2 ? /at most 2/ : /the master granted the lease with/);
    }
    for (const n of [a, b, c]) expect(n.store.get(handle)!.length).toBe(0);
    // Any order is the same set.
    await writeInline(pool.get(a.address), { handle, version, kind: "MUTATION_KIND_WRITE", offset: 0, length: 4, secondaries: [addr(c), addr(b)] }, pattern(4, 1), 10_000);
    expect(c.store.get(handle)!.length).toBe(4);
  });

  it("fencing: after a version bump without a lease on the survivors, the old primary's write is refused by them and never acknowledged", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const { handle, version } = await chunkWithPrimary(a);
    // What a master fencing a dead primary sends the surviving replicas: the next version, no lease, no token.
    for (const n of [b, c]) await api(n).SetChunkVersion({ handle, version: version + 1, leaseMs: 0, leaseToken: "", primaryId: "" });
    // The old primary still believes its lease (it was only cut off): a client holding the old lease info writes to it.
    const write = { handle, version, kind: "MUTATION_KIND_WRITE" as const, offset: 0, length: 6, secondaries: [addr(b), addr(c)] };
    const e = await errorOf(writeInline(pool.get(a.address), write, Buffer.from("fenced"), 10_000));
    expect(e.errno).toBe("EAGAIN");
    expect(e.message).toMatch(/ESTALE|version/);
    for (const n of [b, c]) expect(n.store.get(handle)).toMatchObject({ version: version + 1, length: 0 });
    // Forwarded as the old primary would, with the old grant's token: refused too.
    const forwarded = await errorOf(api(b).ApplyMutation({ ...write, serial: 7, data: Buffer.from("fenced"), leaseToken: `token-${handle}` }));
    expect(forwarded.errno).toBe("ESTALE");
    expect(b.store.get(handle)!.length).toBe(0);
  });

  it("fencing: a mutation checked at the old version whose write lands after the bump is refused, not acknowledged", async () => {
    const [a, b] = nodes as [Node, Node];
    const { handle, version } = await chunkWithPrimary(a);
    // Hold b's store write between the mutation's version check and the store's lock.
    const realWrite = b.store.write.bind(b.store);
    let entered!: () => void;
    let release!: () => void;
    const inWrite = new Promise<void>((r) => { entered = r; });
    const gate = new Promise<void>((r) => { release = r; });
    b.store.write = async (...args: Parameters<ChunkStore["write"]>) => { entered(); await gate; return realWrite(...args); };
    try {
      const apply = errorOf(api(b).ApplyMutation({
        handle, version, serial: 1, kind: "MUTATION_KIND_WRITE", offset: 0, length: 4, data: Buffer.from("late"), leaseToken: `token-${handle}`,
      }));
      await inWrite;
      await api(b).SetChunkVersion({ handle, version: version + 1, leaseMs: 0, leaseToken: "", primaryId: "" });
      release();
      const e = await apply;
      expect(e.errno).toBe("ESTALE");
      // Nor did it land: the survivor's bytes at the new version are the ones the fence found.
      expect(b.store.get(handle)).toMatchObject({ version: version + 1, length: 0 });
    } finally {
      b.store.write = realWrite;
      release();
    }
  });

  it("SetChunkVersion never lowers a version", async () => {
    const [a] = nodes as [Node];
    const { handle } = await chunkWithPrimary(a);
    const e = await errorOf(api(a).SetChunkVersion({ handle, version: 1 }));
    expect(e.errno).toBe("ESTALE");
    expect(a.store.get(handle)!.version).toBe(2);
  });
});
