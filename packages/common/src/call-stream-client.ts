// The client's end of a call stream (call-stream-server.ts): the unary
// methods of a service as promises, as promiseClient (protocol.ts) makes them,
// but carried as frames on one bidirectional stream opened on first use.
//
// A call fails as its unary twin would: the same GfsError for the same
// answer; DEADLINE_EXCEEDED when its deadline passes (the master is told to
// drop it); and UNAVAILABLE (transient: retry.ts retries it as a lost unary
// call) for every call in flight when the stream breaks. The next call opens a
// new stream. An idle stream is closed after `idleCloseMs`: an open stream
// holds a reference on its connection and would keep the process alive.
//
// One stream speaks to one master. A client of a replicated master (issue 16)
// holds one of these per master, and client-core's master-calls.ts moves each
// call to the next master (master-set.ts decides): that is where a stream is
// reopened on another master, and where a mutation lost in flight is retried
// only if it is safe to.
import * as grpc from "@grpc/grpc-js";
import { callerHeader } from "./caller";
import { fromServiceError, GfsError, type Errno } from "./errors";
import type { CallFrame, CallFrame__Output } from "./generated/gfs/CallFrame";
import type { CallNotice__Output } from "./generated/gfs/CallNotice";
import { defaults } from "./config";
import { promiseClient, type CallOptions, type PromiseClient } from "./protocol";

export interface CallStreamClientOptions {
  /** Unary methods carried on the stream; the others stay unary calls. */
  methods: readonly string[];
  /** The gfs-caller value of a call made now ("" for none); read in the caller's async context. */
  caller: () => string;
  /** Close the stream after this long without a call in flight; 0: keep it until close(). */
  idleCloseMs?: number;
  /** Notices the server pushes (id 0; none are sent yet). */
  onNotice?: (n: CallNotice__Output) => void;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: GfsError) => void;
  timer: NodeJS.Timeout;
  decode: (b: Buffer) => unknown;
}

interface Session {
  stream: grpc.ClientDuplexStream<CallFrame, CallFrame__Output>;
  pending: Map<number, Pending>;
  ended: boolean;
}

interface Method {
  encode: (v: unknown) => Buffer;
  decode: (b: Buffer) => unknown;
}

/** What a call in flight fails with when its stream ends: the stream's own refusal (EACCES...), else UNAVAILABLE. */
function lostCall(err: Partial<grpc.ServiceError> | undefined, service: string): GfsError {
  const e = err && err.code !== grpc.status.OK ? fromServiceError(err) : undefined;
  if (e && e.errno !== "EIO") return e;
  const why = e?.message.replace(/^EIO: /, "") ?? "the server ended it";
  return new GfsError("EIO" as Errno, `call stream to ${service} lost: ${why}`, grpc.status.UNAVAILABLE);
}

/** A PromiseClient<C> whose `methods` go over `service`'s call stream `streamMethod`; close() ends the stream. */
export function callStreamClient<C extends grpc.Client>(client: C, definition: grpc.ServiceDefinition, service: string,
  streamMethod: string, o: CallStreamClientOptions): PromiseClient<C> & { close(): void } {
  const idleCloseMs = o.idleCloseMs ?? defaults.call_stream_idle_close_ms;
  const methods = new Map<string, Method>();
  for (const name of o.methods) {
    const d = definition[name];
    if (!d || d.requestStream || d.responseStream) throw new Error(`${service}.${name} is no unary method`);
    methods.set(name, { encode: d.requestSerialize, decode: d.responseDeserialize });
  }
  let session: Session | undefined;
  let nextId = 1;
  let idleTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const fail = (s: Session, err?: Partial<grpc.ServiceError>) => {
    if (s.ended) return;
    s.ended = true;
    if (session === s) session = undefined;
    const e = lostCall(err, service);
    for (const p of s.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    s.pending.clear();
  };

  const maybeIdle = (s: Session) => {
    if (s.pending.size > 0 || idleCloseMs <= 0 || session !== s) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      if (session !== s || s.pending.size > 0) return;
      session = undefined;
      s.ended = true;
      s.stream.end();
    }, idleCloseMs);
    idleTimer.unref();
  };

  const open = (): Session => {
    const stream = (client as unknown as Record<string, (md: grpc.Metadata) => Session["stream"]>)[streamMethod]!(new grpc.Metadata());
    const s: Session = { stream, pending: new Map(), ended: false };
    stream.on("data", (f: CallFrame__Output) => {
      if (f.id === 0) {
        if (f.notice) o.onNotice?.(f.notice);
        return;
      }
      const p = s.pending.get(f.id);
      if (!p) return; // cancelled by its deadline
      s.pending.delete(f.id);
      clearTimeout(p.timer);
      if (f.error) p.reject(fromServiceError({ code: f.error.code, details: f.error.details }));
      else {
        try {
          p.resolve(p.decode(f.payload));
        } catch (e) {
          p.reject(new GfsError("EIO", `${service}: undecodable answer (${(e as Error).message})`, grpc.status.INTERNAL));
        }
      }
      maybeIdle(s);
    });
    stream.on("error", (e: grpc.ServiceError) => fail(s, e));
    stream.on("end", () => fail(s));
    stream.on("close", () => fail(s));
    return s;
  };

  const call = (name: string, m: Method, request: unknown, options?: CallOptions): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (closed) throw new GfsError("EIO", `${service} client closed`, grpc.status.CANCELLED);
      const timeoutMs = options?.timeoutMs ?? defaults.rpc_deadline_ms;
      const payload = m.encode(request);
      clearTimeout(idleTimer);
      const s = session ?? (session = open());
      const id = nextId++;
      const timer = setTimeout(() => {
        if (!s.pending.delete(id)) return;
        reject(new GfsError("EIO", `Deadline exceeded after ${timeoutMs} ms (${service}.${name} on the call stream)`, grpc.status.DEADLINE_EXCEEDED));
        if (!s.ended) s.stream.write({ id, cancel: true });
        maybeIdle(s);
      }, timeoutMs);
      s.pending.set(id, { resolve, reject, timer, decode: m.decode });
      s.stream.write({ id, method: name, payload, caller: o.caller(), timeoutMs });
    }).catch((e) => { throw fromServiceError(e); });

  const unary = promiseClient(client, definition, () => {
    const md = new grpc.Metadata();
    const c = o.caller();
    if (c) md.set(callerHeader, c);
    return md;
  }) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(unary)) {
    const m = methods.get(name);
    out[name] = m ? (request: unknown, options?: CallOptions) => call(name, m, request, options) : unary[name];
  }
  out.close = () => {
    closed = true;
    clearTimeout(idleTimer);
    if (session) {
      const s = session;
      fail(s, { code: grpc.status.CANCELLED, details: `${service} client closed` });
      s.stream.cancel();
    }
  };
  return out as PromiseClient<C> & { close(): void };
}
