// Chunk access tokens, as HDFS block access tokens: the master signs, with a
// secret key it shares only with chunkservers (over mutual TLS), a short-lived
// permission to read or write named chunks; chunkservers check it on every
// push, write, append and read. A client thus reaches only the chunks the
// master (which checks namespace permissions) handed it, and only until the
// token expires.
//
// A token is one printable string, carried opaquely by clients:
//
//   t1.<key id>.<expires at, master wall clock ms>.<r|w>.<handle>[,<handle>...].<mac>
//
// where <mac> is base64url(HMAC-SHA256(key, everything before ".<mac>")).
// A write token also allows reads of its handles.
//
// Pure: no clocks or keys of its own; callers pass them in.
import { createHmac, timingSafeEqual } from "node:crypto";
import { GfsError } from "./errors";

export type ChunkAccess = "read" | "write";

/** A signing key: its id (named in every token it signs) and 32 secret bytes. */
export interface ChunkSigningKey {
  id: number;
  key: Buffer;
}

export type TokenRefusal = "malformed" | "unknown key" | "bad signature" | "expired" | "wrong handle" | "wrong access";

export type TokenVerdict = { ok: true } | { ok: false; reason: TokenRefusal; message: string };

const version = "t1";
const handlePattern = /^[0-9a-f]{16}$/;
/** Longest token verified: bounds the HMAC work one request can cause. */
export const chunkTokenCharsMax = 64 * 1024;

const mac = (key: Buffer, payload: string): Buffer => createHmac("sha256", key).update(payload, "utf8").digest();

/** Signs a token for `handles` (at least one) with `access` until `expiresAtMs`. */
export function signChunkToken(key: ChunkSigningKey, handles: readonly string[], access: ChunkAccess, expiresAtMs: number): string {
  if (handles.length === 0) throw new Error("a chunk token names at least one handle");
  for (const h of handles) if (!handlePattern.test(h)) throw new Error(`bad chunk handle in token: ${h}`);
  if (!Number.isSafeInteger(key.id) || key.id < 0) throw new Error(`bad chunk token key id ${key.id}`);
  if (!Number.isSafeInteger(expiresAtMs) || expiresAtMs < 0) throw new Error(`bad chunk token expiry ${expiresAtMs}`);
  const payload = `${version}.${key.id}.${expiresAtMs}.${access === "write" ? "w" : "r"}.${handles.join(",")}`;
  return `${payload}.${mac(key.key, payload).toString("base64url")}`;
}

const refuse = (reason: TokenRefusal, message: string): TokenVerdict => ({ ok: false, reason, message });

/**
 * Whether `token` lets its bearer have `access` to chunk `handle` at `nowMs`,
 * given the verifier's keys (id -> secret). The signature is compared in
 * constant time; the verdict says why a token is refused.
 */
export function verifyChunkToken(token: string, keyOf: (id: number) => Buffer | undefined, handle: string, access: ChunkAccess,
  nowMs: number): TokenVerdict {
  if (!token) return refuse("malformed", `no chunk access token for chunk ${handle}`);
  if (token.length > chunkTokenCharsMax) return refuse("malformed", `chunk access token of ${token.length} characters`);
  const cut = token.lastIndexOf(".");
  const payload = token.slice(0, cut);
  const parts = payload.split(".");
  if (cut < 0 || parts.length !== 5 || parts[0] !== version) return refuse("malformed", `malformed chunk access token for chunk ${handle}`);
  const [, idText, expiresText, accessText, handlesText] = parts as [string, string, string, string, string];
  const id = Number(idText);
  const expiresAtMs = Number(expiresText);
  if (!/^\d+$/.test(idText) || !/^\d+$/.test(expiresText) || !Number.isSafeInteger(id) || !Number.isSafeInteger(expiresAtMs)
    || (accessText !== "r" && accessText !== "w") || !handlesText.split(",").every((h) => handlePattern.test(h))) {
    return refuse("malformed", `malformed chunk access token for chunk ${handle}`);
  }
  const key = keyOf(id);
  if (!key) return refuse("unknown key", `chunk access token signed with key ${id}, which this chunkserver does not know (the master restarted or rotated keys)`);
  const given = Buffer.from(token.slice(cut + 1), "base64url");
  const expected = mac(key, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return refuse("bad signature", `chunk access token for chunk ${handle} has a bad signature (forged or altered)`);
  }
  if (nowMs >= expiresAtMs) return refuse("expired", `chunk access token expired ${nowMs - expiresAtMs} ms ago`);
  if (!handlesText.split(",").includes(handle)) return refuse("wrong handle", `chunk access token does not name chunk ${handle}`);
  if (access === "write" && accessText !== "w") return refuse("wrong access", `chunk access token for chunk ${handle} allows reads only, not writes`);
  return { ok: true };
}

/**
 * The error a refused token gets. Expired or signed with a key this server
 * does not know (the master restarted or rotated): ESTALE, which clients treat
 * as "ask the master again and retry". Anything else: EACCES, no retry.
 */
export function chunkTokenError(verdict: Exclude<TokenVerdict, { ok: true }>): GfsError {
  const stale = verdict.reason === "expired" || verdict.reason === "unknown key";
  return new GfsError(stale ? "ESTALE" : "EACCES", verdict.message);
}

/** Throws the verdict's error unless the token allows `access` to `handle`. */
export function requireChunkToken(token: string, keyOf: (id: number) => Buffer | undefined, handle: string, access: ChunkAccess,
  nowMs: number): void {
  const verdict = verifyChunkToken(token, keyOf, handle, access, nowMs);
  if (!verdict.ok) throw chunkTokenError(verdict);
}
