// A copy order (re-replication) names its source by server id and address, as
// the master knows them: the chunkserver dials the source expecting that id,
// so the TLS handshake refuses any other process at that address.
import { describe, expect, it } from "vitest";
import { GfsError, type ChunkServerPool, type ChunkServerTarget, type ReplicationOrder__Output } from "@gfs/common";
import { fetchChunkFrom } from "../src/replication";

describe("a chunkserver copies a chunk only from the server the copy order names", () => {
  it("dials the order's source expecting its server id", async () => {
    const dialed: Array<string | ChunkServerTarget> = [];
    const refusal = new GfsError("EIO", 'chunkserver at h:1 is not the server expected: certificate names "impostor", expected server id "cs3"', 14);
    const pool = {
      get: (t: string | ChunkServerTarget) => {
        dialed.push(t);
        return { raw: { FetchChunk: () => ({ cancel: () => {}, [Symbol.asyncIterator]: async function* () { throw refusal; } }) } };
      },
    } as unknown as ChunkServerPool;
    const order = { handle: "00000000000000aa", version: 3, source: { serverId: "cs3", address: "h:1", rack: "", dataAddress: "" } } as ReplicationOrder__Output;
    await expect(fetchChunkFrom(pool, order, 1_000, 1 << 20)).rejects.toThrow(/expected server id "cs3"/);
    expect(dialed).toEqual([expect.objectContaining({ address: "h:1", serverId: "cs3" })]);
  });
});
