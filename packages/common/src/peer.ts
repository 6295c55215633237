// Who is calling: the identity a cluster certificate proves (mutual TLS).
//
// Certificate format (issued by `gfs cert issue`, see certificates.ts):
//   subject  CN=<name>, OU=<role>, O=gfs
//   SAN      URI:urn:gfs:uid:<uid>          (role user only: the one uid it may speak for)
//            URI:urn:gfs:gid:<gid>          (role user only: its primary group first, then the others)
// The name of a chunkserver certificate is that chunkserver's server id.
//
// A daemon started with --insecure has no TLS: its callers are "insecure"
// peers, allowed everything, as before security existed (benchmarks only).
import type { PeerCertificate } from "node:tls";
import type { AuthContext } from "@grpc/grpc-js/build/src/auth-context";
import { GfsError } from "./errors";

export const roles = ["master", "chunkserver", "mount", "admin", "user"] as const;
export type Role = (typeof roles)[number];

export interface Peer {
  role: Role | "insecure";
  /** The certificate's CN (a chunkserver's server id); "" for an insecure peer. */
  name: string;
  /** Role user only: the uid the certificate binds. */
  uid?: number;
  /** Role user only: its groups, primary first. */
  gids?: number[];
}

export const insecurePeer: Peer = Object.freeze({ role: "insecure", name: "" });

export const isRole = (s: string): s is Role => (roles as readonly string[]).includes(s);

const uidUri = "urn:gfs:uid:";
const gidUri = "urn:gfs:gid:";

/** The peer a verified certificate names; throws when it carries no known role. */
export function peerOfCertificate(cert: PeerCertificate): Peer {
  const field = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v) ?? "";
  const role = field(cert.subject?.OU);
  const name = field(cert.subject?.CN);
  if (!isRole(role)) throw new GfsError("EACCES", `certificate "${name}" carries no gfs role (OU=${role || "none"})`);
  if (role !== "user") return { role, name };
  const uris = (cert.subjectaltname ?? "").split(/,\s*/).filter((s) => s.startsWith("URI:")).map((s) => s.slice(4));
  const uids = uris.filter((u) => u.startsWith(uidUri)).map((u) => Number(u.slice(uidUri.length)));
  const gids = uris.filter((u) => u.startsWith(gidUri)).map((u) => Number(u.slice(gidUri.length)));
  if (uids.length !== 1 || !Number.isInteger(uids[0]) || gids.some((g) => !Number.isInteger(g))) {
    throw new GfsError("EACCES", `user certificate "${name}" must name exactly one uid and integer gids`);
  }
  return { role, name, uid: uids[0], gids };
}

/** Parsed peers by certificate fingerprint: parsing per call would cost more than the call. */
const known = new Map<string, Peer>();
const knownMax = 4096;

/**
 * Whether this process serves mutual TLS (set with its transport security,
 * transport-security.ts): then a call without a verified certificate is
 * refused, never taken for the insecure peer. grpc-js reports no certificate
 * both on a plaintext server and for a TLS socket that is not authorized, so
 * the missing certificate alone must not decide.
 */
let certificateRequired = false;
export function setCertificateRequired(required: boolean): void {
  certificateRequired = required;
}

/**
 * Peers by call: the role guard and the handler both ask for the caller of one call, and grpc-js's
 * getAuthContext() converts the socket's whole peer certificate to an object each time (the largest
 * share of the master's CPU per small-file call in a profile of issue 15).
 */
const byCall = new WeakMap<object, Peer>();

/** The caller of a gRPC call: its certificate's identity, or the insecure peer on a plaintext server. */
export function peerOf(call: { getAuthContext(): AuthContext }): Peer {
  const seen = byCall.get(call);
  if (seen) return seen;
  const cert = call.getAuthContext().sslPeerCertificate;
  let p: Peer;
  if (cert) p = cachedPeer(cert);
  else if (certificateRequired) throw new GfsError("EACCES", "no verified client certificate on this call: refused (this process serves mutual TLS only)");
  else p = insecurePeer;
  byCall.set(call, p);
  return p;
}

/** As peerOf, for a certificate seen on the raw data transport (TLSSocket.getPeerCertificate()). */
export function cachedPeer(cert: PeerCertificate): Peer {
  const key = cert.fingerprint256;
  let p = known.get(key);
  if (!p) {
    p = peerOfCertificate(cert);
    if (known.size >= knownMax) known.clear();
    known.set(key, p);
  }
  return p;
}

/** Refuses the call unless the peer has one of `allowed` (an insecure peer passes: nothing to check). */
export function requireRole(peer: Peer, what: string, ...allowed: Role[]): void {
  if (peer.role === "insecure" || (allowed as string[]).includes(peer.role)) return;
  const named = allowed.join(" or ");
  throw new GfsError("EACCES", `${what} needs ${/^[aeiou]/.test(named) ? "an" : "a"} ${named} certificate; caller is ${peer.role} "${peer.name}"`);
}
