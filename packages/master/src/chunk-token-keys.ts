// The master's chunk token keys (see @gfs/common's chunk-token.ts): random
// 32-byte secrets, a new one used for signing every rotateMs. Kept in memory
// only: a restarted master makes new keys, chunkservers get them when they
// re-register, and tokens from before fail there as "unknown key", which
// clients answer by asking the restarted master again.
//
// At any time the set holds
//   - the current key (signs),
//   - the next key (signs from the next rotation; handed out a whole period
//     ahead, so every chunkserver knows it before its first token arrives),
//   - earlier keys whose last token has not yet expired.
import { randomBytes, randomInt } from "node:crypto";
import { signChunkToken, type ChunkAccess, type ChunkTokenKey__Output } from "@gfs/common";

interface Key {
  id: number;
  key: Buffer;
  /** Signs tokens in [signFromMs, signUntilMs). */
  signFromMs: number;
  signUntilMs: number;
}

export interface ChunkTokenKeyOptions {
  ttlMs: number;
  rotateMs: number;
  now: () => number;
  /** Secret bytes (tests may pass a fixed source). */
  random?: (n: number) => Buffer;
  /** A random integer in [0, max) for the first key id (the simulator's seeded Env). */
  randomInt?: (max: number) => number;
}

export class ChunkTokenKeys {
  private readonly keys: Key[] = [];
  private readonly random: (n: number) => Buffer;

  constructor(private readonly o: ChunkTokenKeyOptions) {
    if (!(o.ttlMs > 0) || !(o.rotateMs > 0)) throw new Error(`chunk token ttl (${o.ttlMs} ms) and key rotation (${o.rotateMs} ms) must be positive`);
    this.random = o.random ?? randomBytes;
    const now = o.now();
    // Ids differ across restarts (random start), so a token from an earlier master is "unknown", never a bad signature.
    const first = (o.randomInt ?? randomInt)(2 ** 30);
    this.keys.push(this.make(first, now), this.make(first + 1, now + o.rotateMs));
  }

  private make(id: number, fromMs: number): Key {
    return { id, key: this.random(32), signFromMs: fromMs, signUntilMs: fromMs + this.o.rotateMs };
  }

  /** Rotates as time requires: a new next key once the current one's period ended; expired keys dropped. */
  private tick(now: number): Key {
    for (;;) {
      const next = this.keys[this.keys.length - 1]!;
      if (now < next.signFromMs) break;
      this.keys.push(this.make(next.id + 1, next.signUntilMs));
    }
    while (this.keys.length > 2 && this.keys[0]!.signUntilMs + this.o.ttlMs <= now) this.keys.shift();
    // The periods are contiguous from the oldest key on, so only a wall clock that stepped back (NTP
    // at boot, an operator) finds none: the oldest key signs then (chunkservers know it; its tokens
    // still expire ttlMs from now), rather than no token at all until the clock catches up.
    return this.keys.find((k) => k.signFromMs <= now && now < k.signUntilMs) ?? this.keys[0]!;
  }

  /** A token for `handles` with `access`, valid for ttlMs from now. */
  sign(handles: readonly string[], access: ChunkAccess): string {
    const now = this.o.now();
    const key = this.tick(now);
    // Never valid past its key's lifetime (what chunkservers keep it for).
    return signChunkToken(key, handles, access, now + this.o.ttlMs);
  }

  /** Names the key set chunkservers should have: the id of the newest key (ids only grow, and start at random). */
  get version(): number {
    this.tick(this.o.now());
    return this.keys[this.keys.length - 1]!.id;
  }

  /** Every key a chunkserver needs now, with when to forget it. */
  forChunkservers(): ChunkTokenKey__Output[] {
    this.tick(this.o.now());
    return this.keys.map((k) => ({ id: k.id, key: k.key, expiresAtMs: k.signUntilMs + this.o.ttlMs }));
  }
}
