// Re-replication (GFS §4.3): copy a whole chunk from a peer, check every
// block against the checksums the peer sent, and only then keep it.
import { fromServiceError, GfsError, type ChunkServerPool, type FetchChunkResponse__Output, type ReplicationOrder__Output } from "@gfs/common";
import type { ChunkStore } from "./chunk-store";

export async function fetchChunkFrom(pool: ChunkServerPool, order: ReplicationOrder__Output, timeoutMs: number, maxBytes: number,
  now: () => number = Date.now): Promise<{ data: Buffer; blockCrc32c: number[] }> {
  if (!order.source?.address) throw new GfsError("EINVAL", `replication of chunk ${order.handle} without a source`);
  const stream = pool.get(order.source).raw.FetchChunk({ handle: order.handle, version: order.version }, { deadline: now() + timeoutMs });
  let length = -1;
  let crcs: number[] = [];
  const pieces: Buffer[] = [];
  let got = 0;
  try {
    for await (const msg of stream as AsyncIterable<FetchChunkResponse__Output>) {
      if (length < 0) {
        length = msg.chunkLength;
        crcs = msg.blockCrc32c;
        if (!Number.isSafeInteger(length) || length < 0 || length > maxBytes) throw new GfsError("EIO", `peer announced chunk ${order.handle} of ${length} bytes`);
      }
      got += msg.data.length;
      if (got > length) throw new GfsError("EIO", `peer sent more than ${length} bytes of chunk ${order.handle}`);
      pieces.push(msg.data);
    }
  } catch (e) {
    stream.cancel();
    throw e instanceof GfsError ? e : fromServiceError(e);
  }
  if (length < 0 || got !== length) throw new GfsError("EIO", `fetch of chunk ${order.handle} ended after ${got} of ${length} bytes`);
  return { data: Buffer.concat(pieces, length), blockCrc32c: crcs };
}

/** Fetches and installs (install verifies the CRCs). */
export async function replicate(pool: ChunkServerPool, store: ChunkStore, order: ReplicationOrder__Output, timeoutMs: number,
  now: () => number = Date.now): Promise<void> {
  const { data, blockCrc32c } = await fetchChunkFrom(pool, order, timeoutMs, store.chunkSizeBytes, now);
  await store.install(order.handle, order.version, data, blockCrc32c);
}
