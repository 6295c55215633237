// Fencing by master epoch (issue 16): which master replies a chunkserver obeys
// and which commands it refuses.
import { describe, expect, it } from "vitest";
import { MasterEpoch } from "../src/master-epoch";

describe("master epoch", () => {
  it("a single master (epoch 0, role SINGLE) is obeyed as before issue 16", () => {
    const e = new MasterEpoch();
    expect(e.judgeReply(0, "MASTER_ROLE_SINGLE")).toBe("obey");
    expect(() => e.admit("SetChunkVersion", 0)).not.toThrow();
    expect(e.highest).toBe(0);
  });

  it("a shadow's reply gives keys only and does not raise the epoch", () => {
    const e = new MasterEpoch();
    expect(e.judgeReply(9, "MASTER_ROLE_SHADOW")).toBe("keys-only");
    expect(e.highest).toBe(0);
  });

  it("an active reply below the highest epoch seen is stale; at or above it is obeyed and raises it", () => {
    const e = new MasterEpoch();
    expect(e.judgeReply(5, "MASTER_ROLE_ACTIVE")).toBe("obey");
    expect(e.judgeReply(4, "MASTER_ROLE_ACTIVE")).toBe("stale");
    expect(e.judgeReply(0, "MASTER_ROLE_SINGLE")).toBe("stale");
    expect(e.judgeReply(5, "MASTER_ROLE_ACTIVE")).toBe("obey");
    expect(e.judgeReply(7, "MASTER_ROLE_ACTIVE")).toBe("obey");
    expect(e.highest).toBe(7);
  });

  it("a command from a lower epoch is refused in one line naming both epochs; a higher one raises the epoch", () => {
    const e = new MasterEpoch();
    e.judgeReply(5, "MASTER_ROLE_ACTIVE");
    expect(() => e.admit("RevokeLease", 4)).toThrow(/^ESTALE: RevokeLease from a master at epoch 4 refused: a master at epoch 5 is active$/);
    e.admit("CreateChunks", 6);
    expect(e.highest).toBe(6);
    expect(e.judgeReply(5, "MASTER_ROLE_ACTIVE")).toBe("stale");
  });

  it("a malformed epoch is refused", () => {
    expect(() => new MasterEpoch().admit("SetChunkVersion", -1)).toThrow(/^EINVAL: SetChunkVersion: bad master epoch -1$/);
  });
});
