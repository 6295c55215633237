// Issue 18: the drain list is part of the metadata: logged (drainServer ops, replayed) and in checkpoints as an
// optional header part (absent: none), without a checkpoint format change.
import { describe, expect, it } from "vitest";
import { Metadata } from "../src/metadata";

describe("drained servers in the metadata", () => {
  it("drainServer ops replay to the same drain list, and undrain removes a server", () => {
    const m = new Metadata();
    m.apply({ op: "drainServer", serverId: "cs1", draining: true });
    m.apply({ op: "drainServer", serverId: "cs2", draining: true });
    m.apply({ op: "drainServer", serverId: "cs1", draining: false });
    expect([...m.draining]).toEqual(["cs2"]);
    expect(Metadata.restore(m.snapshot()).draining).toEqual(new Set(["cs2"]));
  });

  it("a bad server id is refused and changes nothing", () => {
    const m = new Metadata();
    expect(() => m.apply({ op: "drainServer", serverId: "", draining: true })).toThrow(/EINVAL/);
    expect(m.draining.size).toBe(0);
  });

  it("a checkpoint carries the drain list; one without it (older, or none drained) loads with none", () => {
    const m = new Metadata();
    m.apply({ op: "drainServer", serverId: "cs3", draining: true });
    const parts = m.checkpointParts();
    expect(Metadata.fromCheckpoint(parts).draining).toEqual(new Set(["cs3"]));
    const header = JSON.parse(parts[0]) as Record<string, unknown>;
    delete header.draining;
    expect(Metadata.fromCheckpoint([JSON.stringify(header), ...parts.slice(1)]).draining.size).toBe(0);
    expect(JSON.parse(new Metadata().checkpointParts()[0])).not.toHaveProperty("draining");
  });

  it("a damaged drain list in a checkpoint is refused, not guessed at", () => {
    const m = new Metadata();
    const parts = m.checkpointParts();
    const header = { ...(JSON.parse(parts[0]) as Record<string, unknown>), draining: [""] };
    expect(() => Metadata.fromCheckpoint([JSON.stringify(header), ...parts.slice(1)])).toThrow(/bad drained servers/);
  });
});
