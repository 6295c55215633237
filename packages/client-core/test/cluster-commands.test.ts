// Issue 18: what `gfs status` makes of servers' states, and `gfs balance`'s report.
import { describe, expect, it } from "vitest";
import type { BalanceResponse__Output, StatusResponse__Output } from "@gfs/common";
import { formatBalance } from "../src/commands-cluster";
import { statusExitCode } from "../src/health-verdict";
import { formatStatus } from "../src/status-format";

const server = (id: string, alive: boolean, state: string) => ({
  serverId: id, address: `127.0.0.1:${id.length}`, rack: "", capacityBytes: 1000, usedBytes: 10, chunkCount: 1, alive, lastHeartbeatAgeMs: 100, load: 0, state,
});
const status = (servers: ReturnType<typeof server>[]) => ({
  chunkservers: servers, masters: [], fileCount: 0, chunkCount: 0, underReplicatedChunks: 0, chunkSizeBytes: 1024, replication: 3, safeMode: false,
} as unknown as StatusResponse__Output);

describe("gfs status and server states", () => {
  it("a server that left, is leaving, draining or retired is not a failure; a dead one is", () => {
    expect(statusExitCode(status([server("a", true, "alive"), server("b", false, "left"), server("c", false, "leaving"),
      server("d", true, "draining"), server("e", true, "retired")]))).toBe(0);
    expect(statusExitCode(status([server("a", true, "alive"), server("b", false, "dead")]))).toBe(1);
  });

  it("an older master's answer (no state) still judges by alive", () => {
    expect(statusExitCode(status([server("a", false, "")]))).toBe(1);
    expect(statusExitCode(status([server("a", true, "")]))).toBe(0);
  });

  it("the table shows each state, a dead server in capitals", () => {
    const text = formatStatus(status([server("cs-left", false, "left"), server("cs-dead", false, "dead"), server("cs-drain", true, "draining")]));
    expect(text).toMatch(/cs-left .* left /);
    expect(text).toMatch(/cs-dead .* DEAD /);
    expect(text).toMatch(/cs-drain .* draining /);
  });
});

describe("gfs balance report", () => {
  const r: BalanceResponse__Output = {
    servers: [{ serverId: "full", address: "a", capacityBytes: 1000, usedBytes: 500, usedRatio: 0.5 }, { serverId: "empty", address: "b", capacityBytes: 1000, usedBytes: 0, usedRatio: 0 }],
    spread: 0.5, tolerance: 0.1, moves: [{ handle: "00000000000000aa", sourceId: "full", targetId: "empty", bytes: 100 }], started: false, whyNot: "dry run", background: true,
  } as unknown as BalanceResponse__Output;

  it("a dry run shows usage, spread against tolerance, and the moves it would make", () => {
    const text = formatBalance(r, true);
    expect(text).toMatch(/spread 50\.0%, tolerance 10\.0%; background balancing on/);
    expect(text).toMatch(/00000000000000aa {2}full -> empty/);
    expect(text).toMatch(/would move: 1 moves/);
  });

  it("a started round and a balanced cluster say so", () => {
    expect(formatBalance({ ...r, started: true, whyNot: "" }, false)).toMatch(/started: 1 moves/);
    expect(formatBalance({ ...r, moves: [], spread: 0.05, whyNot: "spread 5.0% is within the tolerance 10.0%" }, false)).toMatch(/nothing to move: spread 5\.0% is within/);
  });
});
