// The chunk token keys this chunkserver verifies tokens with, as the master
// last sent them (RegisterResponse, HeartbeatResponse). The master's set
// replaces ours whole: after a master restart, the old master's keys are gone
// and tokens it signed fail as "unknown key" (clients ask the master again).
import { requireChunkToken, type ChunkAccess, type ChunkTokenKey__Output } from "@gfs/common";

export class TokenKeyring {
  private keys = new Map<number, { key: Buffer; expiresAtMs: number }>();
  /** The set's version as the master named it (0: none yet), sent back on heartbeats. */
  version = 0;

  constructor(private readonly now: () => number) {}

  /** Takes the master's set (an empty list with version 0 changes nothing: the master sent none). */
  update(keys: ChunkTokenKey__Output[], version: number): void {
    if (version === 0 && keys.length === 0) return;
    const next = new Map<number, { key: Buffer; expiresAtMs: number }>();
    for (const k of keys) {
      if (k.expiresAtMs <= this.now()) continue;
      if (k.key.length !== 32) throw new Error(`chunk token key ${k.id} from the master has ${k.key.length} bytes, not 32`);
      next.set(k.id, { key: Buffer.from(k.key), expiresAtMs: k.expiresAtMs });
    }
    this.keys = next;
    this.version = version;
  }

  get size(): number {
    return this.keys.size;
  }

  /** The secret of key `id` (a token it signed that outlived the key is refused as expired by its own expiry). */
  keyOf = (id: number): Buffer | undefined => this.keys.get(id)?.key;

  /** Throws ESTALE (expired, unknown key: refresh and retry) or EACCES (anything else) unless `token` allows `access` to `handle`. */
  check(token: string, handle: string, access: ChunkAccess): void {
    requireChunkToken(token, this.keyOf, handle, access, this.now());
  }
}
