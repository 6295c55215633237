import { describe, expect, it } from "vitest";
import { HandleIndex, handleHalves, handleOf } from "../src/handle-index";

const h = (n: number) => n.toString(16).padStart(16, "0");

describe("handle index", () => {
  it("a handle is its two uint32 halves and back; anything but 16 lower-case hex digits is no handle", () => {
    for (const s of ["0000000000000001", "ffffffffffffffff", "0123456789abcdef", "80000000deadbeef"]) {
      const halves = handleHalves(s)!;
      expect(handleOf(halves[0], halves[1])).toBe(s);
    }
    for (const s of ["", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0", "0123456789abcdeg", "h1"]) expect(handleHalves(s)).toBeUndefined();
  });

  it("finds what a Map would, through adds and deletes at random, in the same insertion order", () => {
    let seed = 7;
    const rand = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
    const idx = new HandleIndex(16); // small, so both the slots and the table grow on the way
    const ref = new Map<string, number>();
    const freeSlots: number[] = [];
    let top = 0;
    // Handles that collide in the low bits, and random ones across the whole 64 bits.
    const pool = [...Array.from({ length: 300 }, (_, i) => h(i * 1024)), ...Array.from({ length: 300 }, () => handleOf(rand(2 ** 32), rand(2 ** 32)))];
    for (let step = 0; step < 20000; step++) {
      const k = pool[rand(pool.length)]!;
      if (ref.has(k)) {
        expect(idx.delete(k)).toBe(ref.get(k));
        freeSlots.push(ref.get(k)!);
        ref.delete(k);
      } else {
        const slot = freeSlots.pop() ?? top++;
        idx.set(k, slot);
        ref.set(k, slot);
      }
      if (step % 997 === 0) {
        expect([...idx.entries()]).toEqual([...ref.entries()]);
        for (const p of pool) expect(idx.get(p)).toBe(ref.get(p));
      }
    }
    expect(idx.size).toBe(ref.size);
    expect([...idx.keys()]).toEqual([...ref.keys()]);
  });

  it("refuses to store something that is not a handle (EIO), and never finds one", () => {
    const idx = new HandleIndex();
    expect(() => idx.set("0123456789ABCDEF", 0)).toThrow(/bad chunk handle/);
    expect(idx.get("0123456789ABCDEF")).toBeUndefined();
    expect(idx.delete("nope")).toBeUndefined();
    expect(idx.size).toBe(0);
  });
});
