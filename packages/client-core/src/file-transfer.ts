// Whole-file copies between the local machine and the cluster (gfs put/get),
// with several chunk-sized pieces in flight so the chain pushes overlap.
import { createReadStream, createWriteStream } from "node:fs";
import { open } from "node:fs/promises";
import type { Readable, Writable } from "node:stream";
import { BufferPool } from "@gfs/common";
import type { GfsClient } from "./gfs-client";

const pieceBytesMax = 8 * 1024 * 1024;
const piecesInFlight = 4;

/** A piece of the input and what to do once its write settled (give its buffer back). */
interface Piece {
  data: Buffer;
  done(): void;
}

/** Streams handed out by openLocalInput for a local file, and that file: putStream reads such a file itself. */
const localFiles = new WeakMap<Readable, string>();

/**
 * Copies a local stream into `remote` (created or truncated). Returns bytes
 * written. Several pieces are in flight at once, so the chain pushes overlap.
 * A local file from openLocalInput is read into a few reused piece buffers:
 * a stream's fresh buffer per read costs page faults, and its volume makes the
 * garbage collector run full collections (V8 counts buffer memory as
 * external pressure).
 */
export interface PutOptions {
  /** Create `remote` new (EEXIST if it is there): a temporary name that must be this copy's own. */
  exclusive?: boolean;
  /** Mode bits of a file it creates (default 0644). */
  mode?: number;
  /** Called with the byte count of each piece once it is written (progress). */
  onProgress?(bytes: number): void;
  /** Replication goal of the new file when it differs from what it inherits (put -f: the replaced file's). */
  goal?: number;
}

export async function putStream(client: GfsClient, input: Readable, remote: string, o: PutOptions = {}): Promise<number> {
  const info = await client.create(remote, {
    mode: o.mode ?? 0o644, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, forWriting: true, exclusive: o.exclusive ?? false,
  });
  if (info.size > 0) await client.truncate(remote, 0);
  // Before the first byte, so the chunks are placed for the goal and not copied or trimmed later.
  if (o.goal && info.goal !== o.goal) await client.setReplication(remote, o.goal);
  const pieceBytes = Math.min(pieceBytesMax, await client.chunkSizeBytes());
  const file = localFiles.get(input);
  let source: AsyncIterable<Piece>;
  if (file !== undefined && !input.readableDidRead) {
    input.destroy();
    source = filePieces(file, pieceBytes);
  } else {
    source = streamPieces(input, pieceBytes);
  }
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let offset = 0;
  for await (const piece of source) {
    const at = offset;
    offset += piece.data.length;
    const bytes = piece.data.length;
    const p: Promise<void> = client.write(remote, at, piece.data).then(() => { piece.done(); o.onProgress?.(bytes); }, (e) => { failure ??= e; })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= piecesInFlight) await Promise.race(inFlight);
    if (failure) break;
  }
  await Promise.all(inFlight);
  if (failure) throw failure;
  return offset;
}

/** The stream's bytes in pieces of `pieceBytes` (the last may be shorter). */
async function* streamPieces(input: Readable, pieceBytes: number): AsyncGenerator<Piece> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const none = () => {};
  function* cut(final: boolean): Generator<Piece> {
    while (pendingBytes >= pieceBytes || (final && pendingBytes > 0)) {
      const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      const data = all.subarray(0, Math.min(pieceBytes, all.length));
      const rest = all.subarray(data.length);
      pending = rest.length ? [rest] : [];
      pendingBytes = rest.length;
      yield { data, done: none };
    }
  }
  for await (const data of input) {
    pending.push(data as Buffer);
    pendingBytes += (data as Buffer).length;
    yield* cut(false);
  }
  yield* cut(true);
}

/**
 * The file's bytes in pieces of `pieceBytes`, read into at most
 * piecesInFlight + 1 buffers: a piece's buffer is reused once its write
 * succeeded (after a failure the copy stops, and the buffer is left alone).
 */
async function* filePieces(path: string, pieceBytes: number): AsyncGenerator<Piece> {
  const fh = await open(path, "r");
  const free: Buffer[] = [];
  try {
    for (let position = 0; ;) {
      const buf = free.pop() ?? Buffer.allocUnsafe(pieceBytes);
      let n = 0;
      while (n < pieceBytes) {
        const { bytesRead } = await fh.read(buf, n, pieceBytes - n, position + n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      if (n === 0) return;
      position += n;
      yield { data: buf.subarray(0, n), done: () => free.push(buf) };
      if (n < pieceBytes) return;
    }
  } finally {
    await fh.close();
  }
}

export interface GetOptions {
  /**
   * Reuse piece buffers once `output` has called back for them: set it only
   * for outputs that keep no chunk after its write callback (files, stdout;
   * not a PassThrough). A fresh 8 MiB buffer per piece cost more CPU in
   * garbage collection than the reads themselves.
   */
  reuseBuffers?: boolean;
  /** Called with the byte count of each piece once `output` took it (progress). */
  onProgress?(bytes: number): void;
}

/** Copies `remote` to a local stream in order. Returns bytes read. */
export async function getStream(client: GfsClient, remote: string, output: Writable, o: GetOptions = {}): Promise<number> {
  const { size } = await client.stat(remote);
  const pieceBytes = Math.min(pieceBytesMax, await client.chunkSizeBytes());
  const pool = o.reuseBuffers ? new BufferPool(pieceBytes, piecesInFlight + 1) : undefined;
  const reads: Array<Promise<{ buf: Buffer; data: Buffer }>> = [];
  const layout = client.newReadLayout();
  let next = 0;
  const start = () => {
    const want = Math.min(pieceBytes, size - next);
    const buf = pool ? pool.take() : Buffer.allocUnsafe(want);
    reads.push(client.readInto(remote, next, buf.subarray(0, want), layout).then((n) => ({ buf, data: buf.subarray(0, n) })));
    next += pieceBytes;
  };
  while (next < size && reads.length < piecesInFlight) start();
  let written = 0;
  while (reads.length) {
    const { buf, data } = await reads.shift()!;
    if (next < size) start();
    if (output.errored) throw output.errored; // a failed local write (ENOSPC): it would never drain
    if (!output.write(data, (e) => { if (!e) pool?.give(buf); })) await drained(output);
    written += data.length;
    o.onProgress?.(data.length);
  }
  return written;
}

/** Resolves when `output` drains; rejects if it fails or closes first (once(output, "drain") would wait forever). */
function drained(output: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (e?: Error | null) => {
      output.off("drain", onDrain).off("error", settle).off("close", onClose);
      if (e) reject(e); else resolve();
    };
    const onDrain = () => settle();
    const onClose = () => settle(output.errored ?? new Error("the output closed before the copy ended"));
    output.on("drain", onDrain).on("error", settle).on("close", onClose);
  });
}

export function openLocalInput(path: string): Readable {
  if (path === "-") return process.stdin;
  // Reads of exactly one piece, so a stream consumer never concatenates (copies) them.
  const input = createReadStream(path, { highWaterMark: pieceBytesMax });
  // It opens at once, and may fail before anyone listens: putStream then
  // reports the failure from its own open; a reader sees it when it reads
  // (an iterator rejects with readable.errored). Unheard, it would crash.
  input.on("error", () => {});
  localFiles.set(input, path);
  return input;
}

export function openLocalOutput(path: string): Writable {
  return path === "-" ? process.stdout : createWriteStream(path);
}
