// The chunkserver's end of the bulk data transport (wire format in
// @gfs/common's data-frames.ts): PushData, Read and small whole mutations
// (Write, RecordAppend, ApplyMutation with inline data) beside the gRPC
// service, on mutual TLS (plain TCP when insecure), served by the same
// handlers, so every check stays in one place. Each request's handler is told
// the connection's peer (the identity its client certificate proves).
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, TLSSocket } from "node:tls";
import {
  cachedPeer, insecurePeer, requireRole, tlsServerOptions, transportSecurity, type Peer, type TransportSecurity, defaults, encodeFrame, EndOfStream, FrameKind, GfsError, messages, SocketReader, toServiceError, type ApplyMutationRequest__Output, type Logger,
  type PushDataRequest__Output, type PushDataResponse, type ReadRequest__Output, type RecordAppendRequest__Output,
  type RecordAppendResponse, type WriteRequest__Output, type WriteResponse,
} from "@gfs/common";
import { dataFrameRoles } from "./rpc-roles";

/**
 * `peer`: who sent the request (its connection's client certificate; insecurePeer on a plaintext server),
 * its role already checked for the request's kind (dataFrameRoles, rpc-roles.ts).
 */
export interface DataHandlers {
  /** Receives a push whose body arrives as `pieces` (ending early if the sender stopped short). */
  push(header: PushDataRequest__Output, pieces: AsyncIterable<Buffer>, peer: Peer): Promise<PushDataResponse>;
  /** `release`, if given, is called once the reply's bytes are handed to the socket (their buffer may be reused). */
  read(req: ReadRequest__Output, peer: Peer): Promise<{ data: Buffer; chunkLength: number; release?: () => void }>;
  /** The gRPC handlers' requests, with the frame's body as their inline `data`. */
  write(req: WriteRequest__Output, peer: Peer): Promise<WriteResponse>;
  append(req: RecordAppendRequest__Output, peer: Peer): Promise<RecordAppendResponse>;
  apply(req: ApplyMutationRequest__Output, peer: Peer): Promise<object>;
}

export interface DataServer {
  port: number;
  close(): Promise<void>;
}

/** How long a connection may keep this server waiting (see data_*_timeout_ms in config.ts). */
export interface DataServerLimits {
  /** A frame header and message must arrive whole within this long of their first byte. */
  headerTimeoutMs: number;
  /** A connection between requests is closed after this long without a byte. */
  idleTimeoutMs: number;
  /** A request body (push or inline mutation) may pause at most this long between bytes. */
  stallTimeoutMs: number;
  /** Connections served at once. */
  connectionsMax: number;
}

export const defaultDataServerLimits = (): DataServerLimits => ({
  headerTimeoutMs: defaults.data_header_timeout_ms, idleTimeoutMs: defaults.data_idle_timeout_ms,
  stallTimeoutMs: defaults.push_stall_timeout_ms, connectionsMax: defaults.data_connections_max,
});

/**
 * Cuts a connection that keeps the server waiting: idle between requests,
 * a half-sent frame header, or a body that stopped arriving. Bytes only
 * stamp a time (no timer per socket read); the one timer checks it when due.
 */
class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  private mode: "idle" | "header" | "body" | "off" = "off";
  private lastByteMs = 0;

  constructor(private readonly socket: Socket, private readonly limits: DataServerLimits, private readonly expire: (why: string) => void) {
    socket.on("data", () => {
      this.lastByteMs = performance.now();
      if (this.mode === "idle") this.arm("header", limits.headerTimeoutMs);
    });
    socket.on("close", () => this.off());
  }

  /** Waiting for the next frame; `started` if some of it is already here. */
  frame(started: boolean): void {
    if (started) this.arm("header", this.limits.headerTimeoutMs);
    else this.arm("idle", this.limits.idleTimeoutMs);
  }

  body(): void {
    this.lastByteMs = performance.now();
    this.arm("body", this.limits.stallTimeoutMs);
  }

  off(): void {
    this.mode = "off";
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(mode: "idle" | "header" | "body", ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.mode = mode;
    this.timer = setTimeout(() => this.due(), ms);
  }

  private due(): void {
    this.timer = undefined;
    if (this.mode === "body") {
      const quiet = performance.now() - this.lastByteMs;
      if (quiet < this.limits.stallTimeoutMs) {
        this.timer = setTimeout(() => this.due(), this.limits.stallTimeoutMs - quiet);
        return;
      }
    }
    const why = this.mode === "idle" ? `idle for ${this.limits.idleTimeoutMs} ms`
      : this.mode === "header" ? `frame header not complete within ${this.limits.headerTimeoutMs} ms`
        : `request body stalled for ${this.limits.stallTimeoutMs} ms`;
    this.mode = "off";
    this.expire(why);
  }
}

/**
 * Listens on host:port (port 0: any free one). Under TLS a connection is served
 * once its handshake proved a client certificate signed by the cluster CA.
 */
export async function startDataServer(hostPort: string, handlers: DataHandlers, log: Logger,
  limits: DataServerLimits = defaultDataServerLimits(), security: TransportSecurity = transportSecurity()): Promise<DataServer> {
  const sockets = new Set<Socket>();
  const serve = (socket: Socket, peer: Peer) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    serveConnection(socket, peer, handlers, limits, log).catch((e) => {
      log.warn("data connection failed", { remote: `${socket.remoteAddress}:${socket.remotePort}`, error: (e as Error).message });
      socket.destroy();
    });
  };
  let server: Server;
  if (security.insecure) {
    server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => serve(socket, insecurePeer));
  } else {
    server = createTlsServer({ ...tlsServerOptions(security.identity), allowHalfOpen: true }, (socket: TLSSocket) => {
      socket.setNoDelay(true);
      let peer: Peer;
      try {
        peer = cachedPeer(socket.getPeerCertificate());
      } catch (e) {
        log.warn("data connection refused", { remote: `${socket.remoteAddress}:${socket.remotePort}`, error: (e as Error).message });
        socket.destroy();
        return;
      }
      serve(socket, peer);
    });
    // A handshake that failed (no certificate, another CA's): the client is told by TLS; we keep a line.
    server.on("tlsClientError", (e, socket) => {
      log.info("data connection refused", { remote: `${socket.remoteAddress}:${socket.remotePort}`, error: e.message.split("\n")[0] });
    });
  }
  server.maxConnections = limits.connectionsMax;
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

async function serveConnection(socket: Socket, peer: Peer, handlers: DataHandlers, limits: DataServerLimits, log: Logger): Promise<void> {
  const secure = socket instanceof TLSSocket;
  const reader = new SocketReader(socket, defaults.data_socket_buffer_bytes);
  const remote = `${socket.remoteAddress}:${socket.remotePort}`;
  const watchdog = new Watchdog(socket, limits, (why) => {
    log.info("data connection cut", { remote, why });
    reader.fail(new GfsError("EIO", `data transport: connection cut: ${why}`));
    socket.destroy();
  });
  /** A request's body, watched for stalls; the watch ends with the body (the handler's own work is not timed here). */
  async function* body(n: number): AsyncGenerator<Buffer> {
    watchdog.body();
    try {
      yield* reader.body(n);
    } finally {
      watchdog.off();
    }
  }
  for (;;) {
    let frame;
    try {
      watchdog.frame(reader.buffered > 0);
      frame = await reader.readFrame(defaults.data_message_bytes_max);
      watchdog.off();
    } catch (e) {
      if (e instanceof EndOfStream) {
        socket.end();
        return;
      }
      if (!(e instanceof GfsError)) throw e;
      return refuse(socket, reader, e);
    }
    try {
      // Who may send this kind of request, per request, before its message is even decoded. A kind
      // without an entry is refused here, so a case added below without one cannot be reached.
      const rule = dataFrameRoles.get(frame.kind);
      if (!rule) throw new GfsError("EINVAL", `data transport: a client may not send frame kind ${frame.kind}`);
      requireRole(peer, `data transport ${rule.what}`, ...rule.roles);
      switch (frame.kind) {
        case FrameKind.PUSH: {
          const header = messages.decodePushRequest(frame.message);
          if (frame.bodyBytes !== header.totalBytes) {
            throw new GfsError("EINVAL", `push ${header.dataId}: frame body of ${frame.bodyBytes} bytes, header announces ${header.totalBytes}`);
          }
          const res = await handlers.push(header, body(frame.bodyBytes), peer);
          socket.write(encodeFrame(FrameKind.OK, messages.encodePushResponse(res), 0));
          break;
        }
        case FrameKind.READ: {
          if (frame.bodyBytes !== 0) throw new GfsError("EINVAL", "a read request carries no body");
          const res = await handlers.read(messages.decodeReadRequest(frame.message), peer);
          // On TCP, corked: header and body leave in one write. Not on TLS: a corked write of several
          // buffers is first copied into one (node's TLSWrap), and the body is the bulk of the bytes.
          if (!secure) socket.cork();
          socket.write(encodeFrame(FrameKind.OK, messages.encodeReadResponse({ chunkLength: res.chunkLength }), res.data.length));
          // Once the socket has taken the bytes, their buffer may serve the next read.
          if (res.data.length) socket.write(res.data, (err) => { if (!err) res.release?.(); });
          if (!secure) socket.uncork();
          break;
        }
        case FrameKind.WRITE: {
          const req = messages.decodeWriteRequest(frame.message);
          req.data = await inlineBody(body, frame.bodyBytes);
          answer(socket, messages.encodeWriteResponse(await handlers.write(req, peer)));
          break;
        }
        case FrameKind.APPEND: {
          const req = messages.decodeAppendRequest(frame.message);
          req.data = await inlineBody(body, frame.bodyBytes);
          answer(socket, messages.encodeAppendResponse(await handlers.append(req, peer)));
          break;
        }
        case FrameKind.APPLY: {
          const req = messages.decodeApplyRequest(frame.message);
          req.data = await inlineBody(body, frame.bodyBytes);
          answer(socket, messages.encodeApplyResponse(await handlers.apply(req, peer)));
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
async function inlineBody(body: (n: number) => AsyncIterable<Buffer>, n: number): Promise<Buffer> {
  if (n > defaults.inline_write_bytes_max) throw new GfsError("EINVAL", `inline data of ${n} bytes exceeds ${defaults.inline_write_bytes_max}; push it instead`);
  const out = Buffer.allocUnsafe(n);
  let at = 0;
  for await (const piece of body(n)) at += piece.copy(out, at);
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
