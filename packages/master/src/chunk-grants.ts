// What the master adds to its answers for chunk access (chunk-token-keys.ts):
// tokens on chunk locations and leases, the key set for chunkservers, and the
// rule that a chunkserver speaks only under the id its certificate names.
import { GfsError, type ChunkLocation__Output, type ChunkTokenKey__Output, type Peer } from "@gfs/common";
import type { ChunkTokenKeys } from "./chunk-token-keys";

/** A location answer (FindChunks) with a read token for its chunk; a hole gets none. */
export function withReadToken(tokens: ChunkTokenKeys, loc: ChunkLocation__Output): ChunkLocation__Output {
  return loc.handle ? { ...loc, token: tokens.sign([loc.handle], "read") } : loc;
}

/** An allocation answer (AddChunk, CreateForWriting): write tokens (which allow reads too) on it and its lease. */
export function withWriteTokens(tokens: ChunkTokenKeys, loc: ChunkLocation__Output): ChunkLocation__Output {
  if (!loc.handle) return loc;
  const token = tokens.sign([loc.handle], "write");
  return { ...loc, token, lease: loc.lease ? { ...loc.lease, token } : loc.lease };
}

/**
 * A chunkserver's certificate names its server id (CN): Register, Heartbeat
 * and ReleaseLease under any other id are refused, so no process can take
 * over another server's id. (A plaintext master, --insecure, cannot tell.)
 */
export function chunkserverIdentity(peer: Peer, serverId: string, what: string): void {
  if (peer.role === "insecure") return;
  if (peer.role !== "chunkserver" || peer.name !== serverId) {
    throw new GfsError("EACCES", `${what} as chunkserver "${serverId}" refused: the caller's certificate is ${peer.role} "${peer.name}"`);
  }
}

/**
 * The chunk token keys for a chunkserver that has set `haveVersion` (-1: none
 * known, always send): the whole set when it changed, else nothing. Sent to
 * chunkserver certificates, which only a TLS channel proves, and to a
 * plaintext (--insecure) cluster's chunkservers, where nothing is secret anyway.
 */
export function keysFor(peer: Peer, tokens: ChunkTokenKeys, haveVersion: number): { chunkTokenKeys: ChunkTokenKey__Output[]; chunkTokenKeysVersion: number } {
  const version = tokens.version;
  const entitled = peer.role === "chunkserver" || peer.role === "insecure";
  if (!entitled || version === haveVersion) return { chunkTokenKeys: [], chunkTokenKeysVersion: entitled ? version : 0 };
  return { chunkTokenKeys: tokens.forChunkservers(), chunkTokenKeysVersion: version };
}
