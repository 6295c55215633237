// How this process talks to the cluster: mutual TLS with its identity (the
// default, and the only choice a daemon gets without --insecure), or
// plaintext for benchmarks. Every gRPC channel and server (protocol.ts) and
// the raw data transport (data-channel.ts, data-server.ts) take their options
// from here, so the rules are in one place:
//  - TLS 1.3 only; AES-GCM suites first (hardware AES on the data path);
//  - a server requires a client certificate signed by the cluster CA;
//  - a client checks the server's certificate against the CA and its role
//    (master for the master, chunkserver for chunkservers), never its host
//    name: addresses are ephemeral (port 0, re-registered after restarts);
//  - a client that knows which chunkserver it means (its server id: the
//    master's list, a lease, a copy order) also checks that the certificate
//    names that id, so a process holding another chunkserver's certificate
//    that got a dead server's address is not taken for it (serverIdCheckOf).
import * as net from "node:net";
import * as tls from "node:tls";
import { UsageError, type FlagSpec } from "./cli-flags";
import { defaults } from "./config";
import type { Logger } from "./log";
import { cachedPeer, setCertificateRequired, type Role } from "./peer";
import { join } from "node:path";
import { CredentialError } from "./certificates";
import { loadTlsIdentity, type TlsIdentity } from "./tls-identity";

export type TransportSecurity = { insecure: true } | { insecure: false; identity: TlsIdentity };

export const insecureTransport: TransportSecurity = Object.freeze({ insecure: true });

export const tlsTransport = (identity: TlsIdentity): TransportSecurity => ({ insecure: false, identity });

/** Logged by every daemon started with --insecure, at every start. */
export const insecureWarning = "insecure: plaintext, no authentication; for benchmarks only";

let processDefault: TransportSecurity | undefined;

/** Sets what newMasterClient, newChunkServerClient, startServer and the data transport use when not told otherwise. */
export function setTransportSecurity(s: TransportSecurity): void {
  processDefault = s;
  setCertificateRequired(!s.insecure);
}

/** The process's transport security; a process that never chose one is a programming error, not a plaintext default. */
export function transportSecurity(): TransportSecurity {
  if (!processDefault) throw new Error("transport security not configured: call setTransportSecurity() at start (a TLS identity, or insecureTransport)");
  return processDefault;
}

/** Whether a process default was set (a library may then use it instead of looking for credentials itself). */
export const hasTransportSecurity = (): boolean => processDefault !== undefined;

/** The flags every daemon (and the CLI) takes to choose its transport security. */
export const transportFlagSpecs: Record<string, FlagSpec> = {
  "tls-dir": { type: "path", help: "identity dir (ca.crt, tls.crt, tls.key; see 'gfs cert issue'): mutual TLS with the cluster", overrides: ["insecure"] },
  insecure: { type: "boolean", help: "plaintext, no authentication (benchmarks only; logs a warning)", overrides: ["tls-dir"] },
};

/**
 * A daemon's choice from its flags: --tls-dir DIR (loaded now: a bad credential
 * stops the start with one line), or --insecure. Neither, or both, is a usage error.
 */
export function transportFromFlags(tlsDir: string | undefined, insecure: boolean | undefined, role?: Role): TransportSecurity {
  if (insecure && tlsDir) throw new UsageError("--tls-dir and --insecure exclude each other");
  if (insecure) return insecureTransport;
  if (!tlsDir) {
    throw new UsageError("--tls-dir DIR is required (an identity made with 'gfs ca init' and 'gfs cert issue'), or --insecure for a plaintext benchmark cluster");
  }
  const identity = loadTlsIdentity(tlsDir);
  // A daemon serving with another role's certificate would be refused by every peer: say so at start instead.
  if (role && identity.self.role !== role) {
    throw new CredentialError(`${join(tlsDir, "tls.crt")} is a ${identity.self.role} certificate ("${identity.self.name}"); this daemon needs a ${role} certificate`);
  }
  return tlsTransport(identity);
}

/** What a daemon logs when it starts serving: its identity, or the insecure warning (at every start). */
export function logTransportSecurity(log: Logger, s: TransportSecurity): void {
  if (s.insecure) log.warn(insecureWarning);
  else log.info("transport security", { tlsDir: s.identity.dir, role: s.identity.self.role, name: s.identity.self.name, tls: "TLSv1.3 mutual" });
}

/** TLS 1.3 suites, AES-GCM first (AES-NI makes them the cheapest on the data path). */
export const tlsCipherSuites = defaults.tls_ciphersuites;

const contexts = new WeakMap<TlsIdentity, tls.SecureContext>();

/** One secure context per identity: parsing the PEMs per connection would cost more than the handshake. */
export function secureContextOf(identity: TlsIdentity): tls.SecureContext {
  let c = contexts.get(identity);
  if (!c) {
    c = tls.createSecureContext({
      ca: identity.ca, cert: identity.cert, key: identity.key, minVersion: "TLSv1.3", maxVersion: "TLSv1.3", ciphers: tlsCipherSuites,
    });
    contexts.set(identity, c);
  }
  return c;
}

/** A checkServerIdentity that ignores the host name and requires the server's certificate to carry `role`. */
export function serverRoleCheck(role: Role): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    try {
      const peer = cachedPeer(cert);
      if (peer.role === role) return undefined;
      return new Error(`server certificate "${peer.name}" has role ${peer.role}, expected ${role}`);
    } catch (e) {
      return e as Error;
    }
  };
}

const roleChecks = new Map<Role, (host: string, cert: tls.PeerCertificate) => Error | undefined>();
/** The same function per role, so equal channel credentials compare equal (grpc-js then shares connections). */
export function serverRoleCheckOf(role: Role): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  let f = roleChecks.get(role);
  if (!f) roleChecks.set(role, (f = serverRoleCheck(role)));
  return f;
}

/** A checkServerIdentity function, as node:tls and grpc-js take it. */
export type ServerIdentityCheck = (host: string, cert: tls.PeerCertificate) => Error | undefined;

/**
 * A checkServerIdentity that ignores the host name and requires a chunkserver
 * certificate naming `serverId` (a chunkserver's certificate CN is its id).
 * `address` is only for the message: the caller's view of where it dialed.
 */
export function serverIdCheck(serverId: string, address: string): ServerIdentityCheck {
  if (!serverId) throw new Error("serverIdCheck needs a server id (use serverRoleCheckOf(\"chunkserver\") when none is known)");
  const roleCheck = serverRoleCheck("chunkserver");
  return (host, cert) => {
    const wrongRole = roleCheck(host, cert);
    if (wrongRole) return new Error(`chunkserver at ${address}: ${wrongRole.message}`);
    const name = cachedPeer(cert).name;
    if (name === serverId) return undefined;
    return new Error(`chunkserver at ${address} is not the server expected: certificate names "${name}", expected server id "${serverId}"`);
  };
}

/** Cached id checks; bounded so a long-lived process seeing many restarts does not grow without end. */
const idChecks = new Map<string, ServerIdentityCheck>();
const idChecksMax = 4096;

/**
 * The same function per server id and address, so equal channel credentials
 * compare equal and grpc-js shares connections (as serverRoleCheckOf does per
 * role). Keyed by address too only so the error can name it: a subchannel is
 * per address anyway, so that costs no sharing.
 */
export function serverIdCheckOf(serverId: string, address: string): ServerIdentityCheck {
  const key = `${serverId}\u0000${address}`;
  let f = idChecks.get(key);
  if (!f) {
    // Dropping the cache only makes later channels use new (unequal) functions: correct, just not shared.
    if (idChecks.size >= idChecksMax) idChecks.clear();
    idChecks.set(key, (f = serverIdCheck(serverId, address)));
  }
  return f;
}

/**
 * What a client checks of a chunkserver: that its certificate names
 * `serverId` when the caller knows it, else only the chunkserver role (callers
 * with no id: a tool dialing an address it was given).
 */
export const chunkserverCheckOf = (address: string, serverId?: string): ServerIdentityCheck =>
  serverId ? serverIdCheckOf(serverId, address) : serverRoleCheckOf("chunkserver");

/** Options of a TLS server that requires a client certificate signed by the cluster CA. */
export function tlsServerOptions(identity: TlsIdentity): tls.TlsOptions {
  // A tls.Server makes its context from these once (it ignores a `secureContext` option).
  return {
    ca: identity.ca, cert: identity.cert, key: identity.key, requestCert: true, rejectUnauthorized: true,
    minVersion: "TLSv1.3", maxVersion: "TLSv1.3", ciphers: tlsCipherSuites,
  };
}

/** Options of a TLS client to a server of `role` (or one `check` accepts), presenting `identity`. */
export function tlsClientOptions(identity: TlsIdentity, role: Role, check: ServerIdentityCheck = serverRoleCheckOf(role)): tls.ConnectionOptions {
  return {
    secureContext: secureContextOf(identity), rejectUnauthorized: true, checkServerIdentity: check,
    minVersion: "TLSv1.3", maxVersion: "TLSv1.3",
  };
}

/**
 * A client connection of the raw data transport to a chunkserver: TLS with
 * this process's identity (the server must be a chunkserver, and the one
 * named `serverId` when given), or plain TCP. `ready` is the event that says
 * it may carry requests.
 */
export function connectDataSocket(host: string, port: number, security: TransportSecurity, onread?: net.OnReadOpts, serverId?: string):
  { socket: net.Socket; ready: "connect" | "secureConnect" } {
  if (security.insecure) return { socket: net.connect({ host, port, onread }), ready: "connect" };
  // The role (and id) is what is checked, not the host name. `onread` is passed on to the socket tls.connect
  // makes (decrypted bytes land in the caller's buffer; @types/node does not declare it for tls).
  const check = chunkserverCheckOf(`${host}:${port}`, serverId);
  const options = { host, port, onread, ...tlsClientOptions(security.identity, "chunkserver", check) } as tls.ConnectionOptions;
  return { socket: tls.connect(options), ready: "secureConnect" };
}
