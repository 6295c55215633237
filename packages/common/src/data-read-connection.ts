// The client end of bulk reads on the data transport (wire format in
// data-frames.ts): a connection whose socket reads land straight in the
// caller's buffer. net's `onread` lets us name the buffer of every read, so a
// reply body goes from the kernel into its destination with no copy in
// JavaScript and no buffer allocated per socket read (reading 1 GiB through
// the mount, those 64 KiB buffers and their copy were the largest CPU items
// after the garbage collection they caused).
//
// The header and message of the answer are read into a small scratch buffer;
// a body's bytes that came in the same socket read are copied from it, the
// rest is read into the destination, never past the announced body, so the
// kernel never hands us bytes of anything after it. One request at a time.
import type { Socket } from "node:net";
import { defaults } from "./config";
import { fromServiceError, GfsError } from "./errors";
import { encodeFrame, frameHeaderBytes, FrameKind, messages, transportError } from "./data-frames";
import type { ReadRequest } from "./generated/types";
import { connectDataSocket, type TransportSecurity } from "./transport-security";

export interface ReadResult { bytes: number; chunkLength: number }

interface Pending {
  what: string;
  out: Buffer;
  /** Where the body starts in `out`, and the most it may be. */
  outOffset: number;
  maxBody: number;
  /** Set once the header is parsed: the body's end in `out`, and how far it got. */
  bodyEnd: number;
  at: number;
  chunkLength: number;
  resolve: (r: ReadResult) => void;
  reject: (e: GfsError) => void;
}

export class ReadConnection {
  private readonly scratch = Buffer.allocUnsafe(frameHeaderBytes + defaults.data_message_bytes_max);
  /** Bytes of the current answer's header and message in `scratch`. */
  private filled = 0;
  private pending: Pending | undefined;
  private failure: GfsError | undefined;
  readonly socket: Socket;
  /** The event that says the connection is ready ("secureConnect" under TLS, whose `onread` works the same). */
  private readonly ready: "connect" | "secureConnect";

  private constructor(readonly address: string, security: TransportSecurity, serverId?: string) {
    const i = address.lastIndexOf(":");
    ({ socket: this.socket, ready: this.ready } = connectDataSocket(address.slice(0, i), Number(address.slice(i + 1)), security,
      { buffer: () => this.nextBuffer(), callback: (n: number) => this.received(n) }, serverId));
    this.socket.setNoDelay(true);
    this.socket.on("end", () => this.fail(transportError(`data transport of ${address}`, "connection closed")));
    this.socket.on("close", () => this.fail(transportError(`data transport of ${address}`, "connection closed")));
    this.socket.on("error", (e) => this.fail(transportError(`data transport of ${address}`, e)));
  }

  /**
   * A connected connection, or a transport error after `timeoutMs` (or when the
   * server's certificate does not name `serverId`, if given).
   */
  static async open(address: string, timeoutMs: number, security: TransportSecurity, serverId?: string): Promise<ReadConnection> {
    const c = new ReadConnection(address, security, serverId);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`connect timed out after ${timeoutMs} ms`)), timeoutMs);
        c.socket.once(c.ready, () => { clearTimeout(timer); resolve(); });
        c.socket.once("error", (e) => { clearTimeout(timer); reject(e); });
      });
    } catch (e) {
      c.socket.destroy();
      throw transportError(`cannot reach data transport of ${address}`, e);
    }
    return c;
  }

  /** Idle, connected and in step with the server: fit for the next request. */
  get usable(): boolean {
    return this.failure === undefined && !this.socket.destroyed && this.pending === undefined && this.filled === 0;
  }

  /**
   * Reads [req.offset, +req.length) of a chunk into `out` at `outOffset`.
   * Nothing is written into `out` outside [outOffset, outOffset + req.length),
   * and nothing at all once the returned promise has settled.
   */
  read(req: ReadRequest & { length: number }, out: Buffer, outOffset: number, what: string): Promise<ReadResult> {
    if (!this.usable) return Promise.reject(this.failure ?? transportError(what, "connection not idle"));
    if (outOffset < 0 || outOffset + req.length > out.length) return Promise.reject(new GfsError("EINVAL", `${what}: ${req.length} bytes do not fit the buffer`));
    return new Promise<ReadResult>((resolve, reject) => {
      this.pending = { what, out, outOffset, maxBody: req.length, bodyEnd: -1, at: outOffset, chunkLength: 0, resolve, reject };
      this.socket.write(encodeFrame(FrameKind.READ, messages.encodeReadRequest(req), 0));
    });
  }

  /** Fails the request in flight (if any) and closes: nothing more lands in its buffer. */
  fail(e: GfsError): void {
    this.failure ??= e;
    this.socket.destroy();
    const p = this.pending;
    this.pending = undefined;
    p?.reject(e);
  }

  close(): void {
    this.fail(transportError(`data transport of ${this.address}`, "closed"));
  }

  /** Where the kernel puts the next bytes: the rest of the body being read, else the scratch buffer. */
  private nextBuffer(): Uint8Array {
    const p = this.pending;
    if (p && p.bodyEnd >= 0 && p.at < p.bodyEnd) return p.out.subarray(p.at, p.bodyEnd);
    return this.scratch.subarray(this.filled);
  }

  private received(n: number): boolean {
    const p = this.pending;
    if (!p) {
      this.fail(new GfsError("EIO", `data transport of ${this.address}: ${n} bytes nobody asked for`));
      return false;
    }
    if (p.bodyEnd >= 0) {
      // Straight into the destination: nothing to copy.
      p.at += n;
    } else {
      this.filled += n;
      if (!this.parseHead(p)) return true;
    }
    if (p.at === p.bodyEnd) this.finish(p);
    return true;
  }

  /** Parses the answer's header and message once they are all in; false while they are not. */
  private parseHead(p: Pending): boolean {
    if (this.filled < frameHeaderBytes) return false;
    const kind = this.scratch.readUInt8(0);
    const messageBytes = this.scratch.readUInt32BE(1);
    const bodyBytes = this.scratch.readUInt32BE(5);
    if (messageBytes > defaults.data_message_bytes_max) {
      this.fail(new GfsError("EIO", `${p.what}: answer message of ${messageBytes} bytes from ${this.address}`));
      return false;
    }
    const headBytes = frameHeaderBytes + messageBytes;
    if (this.filled < headBytes) return false;
    const message = this.scratch.subarray(frameHeaderBytes, headBytes);
    if (kind === FrameKind.ERROR) {
      this.fail(fromServiceError({ details: message.toString("utf8") }));
      return false;
    }
    if (kind !== FrameKind.OK) {
      this.fail(new GfsError("EIO", `${p.what}: unexpected frame kind ${kind} from ${this.address}`));
      return false;
    }
    if (bodyBytes > p.maxBody) {
      this.fail(new GfsError("EIO", `${p.what}: server sent ${bodyBytes} bytes for ${p.maxBody} asked`));
      return false;
    }
    const early = this.filled - headBytes;
    if (early > bodyBytes) {
      this.fail(new GfsError("EIO", `${p.what}: ${early - bodyBytes} bytes after the answer from ${this.address}`));
      return false;
    }
    p.chunkLength = messages.decodeReadResponse(message).chunkLength;
    p.bodyEnd = p.outOffset + bodyBytes;
    p.at = p.outOffset + this.scratch.copy(p.out, p.outOffset, headBytes, this.filled);
    this.filled = 0;
    return true;
  }

  private finish(p: Pending): void {
    this.pending = undefined;
    p.resolve({ bytes: p.bodyEnd - p.outOffset, chunkLength: p.chunkLength });
  }
}
