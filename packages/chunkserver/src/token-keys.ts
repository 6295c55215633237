// The chunk token keys this chunkserver verifies tokens with, as each master
// last sent them (RegisterResponse, HeartbeatResponse). A master's set
// replaces that master's keys whole: after a master restart, the old master's
// keys are gone and tokens it signed fail as "unknown key" (clients ask the
// master again). With several masters (issue 16) each master's set is kept
// apart, so a token signed by any of them verifies: a client holding a token
// from the active master still reads while a shadow answers its next lookups.
import { requireChunkToken, type ChunkAccess, type ChunkTokenKey__Output } from "@gfs/common";

interface MasterKeys {
  keys: Map<number, { key: Buffer; expiresAtMs: number }>;
  /** The set's version as the master named it (0: none yet), sent back on heartbeats. */
  version: number;
}

export class TokenKeyring {
  /** By master ("" for the only one). */
  private readonly masters = new Map<string, MasterKeys>();

  constructor(private readonly now: () => number) {}

  /** Takes `master`'s set (an empty list with version 0 changes nothing: the master sent none). */
  update(keys: ChunkTokenKey__Output[], version: number, master = ""): void {
    if (version === 0 && keys.length === 0) return;
    const next = new Map<number, { key: Buffer; expiresAtMs: number }>();
    for (const k of keys) {
      if (k.expiresAtMs <= this.now()) continue;
      if (k.key.length !== 32) throw new Error(`chunk token key ${k.id} from the master has ${k.key.length} bytes, not 32`);
      next.set(k.id, { key: Buffer.from(k.key), expiresAtMs: k.expiresAtMs });
    }
    this.masters.set(master, { keys: next, version });
  }

  /** The version of `master`'s set held here (0: none yet). */
  versionOf(master = ""): number {
    return this.masters.get(master)?.version ?? 0;
  }

  /** The only master's version (single-master callers). */
  get version(): number {
    return this.versionOf("");
  }

  /** Keys held, over every master. */
  get size(): number {
    let n = 0;
    for (const m of this.masters.values()) n += m.keys.size;
    return n;
  }

  /** The secret of key `id` of any master (the first holding that id; check() tries each). */
  keyOf = (id: number): Buffer | undefined => {
    for (const m of this.masters.values()) {
      const k = m.keys.get(id);
      if (k) return k.key;
    }
    return undefined;
  };

  /**
   * Throws ESTALE (expired, unknown key: refresh and retry) or EACCES
   * (anything else) unless `token` allows `access` to `handle` under some
   * master's keys. Each master's set is tried on its own: two masters may
   * hold keys of the same id, and a token is valid if either signed it.
   */
  check(token: string, handle: string, access: ChunkAccess): void {
    let refusal: unknown;
    for (const m of this.masters.values()) {
      try {
        requireChunkToken(token, (id) => m.keys.get(id)?.key, handle, access, this.now());
        return;
      } catch (e) {
        refusal ??= e;
      }
    }
    throw refusal ?? (requireChunkToken(token, () => undefined, handle, access, this.now()), new Error("invariant: a token verified without keys"));
  }
}
