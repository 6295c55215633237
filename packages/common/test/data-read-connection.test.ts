import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { DataChannel } from "../src/data-channel";
import { encodeFrame, FrameKind, messages } from "../src/data-frames";
import { ReadConnection } from "../src/data-read-connection";
import { insecureTransport } from "../src/transport-security";

// These fake servers speak the frames on plain TCP: the transport's TLS is tested with real processes.

/** A server that answers each READ frame with `answer(request, socket)`. */
async function fakeServer(answer: (req: { offset: number; length: number }, s: Socket) => void): Promise<{ server: Server; address: string }> {
  const server = createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9 && buf.length >= 9 + buf.readUInt32BE(1)) {
        const m = buf.readUInt32BE(1);
        const req = messages.decodeReadRequest(buf.subarray(9, 9 + m));
        buf = buf.subarray(9 + m);
        answer({ offset: Number(req.offset), length: req.length }, s);
      }
    });
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, address: `127.0.0.1:${(server.address() as { port: number }).port}` };
}

const chunk = Buffer.from(Array.from({ length: 6 * 1024 * 1024 }, (_, i) => (i * 7 + 3) & 0xff));
const okHead = (bodyBytes: number) => encodeFrame(FrameKind.OK, messages.encodeReadResponse({ chunkLength: chunk.length }), bodyBytes);

let servers: Server[] = [];
afterEach(() => {
  for (const s of servers) s.close();
  servers = [];
});

async function serve(answer: (req: { offset: number; length: number }, s: Socket) => void): Promise<string> {
  const { server, address } = await fakeServer(answer);
  servers.push(server);
  return address;
}

const honest = (req: { offset: number; length: number }, s: Socket) => {
  const body = chunk.subarray(req.offset, Math.min(chunk.length, req.offset + req.length));
  s.write(okHead(body.length));
  s.write(body);
};

describe("reads on the data transport", () => {
  it("bodies land in the caller's buffer at the asked place, request after request on one connection", async () => {
    const c = await ReadConnection.open(await serve(honest), 1000, insecureTransport);
    const out = Buffer.alloc(5 * 1024 * 1024, 0xee);
    const a = await c.read({ handle: "h", version: 1, offset: 1000, length: 4 * 1024 * 1024 }, out, 100, "read");
    expect(a).toEqual({ bytes: 4 * 1024 * 1024, chunkLength: chunk.length });
    expect(out.subarray(100, 100 + a.bytes).equals(chunk.subarray(1000, 1000 + a.bytes))).toBe(true);
    expect(out[99]).toBe(0xee);
    expect(out[100 + a.bytes]).toBe(0xee);
    // Short at the chunk's end.
    const b = await c.read({ handle: "h", version: 1, offset: chunk.length - 10, length: 4096 }, out, 0, "read");
    expect(b.bytes).toBe(10);
    expect(out.subarray(0, 10).equals(chunk.subarray(chunk.length - 10))).toBe(true);
    expect(c.usable).toBe(true);
    c.close();
  });

  it("an answer trickling in a byte at a time is put together right", async () => {
    const c = await ReadConnection.open(await serve((req, s) => {
      const all = Buffer.concat([okHead(req.length), chunk.subarray(req.offset, req.offset + req.length)]);
      let i = 0;
      const next = () => { if (i < all.length) { s.write(all.subarray(i, i + 1)); i++; setImmediate(next); } };
      next();
    }), 1000, insecureTransport);
    const out = Buffer.alloc(64);
    const r = await c.read({ handle: "h", version: 1, offset: 5, length: 40 }, out, 3, "read");
    expect(r.bytes).toBe(40);
    expect(out.subarray(3, 43).equals(chunk.subarray(5, 45))).toBe(true);
    c.close();
  });

  it("a server error becomes the request's error, with its errno, and the connection is not reused", async () => {
    const c = await ReadConnection.open(await serve((_req, s) => s.end(encodeFrame(FrameKind.ERROR, Buffer.from("ESTALE: chunk h is at version 2"), 0))), 1000, insecureTransport);
    await expect(c.read({ handle: "h", version: 1, offset: 0, length: 10 }, Buffer.alloc(10), 0, "read")).rejects.toMatchObject({ errno: "ESTALE" });
    expect(c.usable).toBe(false);
  });

  it("a body larger than asked is refused before a byte of it is written", async () => {
    const c = await ReadConnection.open(await serve((req, s) => { s.write(okHead(req.length + 10)); s.write(Buffer.alloc(req.length + 10, 1)); }), 1000, insecureTransport);
    const out = Buffer.alloc(100, 0xee);
    await expect(c.read({ handle: "h", version: 1, offset: 0, length: 50 }, out, 0, "read")).rejects.toMatchObject({ errno: "EIO" });
    expect(out.every((b) => b === 0xee)).toBe(true);
  });

  it("a connection cut in the middle of a body is a transient error", async () => {
    const c = await ReadConnection.open(await serve((req, s) => { s.write(okHead(req.length)); s.end(Buffer.alloc(req.length / 2)); }), 1000, insecureTransport);
    await expect(c.read({ handle: "h", version: 1, offset: 0, length: 1000 }, Buffer.alloc(1000), 0, "read"))
      .rejects.toMatchObject({ errno: "EIO", grpcCode: 14 }); // UNAVAILABLE: retried
  });

  it("after a timeout nothing more lands in the buffer, and the channel reads again on a new connection", async () => {
    let calls = 0;
    const address = await serve((req, s) => {
      calls++;
      if (calls === 1) { s.write(okHead(req.length)); setTimeout(() => s.write(Buffer.alloc(req.length, 1)), 150); return; }
      honest(req, s);
    });
    const ch = new DataChannel(address, undefined, insecureTransport);
    const out = Buffer.alloc(1000, 0xee);
    await expect(ch.readInto({ handle: "h", version: 1, offset: 0, length: 1000 }, out, 0, 50)).rejects.toMatchObject({ errno: "EIO" });
    await new Promise((r) => setTimeout(r, 250));
    expect(out.every((b) => b === 0xee)).toBe(true);
    const r = await ch.readInto({ handle: "h", version: 1, offset: 0, length: 1000 }, out, 0, 1000);
    expect(r.bytes).toBe(1000);
    expect(out.equals(chunk.subarray(0, 1000))).toBe(true);
    ch.close();
  });
});
