// Whole-file copies between the local machine and the cluster (gfs put/get),
// with several chunk-sized pieces in flight so the chain pushes overlap.
import { createReadStream, createWriteStream } from "node:fs";
import { once } from "node:events";
import type { Readable, Writable } from "node:stream";
import type { GfsClient } from "./gfs-client";

const pieceBytesMax = 8 * 1024 * 1024;
const piecesInFlight = 4;

/** Copies a local stream into `remote` (created or truncated). Returns bytes written. */
export async function putStream(client: GfsClient, input: Readable, remote: string): Promise<number> {
  const info = await client.create(remote, { mode: 0o644, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
  if (info.size > 0) await client.truncate(remote, 0);
  const pieceBytes = Math.min(pieceBytesMax, await client.chunkSizeBytes());
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (final: boolean) => {
    while (pendingBytes >= pieceBytes || (final && pendingBytes > 0)) {
      const all = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
      const piece = all.subarray(0, Math.min(pieceBytes, all.length));
      const rest = all.subarray(piece.length);
      pending = rest.length ? [rest] : [];
      pendingBytes = rest.length;
      const at = offset;
      offset += piece.length;
      const p: Promise<void> = client.write(remote, at, piece).catch((e) => { failure ??= e; }).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= piecesInFlight) await Promise.race(inFlight);
      if (failure) throw failure;
    }
  };
  for await (const data of input) {
    pending.push(data as Buffer);
    pendingBytes += (data as Buffer).length;
    await flush(false);
  }
  await flush(true);
  await Promise.all(inFlight);
  if (failure) throw failure;
  return offset;
}

/** Copies `remote` to a local stream in order. Returns bytes read. */
export async function getStream(client: GfsClient, remote: string, output: Writable): Promise<number> {
  const { size } = await client.stat(remote);
  const pieceBytes = Math.min(pieceBytesMax, await client.chunkSizeBytes());
  const reads: Array<Promise<Buffer>> = [];
  let next = 0;
  const start = () => { reads.push(client.read(remote, next, Math.min(pieceBytes, size - next))); next += pieceBytes; };
  while (next < size && reads.length < piecesInFlight) start();
  let written = 0;
  while (reads.length) {
    const data = await reads.shift()!;
    if (next < size) start();
    if (!output.write(data)) await once(output, "drain");
    written += data.length;
  }
  return written;
}

export function openLocalInput(path: string): Readable {
  // Reads of exactly one piece, so putStream never concatenates (copies) them.
  return path === "-" ? process.stdin : createReadStream(path, { highWaterMark: pieceBytesMax });
}

export function openLocalOutput(path: string): Writable {
  return path === "-" ? process.stdout : createWriteStream(path);
}
