import { describe, expect, it } from "vitest";
import { DirIndex, isWellFormed } from "../src/dir-index";

/** A reference model: a Map per directory, as the namespace kept before the index. */
type Model = Map<number, Map<string, number>>;

function entriesOf(idx: DirIndex, dir: number): Array<[string, number]> {
  return [...idx.entriesOf(dir)];
}

describe("directory index", () => {
  it("finds what a Map per directory would, through sets, replacing sets and deletes at random, in the same insertion order, while the slots, table and arena grow", () => {
    let seed = 11;
    const rand = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
    let cap = 4;
    const idx = new DirIndex(cap); // tiny, so the slot columns, the table and the arena all grow on the way
    const model: Model = new Map();
    const dirs = [0, 1, 2];
    let top = 3;
    const need = (slot: number) => { while (slot >= cap) { cap *= 2; idx.growSlots(cap); } };
    need(top);
    for (const d of dirs) { idx.initDir(d); model.set(d, new Map()); }
    const free: number[] = [];
    // Same names in every directory (same bytes, different parents), unicode, a 255-byte name, names that are prefixes of each other.
    const names = ["a", "ab", "abc", "é", "e\u0301", "日本語", "🙂", "x".repeat(255), "ä".repeat(127), ...Array.from({ length: 200 }, (_, i) => `file-${i}.dat`)];
    for (let step = 0; step < 30000; step++) {
      const d = dirs[rand(dirs.length)]!;
      const m = model.get(d)!;
      const name = names[rand(names.length)]!;
      if (m.has(name) && rand(3) > 0) {
        expect(idx.delete(d, name)).toBe(m.get(name));
        free.push(m.get(name)!);
        m.delete(name);
      } else {
        // A set over an existing name replaces its slot in place, as Map.set does (rename over an existing entry).
        const slot = free.pop() ?? top++;
        need(slot + 1);
        if (m.has(name)) free.push(m.get(name)!);
        idx.set(d, name, slot);
        m.set(name, slot);
      }
      if (step % 1999 === 0 || step === 29999) {
        for (const dd of dirs) {
          expect(entriesOf(idx, dd)).toEqual([...model.get(dd)!.entries()]);
          expect(idx.size(dd)).toBe(model.get(dd)!.size);
          for (const n of names) expect(idx.get(dd, n)).toBe(model.get(dd)!.get(n));
        }
      }
    }
  });

  it("names are their UTF-8 bytes: canonically equal but differently encoded names are different entries, and every name reads back as written", () => {
    const idx = new DirIndex(16);
    idx.initDir(0);
    const names = ["\u00e9", "e\u0301", "\u00c5", "\u212b", "日本語.txt", "🙂🙃", "\u{10FFFF}", "a b\tc"];
    names.forEach((n, i) => idx.set(0, n, i + 1));
    expect(entriesOf(idx, 0)).toEqual(names.map((n, i) => [n, i + 1]));
    names.forEach((n, i) => expect(idx.get(0, n)).toBe(i + 1));
    expect(idx.get(0, "e")).toBeUndefined();
  });

  it("refuses names it cannot store (over 255 bytes, empty) and finds no such name", () => {
    const idx = new DirIndex(16);
    idx.initDir(0);
    expect(() => idx.set(0, "x".repeat(256), 1)).toThrow(/ENAMETOOLONG|255 bytes/);
    expect(() => idx.set(0, "é".repeat(128), 1)).toThrow(/255 bytes/); // 128 UTF-16 units, 256 bytes
    expect(() => idx.set(0, "", 1)).toThrow(/empty/);
    expect(idx.get(0, "x".repeat(300))).toBeUndefined();
    expect(idx.size(0)).toBe(0);
    expect(isWellFormed("ok 🙂")).toBe(true);
    expect(isWellFormed("\uD800")).toBe(false);
  });

  it("add enters only a new name: a repeated one changes nothing, and one that cannot be stored is bad (recovery refuses both as corrupt)", () => {
    const idx = new DirIndex(16);
    idx.initDir(0);
    expect(idx.add(0, "a", 1)).toBe("added");
    expect(idx.add(0, "a", 2)).toBe("exists");
    expect(idx.add(0, "", 3)).toBe("bad");
    expect(idx.add(0, "z".repeat(256), 4)).toBe("bad");
    expect(entriesOf(idx, 0)).toEqual([["a", 1]]);
  });

  it("space of removed and renamed names is reclaimed: the arena's waste stays bounded through churn", () => {
    const idx = new DirIndex(1024);
    idx.initDir(0);
    const live = 100;
    let slot = 1;
    const slots = new Map<string, number>();
    for (let i = 0; i < live; i++) { idx.set(0, `n${i}-`.padEnd(200, "z"), slot); slots.set(`n${i}-`.padEnd(200, "z"), slot++); }
    for (let round = 0; round < 200; round++) {
      // Delete and re-create every name under a new one: 100 x 200 bytes churned per round.
      for (const [name, s] of [...slots]) {
        idx.delete(0, name);
        slots.delete(name);
        const renamed = `r${round}-${name.slice(name.indexOf("-") + 1, name.indexOf("-") + 4)}${s}`.padEnd(200, "y");
        idx.set(0, renamed, s);
        slots.set(renamed, s);
      }
      const a = idx.arenaBytes();
      const liveBytes = a.used - a.wasted;
      expect(liveBytes).toBe(live * 200);
      expect(a.wasted).toBeLessThanOrEqual(Math.max(64 * 1024, liveBytes) + 200);
      expect(a.capacity).toBeLessThanOrEqual(256 * 1024);
    }
    for (const [name, s] of slots) expect(idx.get(0, name)).toBe(s);
    expect(entriesOf(idx, 0).map(([n]) => n)).toEqual([...slots.keys()]);
  });

  it("deleting by slot removes exactly that entry, so a whole subtree can leave the index, and the table's probe runs stay findable", () => {
    const idx = new DirIndex(4096);
    idx.initDir(0);
    idx.initDir(1);
    for (let i = 0; i < 1000; i++) idx.set(i % 2, `n${i}`, i + 2);
    for (let i = 0; i < 1000; i += 3) idx.deleteSlot(i + 2);
    for (let i = 0; i < 1000; i++) expect(idx.get(i % 2, `n${i}`)).toBe(i % 3 === 0 ? undefined : i + 2);
    expect(idx.get(1, "n0")).toBeUndefined(); // n0 is dir 0's name
    expect(idx.size(0) + idx.size(1)).toBe(1000 - 334);
  });
});
