import { describe, expect, it } from "vitest";
import { GfsError } from "@gfs/common";
import { AppendBuffer } from "../src/append-buffer";

const opts = { chunkSizeBytes: 1024, syncChunk: async () => {} };

/** A sink whose appends finish only when the test says so. */
function gatedSink() {
  const records: string[] = [];
  const gates: Array<{ ok: (at: number) => void; fail: (e: unknown) => void }> = [];
  const sink = (d: Buffer) => new Promise<number>((ok, fail) => { records.push(d.toString()); gates.push({ ok, fail }); });
  return { records, gates, sink };
}

const settled = async (p: Promise<unknown>) => {
  let state = "pending";
  p.then(() => { state = "resolved"; }, () => { state = "rejected"; });
  await new Promise((r) => setImmediate(r));
  return state;
};

describe("O_APPEND writes (record append)", () => {
  it("a write is acknowledged only once its record is applied, and its failure is the write's own error", async () => {
    const { records, gates, sink } = gatedSink();
    const ab = new AppendBuffer(sink, 100, opts);
    const w1 = ab.write(Buffer.from("line 1\n"));
    expect(records).toEqual(["line 1\n"]); // sent at once
    expect(await settled(w1)).toBe("pending");
    expect(ab.pendingBytes).toBe(7);
    gates[0]!.ok(0);
    await w1;
    const w2 = ab.write(Buffer.from("line 2\n"));
    gates[1]!.fail(new GfsError("EAGAIN", "no primary"));
    await expect(w2).rejects.toMatchObject({ errno: "EIO" });
    // A later write tries again: the application saw the failure.
    const w3 = ab.write(Buffer.from("line 3\n"));
    gates[2]!.ok(7);
    await w3;
    await ab.flush(); // failures were reported by the writes themselves
    expect(ab.dirty).toBe(false);
  });

  it("ENOSPC and EFBIG reach the writer as they are", async () => {
    for (const errno of ["ENOSPC", "EFBIG"] as const) {
      const ab = new AppendBuffer(() => Promise.reject(new GfsError(errno, "full")), 100, opts);
      await expect(ab.write(Buffer.from("x"))).rejects.toMatchObject({ errno });
    }
  });

  it("writes that arrive while a record is in flight leave together as the next record, in order, each answered when it lands", async () => {
    const { records, gates, sink } = gatedSink();
    const ab = new AppendBuffer(sink, 100, opts);
    const a = ab.write(Buffer.from("a"));
    const b = ab.write(Buffer.from("b"));
    const c = ab.write(Buffer.from("c"));
    expect(records).toEqual(["a"]);
    gates[0]!.ok(0);
    await a;
    expect(records).toEqual(["a", "bc"]);
    expect(await settled(b)).toBe("pending");
    gates[1]!.ok(1);
    await Promise.all([b, c]);
  });

  it("a write that fits in one record is never split across two", async () => {
    const { records, gates, sink } = gatedSink();
    const ab = new AppendBuffer(sink, 10, opts);
    const all = [ab.write(Buffer.from("xx")), ab.write(Buffer.from("aaaaaa")), ab.write(Buffer.from("bbbbbb"))];
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setImmediate(r));
      gates[i]!.ok(0);
    }
    await Promise.all(all);
    expect(records).toEqual(["xx", "aaaaaa", "bbbbbb"]);
  });

  it("a write larger than the record limit becomes several limit-sized records, in order, and succeeds once all landed", async () => {
    const records: string[] = [];
    const ab = new AppendBuffer(async (d) => { records.push(d.toString()); return 0; }, 4, opts);
    await ab.write(Buffer.from("abcdefghij"));
    expect(records).toEqual(["abcd", "efgh", "ij"]);
  });

  it("fsync sends one SYNC for every chunk this handle appended to since the last fsync, and again after a failed one", async () => {
    const synced: number[] = [];
    let fail = false;
    let next = 1000;
    const ab = new AppendBuffer(async (d) => { const at = next; next += d.length + 20; return at; }, 100, {
      chunkSizeBytes: 1024, syncChunk: async (index) => { if (fail) throw new GfsError("EIO", "replica down"); synced.push(index); },
    });
    await ab.write(Buffer.from("abc")); // record at 1000..1002 (chunk 0)
    await ab.write(Buffer.from("xyz")); // record at 1023..1025 ends in chunk 1
    fail = true;
    await expect(ab.flush(true)).rejects.toMatchObject({ errno: "EIO" });
    fail = false;
    await ab.flush(true);
    expect(synced.sort()).toEqual([0, 1]);
    synced.length = 0;
    await ab.flush(true);
    expect(synced).toEqual([]);
  });
});
