// The chunkserver's end of the bulk data transport (wire format in
// @gfs/common's data-frames.ts): PushData and Read on plain TCP beside the
// gRPC service, served by the same handlers, so every check stays in one place.
import { createServer, type Server, type Socket } from "node:net";
import {
  defaults, encodeFrame, EndOfStream, FrameKind, GfsError, messages, SocketReader, type Logger, type PushDataRequest__Output,
  type PushDataResponse, type ReadRequest__Output,
} from "@gfs/common";

export interface DataHandlers {
  /** Receives a push whose body arrives as `pieces` (ending early if the sender stopped short). */
  push(header: PushDataRequest__Output, pieces: AsyncIterable<Buffer>): Promise<PushDataResponse>;
  read(req: ReadRequest__Output): Promise<{ data: Buffer; chunkLength: number }>;
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
          if (res.data.length) socket.write(res.data);
          socket.uncork();
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

/** Answers with the error, then closes: the rest of a refused body is dropped, never read as a request. */
function refuse(socket: Socket, reader: SocketReader, e: unknown): void {
  const message = e instanceof GfsError ? e.message : `EIO: ${(e as Error).message}`;
  reader.discard();
  if (!socket.destroyed) socket.end(encodeFrame(FrameKind.ERROR, Buffer.from(message, "utf8"), 0));
  setTimeout(() => socket.destroy(), defaults.rpc_deadline_ms).unref();
}
