// The chunkserver's end of the bulk data transport (wire format in
// @gfs/common's data-frames.ts): PushData, Read and small whole mutations
// (Write, RecordAppend, ApplyMutation with inline data) on plain TCP beside the
// gRPC service, served by the same handlers, so every check stays in one place.
import { createServer, type Server, type Socket } from "node:net";
import {
  defaults, encodeFrame, EndOfStream, FrameKind, GfsError, messages, SocketReader, toServiceError, type ApplyMutationRequest__Output, type Logger,
  type PushDataRequest__Output, type PushDataResponse, type ReadRequest__Output, type RecordAppendRequest__Output,
  type RecordAppendResponse, type WriteRequest__Output, type WriteResponse,
} from "@gfs/common";

export interface DataHandlers {
  /** Receives a push whose body arrives as `pieces` (ending early if the sender stopped short). */
  push(header: PushDataRequest__Output, pieces: AsyncIterable<Buffer>): Promise<PushDataResponse>;
  /** `release`, if given, is called once the reply's bytes are handed to the socket (their buffer may be reused). */
  read(req: ReadRequest__Output): Promise<{ data: Buffer; chunkLength: number; release?: () => void }>;
  /** The gRPC handlers' requests, with the frame's body as their inline `data`. */
  write(req: WriteRequest__Output): Promise<WriteResponse>;
  append(req: RecordAppendRequest__Output): Promise<RecordAppendResponse>;
  apply(req: ApplyMutationRequest__Output): Promise<object>;
}

export interface DataServer {
  port: number;
  close(): Promise<void>;
}

/** Listens on host:port (port 0: any free one). */
export async function startDataServer(hostPort: string, handlers: DataHandlers, log: Logger): Promise<DataServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    serveConnection(socket, handlers).catch((e) => {
      log.warn("data connection failed", { remote: `${socket.remoteAddress}:${socket.remotePort}`, error: (e as Error).message });
      socket.destroy();
    });
  });
  const i = hostPort.lastIndexOf(":");
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) }, () => { server.off("error", reject); resolve(); });
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }),
  };
}

async function serveConnection(socket: Socket, handlers: DataHandlers): Promise<void> {
  const reader = new SocketReader(socket, defaults.data_socket_buffer_bytes);
  for (;;) {
    let frame;
    try {
      frame = await reader.readFrame(defaults.data_message_bytes_max);
    } catch (e) {
      if (e instanceof EndOfStream) {
        socket.end();
        return;
      }
      if (!(e instanceof GfsError)) throw e;
      return refuse(socket, reader, e);
    }
    try {
      switch (frame.kind) {
        case FrameKind.PUSH: {
          const header = messages.decodePushRequest(frame.message);
          if (frame.bodyBytes !== header.totalBytes) {
            throw new GfsError("EINVAL", `push ${header.dataId}: frame body of ${frame.bodyBytes} bytes, header announces ${header.totalBytes}`);
          }
          const res = await handlers.push(header, reader.body(frame.bodyBytes));
          socket.write(encodeFrame(FrameKind.OK, messages.encodePushResponse(res), 0));
          break;
        }
        case FrameKind.READ: {
          if (frame.bodyBytes !== 0) throw new GfsError("EINVAL", "a read request carries no body");
          const res = await handlers.read(messages.decodeReadRequest(frame.message));
          socket.cork();
          socket.write(encodeFrame(FrameKind.OK, messages.encodeReadResponse({ chunkLength: res.chunkLength }), res.data.length));
          // Once the socket has taken the bytes, their buffer may serve the next read.
          if (res.data.length) socket.write(res.data, (err) => { if (!err) res.release?.(); });
          socket.uncork();
          break;
        }
        case FrameKind.WRITE: {
          const req = messages.decodeWriteRequest(frame.message);
          req.data = await inlineBody(reader, frame.bodyBytes);
          answer(socket, messages.encodeWriteResponse(await handlers.write(req)));
          break;
        }
        case FrameKind.APPEND: {
          const req = messages.decodeAppendRequest(frame.message);
          req.data = await inlineBody(reader, frame.bodyBytes);
          answer(socket, messages.encodeAppendResponse(await handlers.append(req)));
          break;
        }
        case FrameKind.APPLY: {
          const req = messages.decodeApplyRequest(frame.message);
          req.data = await inlineBody(reader, frame.bodyBytes);
          answer(socket, messages.encodeApplyResponse(await handlers.apply(req)));
          break;
        }
        default:
          throw new GfsError("EINVAL", `data transport: a client may not send frame kind ${frame.kind}`);
      }
    } catch (e) {
      return refuse(socket, reader, e);
    }
  }
}

function answer(socket: Socket, message: Buffer): void {
  socket.write(encodeFrame(FrameKind.OK, message, 0));
}

/**
 * A small mutation's data, whole and in a buffer of its own (it is kept until
 * applied, so it must not pin, or share, the socket's buffers).
 */
async function inlineBody(reader: SocketReader, n: number): Promise<Buffer> {
  if (n > defaults.inline_write_bytes_max) throw new GfsError("EINVAL", `inline data of ${n} bytes exceeds ${defaults.inline_write_bytes_max}; push it instead`);
  const out = Buffer.allocUnsafe(n);
  let at = 0;
  for await (const piece of reader.body(n)) at += piece.copy(out, at);
  if (at !== n) throw new GfsError("EINVAL", `inline data ended after ${at} of ${n} bytes`);
  return out;
}

/** Answers with the error, then closes: the rest of a refused body is dropped, never read as a request. */
function refuse(socket: Socket, reader: SocketReader, e: unknown): void {
  const message = toServiceError(e).details!; // "ERRNO: detail"; a full disk stays ENOSPC
  reader.discard();
  if (!socket.destroyed) socket.end(encodeFrame(FrameKind.ERROR, Buffer.from(message, "utf8"), 0));
  setTimeout(() => socket.destroy(), defaults.rpc_deadline_ms).unref();
}
