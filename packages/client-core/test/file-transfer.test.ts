import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { getStream } from "../src/file-transfer";
import type { GfsClient } from "../src/gfs-client";

/** A client serving one file of `size` bytes from memory, in chunks of 64 bytes, answering reads after a short delay. */
function fakeClient(size: number) {
  const file = Buffer.from(Array.from({ length: size }, (_, i) => (i * 11 + 1) & 0xff));
  const client = {
    stat: async () => ({ size }),
    chunkSizeBytes: async () => 64,
    newReadLayout: () => undefined,
    readInto: async (_p: string, offset: number, into: Buffer) => {
      await new Promise((r) => setTimeout(r, Math.random() * 3));
      return file.copy(into, 0, offset, Math.min(size, offset + into.length));
    },
  };
  return { file, client: client as unknown as GfsClient };
}

/** Keeps a copy of every chunk and the chunks themselves. */
function collector() {
  const copies: Buffer[] = [];
  const chunks: Buffer[] = [];
  const sink = new Writable({ write(c: Buffer, _e, cb) { copies.push(Buffer.from(c)); chunks.push(c); setImmediate(cb); } });
  return { sink, copies, chunks };
}

describe("gfs get", () => {
  it("writes the file in order, reusing piece buffers only when asked to", async () => {
    const { file, client } = fakeClient(64 * 20 + 17);
    const reused = collector();
    expect(await getStream(client, "/f", reused.sink, { reuseBuffers: true })).toBe(file.length);
    await new Promise((r) => reused.sink.end(r));
    expect(Buffer.concat(reused.copies).equals(file)).toBe(true);
    expect(new Set(reused.chunks.map((c) => c.buffer)).size).toBeLessThan(reused.chunks.length);

    const fresh = collector();
    expect(await getStream(client, "/f", fresh.sink)).toBe(file.length);
    await new Promise((r) => fresh.sink.end(r));
    // Without reuse every chunk keeps its bytes after its callback.
    expect(Buffer.concat(fresh.chunks).equals(file)).toBe(true);
  });
});
