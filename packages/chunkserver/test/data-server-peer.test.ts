// The data server tells each request's handler who sent it: the identity the
// connection's client certificate proves (what authorization decides on), or
// the insecure peer on a plaintext server.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createLogger, DataChannel, initCaDir, insecurePeer, insecureTransport, issueToDir, loadTlsIdentity, tlsTransport, type Peer,
} from "@gfs/common";
import { startDataServer, type DataHandlers } from "../src/data-server";

const log = createLogger("data-server-test", "error");
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gfs-data-peer-"));
  await initCaDir(join(dir, "ca"));
  await issueToDir(join(dir, "ca"), { role: "chunkserver", name: "cs1" }, join(dir, "cs1"));
  await issueToDir(join(dir, "ca"), { role: "user", name: "alice", uid: 1000, gids: [1000, 27] }, join(dir, "alice"));
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

/** Handlers that answer every read with 3 bytes and record who asked. */
function recording(seen: Peer[]): DataHandlers {
  const no = () => Promise.reject(new Error("not in this test"));
  return {
    read: async (_req, peer) => { seen.push(peer); return { data: Buffer.from("abc"), chunkLength: 3 }; },
    push: no, write: no, append: no, apply: no,
  };
}

describe("the data server's request handlers see the caller", () => {
  it("on TLS: the identity of the client certificate, per request on a reused connection", async () => {
    const seen: Peer[] = [];
    const server = await startDataServer("127.0.0.1:0", recording(seen), log, undefined, tlsTransport(loadTlsIdentity(join(dir, "cs1"))));
    const ch = new DataChannel(`127.0.0.1:${server.port}`, undefined, tlsTransport(loadTlsIdentity(join(dir, "alice"))));
    try {
      for (let i = 0; i < 2; i++) {
        const out = Buffer.alloc(3);
        expect(await ch.readInto({ handle: "h", version: 1, offset: 0, length: 3 }, out, 0, 5_000)).toEqual({ bytes: 3, chunkLength: 3 });
        expect(out.toString()).toBe("abc");
      }
      expect(seen).toEqual([{ role: "user", name: "alice", uid: 1000, gids: [1000, 27] }, { role: "user", name: "alice", uid: 1000, gids: [1000, 27] }]);
    } finally {
      ch.close();
      await server.close();
    }
  });

  it("on plaintext (--insecure): the insecure peer", async () => {
    const seen: Peer[] = [];
    const server = await startDataServer("127.0.0.1:0", recording(seen), log, undefined, insecureTransport);
    const ch = new DataChannel(`127.0.0.1:${server.port}`, undefined, insecureTransport);
    try {
      await ch.readInto({ handle: "h", version: 1, offset: 0, length: 3 }, Buffer.alloc(3), 0, 5_000);
      expect(seen).toEqual([insecurePeer]);
    } finally {
      ch.close();
      await server.close();
    }
  });
});
