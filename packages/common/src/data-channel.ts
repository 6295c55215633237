// The client end of the bulk data transport (wire format in data-frames.ts):
// a few reusable connections (mutual TLS, or TCP when insecure) per
// chunkserver, one request at a time each.
import type { Socket } from "node:net";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { defaults } from "./config";
import { fromServiceError, GfsError } from "./errors";
import { ReadConnection } from "./data-read-connection";
import { IdleConnections } from "./idle-connections";
import { connectDataSocket, transportSecurity, type TransportSecurity } from "./transport-security";
import { encodeFrame, EndOfStream, FrameKind, messages, SocketReader, transportError, type FrameHead } from "./data-frames";
import type { PushDataRequest, PushDataResponse__Output, ReadRequest } from "./generated/types";

/** One connection; `reader` stays attached for its whole life. */
class DataSocket {
  readonly reader: SocketReader;
  constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    this.reader = new SocketReader(socket, defaults.data_socket_buffer_bytes);
  }
  get usable(): boolean {
    return !this.reader.closed && !this.socket.destroyed && this.reader.buffered === 0;
  }
  close(): void {
    this.socket.destroy();
  }
}

/** A failure the server reported, or the transport's own. */
function errorOf(head: FrameHead): GfsError {
  return fromServiceError({ details: head.message.toString("utf8") });
}

export type InlineMutationKind = typeof FrameKind.WRITE | typeof FrameKind.APPEND | typeof FrameKind.APPLY;

export interface PushOperation {
  /** Sends a piece; resolves when the socket can take more. */
  write(data: Buffer): Promise<void>;
  end(): Promise<PushDataResponse__Output>;
  abort(): void;
}

export class DataChannel {
  private readonly idle = new IdleConnections<DataSocket>(defaults.data_idle_connections_max);
  /** Idle connections for reads, apart: their socket reads land in the caller's buffer. */
  private readonly idleReaders = new IdleConnections<ReadConnection>(defaults.data_idle_connections_max);
  private closed = false;

  /**
   * `onBroken` is told when the address stops answering (so the owner can look
   * it up again). `serverId`: the chunkserver the caller means; its
   * certificate must name it (undefined: any chunkserver certificate passes).
   */
  constructor(readonly address: string, private readonly onBroken: () => void = () => {},
    private readonly security: TransportSecurity = transportSecurity(), readonly serverId?: string) {}

  private async acquire(timeoutMs: number): Promise<DataSocket> {
    if (this.closed) throw transportError(`data channel to ${this.address} is closed`);
    const reused = this.idle.take();
    if (reused) return reused;
    const i = this.address.lastIndexOf(":");
    const { socket, ready } = connectDataSocket(this.address.slice(0, i), Number(this.address.slice(i + 1)), this.security, undefined, this.serverId);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`connect timed out after ${timeoutMs} ms`)), timeoutMs);
        socket.once(ready, () => { clearTimeout(timer); resolve(); });
        socket.once("error", (e) => { clearTimeout(timer); reject(e); });
      });
    } catch (e) {
      socket.destroy();
      this.onBroken();
      throw transportError(`cannot reach data transport of ${this.address}`, e);
    }
    return new DataSocket(socket);
  }

  /** Arms a deadline on `s`: when it fires the socket is cut and pending reads fail. */
  private deadline(s: DataSocket, what: string, timeoutMs: number): () => void {
    const timer = setTimeout(() => {
      const e = new GfsError("EIO", `${what} on ${this.address} timed out after ${timeoutMs} ms`, GrpcStatus.DEADLINE_EXCEEDED);
      s.reader.fail(e);
      s.socket.destroy();
    }, timeoutMs);
    return () => clearTimeout(timer);
  }

  /** Reads the server's answer frame; a closed connection becomes a transient error. */
  private async answer(s: DataSocket, what: string): Promise<FrameHead> {
    try {
      const head = await s.reader.readFrame(defaults.data_message_bytes_max);
      if (head.kind === FrameKind.ERROR) throw errorOf(head);
      if (head.kind !== FrameKind.OK) throw new GfsError("EIO", `${what}: unexpected frame kind ${head.kind} from ${this.address}`);
      return head;
    } catch (e) {
      if (e instanceof GfsError) throw e;
      throw transportError(`${what} on ${this.address}`, e instanceof EndOfStream ? "connection closed" : e);
    }
  }

  /** Starts a push whose body is written with write() and finished with end(). */
  push(header: PushDataRequest & { totalBytes: number }, timeoutMs: number): PushOperation {
    const what = `push ${header.dataId}`;
    let s: DataSocket | undefined;
    let failure: GfsError | undefined;
    let sent = 0;
    let disarm = () => {};
    const ready = this.acquire(timeoutMs).then((sock) => {
      s = sock;
      disarm = this.deadline(sock, what, timeoutMs);
      sock.socket.write(encodeFrame(FrameKind.PUSH, messages.encodePushRequest(header), header.totalBytes));
      return sock;
    });
    ready.catch(() => {}); // observed by write()/end()
    // The answer may come early (a refusal while we still send): watch for it from the start.
    const answer = ready.then((sock) => this.answer(sock, what));
    answer.catch((e: unknown) => { failure ??= e instanceof GfsError ? e : transportError(what, e); });
    const finish = (ok: boolean) => {
      disarm();
      if (!s) return;
      if (ok) this.idle.put(s);
      else s.socket.destroy();
    };
    return {
      write: async (data: Buffer) => {
        const sock = await ready;
        if (failure) throw failure;
        sent += data.length;
        if (sock.socket.write(data)) return;
        await new Promise<void>((resolve, reject) => {
          const onDrain = () => { sock.socket.off("close", onClose); resolve(); };
          const onClose = () => { sock.socket.off("drain", onDrain); reject(failure ?? transportError(`${what} on ${this.address}`, "connection closed")); };
          sock.socket.once("drain", onDrain);
          sock.socket.once("close", onClose);
        });
        if (failure) throw failure;
      },
      end: async () => {
        let sock: DataSocket;
        try {
          sock = await ready;
        } catch (e) {
          finish(false);
          throw e;
        }
        // A short body: half-close so the server sees where it ended and says so.
        if (sent < header.totalBytes) sock.socket.end();
        try {
          const head = await answer;
          const res = messages.decodePushResponse(head.message);
          finish(sent === header.totalBytes && head.bodyBytes === 0);
          return res;
        } catch (e) {
          finish(false);
          throw e;
        }
      },
      abort: () => {
        failure ??= new GfsError("EIO", `${what} abandoned`);
        ready.then(() => finish(false), () => {});
      },
    };
  }

  /**
   * Reads [offset, offset + length) of a chunk straight into `out` at `outOffset`
   * (the socket reads land there: no intermediate buffer). Returns the bytes
   * read (short at the chunk's end) and the chunk's length. Once it settled,
   * nothing more is written into `out`.
   */
  async readInto(req: ReadRequest & { length: number }, out: Buffer, outOffset: number, timeoutMs: number): Promise<{ bytes: number; chunkLength: number }> {
    const what = `read of chunk ${req.handle}`;
    if (outOffset + req.length > out.length) throw new GfsError("EINVAL", `${what}: ${req.length} bytes do not fit the buffer`);
    const c = await this.acquireReader(timeoutMs);
    const timer = setTimeout(() => {
      c.fail(new GfsError("EIO", `${what} on ${this.address} timed out after ${timeoutMs} ms`, GrpcStatus.DEADLINE_EXCEEDED));
    }, timeoutMs);
    try {
      const res = await c.read(req, out, outOffset, what);
      this.idleReaders.put(c);
      return res;
    } catch (e) {
      c.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private async acquireReader(timeoutMs: number): Promise<ReadConnection> {
    if (this.closed) throw transportError(`data channel to ${this.address} is closed`);
    const reused = this.idleReaders.take();
    if (reused) return reused;
    try {
      return await ReadConnection.open(this.address, timeoutMs, this.security, this.serverId);
    } catch (e) {
      this.onBroken();
      throw e;
    }
  }

  /**
   * Sends a small mutation whole (a WRITE, APPEND or APPLY frame: `message`
   * then `body`) and returns the message of the server's OK answer.
   */
  async mutate(kind: InlineMutationKind, what: string, message: Buffer, body: Buffer, timeoutMs: number): Promise<Buffer> {
    const s = await this.acquire(timeoutMs);
    const disarm = this.deadline(s, what, timeoutMs);
    let ok = false;
    try {
      s.socket.cork();
      s.socket.write(encodeFrame(kind, message, body.length));
      if (body.length) s.socket.write(body);
      s.socket.uncork();
      const head = await this.answer(s, what);
      if (head.bodyBytes !== 0) throw new GfsError("EIO", `${what}: unexpected body of ${head.bodyBytes} bytes from ${this.address}`);
      ok = true;
      return head.message;
    } finally {
      disarm();
      if (ok) this.idle.put(s);
      else s.socket.destroy();
    }
  }

  close(): void {
    this.closed = true;
    this.idle.closeAll();
    this.idleReaders.closeAll();
  }
}
