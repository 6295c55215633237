// The simulated network. A call is serialized with the real proto codec of
// its method (so the receiver sees exactly what gRPC would hand it, defaults
// filled in, and nothing shared with the sender), delivered after a random
// delay, maybe lost or duplicated; the answer comes back the same way. Loss
// and partitions look to the caller like gRPC's: a deadline exceeded; a
// target that is down answers UNAVAILABLE. Delays differ per message, so
// messages overtake each other (reordering). Every choice is the world's.
import type * as grpc from "@grpc/grpc-js";
import {
  chunkServerDefinition, fromServiceError, masterDefinition, toServiceError,
  type ChunkServerConnection, type ChunkServerTarget,
} from "@gfs/common";
import type { Proc, World } from "./world";

export interface NetFaults {
  delayMinMs: number;
  delayMaxMs: number;
  /** Probability that one message (request or answer) is lost. */
  loss: number;
  /** Probability that a request is delivered twice. */
  duplicate: number;
}

export const calmNet: NetFaults = { delayMinMs: 1, delayMaxMs: 5, loss: 0, duplicate: 0 };

type Handler = (call: unknown, callback?: (err: unknown, res?: unknown) => void) => void;

interface Endpoint {
  proc: Proc;
  /** The incarnation that listens: a request reaching a later one finds that one's handlers. */
  incarnation?: number;
  /** The id a chunkserver's certificate would name (a caller naming another id is refused, as TLS would). */
  serverId?: string;
  definition: grpc.ServiceDefinition;
  handlers: Record<string, Handler>;
}

const namespaceChanges = new Set(["Create", "CreateForWriting", "Mkdir", "Symlink", "Rename", "Delete", "SetAttributes", "Truncate", "Link", "Mknod", "SetXattr", "RemoveXattr", "KeepSession"]);

const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNAVAILABLE = 14;

/** A gRPC call object as far as the handlers and guards read it: the request, no certificate (insecure peer), empty metadata. */
function fakeCall(request: unknown): Record<string, unknown> {
  return { request, getAuthContext: () => ({}), metadata: { get: () => [] }, getPeer: () => "sim" };
}

/** The handle, version, lease and path of a request, for the trace. */
function brief(req: unknown): string {
  const r = req as { handle?: string; version?: number; leaseMs?: number; path?: string; serial?: number; index?: number };
  let s = "";
  if (r.path) s += ` ${r.path}`;
  if (r.index !== undefined && r.path) s += `#${r.index}`;
  if (r.handle) s += ` ${r.handle.slice(0, 6)}`;
  if (r.version) s += ` v${r.version}`;
  if (r.leaseMs) s += " +lease";
  if (r.serial) s += ` s${r.serial}`;
  return s;
}

export class Network {
  private readonly endpoints = new Map<string, Endpoint>();
  /** Unordered pairs of process names that cannot talk ("a|b", sorted). */
  private readonly cut = new Set<string>();
  faults: NetFaults = calmNet;
  stats = { sent: 0, lost: 0, duplicated: 0, refused: 0 };

  constructor(private readonly world: World) {}

  listen(address: string, ep: Endpoint): void {
    this.endpoints.set(address, { ...ep, incarnation: ep.proc.incarnation });
  }

  private key(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  partition(a: string, b: string): void { this.cut.add(this.key(a, b)); }
  heal(a: string, b: string): void { this.cut.delete(this.key(a, b)); }
  healAll(): void { this.cut.clear(); }
  get partitions(): string[] { return [...this.cut].sort(); }
  private blocked(a: string, b: string): boolean { return this.cut.has(this.key(a, b)); }

  private delay(): number {
    return this.world.rng.between(this.faults.delayMinMs, this.faults.delayMaxMs);
  }

  private lost(): boolean {
    const l = this.world.rng.chance(this.faults.loss);
    if (l) this.stats.lost++;
    return l;
  }

  /**
   * `from` calls `method` at `address`. Resolves with the decoded answer
   * (a streaming method: the list of its messages) or rejects with the
   * GfsError a promise client would (fromServiceError).
   */
  call(from: Proc, address: string, method: string, request: unknown, timeoutMs: number, serverId?: string): Promise<any> {
    const w = this.world;
    const label = `${from.name}->${address} ${method}${brief(request)}`;
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (err: unknown, res?: unknown) => {
        if (settled) return;
        settled = true;
        timer.cancelled = true;
        if (err) reject(fromServiceError(err));
        else resolve(res);
      };
      const timer = w.schedule(timeoutMs, `timeout ${label}`, () => finish({ code: GRPC_DEADLINE_EXCEEDED, details: "Deadline exceeded" }), from);
      const first = this.endpoints.get(address);
      const def = first?.definition[method];
      if (!first || !def) {
        finish({ code: GRPC_UNAVAILABLE, details: `no such address ${address}` });
        return;
      }
      const bytes = def.requestSerialize(request);
      const answer = (err: unknown, res: unknown, payload: () => unknown) => {
        if (this.blocked(first.proc.name, from.name) || this.lost()) return;
        const encoded = err ? undefined : payload();
        w.schedule(this.delay(), `${err ? "error" : "answer"} ${label}${err ? `: ${(err as { details?: string }).details}` : ""}`, () => {
          void res;
          finish(err, encoded);
        }, from);
      };
      const deliver = () => {
        // Looked up on arrival: a server restarted since the send answers with its new incarnation.
        const target = this.endpoints.get(address)!;
        if (!target.proc.up || target.incarnation !== target.proc.incarnation) {
          this.stats.refused++;
          answer({ code: GRPC_UNAVAILABLE, details: `connection refused by ${address}` }, undefined, () => undefined);
          return;
        }
        if (serverId && target.serverId && serverId !== target.serverId) {
          answer({ code: GRPC_UNAVAILABLE, details: `certificate of ${address} names ${target.serverId}, not ${serverId}` }, undefined, () => undefined);
          return;
        }
        const at = target.proc.incarnation;
        const alive = () => target.proc.up && target.proc.incarnation === at; // a crashed server sends no answer
        const handler = target.handlers[method]!;
        const req = def.requestDeserialize(bytes);
        if (def.responseStream) {
          const out: Buffer[] = [];
          let ended = false;
          const stream = Object.assign(fakeCall(req), {
            cancelled: false,
            write: (msg: unknown) => { out.push(def.responseSerialize(msg)); return true; },
            end: () => { if (!ended && alive()) { ended = true; answer(null, out, () => out.map((b) => def.responseDeserialize(b))); } },
            emit: (what: string, e: unknown) => { if (what === "error" && !ended && alive()) { ended = true; answer(e, undefined, () => undefined); } return true; },
            once: () => stream,
            on: () => stream,
          });
          handler(stream);
          return;
        }
        handler(fakeCall(req), (err: unknown, res?: unknown) => {
          if (!alive()) return;
          if (err) { answer(err, undefined, () => undefined); return; }
          const encoded = def.responseSerialize(res);
          (res as { release?: () => void } | undefined)?.release?.(); // a Read's pooled buffer: copied out now
          answer(null, res, () => def.responseDeserialize(encoded));
        });
      };
      const send = (what: string) => {
        this.stats.sent++;
        if (this.blocked(from.name, first.proc.name) || this.lost()) return;
        w.schedule(this.delay(), `${what} ${label}`, deliver);
      };
      send("deliver");
      // gRPC never hands a request over twice; a duplicate stands for a caller's retry. A namespace change at the
      // master is not retried by the transport (a late second Delete would remove the file created after the first).
      if (!namespaceChanges.has(method) && this.world.rng.chance(this.faults.duplicate)) {
        this.stats.duplicated++;
        send("deliver-dup");
      }
    });
  }
}

/** A ChunkServerPool look-alike for process `from`: `get(target).api.<Rpc>(req, {timeoutMs})` over the network. */
export class SimPool {
  constructor(private readonly net: Network, private readonly from: Proc) {}

  get(target: string | ChunkServerTarget): ChunkServerConnection {
    const { address, serverId } = typeof target === "string" ? { address: target, serverId: undefined } : target;
    const api = new Proxy({}, {
      get: (_t, method: string) => (req: unknown, o?: { timeoutMs?: number }) =>
        this.net.call(this.from, address, method, req, o?.timeoutMs ?? 10_000, serverId || undefined),
    });
    // FetchChunk (re-replication) is the one streaming call: an async iterable over the answer's messages.
    const raw = {
      FetchChunk: (req: unknown) => {
        const messages = this.net.call(this.from, address, "FetchChunk", req, 10_000, serverId || undefined);
        return {
          cancel: () => {},
          async *[Symbol.asyncIterator]() { for (const m of await messages) yield m; },
        };
      },
      close: () => {},
    };
    return { raw: raw as never, api: api as never, data: async () => undefined };
  }

  close(): void {}
}

/** The master as a promise client for `from`. */
export function masterClient(net: Network, from: Proc, address: string): Record<string, (req: unknown, o?: { timeoutMs?: number }) => Promise<any>> {
  return new Proxy({}, {
    get: (_t, method: string) => (req: unknown, o?: { timeoutMs?: number }) => net.call(from, address, method, req, o?.timeoutMs ?? 10_000),
  }) as never;
}

export const chunkServerDefinitionOf = chunkServerDefinition;
export const masterDefinitionOf = masterDefinition;
export { toServiceError };
