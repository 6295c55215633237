import { describe, expect, it } from "vitest";
import { GfsError } from "@gfs/common";
import { AppendBuffer } from "../src/append-buffer";

const opts = { chunkSizeBytes: 1024, syncByte: async () => {} };

describe("O_APPEND buffer (record append)", () => {
  it("everything written before a flush becomes one record, and records keep the writer's order", async () => {
    const records: string[] = [];
    const ab = new AppendBuffer(async (d) => { records.push(d.toString()); return 0; }, 100, opts);
    await ab.write(Buffer.from("line 1\n"));
    await ab.write(Buffer.from("line 2\n"));
    expect(ab.pendingBytes).toBe(14);
    await ab.flush();
    await ab.write(Buffer.from("line 3\n"));
    await ab.flush();
    expect(records).toEqual(["line 1\nline 2\n", "line 3\n"]);
    expect(ab.dirty).toBe(false);
  });

  it("a write that fits in one record is never split across two", async () => {
    const records: string[] = [];
    const ab = new AppendBuffer(async (d) => { records.push(d.toString()); return 0; }, 10, opts);
    await ab.write(Buffer.from("aaaaaa"));
    await ab.write(Buffer.from("bbbbbb"));
    await ab.flush();
    expect(records).toEqual(["aaaaaa", "bbbbbb"]);
  });

  it("a write larger than the record limit becomes several limit-sized records, in order", async () => {
    const records: string[] = [];
    const ab = new AppendBuffer(async (d) => { records.push(d.toString()); return 0; }, 4, opts);
    await ab.write(Buffer.from("abcdefghij"));
    await ab.flush();
    expect(records).toEqual(["abcd", "efgh", "ij"]);
  });

  it("a failed append fails the flush and every later write", async () => {
    const ab = new AppendBuffer(() => Promise.reject(new GfsError("EIO", "primary gone")), 100, opts);
    await ab.write(Buffer.from("x"));
    await expect(ab.flush()).rejects.toMatchObject({ errno: "EIO" });
    await expect(ab.write(Buffer.from("y"))).rejects.toMatchObject({ errno: "EIO" });
  });

  it("fsync re-syncs one byte of the last record in every chunk this handle appended to since the last fsync", async () => {
    const synced: Array<[number, number]> = [];
    let next = 1000;
    const ab = new AppendBuffer(async (d) => { const at = next; next += d.length + 20; return at; }, 100, {
      chunkSizeBytes: 1024, syncByte: async (offset, byte) => { synced.push([offset, byte]); },
    });
    await ab.write(Buffer.from("abc"));
    await ab.flush(); // record at 1000..1002 (chunk 0)
    await ab.write(Buffer.from("xyz"));
    await ab.flush(true); // record at 1023..1025 ends in chunk 1
    expect(synced).toEqual([[1002, "c".charCodeAt(0)], [1025, "z".charCodeAt(0)]]);
    synced.length = 0;
    await ab.flush(true);
    expect(synced).toEqual([]);
  });
});
