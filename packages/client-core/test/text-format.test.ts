// One way to write each quantity across the CLI (status, balance, progress, du/df -h, info, fsck).
import { describe, expect, it } from "vitest";
import { duBytes, iecBytes, pct, stateName, table } from "../src/text-format";

const KiB = 1024;

describe("CLI text formats", () => {
  it("status, balance and progress sizes are binary units with a space, one decimal below 10", () => {
    expect([0, 1536, 700 * KiB, 64 * KiB * KiB, 5 * KiB ** 3].map(iecBytes)).toEqual(["0 B", "1.5 KiB", "700 KiB", "64 MiB", "5.0 GiB"]);
  });

  it("du -h and df -h sizes are powers of 1024 rounded up, one decimal below 10, as du prints them", () => {
    expect([0, 1023, 1024, 1536, 1025, 10 * KiB, 23 * KiB ** 2 + 1, 4 * KiB ** 3].map(duBytes))
      .toEqual(["0", "1023", "1.0K", "1.5K", "1.1K", "10K", "24M", "4.0G"]);
    expect(duBytes(KiB * KiB - 1)).toBe("1.0M");
  });

  it("ratios are percentages with one decimal; chunk states are lower-case words", () => {
    expect([pct(0.5), pct(0.0125)]).toEqual(["50.0%", "1.3%"]);
    expect(stateName("CHUNK_STATE_UNDER_REPLICATED")).toBe("under-replicated");
  });

  it("table columns are padded to their widest cell, no trailing spaces", () => {
    expect(table([["ID", "STATE"], ["abcdef", "alive"], ["a", ""]])).toBe("ID      STATE\nabcdef  alive\na");
  });
});
