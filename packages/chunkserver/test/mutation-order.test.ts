import { describe, expect, it } from "vitest";
import { PrimarySerials, SerialSequencer, type Timers } from "../src/mutation-order";

const H = "00000000000000aa";

/** Timers driven by hand. */
function fakeTimers(): Timers & { advance(ms: number): void } {
  let now = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  let id = 0;
  return {
    set(fn, ms) { pending.set(++id, { at: now + ms, fn }); return id; },
    clear(t) { pending.delete(t as number); },
    advance(ms) {
      now += ms;
      for (const [k, t] of [...pending]) if (t.at <= now) { pending.delete(k); t.fn(); }
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("primary serials", () => {
  it("serials are consecutive per chunk and version, and restart at 1 with a new version", () => {
    const p = new PrimarySerials();
    expect(p.assign(H, 3, 0, "WRITE", 0, 10)).toBe(1);
    expect(p.assign(H, 3, 0, "WRITE", 10, 10)).toBe(2);
    expect(p.assign("00000000000000bb", 3, 0, "WRITE", 0, 1)).toBe(1);
    expect(p.assign(H, 3, 0, "TRUNCATE", 5, 0)).toBe(3);
    expect(p.assign(H, 4, 5, "WRITE", 0, 1)).toBe(1);
  });

  it("concurrent record appends get disjoint offsets in serial order", () => {
    const p = new PrimarySerials();
    expect(p.planAppend(H, 1, 100, 50, 1000)).toEqual({ kind: "WRITE", serial: 1, offset: 100 });
    // the store still says 100: the first append has not been applied yet
    expect(p.planAppend(H, 1, 100, 50, 1000)).toEqual({ kind: "WRITE", serial: 2, offset: 150 });
  });

  it("a record that does not fit pads the chunk to its end, then the chunk counts as full", () => {
    const p = new PrimarySerials();
    expect(p.planAppend(H, 1, 900, 150, 1000)).toEqual({ kind: "PAD", serial: 1, offset: 900 });
    expect(p.planAppend(H, 1, 900, 10, 1000)).toEqual({ kind: "FULL" });
    expect(p.planAppend(H, 1, 1000 - 10, 10, 1000)).toEqual({ kind: "FULL" });
  });

  it("a write past the projected end moves where the next append goes", () => {
    const p = new PrimarySerials();
    p.assign(H, 1, 0, "WRITE", 500, 100);
    expect(p.planAppend(H, 1, 0, 10, 1000)).toEqual({ kind: "WRITE", serial: 2, offset: 600 });
  });
});

describe("serial sequencer", () => {
  it("a secondary holds back a mutation that arrives early until its predecessors applied", async () => {
    const timers = fakeTimers();
    const s = new SerialSequencer(5000, timers);
    const order: number[] = [];
    const apply = (n: number) => async () => { order.push(n); return n; };
    const third = s.run(H, 1, 3, apply(3));
    const second = s.run(H, 1, 2, apply(2));
    await tick();
    expect(order).toEqual([]);
    const first = s.run(H, 1, 1, apply(1));
    expect(await Promise.all([first, second, third])).toEqual([1, 2, 3]);
    expect(order).toEqual([1, 2, 3]);
  });

  it("applies one mutation at a time: the next starts after the previous finished", async () => {
    const s = new SerialSequencer(5000, fakeTimers());
    let release!: () => void;
    const events: string[] = [];
    const a = s.run(H, 1, 1, async () => { events.push("1 start"); await new Promise<void>((r) => (release = r)); events.push("1 end"); });
    const b = s.run(H, 1, 2, async () => { events.push("2 start"); });
    await tick();
    expect(events).toEqual(["1 start"]);
    release();
    await Promise.all([a, b]);
    expect(events).toEqual(["1 start", "1 end", "2 start"]);
  });

  it("an early mutation whose predecessor never comes fails after the gap wait", async () => {
    const timers = fakeTimers();
    const s = new SerialSequencer(5000, timers);
    let applied = false;
    const early = s.run(H, 1, 2, async () => { applied = true; });
    early.catch(() => {});
    timers.advance(4999);
    await tick();
    expect(applied).toBe(false);
    timers.advance(1);
    await expect(early).rejects.toThrow(/EAGAIN: mutation 2 of chunk 00000000000000aa waited 5000 ms for mutation 1/);
    expect(applied).toBe(false);
    // when the late predecessor comes, the given-up serial is skipped and 3 runs
    await s.run(H, 1, 1, async () => {});
    expect(await s.run(H, 1, 3, async () => "three")).toBe("three");
  });

  it("a duplicate or old serial is refused", async () => {
    const s = new SerialSequencer(5000, fakeTimers());
    await s.run(H, 1, 1, async () => {});
    await expect(s.run(H, 1, 1, async () => {})).rejects.toThrow(/EINVAL: mutation 1 .* already seen/);
    await expect(s.run(H, 1, 0, async () => {})).rejects.toThrow(/EINVAL/);
  });

  it("a failed apply uses up its serial; the order goes on", async () => {
    const s = new SerialSequencer(5000, fakeTimers());
    await expect(s.run(H, 1, 1, async () => { throw new Error("disk"); })).rejects.toThrow("disk");
    expect(await s.run(H, 1, 2, async () => 2)).toBe(2);
  });

  it("a new version restarts the serials; an older version is refused", async () => {
    const timers = fakeTimers();
    const s = new SerialSequencer(5000, timers);
    await s.run(H, 1, 1, async () => {});
    const stuck = s.run(H, 1, 5, async () => {});
    expect(await s.run(H, 2, 1, async () => "v2")).toBe("v2");
    await expect(stuck).rejects.toThrow(/ESTALE/);
    await expect(s.run(H, 1, 2, async () => {})).rejects.toThrow(/ESTALE/);
  });
});
