// The data path's narrow interface: push bytes to a chain of replicas. Today
// it rides a gRPC client stream; callers see only openPush/pushBuffer, so the
// transport can change (e.g. to a raw socket) without touching them.
import type { ClientWritableStream, ServiceError } from "@grpc/grpc-js";
import { defaults } from "./config";
import { fromServiceError, GfsError } from "./errors";
import type { ChunkServerClient } from "./protocol";
import type { PushDataRequest, PushDataResponse__Output, ServerAddress } from "./generated/types";

export interface PushHeader {
  dataId: string;
  /** Replicas after the one this push goes to, in forwarding order. */
  chain: ServerAddress[];
  totalBytes: number;
}

export interface PushSink {
  /** Sends a piece; resolves when the stream can take more (backpressure). */
  write(data: Buffer): Promise<void>;
  /** Finishes the push; resolves once the whole chain has stored the data. */
  end(): Promise<PushDataResponse__Output>;
  /** Abandons the push; the receiver drops what it got. */
  abort(): void;
}

export function openPush(client: ChunkServerClient, header: PushHeader, timeoutMs: number): PushSink {
  let settle!: (r: PushDataResponse__Output) => void;
  let fail!: (e: GfsError) => void;
  const done = new Promise<PushDataResponse__Output>((resolve, reject) => { settle = resolve; fail = reject; });
  done.catch(() => {}); // observed by end(); a failure before end() must not crash the process
  let failed: GfsError | undefined;
  const stream: ClientWritableStream<PushDataRequest> = client.PushData({ deadline: Date.now() + timeoutMs },
    (err: ServiceError | null, res?: PushDataResponse__Output) => {
      if (err) { failed = fromServiceError(err); fail(failed); } else settle(res!);
    });
  stream.write({ dataId: header.dataId, chain: header.chain, totalBytes: header.totalBytes });
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

/** Pushes a whole buffer in frames of push_frame_bytes (views, no copies). */
export async function pushBuffer(client: ChunkServerClient, header: PushHeader, data: Buffer, timeoutMs: number,
  frameBytes: number = defaults.push_frame_bytes): Promise<PushDataResponse__Output> {
  const sink = openPush(client, header, timeoutMs);
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
