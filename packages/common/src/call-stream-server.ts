// The master's end of a call stream (Master.Calls, proto/gfs.proto CallFrame):
// one long-lived bidirectional stream per client carries its metadata calls,
// each frame naming its id and method, instead of one unary call each (a
// message on an open stream costs a tenth of a unary round trip here).
//
// Every call is served by the same guarded handler as its unary twin
// (rpc-guard.ts), given a call-like object with the request, the caller it
// claims as metadata, and the stream's auth context: role checks, callerOf and
// peerOf see what they see on a unary call. The auth context is read once per
// stream (grpc-js parses the peer certificate each time it is asked).
//
// Bounded: at most `inFlightMax` calls run per stream, and an answer the
// client does not read stops the reading of its calls, so a client can make
// the master hold neither unbounded work nor unbounded answers. A bad frame
// (unknown method, undecodable or oversize payload, duplicate id) is answered
// with an error for its id; it never ends the stream or the process.
import * as grpc from "@grpc/grpc-js";
import type { AuthContext } from "@grpc/grpc-js/build/src/auth-context";
import { callerHeader } from "./caller";
import { GfsError, toServiceError } from "./errors";
import type { CallFrame, CallFrame__Output } from "./generated/gfs/CallFrame";

export interface CallStreamLimits {
  /** Calls running at once on one stream (config call_stream_in_flight_max). */
  inFlightMax: number;
  /** Largest request payload plus caller of one call (config call_stream_request_bytes_max). */
  requestBytesMax: number;
  /** Largest answer payload: a frame over the stream's message limit would end the whole stream. */
  answerBytesMax: number;
}

/** Methods of `definition` a call stream may carry: the unary ones but those in `unaryOnly`. */
export function streamableMethods(definition: grpc.ServiceDefinition, unaryOnly: Iterable<string>): string[] {
  const excluded = new Set(unaryOnly);
  return Object.entries(definition).filter(([name, m]) => !m.requestStream && !m.responseStream && !excluded.has(name)).map(([name]) => name);
}

type UnaryHandler = (call: unknown, callback: (err: Partial<grpc.ServiceError> | null, value?: unknown) => void) => void;

interface Method {
  handler: UnaryHandler;
  decode: (b: Buffer) => unknown;
  encode: (v: unknown) => Buffer;
  path: string;
}

interface Running {
  cancelled: boolean;
  /** ms since epoch after which nobody waits for the answer. */
  deadline: number;
}

/** The answer of call `id` that failed with `e`: a thrown error, or the status a unary handler called back with. */
const errorAnswer = (id: number, e: unknown): CallFrame => {
  const status = !(e instanceof Error) && typeof e === "object" && e !== null && "code" in e;
  const s = status ? e as Partial<grpc.ServiceError> : toServiceError(e);
  return { id, error: { code: s.code ?? grpc.status.INTERNAL, details: s.details ?? "EIO: unknown error" } };
};

/**
 * Serves call streams for one service. `handler` is what the server registers
 * for the stream method; `serve(handlers)` names the (guarded) unary handlers
 * inner calls go to; `close()` ends every stream at shutdown.
 */
export class CallStreamServer {
  private methods = new Map<string, Method>();
  private readonly streams = new Set<{ end(): void }>();
  private closing = false;

  constructor(private readonly service: string, private readonly definition: grpc.ServiceDefinition,
    private readonly names: readonly string[], private readonly limits: CallStreamLimits) {}

  /** Inner calls of every stream go to `handlers[method]` (the same guarded handlers the server registers). */
  serve(handlers: Record<string, unknown>): void {
    const methods = new Map<string, Method>();
    for (const name of this.names) {
      const d = this.definition[name];
      const handler = handlers[name];
      if (!d || typeof handler !== "function") throw new Error(`${this.service}.${name} is no unary method with a handler`);
      methods.set(name, { handler: handler as UnaryHandler, decode: d.requestDeserialize, encode: d.responseSerialize, path: d.path });
    }
    this.methods = methods;
  }

  /** Streams open now. */
  get open(): number { return this.streams.size; }

  /**
   * Shutdown: every stream refuses new calls (UNAVAILABLE, which clients retry
   * elsewhere or later) and ends as soon as its calls in flight are answered.
   */
  close(): void {
    this.closing = true;
    for (const s of [...this.streams]) s.end();
  }

  readonly handler = (call: grpc.ServerDuplexStream<CallFrame__Output, CallFrame>): void => {
    // Once per stream: grpc-js reads the peer certificate again at every getAuthContext.
    const auth: AuthContext = call.getAuthContext();
    const peer = call.getPeer();
    const running = new Map<number, Running>();
    const { inFlightMax, requestBytesMax, answerBytesMax } = this.limits;
    let halfClosed = false;
    let gone = false;
    let writeBlocked = false;
    let reading = true;

    const finishIfDone = () => {
      if (gone || running.size > 0 || !(halfClosed || this.closing)) return;
      gone = true;
      this.streams.delete(entry);
      call.end();
    };
    const entry = { end: finishIfDone };
    this.streams.add(entry);

    /** Reading goes on while there is room for another call and the client takes its answers. */
    const flow = () => {
      const want = !gone && !writeBlocked && running.size < inFlightMax;
      if (want && !reading) { reading = true; call.resume(); }
      else if (!want && reading) { reading = false; call.pause(); }
    };
    const send = (frame: CallFrame) => {
      if (gone) return;
      if (!call.write(frame)) {
        writeBlocked = true;
        call.once("drain", () => { writeBlocked = false; flow(); });
      }
      flow();
    };

    const start = (f: CallFrame__Output) => {
      const id = f.id;
      if (f.cancel) {
        const r = running.get(id);
        if (r) r.cancelled = true;
        return;
      }
      if (!Number.isSafeInteger(id) || id <= 0) throw new GfsError("EINVAL", `call id ${id}: ids are positive (0 is for notices)`);
      // The first call keeps its id; the duplicate's answer goes to the client, which sees a broken invariant.
      if (running.has(id)) throw new GfsError("EINVAL", `duplicate call id ${id}: a call with this id is still in flight`);
      if (this.closing) throw new GfsError("EIO", `${this.service} is shutting down`, grpc.status.UNAVAILABLE);
      const m = this.methods.get(f.method);
      if (!m) {
        throw new GfsError("EINVAL", `${this.service}.${f.method.slice(0, 64)} cannot be called on a call stream`
          + " (unknown, or served only as a unary call)", grpc.status.UNIMPLEMENTED);
      }
      const size = f.payload.length + f.caller.length;
      if (size > requestBytesMax) throw new GfsError("EINVAL", `${this.service}.${f.method} call of ${size} bytes: over the ${requestBytesMax}-byte limit of a call`);
      let request: unknown;
      try {
        request = m.decode(f.payload);
      } catch (e) {
        throw new GfsError("EINVAL", `${this.service}.${f.method}: undecodable request (${(e as Error).message})`);
      }
      const metadata = new grpc.Metadata();
      // Validated by the handler (caller.ts parseCaller), as the header of a unary call is.
      try {
        if (f.caller) metadata.set(callerHeader, f.caller);
      } catch {
        // What no unary call can carry (a header value with control characters).
        throw new GfsError("EINVAL", `bad ${callerHeader} ${JSON.stringify(f.caller.slice(0, 80))}`);
      }
      const deadline = f.timeoutMs > 0 ? Date.now() + f.timeoutMs : Infinity;
      const r: Running = { cancelled: false, deadline };
      running.set(id, r);
      const inner = {
        request, metadata, cancelled: false,
        getAuthContext: () => auth,
        getPeer: () => peer,
        getPath: () => m.path,
        getDeadline: () => deadline,
        // The guard reports refusals through the callback for unary handlers; nothing listens on an inner call.
        emit: () => false,
        on() { return this; },
      };
      let answered = false;
      const done = (err: Partial<grpc.ServiceError> | null, value?: unknown) => {
        if (answered) return;
        answered = true;
        running.delete(id);
        // Cancelled or past its deadline: the client already failed the call; the answer would be dropped there.
        if (!r.cancelled && Date.now() <= r.deadline) send(err ? errorAnswer(id, err) : encodeAnswer(id, f.method, m, value));
        flow();
        finishIfDone();
      };
      flow();
      try {
        m.handler(inner, done);
      } catch (e) {
        done(toServiceError(e));
      }
    };

    const encodeAnswer = (id: number, method: string, m: Method, value: unknown): CallFrame => {
      let payload: Buffer;
      try {
        payload = m.encode(value);
      } catch (e) {
        return errorAnswer(id, new GfsError("EIO", `${this.service}.${method}: unencodable answer (${(e as Error).message})`));
      }
      if (payload.length > answerBytesMax) {
        return errorAnswer(id, new GfsError("EIO", `${this.service}.${method}: answer of ${payload.length} bytes is over the ${answerBytesMax}-byte limit of a call stream`,
          grpc.status.RESOURCE_EXHAUSTED));
      }
      return { id, payload };
    };

    call.on("data", (f: CallFrame__Output) => {
      try {
        start(f);
      } catch (e) {
        send(errorAnswer(Number.isSafeInteger(f.id) ? f.id : 0, e));
      }
    });
    call.on("end", () => { halfClosed = true; finishIfDone(); });
    const drop = () => {
      gone = true;
      this.streams.delete(entry);
      for (const r of running.values()) r.cancelled = true;
    };
    call.on("cancelled", drop);
    call.on("error", drop);
    call.on("close", drop);
  };
}
