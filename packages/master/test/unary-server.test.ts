// The master's own gRPC server, talked to by the grpc-js clients every
// component uses: answers, errors, limits and shutdown must look to them
// exactly like a grpc-js server's.
import { afterEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import {
  GfsError, masterDefinition, newMasterClient, promiseClient, unary, type MasterClient, type PromiseClient,
} from "@gfs/common";
import { UnaryServer } from "../src/unary-server";

const info = (path: string) => ({ path, type: "FILE_TYPE_FILE", id: 7, mode: 0o644, nlink: 1 });

describe("UnaryServer", () => {
  let server: UnaryServer | undefined;
  let raw: MasterClient | undefined;

  afterEach(async () => {
    raw?.close();
    await server?.stop(100);
    server = raw = undefined;
  });

  async function serve(over: grpc.UntypedServiceImplementation, options = {}): Promise<PromiseClient<MasterClient>> {
    server = new UnaryServer(masterDefinition(), over, options);
    raw = newMasterClient(`127.0.0.1:${await server.listen("127.0.0.1:0")}`);
    return promiseClient(raw, masterDefinition());
  }

  it("answers a call with the handler's message, decoded by a grpc-js client", async () => {
    const c = await serve({ Create: unary((req: { path: string; exclusive: boolean }) => ({ ...info(req.path), size: req.exclusive ? 1 : 0 })) });
    const res = await c.Create({ path: "/a/ü b", mode: 0o644, uid: 1, gid: 2, exclusive: true });
    expect(res).toMatchObject({ path: "/a/ü b", type: "FILE_TYPE_FILE", id: 7, size: 1 });
    // Many calls at once on one connection.
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) => c.Create({ path: `/f${i}`, mode: 0, uid: 0, gid: 0, exclusive: false })));
    expect(many.map((r) => r.path)).toEqual(Array.from({ length: 50 }, (_, i) => `/f${i}`));
  });

  it("carries a handler's GfsError as its gRPC status, message included (non-ASCII and % too)", async () => {
    const c = await serve({ Stat: unary((req: { path: string }) => { throw new GfsError("ENOENT", `no such file ${req.path} (100% gone, ü)`); }) });
    const err = await c.Stat({ path: "/x" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GfsError);
    expect((err as GfsError).errno).toBe("ENOENT");
    expect((err as GfsError).grpcCode).toBe(grpc.status.NOT_FOUND);
    expect((err as GfsError).message).toBe("ENOENT: no such file /x (100% gone, ü)");
  });

  it("turns an unexpected handler failure into EIO, and stays up", async () => {
    let calls = 0;
    const c = await serve({ Stat: unary((req: { path: string }) => { if (calls++ === 0) throw new TypeError("boom"); return info(req.path); }) });
    const err = await c.Stat({ path: "/x" }).catch((e: unknown) => e);
    expect((err as GfsError).errno).toBe("EIO");
    expect((err as GfsError).message).toContain("boom");
    expect((await c.Stat({ path: "/y" })).path).toBe("/y");
  });

  it("refuses a method without a handler, or not in the service, with UNIMPLEMENTED", async () => {
    const c = await serve({ Create: unary(() => ({})) });
    const err = await c.Stat({ path: "/" }).catch((e: unknown) => e);
    expect((err as GfsError).grpcCode).toBe(grpc.status.UNIMPLEMENTED);
    const unknown = new grpc.Client(`127.0.0.1:${(server as any).http2Server.address().port}`, grpc.credentials.createInsecure());
    const code = await new Promise<number>((resolve) => {
      unknown.makeUnaryRequest("/gfs.Master/NoSuchMethod", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (e) => resolve(e?.code ?? 0));
    });
    unknown.close();
    expect(code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it("refuses a request above the size limit with RESOURCE_EXHAUSTED, and still serves others", async () => {
    const c = await serve({ Stat: unary((req: { path: string }) => info(req.path)) }, { maxReceiveBytes: 1000 });
    const err = await c.Stat({ path: "/" + "x".repeat(5000) }).catch((e: unknown) => e);
    expect((err as GfsError).grpcCode).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect((await c.Stat({ path: "/small" })).path).toBe("/small");
  });

  it("a client's deadline still applies to a slow handler, and the server survives the late answer", async () => {
    const c = await serve({
      Stat: unary(async (req: { path: string }) => { await new Promise((r) => setTimeout(r, req.path === "/slow" ? 300 : 0)); return info(req.path); }),
    });
    const err = await c.Stat({ path: "/slow" }, { timeoutMs: 50 }).catch((e: unknown) => e);
    expect((err as GfsError).grpcCode).toBe(grpc.status.DEADLINE_EXCEEDED);
    await new Promise((r) => setTimeout(r, 350)); // the handler answers after the client gave up
    expect((await c.Stat({ path: "/fast" })).path).toBe("/fast");
  });

  it("stop lets a call in flight finish and then refuses new connections", async () => {
    let release!: () => void;
    const c = await serve({ Stat: unary(async (req: { path: string }) => { await new Promise<void>((r) => { release = r; }); return info(req.path); }) });
    const inFlight = c.Stat({ path: "/in-flight" });
    await new Promise((r) => setTimeout(r, 50));
    const stopped = server!.stop(2_000);
    release();
    expect((await inFlight).path).toBe("/in-flight");
    await stopped;
    const err = await c.Stat({ path: "/after" }, { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GfsError);
    expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).toContain((err as GfsError).grpcCode);
    server = undefined;
  });

  it("serves unary methods only", () => {
    const streaming = { Push: { ...masterDefinition().Stat, path: "/x/Push", requestStream: true } } as unknown as grpc.ServiceDefinition;
    expect(() => new UnaryServer(streaming, { Push: () => {} })).toThrow(/unary methods only/);
  });
});
