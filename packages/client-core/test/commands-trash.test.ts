// Issue 20 (trash lane): what `gfs trash` parses and prints (pure: no master).
import { describe, expect, it } from "vitest";
import { UsageError, type ListTrashResponse__Output } from "@gfs/common";
import { formatTrash, parseDuration } from "../src/commands-trash";

describe("gfs trash", () => {
  it("--older-than takes a whole number and a unit (ms, s, m, h, d); anything else is a usage error", () => {
    expect([parseDuration("500ms"), parseDuration("30s"), parseDuration("10m"), parseDuration("2h"), parseDuration("7d")])
      .toEqual([500, 30_000, 600_000, 7_200_000, 604_800_000]);
    for (const bad of ["", "3", "3x", "1.5h", "-1s", "h"]) expect(() => parseDuration(bad)).toThrow(UsageError);
  });

  it("ls prints one row per entry (id, deletion and expiry time, bytes, nodes, original path) and a total with the retention", () => {
    const r = {
      retentionMs: 86_400_000,
      entries: [{ id: 42, path: "/a/b", name: "42|a|b", deletedMs: Date.UTC(2026, 0, 2, 3, 4, 5), expiresMs: Date.UTC(2026, 0, 3, 3, 4, 5), bytes: 2048, entries: 1, info: null }],
    } as unknown as ListTrashResponse__Output;
    expect(formatTrash(r)).toBe(
      "ID  DELETED               EXPIRES               SIZE  ENTRIES  PATH\n"
      + "42  2026-01-02T03:04:05Z  2026-01-03T03:04:05Z  2048  1        /a/b\n\n"
      + "1 entry, 2.0 KiB; retention 1d\n");
    expect(formatTrash({ retentionMs: 7_200_000, entries: [] } as unknown as ListTrashResponse__Output)).toBe("the trash is empty (retention 2h)\n");
  });
});
