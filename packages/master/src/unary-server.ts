// The master's gRPC server: the gRPC wire protocol (length-prefixed protobuf
// over HTTP/2, status in trailers) for unary methods, straight on node:http2.
// Why not grpc-js's server: every master method is unary and small, and at
// thousands of calls per second grpc-js's per-call machinery (interceptor
// chain, metadata objects, compression and deadline handling, tracing) cost
// more CPU than the master's own work: measured on a 2-core machine, a
// trivial handler behind grpc-js took ~180-240 us of CPU per call, the same
// behind bare node:http2 ~120 us. Clients still use grpc-js unchanged;
// chunkservers, which stream, keep the grpc-js server (common/protocol.ts).
//
// What this server does not do, and why that is safe here:
// - compressed requests are refused (UNIMPLEMENTED): our clients never compress;
// - grpc-timeout is not enforced here: the client enforces its own deadline
//   and discards a late answer, and a handler's effect (a committed op) stands
//   either way, exactly as with grpc-js, whose handlers ignore cancellation too;
// - request metadata is not read: no master method uses any.
import * as http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import type * as grpc from "@grpc/grpc-js";
import { defaults, toServiceError } from "@gfs/common";

/** gRPC status codes this file sends (the numbers are the wire protocol's). */
const Status = { OK: 0, INTERNAL: 13, UNIMPLEMENTED: 12, RESOURCE_EXHAUSTED: 8 } as const;

interface Method {
  handler: grpc.handleUnaryCall<unknown, unknown>;
  deserialize: (b: Buffer) => unknown;
  serialize: (m: unknown) => Buffer;
}

export interface UnaryServerOptions {
  /** Largest request message accepted, in bytes. */
  maxReceiveBytes?: number;
  /** Largest response message sent, in bytes (a bigger one fails with RESOURCE_EXHAUSTED). */
  maxSendBytes?: number;
  /** Ping each connection this often and drop it if the ping is not answered within keepaliveTimeoutMs. */
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
}

// Same options as the grpc-js servers (common/protocol.ts channelOptions), so both behave alike.
const defaultOptions: Required<UnaryServerOptions> = {
  maxReceiveBytes: defaults.grpc_message_bytes_max,
  maxSendBytes: defaults.grpc_message_bytes_max,
  keepaliveTimeMs: 10_000,
  keepaliveTimeoutMs: 5_000,
};

// Only what gRPC requires: every header is encoded per call (no grpc-encoding means identity).
const okHeaders = { ":status": 200, "content-type": "application/grpc+proto" };
const okTrailers = { "grpc-status": String(Status.OK) };

export class UnaryServer {
  private readonly methods = new Map<string, Method>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly http2Server: http2.Http2Server;
  private readonly options: Required<UnaryServerOptions>;
  private keepalive: NodeJS.Timeout | undefined;

  constructor(definition: grpc.ServiceDefinition, handlers: grpc.UntypedServiceImplementation, options: UnaryServerOptions = {}) {
    this.options = { ...defaultOptions, ...options };
    for (const [name, m] of Object.entries(definition)) {
      if (m.requestStream || m.responseStream) throw new Error(`UnaryServer serves unary methods only; ${m.path} streams`);
      const handler = handlers[name];
      if (!handler) continue; // answered UNIMPLEMENTED, as grpc-js does for a method without a handler
      this.methods.set(m.path, { handler: handler as grpc.handleUnaryCall<unknown, unknown>, deserialize: m.requestDeserialize, serialize: m.responseSerialize });
    }
    // Session memory as for the grpc-js servers: node's default limit throttles busy connections.
    this.http2Server = http2.createServer({ maxSessionMemory: 256, maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER });
    this.http2Server.setTimeout(0);
    // An answer's trailers may leave in a write of their own: Nagle would hold them for the client's ACK.
    this.http2Server.on("connection", (socket: Socket) => socket.setNoDelay(true));
    this.http2Server.on("session", (session) => {
      this.sessions.add(session);
      session.on("close", () => this.sessions.delete(session));
      session.on("error", () => {}); // the session closes; its streams see the error
    });
    this.http2Server.on("stream", (stream, headers) => this.onStream(stream, headers));
  }

  /** Listens on host:port (port 0 picks a free one); resolves to the bound port. */
  listen(hostPort: string): Promise<number> {
    const i = hostPort.lastIndexOf(":");
    const host = hostPort.slice(0, i).replace(/^\[(.*)\]$/, "$1");
    const port = Number(hostPort.slice(i + 1));
    return new Promise((resolve, reject) => {
      this.http2Server.once("error", reject);
      this.http2Server.listen(port, host, () => {
        this.http2Server.off("error", reject);
        this.startKeepalive();
        resolve((this.http2Server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops accepting connections, lets calls in flight finish for up to `graceMs`, then cuts the rest. */
  stop(graceMs = 2_000): Promise<void> {
    clearInterval(this.keepalive);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        for (const s of this.sessions) s.destroy();
        resolve();
      }, graceMs);
      this.http2Server.close(() => { clearTimeout(timer); resolve(); });
      for (const s of this.sessions) s.close(); // GOAWAY: no new calls; the ones in flight complete
    });
  }

  /** Drops connections whose peer stopped answering (as grpc-js servers do), so a vanished client holds nothing. */
  private startKeepalive(): void {
    const { keepaliveTimeMs, keepaliveTimeoutMs } = this.options;
    this.keepalive = setInterval(() => {
      for (const s of this.sessions) {
        if (s.closed || s.destroyed) continue;
        const timer = setTimeout(() => s.destroy(), keepaliveTimeoutMs);
        timer.unref();
        try {
          if (!s.ping((err) => { clearTimeout(timer); if (err) s.destroy(); })) { clearTimeout(timer); }
        } catch {
          clearTimeout(timer);
          s.destroy();
        }
      }
    }, keepaliveTimeMs);
    this.keepalive.unref();
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on("error", () => {}); // a reset by the client: nothing to answer
    const contentType = headers["content-type"];
    if (typeof contentType !== "string" || !contentType.startsWith("application/grpc")) {
      stream.respond({ ":status": 415 }, { endStream: true });
      return;
    }
    const method = this.methods.get(headers[":path"] as string);
    if (!method) {
      this.fail(stream, Status.UNIMPLEMENTED, `The server does not implement the method ${headers[":path"]}`);
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    let refused = false;
    stream.on("data", (d: Buffer) => {
      if (refused) return;
      bytes += d.length;
      if (bytes > this.options.maxReceiveBytes + 5) {
        refused = true;
        this.fail(stream, Status.RESOURCE_EXHAUSTED, `Received message larger than max (${bytes - 5} vs. ${this.options.maxReceiveBytes})`);
        return;
      }
      chunks.push(d);
    });
    stream.on("end", () => {
      if (refused) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5) {
        this.fail(stream, Status.INTERNAL, "a unary call needs exactly one request message");
        return;
      }
      if (body[0] !== 0) {
        this.fail(stream, Status.UNIMPLEMENTED, "compressed requests are not accepted");
        return;
      }
      let request: unknown;
      try {
        request = method.deserialize(body.subarray(5));
      } catch {
        this.fail(stream, Status.INTERNAL, "Error deserializing request");
        return;
      }
      // The handlers (common/protocol.ts `unary`) read only `request` from the call.
      method.handler({ request } as grpc.ServerUnaryCall<unknown, unknown>, (err, value) => {
        if (err) {
          const e = err as Partial<grpc.ServiceError>;
          this.fail(stream, e.code ?? Status.INTERNAL, e.details ?? e.message ?? "");
        } else {
          this.reply(stream, method, value);
        }
      });
    });
  }

  private reply(stream: http2.ServerHttp2Stream, method: Method, value: unknown): void {
    let msg: Buffer;
    try {
      msg = method.serialize(value);
    } catch (e) {
      const se = toServiceError(e);
      this.fail(stream, Status.INTERNAL, `Error serializing response: ${se.details}`);
      return;
    }
    if (msg.length > this.options.maxSendBytes) {
      this.fail(stream, Status.RESOURCE_EXHAUSTED, `Sent message larger than max (${msg.length} vs. ${this.options.maxSendBytes})`);
      return;
    }
    if (stream.destroyed || stream.closed) return; // the client gave up (deadline or cancel)
    const frame = Buffer.allocUnsafe(5 + msg.length);
    frame[0] = 0;
    frame.writeUInt32BE(msg.length, 1);
    msg.copy(frame, 5);
    stream.respond(okHeaders, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers(okTrailers));
    stream.end(frame);
  }

  /** A trailers-only answer carrying the error status. */
  private fail(stream: http2.ServerHttp2Stream, code: number, details: string): void {
    if (stream.destroyed || stream.closed || stream.headersSent) return;
    stream.respond({
      ":status": 200, "content-type": "application/grpc+proto", "grpc-status": String(code), "grpc-message": encodeURI(details),
    }, { endStream: true });
  }
}
