// Every random choice of a simulation comes from one seeded generator, so a
// seed replays exactly. pure-rand's xoroshiro128+ (a maintained, tested
// library) rather than a hand-written generator: its uniform distributions
// are unbiased and its sequence for a seed is fixed across versions.
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";

export class Rng {
  private readonly g: RandomGenerator;

  constructor(readonly seed: number) {
    this.g = xoroshiro128plus(seed);
    // Neighbouring seeds start with correlated outputs (seeds 1-6 all drew the same first choices): skip them.
    for (let i = 0; i < 32; i++) this.g.next();
  }

  /** An integer in [0, max). */
  int(max: number): number {
    if (!(max >= 1)) throw new Error(`Rng.int(${max}): max must be at least 1`);
    return uniformInt(this.g, 0, Math.floor(max) - 1);
  }

  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return uniformInt(this.g, lo, hi);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.int(1_000_000) < p * 1_000_000;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}
