// Issue 12, finding 6: a chunkserver's data transport held half-sent frame
// headers and stalled pushes forever, buffered a chain naming it many times
// on every hop, and relayed a push to any address its chain named. Real
// chunkservers (64 MiB chunks, short timeouts given by flags), driven by raw
// connections to their data port (TLS with the admin identity: raw frames inside).
import { createServer, type Server, type Socket } from "node:net";
import { readFile } from "node:fs/promises";
import { connect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ChunkServerPool, defaults, encodeFrame, FrameKind, frameHeaderBytes, loadTlsIdentity, messages, tlsClientOptions, type ServerAddress, type TlsIdentity,
} from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { TestCluster } from "./harness/cluster";

const MiB = 1024 * 1024;
const CHUNK = 64 * MiB;

async function rssBytes(pid: number): Promise<number> {
  const kb = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, "utf8"));
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) * 1024;
}

/** A raw data-transport connection: what it received, and when it closed. */
interface RawConnection {
  socket: Socket;
  received: () => Buffer;
  closed: Promise<number>; // ms after open
}

let identity: TlsIdentity;

function open(dataAddress: string): Promise<RawConnection> {
  const i = dataAddress.lastIndexOf(":");
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect({ host: dataAddress.slice(0, i), port: Number(dataAddress.slice(i + 1)), ...tlsClientOptions(identity, "chunkserver") });
    const chunks: Buffer[] = [];
    socket.on("data", (b) => chunks.push(b));
    socket.on("error", () => {});
    const closed = new Promise<number>((r) => socket.once("close", () => r(Date.now() - started)));
    socket.once("secureConnect", () => resolve({ socket, received: () => Buffer.concat(chunks), closed }));
    socket.once("error", reject);
  });
}

/** A chunk and a write token for it, which every push needs (chunk-token.ts): the bounds apply to authorized clients too. */
let pushAuth = { handle: "", token: "" };

const pushFrame = (dataId: string, totalBytes: number, chain: ServerAddress[] = []): Buffer =>
  encodeFrame(FrameKind.PUSH, messages.encodePushRequest({ dataId, chain, totalBytes, ...pushAuth }), totalBytes);

/** The first answer frame on `c`: its kind and message text. */
async function answerOf(c: RawConnection, timeoutMs = 10_000): Promise<{ kind: number; text: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const b = c.received();
    if (b.length >= frameHeaderBytes) {
      const len = b.readUInt32BE(1);
      if (b.length >= frameHeaderBytes + len) return { kind: b[0]!, text: b.subarray(frameHeaderBytes, frameHeaderBytes + len).toString("utf8") };
    }
    if (Date.now() > deadline) throw new Error(`no answer within ${timeoutMs} ms (${b.length} bytes received)`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} not within ${ms} ms`)), ms))]);

describe("chunkserver data transport bounds (real processes)", () => {
  let cluster: TestCluster;
  const pool = new ChunkServerPool();
  let dataAddress: string;
  let pid: number;
  let trap: Server;
  let trapAddress: string;
  let trapConnections = 0;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start({
      chunkSizeBytes: CHUNK,
      chunkserverArgs: [
        "--data-header-timeout-ms", "1000", "--push-stall-timeout-ms", "1500", "--data-idle-timeout-ms", "4000",
        "--push-in-flight-bytes-max", String(100 * MiB),
      ],
    });
    identity = loadTlsIdentity(cluster.tlsDir("admin"));
    const client = new GfsClient(cluster.clientOptions());
    await client.create("/push-target");
    const loc = await client.master.AddChunk({ path: "/push-target", index: 0 });
    pushAuth = { handle: loc.handle, token: loc.token };
    client.close();
    dataAddress = (await pool.get(cluster.chunkservers[0].address).api.Stats({})).dataAddress;
    pid = cluster.chunkservers[0].process.proc.pid!;
    trap = createServer((s) => { trapConnections++; s.destroy(); });
    await new Promise<void>((r) => trap.listen(0, "127.0.0.1", () => r()));
    trapAddress = `127.0.0.1:${(trap.address() as { port: number }).port}`;
  }, 60_000);
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    pool.close();
    trap?.close();
    await cluster?.stop();
  });

  const track = (c: RawConnection) => { sockets.push(c.socket); return c; };

  it("stalled and oversized pushes are cut off with memory bounded", async () => {
    const rssBefore = await rssBytes(pid);

    // 500 connections that send 5 of a frame header's 9 bytes and stop.
    const halves = await Promise.all(Array.from({ length: 500 }, () => open(dataAddress).then(track)));
    for (const c of halves) c.socket.write(pushFrame("half", 1024).subarray(0, 5));

    // Two pushes announcing 64 MiB that send 8 MiB and stall: the first is admitted, the second
    // would exceed the 100 MiB of pushes received at once and is refused before any buffering.
    const stalled = track(await open(dataAddress));
    stalled.socket.write(pushFrame("stalled-1", CHUNK));
    stalled.socket.write(Buffer.alloc(8 * MiB, 1));
    await new Promise((r) => setTimeout(r, 200));
    const refused = track(await open(dataAddress));
    refused.socket.write(pushFrame("stalled-2", CHUNK));
    const refusal = await answerOf(refused, 5_000);
    expect(refusal.kind).toBe(FrameKind.ERROR);
    expect(refusal.text).toMatch(/^EAGAIN: push stalled-2 refused: .*bytes of pushes/);

    // A push larger than a chunk is refused at once.
    const oversized = track(await open(dataAddress));
    oversized.socket.write(pushFrame("too-big", CHUNK + 1));
    const big = await answerOf(oversized, 5_000);
    expect(big.kind).toBe(FrameKind.ERROR);
    expect(big.text).toMatch(/at most 67108864/);

    const rssDuring = await rssBytes(pid);
    // Every half-sent header is cut within the header timeout (1 s) plus slack; the stalled push within its stall timeout.
    const closedAfter = await within(Promise.all(halves.map((c) => c.closed)), 8_000, "500 half-sent headers cut off");
    expect(Math.max(...closedAfter)).toBeLessThan(8_000);
    const stallClosed = await within(stalled.closed, 8_000, "the stalled push cut off");
    expect(stallClosed).toBeGreaterThanOrEqual(1_000);
    expect(rssDuring - rssBefore).toBeLessThan(128 * MiB);

    // With the stalled push gone, a whole push is admitted again and stored.
    const ok = track(await open(dataAddress));
    ok.socket.write(pushFrame("after", MiB));
    ok.socket.write(Buffer.alloc(MiB, 2));
    expect((await answerOf(ok, 5_000)).kind).toBe(FrameKind.OK);

    // An idle connection is closed too (data-idle-timeout-ms 4000).
    const idle = track(await open(dataAddress));
    expect(await within(idle.closed, 10_000, "the idle connection closed")).toBeGreaterThanOrEqual(3_000);
    // The chunkserver still serves its control plane.
    expect((await pool.get(cluster.chunkservers[0].address).api.Stats({})).dataAddress).toBe(dataAddress);
  }, 60_000);

  it("a push chain naming an unknown address is refused (and one naming the same server many times), with no connection made to that address", async () => {
    const [, b, c] = cluster.chunkservers;
    const addr = (x: { serverId: string; address: string }): ServerAddress => ({ serverId: x.serverId, address: x.address });

    const unknown = track(await open(dataAddress));
    unknown.socket.write(pushFrame("to-trap", MiB, [{ serverId: "evil", address: trapAddress }]));
    unknown.socket.write(Buffer.alloc(MiB, 3));
    const a1 = await answerOf(unknown);
    expect(a1.kind).toBe(FrameKind.ERROR);
    expect(a1.text).toMatch(/not a chunkserver the master listed/);

    const hidden = track(await open(dataAddress));
    hidden.socket.write(pushFrame("via-peer", MiB, [addr(b), { serverId: "evil", address: trapAddress }]));
    hidden.socket.write(Buffer.alloc(MiB, 4));
    expect((await answerOf(hidden)).kind).toBe(FrameKind.ERROR);

    const repeated = track(await open(dataAddress));
    // Chains are bounded by the most replicas a chunk may have (issue 18: a file's goal, up to replication_goal_max).
    const longest = defaults.replication_goal_max - 1;
    repeated.socket.write(pushFrame("too-long", MiB, Array.from({ length: longest + 4 }, () => addr(b))));
    const a2 = await answerOf(repeated);
    expect(a2.kind).toBe(FrameKind.ERROR);
    expect(a2.text).toMatch(new RegExp(`^EINVAL: .*at most ${longest}\\b`));

    const twice = track(await open(dataAddress));
    twice.socket.write(pushFrame("twice", MiB, [addr(b), addr(b)]));
    expect((await answerOf(twice)).text).toMatch(/twice/);

    await new Promise((r) => setTimeout(r, 500));
    expect(trapConnections).toBe(0);

    // A chain of the cluster's own servers is still forwarded.
    const good = track(await open(dataAddress));
    good.socket.write(pushFrame("good", MiB, [addr(b), addr(c)]));
    good.socket.write(Buffer.alloc(MiB, 5));
    const a3 = await answerOf(good);
    expect(a3.kind, a3.text).toBe(FrameKind.OK);

    // A chunkserver that registered after this one's last list is forwarded to as well: the list is
    // refreshed at once, but at most once a second (the unknown addresses above just used it up;
    // a real client retries the EAGAIN), so the push comes after that second.
    const late = await cluster.startChunkserver(3);
    await new Promise((r) => setTimeout(r, 1_100));
    const toLate = track(await open(dataAddress));
    toLate.socket.write(pushFrame("to-late", MiB, [addr(late)]));
    toLate.socket.write(Buffer.alloc(MiB, 6));
    const a4 = await answerOf(toLate);
    expect(a4.kind, a4.text).toBe(FrameKind.OK);
  }, 60_000);
});
