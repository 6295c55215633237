// The one place gRPC servers and clients are made, so transport settings
// (message limits, keepalive, mutual TLS: transport-security.ts) apply to
// every component at once. Types are generated from proto/gfs.proto.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { join } from "node:path";
import { defaults } from "./config";
import { streamableMethods } from "./call-stream-server";
import { fromServiceError, toServiceError } from "./errors";
import type { ProtoGrpcType } from "./generated/gfs";
import type { MasterClient, MasterHandlers } from "./generated/gfs/Master";
import type { ChunkServerClient, ChunkServerHandlers } from "./generated/gfs/ChunkServer";
import type { TlsIdentity } from "./tls-identity";
import {
  chunkserverCheckOf, secureContextOf, serverRoleCheckOf, tlsServerOptions, transportSecurity, type ServerIdentityCheck, type TransportSecurity,
} from "./transport-security";

/** Must match the flags in scripts/gen-proto.mjs, or the generated types lie. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true,
};

const protoPath = join(__dirname, "..", "..", "..", "proto", "gfs.proto");
const loaded = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, PROTO_LOADER_OPTIONS)) as unknown as ProtoGrpcType;
export const gfsProto = loaded.gfs;

const channelOptions: grpc.ChannelOptions = {
  "grpc.max_receive_message_length": defaults.grpc_message_bytes_max,
  "grpc.max_send_message_length": defaults.grpc_message_bytes_max,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
  // A server back after an outage is used within seconds, not after gRPC's exponential backoff (up to 120 s).
  "grpc.max_reconnect_backoff_ms": defaults.grpc_reconnect_backoff_max_ms,
  "grpc.http2.max_pings_without_data": 0,
  // Data pushes want large HTTP/2 windows; grpc-js's defaults throttle bulk streams.
  "grpc-node.max_session_memory": 256,
  // TLS: the name sent as SNI. Servers are told apart by their certificate's role, not a host name
  // (addresses are ephemeral), and an IP address is no valid SNI name (Node warns, DEP0123).
  "grpc.ssl_target_name_override": "gfs",
};

export type { MasterClient, MasterHandlers, ChunkServerClient, ChunkServerHandlers };

// Weak both ways: a check function the id cache dropped (transport-security.ts) takes its credentials with it.
const channelCredentials = new WeakMap<object, WeakMap<ServerIdentityCheck, grpc.ChannelCredentials>>();

/**
 * Credentials of a channel: the process's identity, the server's certificate
 * checked against the cluster CA and by `check` (its role, or a chunkserver's
 * id; not its host name). One object per identity and check (the checks are
 * cached functions), so channels share connections.
 */
function credentials(security: TransportSecurity, check: ServerIdentityCheck): grpc.ChannelCredentials {
  if (security.insecure) return grpc.credentials.createInsecure();
  let byCheck = channelCredentials.get(security.identity);
  if (!byCheck) channelCredentials.set(security.identity, (byCheck = new WeakMap()));
  let c = byCheck.get(check);
  if (!c) {
    c = grpc.credentials.createFromSecureContext(secureContextOf(security.identity), { checkServerIdentity: check });
    byCheck.set(check, c);
  }
  return c;
}

/** `security`: this process's transport security unless given (a GfsClient may have its own identity). */
export function newMasterClient(address: string, security: TransportSecurity = transportSecurity()): MasterClient {
  // Only one master exists: its role is its identity.
  return new gfsProto.Master(address, credentials(security, serverRoleCheckOf("master")), channelOptions);
}

/**
 * A channel to the chunkserver at `address`; with `serverId`, its certificate
 * must name that id (else any chunkserver certificate passes: for callers
 * that were given an address and no id).
 */
export function newChunkServerClient(address: string, security: TransportSecurity = transportSecurity(), serverId?: string): ChunkServerClient {
  return new gfsProto.ChunkServer(address, credentials(security, chunkserverCheckOf(address, serverId)), channelOptions);
}

/**
 * Mutual TLS for a server: as ServerCredentials.createSsl(ca, [{cert, key}], true),
 * which demands a client certificate signed by the cluster CA, plus what
 * createSsl has no parameter for: TLS 1.3 only and our cipher suite order.
 */
class MutualTlsServerCredentials extends grpc.ServerCredentials {
  constructor(readonly identity: TlsIdentity) {
    super({ requestCert: true, rejectUnauthorized: true }, tlsServerOptions(identity));
  }
  _equals(other: grpc.ServerCredentials): boolean {
    return other instanceof MutualTlsServerCredentials && other.identity === this.identity;
  }
}

function serverCredentials(security: TransportSecurity): grpc.ServerCredentials {
  return security.insecure ? grpc.ServerCredentials.createInsecure() : new MutualTlsServerCredentials(security.identity);
}

/** Serves `services` on host:port (port 0 picks a free one); resolves to the bound port. */
export async function startServer(
  hostPort: string,
  services: Array<{ definition: grpc.ServiceDefinition; handlers: grpc.UntypedServiceImplementation }>,
  security: TransportSecurity = transportSecurity(),
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server(channelOptions);
  for (const s of services) server.addService(s.definition, s.handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(hostPort, serverCredentials(security), (err, p) => (err ? reject(err) : resolve(p))));
  return { server, port };
}

/** Stops accepting calls, lets in-flight ones finish for up to `graceMs`, then cuts the rest. */
export function stopServer(server: grpc.Server, graceMs = 2_000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { server.forceShutdown(); resolve(); }, graceMs);
    server.tryShutdown(() => { clearTimeout(timer); resolve(); });
  });
}

// ---------------------------------------------------------------------------
// Promise-shaped calls
// ---------------------------------------------------------------------------

export interface CallOptions {
  /** Milliseconds from now; defaults to rpc_deadline_ms. */
  timeoutMs?: number;
}

type UnaryKeys<C> = {
  [K in keyof C]: C[K] extends (arg: any, cb: grpc.requestCallback<any>) => grpc.ClientUnaryCall ? K : never
}[keyof C] & string;

/** Every unary method of a generated client, as `(request, options) => Promise<response>`. */
export type PromiseClient<C> = {
  [K in UnaryKeys<C>]: C[K] extends (arg: infer Req, cb: grpc.requestCallback<infer Res>) => grpc.ClientUnaryCall
    ? (request: Req, options?: CallOptions) => Promise<Res>
    : never;
};

/**
 * Wraps a generated client so calls return promises and reject with GfsError.
 * `metadata`, if given, is asked for each call's metadata (client-core: the caller, caller.ts).
 */
export function promiseClient<C extends grpc.Client>(client: C, definition: grpc.ServiceDefinition,
  metadata?: () => grpc.Metadata): PromiseClient<C> {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    if (method.requestStream || method.responseStream) continue;
    out[name] = (request: unknown, options?: CallOptions) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + (options?.timeoutMs ?? defaults.rpc_deadline_ms);
        (client as any)[name](request, metadata?.() ?? new grpc.Metadata(), { deadline }, (err: grpc.ServiceError | null, res: unknown) =>
          err ? reject(fromServiceError(err)) : resolve(res));
      });
  }
  return out as PromiseClient<C>;
}

export const masterDefinition = (): grpc.ServiceDefinition => gfsProto.Master.service;

/**
 * Master methods a client's call stream (Master.Calls) does not carry: the
 * chunkservers' own calls, which no client makes (their role table entry
 * refuses clients anyway) and which keep their own connection and deadlines.
 */
export const masterUnaryOnly: readonly string[] = ["Register", "Heartbeat", "ReleaseLease"];
/** The Master methods a call stream carries. */
export const masterStreamMethods = (): string[] => streamableMethods(masterDefinition(), masterUnaryOnly);
export const chunkServerDefinition = (): grpc.ServiceDefinition => gfsProto.ChunkServer.service;

/**
 * Ends a server stream with `e` as its status. grpc-js sends a status on a
 * stream only when 'error' is emitted on it: destroy(err), which looks like
 * the way, ends nothing for the client (it waited forever: seen with a shadow
 * master refusing ShipLog).
 */
export function failStream(call: { emit(event: "error", e: unknown): boolean }, e: unknown): void {
  call.emit("error", toServiceError(e));
}

/** A unary handler from an async function; thrown GfsErrors become their gRPC status. */
export function unary<Req, Res>(fn: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request, call))
      .then((res) => callback(null, res), (e) => callback(toServiceError(e)));
  };
}

export const deadlineFor = (bytes: number): number =>
  defaults.rpc_deadline_ms + Math.ceil(bytes / (1024 * 1024)) * defaults.data_deadline_ms_per_mib;
