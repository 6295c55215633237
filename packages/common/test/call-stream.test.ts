// Call streams (call-stream-server.ts, call-stream-client.ts) on a real gRPC
// server in this process: a call on the stream is answered as its unary twin
// is, bad frames get errors for their id, and the stream is bounded, cancels,
// breaks and closes the way the client's retries and shutdown expect.
import { spawn } from "node:child_process";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { callerHeader } from "../src/caller";
import { callStreamClient } from "../src/call-stream-client";
import { CallStreamServer, streamableMethods } from "../src/call-stream-server";
import { GfsError, fromServiceError, isTransient } from "../src/errors";
import type { CallFrame, CallFrame__Output } from "../src/generated/gfs/CallFrame";
import { peerOf } from "../src/peer";
import { masterDefinition, masterUnaryOnly, newMasterClient, promiseClient, startServer, stopServer, unary, type MasterClient } from "../src/protocol";
import { insecureTransport } from "../src/transport-security";

const def = masterDefinition();
const streamed = ["Stat", "ReadDir"];

/** Calls held until released, to keep them in flight. */
class Gate {
  running = 0;
  maxRunning = 0;
  started = 0;
  private waiters: Array<() => void> = [];
  async pass(): Promise<void> {
    this.started++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    await new Promise<void>((r) => this.waiters.push(r));
    this.running--;
  }
  release(): void { for (const w of this.waiters.splice(0)) w(); }
}

interface Served {
  port: number;
  server: grpc.Server;
  streams: CallStreamServer;
  gate: Gate;
  /** Register calls served (unary only). */
  registers: number;
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A Master server with Stat (and ReadDir) handlers: "/missing" is ENOENT, "/held..." waits for the gate. */
async function serve(limits: Partial<{ inFlightMax: number; requestBytesMax: number }> = {}, port = 0): Promise<Served> {
  const gate = new Gate();
  const streams = new CallStreamServer("Master", def, streamed, { inFlightMax: 64, requestBytesMax: 1024, answerBytesMax: 1 << 20, ...limits });
  const out = { gate, streams, registers: 0 } as Served;
  const handlers: Record<string, unknown> = {
    Stat: unary(async (req: { path: string }, call) => {
      if (req.path.startsWith("/held")) await gate.pass();
      if (req.path === "/missing") throw new GfsError("ENOENT", req.path);
      // What the handler learns of its call: the caller it claims and the peer (insecure here).
      return { path: req.path, symlinkTarget: `${call.metadata.get(callerHeader)[0] ?? "-"} ${peerOf(call).role}` };
    }),
    ReadDir: unary(() => ({ entries: [{ name: "a" }, { name: "b" }] })),
    Register: unary(() => { out.registers++; return {}; }),
    Calls: streams.handler,
  };
  streams.serve(handlers);
  const started = await startServer(`127.0.0.1:${port}`, [{ definition: def, handlers: handlers as grpc.UntypedServiceImplementation }], insecureTransport);
  cleanups.push(() => { gate.release(); return stopServer(started.server, 500); });
  return Object.assign(out, started);
}

function clientOf(port: number, idleCloseMs = 0) {
  const raw = newMasterClient(`127.0.0.1:${port}`, insecureTransport);
  const c = callStreamClient(raw, def, "Master", "Calls", { methods: streamed, caller: () => "7:8:9", idleCloseMs });
  cleanups.push(() => { c.close(); raw.close(); });
  return { c, raw, unary: promiseClient(raw, def, () => { const md = new grpc.Metadata(); md.set(callerHeader, "7:8:9"); return md; }) };
}

/** A raw call stream: frames written as given, answers read one by one. */
function rawStream(raw: MasterClient) {
  const s = raw.Calls(new grpc.Metadata());
  const answers: CallFrame__Output[] = [];
  let wake: (() => void) | undefined;
  s.on("data", (f: CallFrame__Output) => { answers.push(f); wake?.(); });
  s.on("error", () => {});
  cleanups.push(() => s.cancel());
  return {
    write: (f: CallFrame) => s.write(f),
    async next(timeoutMs = 5_000): Promise<CallFrame__Output> {
      const deadline = Date.now() + timeoutMs;
      while (answers.length === 0) {
        if (Date.now() > deadline) throw new Error("no answer");
        await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
      }
      return answers.shift()!;
    },
    pending: () => answers.length,
  };
}

const statPayload = (path: string) => def.Stat!.requestSerialize({ path, access: 0 });
const outcome = (p: Promise<unknown>) => p.then((v) => v, (e: unknown) => fromServiceError(e));

describe("call stream", () => {
  it("a call on the stream gets the answer, the error and the caller its unary twin gets", async () => {
    const served = await serve();
    const { c, unary: u } = clientOf(served.port);
    for (const path of ["/a", "/missing"]) {
      const [viaStream, viaUnary] = await Promise.all([outcome(c.Stat({ path })), outcome(u.Stat({ path }))]);
      expect(viaStream).toEqual(viaUnary);
    }
    const ok = await c.Stat({ path: "/a" });
    expect(ok.symlinkTarget).toBe("7:8:9 insecure");
    const missing = await outcome(c.Stat({ path: "/missing" })) as GfsError;
    expect(missing).toBeInstanceOf(GfsError);
    expect([missing.errno, missing.grpcCode, missing.message]).toEqual(["ENOENT", grpc.status.NOT_FOUND, "ENOENT: /missing"]);
    expect((await c.ReadDir({ path: "/" })).entries.map((e) => e.name)).toEqual(["a", "b"]);
    // A method not carried on the stream is still a unary call.
    const opened = served.streams.open;
    expect(await c.Register({ serverId: "x" })).toMatchObject({ deleteChunks: [] });
    expect(served.registers).toBe(1);
    expect(served.streams.open).toBe(opened);
  });

  it("the chunkservers' own calls are not carried on a client's stream", () => {
    expect(streamableMethods(def, masterUnaryOnly)).not.toContain("Register");
    expect(streamableMethods(def, masterUnaryOnly)).not.toContain("Heartbeat");
    expect(streamableMethods(def, masterUnaryOnly)).not.toContain("ReleaseLease");
    expect(streamableMethods(def, masterUnaryOnly)).not.toContain("Calls");
    expect(streamableMethods(def, masterUnaryOnly)).toContain("CreateForWriting");
  });

  it("a malformed frame is answered with an error for its id, and the stream goes on serving", async () => {
    const served = await serve({ requestBytesMax: 1024 });
    const s = rawStream(clientOf(served.port).raw);
    const errorOf = async (frame: CallFrame) => {
      s.write(frame);
      const a = await s.next();
      return { id: a.id, code: a.error?.code, details: a.error?.details };
    };
    expect(await errorOf({ id: 1, method: "Nope", payload: statPayload("/a") }))
      .toEqual({ id: 1, code: grpc.status.UNIMPLEMENTED, details: expect.stringMatching(/^EINVAL: Master.Nope cannot be called on a call stream/) });
    expect(await errorOf({ id: 2, method: "Register", payload: Buffer.alloc(0) }))
      .toEqual({ id: 2, code: grpc.status.UNIMPLEMENTED, details: expect.stringMatching(/^EINVAL: Master.Register cannot be called on a call stream/) });
    expect(await errorOf({ id: 3, method: "Stat", payload: Buffer.from([0x0f]) /* field 1 with wire type 7: no such type */ }))
      .toEqual({ id: 3, code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/^EINVAL: Master.Stat: undecodable request/) });
    expect(await errorOf({ id: 4, method: "Stat", payload: statPayload("/" + "x".repeat(2000)) }))
      .toEqual({ id: 4, code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/^EINVAL: Master.Stat call of \d+ bytes: over the 1024-byte limit/) });
    expect(await errorOf({ id: 0, method: "Stat", payload: statPayload("/a") }))
      .toEqual({ id: 0, code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/^EINVAL: call id 0: ids are positive/) });
    expect(await errorOf({ id: 5, method: "Stat", payload: statPayload("/a"), caller: "1:1:\n" }))
      .toEqual({ id: 5, code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/^EINVAL: bad gfs-caller/) });
    // A duplicate of a call still in flight is refused; the first keeps its id and is answered later.
    s.write({ id: 6, method: "Stat", payload: statPayload("/held") });
    await expect.poll(() => served.gate.running).toBe(1);
    expect(await errorOf({ id: 6, method: "Stat", payload: statPayload("/b") }))
      .toEqual({ id: 6, code: grpc.status.INVALID_ARGUMENT, details: "EINVAL: duplicate call id 6: a call with this id is still in flight" });
    served.gate.release();
    const first = await s.next();
    expect([first.id, first.error, def.Stat!.responseDeserialize(first.payload).path]).toEqual([6, null, "/held"]);
    // And the stream still serves.
    s.write({ id: 7, method: "Stat", payload: statPayload("/after") });
    const after = await s.next();
    expect([after.id, def.Stat!.responseDeserialize(after.payload).path]).toEqual([7, "/after"]);
  });

  it("no more than the in-flight limit of calls run at once on a stream; the rest wait and are all answered", async () => {
    const served = await serve({ inFlightMax: 4 });
    const { c } = clientOf(served.port);
    const calls = Array.from({ length: 20 }, (_, i) => c.Stat({ path: `/held${i}` }));
    await expect.poll(() => served.gate.running).toBe(4);
    await new Promise((r) => setTimeout(r, 300));
    expect(served.gate.started).toBe(4); // the master stopped reading: the others are not even decoded
    while (served.gate.started < 20) {
      served.gate.release();
      await new Promise((r) => setTimeout(r, 20));
    }
    served.gate.release();
    expect((await Promise.all(calls)).map((f) => f.path)).toEqual(Array.from({ length: 20 }, (_, i) => `/held${i}`));
    expect(served.gate.maxRunning).toBe(4);
  });

  it("a call past its deadline fails with DEADLINE_EXCEEDED, and the master drops the answer it was told to cancel", async () => {
    const served = await serve();
    const { c, raw } = clientOf(served.port);
    const late = await outcome(c.Stat({ path: "/held" }, { timeoutMs: 200 })) as GfsError;
    expect([late.errno, late.grpcCode]).toEqual(["EIO", grpc.status.DEADLINE_EXCEEDED]);
    expect(late.message).toMatch(/Deadline exceeded after 200 ms \(Master.Stat on the call stream\)/);
    expect(isTransient(late)).toBe(true);
    served.gate.release();
    expect((await c.Stat({ path: "/a" })).path).toBe("/a"); // the stream goes on
    // On the wire: a cancelled call is never answered.
    const s = rawStream(raw);
    s.write({ id: 1, method: "Stat", payload: statPayload("/held") });
    await expect.poll(() => served.gate.running).toBe(1);
    s.write({ id: 1, cancel: true });
    await new Promise((r) => setTimeout(r, 100));
    served.gate.release();
    s.write({ id: 2, method: "Stat", payload: statPayload("/b") });
    expect((await s.next()).id).toBe(2);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.pending()).toBe(0);
  });

  it("when the stream breaks, calls in flight fail as transient (UNAVAILABLE) and the next call opens a new stream", async () => {
    const served = await serve();
    const { c } = clientOf(served.port);
    expect((await c.Stat({ path: "/a" })).path).toBe("/a");
    const inFlight = outcome(c.Stat({ path: "/held" }));
    await expect.poll(() => served.gate.running).toBe(1);
    served.server.forceShutdown();
    const lost = await inFlight as GfsError;
    expect([lost.errno, lost.grpcCode]).toEqual(["EIO", grpc.status.UNAVAILABLE]);
    expect(lost.message).toMatch(/call stream to Master lost/);
    expect(isTransient(lost)).toBe(true);
    // The server is back at the same address: the next call works.
    await serve({}, served.port);
    await expect.poll(() => c.Stat({ path: "/again" }).then((f) => f.path, () => "failed"), { timeout: 10_000 }).toBe("/again");
  });

  it("at shutdown a stream answers its calls in flight, refuses new ones as UNAVAILABLE, then ends", async () => {
    const served = await serve();
    const { c } = clientOf(served.port);
    const held = c.Stat({ path: "/held" });
    await expect.poll(() => served.gate.running).toBe(1);
    expect(served.streams.open).toBe(1);
    served.streams.close();
    const refused = await outcome(c.Stat({ path: "/new" })) as GfsError;
    expect([refused.grpcCode, refused.message]).toEqual([grpc.status.UNAVAILABLE, "EIO: Master is shutting down"]);
    served.gate.release();
    expect((await held).path).toBe("/held");
    await expect.poll(() => served.streams.open).toBe(0);
  });

  it("an idle client does not keep its process alive: the stream closes after the idle time and the process exits", async () => {
    const { port } = await serve();
    const dist = join(__dirname, "..", "dist", "index.js");
    const script = `
      const c = require(${JSON.stringify(dist)});
      const raw = c.newMasterClient("127.0.0.1:${port}", c.insecureTransport);
      const m = c.callStreamClient(raw, c.masterDefinition(), "Master", "Calls", { methods: ["Stat"], caller: () => "", idleCloseMs: 300 });
      m.Stat({ path: "/a" }).then((f) => console.log("answered " + f.path + " " + Date.now()));`;
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    cleanups.push(() => child.kill("SIGKILL"));
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    const exitedAt = Date.now();
    const answeredAt = Number(/answered \/a (\d+)/.exec(out)?.[1]);
    expect(code).toBe(0);
    // Within the idle time plus a round trip to end the stream (generous: this machine is slow and shared).
    expect(exitedAt - answeredAt).toBeLessThan(3_000);
  });
});
