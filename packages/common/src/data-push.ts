// The data path's narrow interface: push bytes to a chain of replicas
// (openPush/pushBuffer) and read chunk bytes (readChunkInto). Bulk bytes ride
// the raw data transport (data-channel.ts) when the server offers one, else a
// gRPC stream; callers never see which.
import type { ClientWritableStream, ServiceError } from "@grpc/grpc-js";
import type { ChunkServerConnection } from "./chunkserver-pool";
import { defaults } from "./config";
import type { PushOperation } from "./data-channel";
import { fromServiceError, GfsError } from "./errors";
import type { ChunkServerClient } from "./protocol";
import { FrameKind, messages } from "./data-frames";
import type {
  ApplyMutationRequest, PushDataRequest, PushDataResponse__Output, ReadRequest, RecordAppendRequest, RecordAppendResponse__Output,
  ServerAddress, WriteRequest, WriteResponse__Output,
} from "./generated/types";

export interface PushHeader {
  dataId: string;
  /** Replicas after the one this push goes to, in forwarding order. */
  chain: ServerAddress[];
  totalBytes: number;
  /** The chunk the data is for, and a write token for it (chunk-token.ts); forwarded along the chain. */
  handle?: string;
  token?: string;
}

/** The header's fields as the wire carries them. */
const wireHeader = (h: PushHeader): PushDataRequest =>
  ({ dataId: h.dataId, chain: h.chain, totalBytes: h.totalBytes, handle: h.handle ?? "", token: h.token ?? "" });

export interface PushSink {
  /** Sends a piece; resolves when the stream can take more (backpressure). */
  write(data: Buffer): Promise<void>;
  /** Finishes the push; resolves once the whole chain has stored the data. */
  end(): Promise<PushDataResponse__Output>;
  /** Abandons the push; the receiver drops what it got. */
  abort(): void;
}

/** Where a push or read goes: a pooled connection (data transport when offered) or a bare gRPC client. */
export type DataTarget = ChunkServerConnection | ChunkServerClient;

const isConnection = (t: DataTarget): t is ChunkServerConnection => typeof (t as ChunkServerConnection).data === "function";

export function openPush(target: DataTarget, header: PushHeader, timeoutMs: number): PushSink {
  if (!isConnection(target)) return openGrpcPush(target, header, timeoutMs);
  // The channel lookup is asynchronous (once per server); the sink starts at once and waits for it.
  let failed = false;
  const sink: Promise<PushSink | PushOperation> = target.data().then((ch) => {
    if (failed) throw new GfsError("EIO", `push ${header.dataId} abandoned`);
    return ch ? ch.push({ ...wireHeader(header), totalBytes: header.totalBytes }, timeoutMs)
      : openGrpcPush(target.raw, header, timeoutMs);
  });
  sink.catch(() => {});
  return {
    write: async (data) => (await sink).write(data),
    end: async () => (await sink).end(),
    abort: () => {
      failed = true;
      sink.then((s) => s.abort(), () => {});
    },
  };
}

function openGrpcPush(client: ChunkServerClient, header: PushHeader, timeoutMs: number): PushSink {
  let settle!: (r: PushDataResponse__Output) => void;
  let fail!: (e: GfsError) => void;
  const done = new Promise<PushDataResponse__Output>((resolve, reject) => { settle = resolve; fail = reject; });
  done.catch(() => {}); // observed by end(); a failure before end() must not crash the process
  let failed: GfsError | undefined;
  const stream: ClientWritableStream<PushDataRequest> = client.PushData({ deadline: Date.now() + timeoutMs },
    (err: ServiceError | null, res?: PushDataResponse__Output) => {
      if (err) { failed = fromServiceError(err); fail(failed); } else settle(res!);
    });
  stream.write(wireHeader(header));
  return {
    write(data: Buffer) {
      if (failed) return Promise.reject(failed);
      if (stream.write({ data })) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const onDrain = () => { done.catch(() => {}); resolve(); };
        stream.once("drain", onDrain);
        done.then(() => {}, (e) => { stream.off("drain", onDrain); reject(e); });
      });
    },
    end() {
      stream.end();
      return done;
    },
    abort() {
      stream.cancel();
    },
  };
}

/** Pushes a whole buffer in pieces of push_frame_bytes (views, no copies). */
export async function pushBuffer(target: DataTarget, header: PushHeader, data: Buffer, timeoutMs: number,
  frameBytes: number = defaults.push_frame_bytes): Promise<PushDataResponse__Output> {
  const sink = openPush(target, header, timeoutMs);
  try {
    for (let off = 0; off < data.length; off += frameBytes) {
      await sink.write(data.subarray(off, Math.min(data.length, off + frameBytes)));
    }
  } catch (e) {
    sink.abort();
    throw e;
  }
  return sink.end();
}

/**
 * Reads [offset, offset + length) of a chunk into `out` at `outOffset`;
 * returns the bytes read (fewer only at the chunk's end) and the chunk's length.
 */
export async function readChunkInto(target: ChunkServerConnection, req: ReadRequest & { length: number }, out: Buffer, outOffset: number,
  timeoutMs: number): Promise<{ bytes: number; chunkLength: number }> {
  const ch = await target.data();
  if (ch) return ch.readInto(req, out, outOffset, timeoutMs);
  const res = await target.api.Read(req, { timeoutMs });
  if (res.data.length > req.length || outOffset + res.data.length > out.length) {
    throw new GfsError("EIO", `read of chunk ${req.handle}: server sent ${res.data.length} bytes for ${req.length} asked`);
  }
  res.data.copy(out, outOffset);
  return { bytes: res.data.length, chunkLength: res.chunkLength };
}

/**
 * Small mutations sent whole (gfs.proto's WriteRequest.data): on the data
 * transport the bytes are the frame's body; without one, they ride inside the
 * gRPC message. The request's own `data` field is ignored.
 */
export async function writeInline(target: ChunkServerConnection, req: WriteRequest, data: Buffer, timeoutMs: number): Promise<WriteResponse__Output> {
  const ch = await target.data();
  if (!ch) return target.api.Write({ ...req, data }, { timeoutMs });
  const msg = await ch.mutate(FrameKind.WRITE, `write of chunk ${req.handle}`, messages.encodeWriteRequest({ ...req, data: undefined }), data, timeoutMs);
  return messages.decodeWriteResponse(msg);
}

export async function appendInline(target: ChunkServerConnection, req: RecordAppendRequest, data: Buffer, timeoutMs: number): Promise<RecordAppendResponse__Output> {
  const ch = await target.data();
  if (!ch) return target.api.RecordAppend({ ...req, data }, { timeoutMs });
  const msg = await ch.mutate(FrameKind.APPEND, `record append to chunk ${req.handle}`, messages.encodeAppendRequest({ ...req, data: undefined }), data, timeoutMs);
  return messages.decodeAppendResponse(msg);
}

export async function applyInline(target: ChunkServerConnection, req: ApplyMutationRequest, data: Buffer, timeoutMs: number): Promise<void> {
  const ch = await target.data();
  if (!ch) {
    await target.api.ApplyMutation({ ...req, data }, { timeoutMs });
    return;
  }
  await ch.mutate(FrameKind.APPLY, `mutation ${req.serial} of chunk ${req.handle}`, messages.encodeApplyRequest({ ...req, data: undefined }), data, timeoutMs);
}
