import { describe, expect, it } from "vitest";
import type { FileInfo__Output } from "@gfs/common";
import { toFuseStat } from "../src/file-attributes";
import { specialKindOf } from "../src/special-files";

const info = (type: FileInfo__Output["type"], rdev = 0): FileInfo__Output => ({
  path: "/x", type, id: 9, mode: 0o4640, uid: 1, gid: 2, size: 0, atimeMs: 1, mtimeMs: 2, ctimeMs: 3,
  nlink: 1, symlinkTarget: "", chunkCount: 0, goal: 0, rdev, xattrCount: 0,
});

describe("stat records of the master's entries", () => {
  it("each file type gets its S_IFMT bits next to its permission bits; st_ino is the master's id", () => {
    const types: Array<[FileInfo__Output["type"], number]> = [
      ["FILE_TYPE_FILE", 0o100000], ["FILE_TYPE_DIRECTORY", 0o040000], ["FILE_TYPE_SYMLINK", 0o120000], ["FILE_TYPE_FIFO", 0o010000],
      ["FILE_TYPE_CHAR_DEVICE", 0o020000], ["FILE_TYPE_BLOCK_DEVICE", 0o060000], ["FILE_TYPE_SOCKET", 0o140000],
    ];
    for (const [type, bits] of types) expect(toFuseStat(info(type)).mode, type).toBe(bits | 0o4640);
    expect(toFuseStat(info("FILE_TYPE_FIFO")).ino).toBe(9);
  });

  it("rdev is a device node's device number and 0 for every other type", () => {
    expect(toFuseStat(info("FILE_TYPE_CHAR_DEVICE", 0x103)).rdev).toBe(0x103);
    expect(toFuseStat(info("FILE_TYPE_BLOCK_DEVICE", 0x7c8)).rdev).toBe(0x7c8);
    expect(toFuseStat(info("FILE_TYPE_FILE", 0x103)).rdev).toBe(0);
  });

  it("nlink is the master's exact count: 0 (an orphan, unlinked while open) stays 0, several names stay several", () => {
    expect(toFuseStat({ ...info("FILE_TYPE_FILE"), nlink: 0 }).nlink).toBe(0);
    expect(toFuseStat({ ...info("FILE_TYPE_FIFO"), nlink: 0 }).nlink).toBe(0);
    expect(toFuseStat({ ...info("FILE_TYPE_FILE"), nlink: 3 }).nlink).toBe(3);
    expect(toFuseStat({ ...info("FILE_TYPE_DIRECTORY"), nlink: 5 }).nlink).toBe(5);
  });

  it("attributes withheld in a listing (nlink 0 meaning unknown) show nlink 1, or 2 for a directory", () => {
    expect(toFuseStat({ ...info("FILE_TYPE_FILE"), nlink: 0 }, 0, true).nlink).toBe(1);
    expect(toFuseStat({ ...info("FILE_TYPE_DIRECTORY"), nlink: 0 }, 0, true).nlink).toBe(2);
  });

  it("mknod's mode names its kind by the S_IFMT bits; a regular file or no type bits are none of the special kinds", () => {
    expect([0o010644, 0o020644, 0o060644, 0o140644, 0o100644, 0o644].map(specialKindOf)).toEqual(["fifo", "chr", "blk", "sock", undefined, undefined]);
  });
});
