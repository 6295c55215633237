// Issue 20 (quota lane): how the CLI shows a quota, and how the client routes the quota calls
// across a replicated master (pure: no processes).
import { describe, expect, it } from "vitest";
import type { QuotaInfo__Output } from "@gfs/common";
import { quotaJson, quotaLine, quotaState } from "../src/commands-quota";
import { callKindOf } from "../src/master-set";
import { formatQuotasLine } from "../src/status-format";

const q = (over: Partial<QuotaInfo__Output>): QuotaInfo__Output => ({
  path: "/d", limits: { bytesSoft: 1000, bytesHard: 0, entriesSoft: 0, entriesHard: 10 }, bytesUsed: 1500, entriesUsed: 3,
  overSoft: false, overHard: false, softExceededSinceMs: 0, graceEndsMs: 0,
  bytesSoftExceededSinceMs: 0, bytesGraceEndsMs: 0, entriesSoftExceededSinceMs: 0, entriesGraceEndsMs: 0, ...over,
});

describe("quota display and routing", () => {
  it("a quota line names usage, each limit ('-': none) and the state: ok, over soft within or past its grace, over hard", () => {
    expect(quotaLine(q({}))).toBe("quota /d: bytes 1500 (soft 1000, hard -), entries 3 (soft -, hard 10): ok\n");
    expect(quotaState(q({ overSoft: true, graceEndsMs: 2000 }), 1000)).toBe("over soft, grace until 1970-01-01T00:00:02.000Z");
    expect(quotaState(q({ overSoft: true, graceEndsMs: 2000 }), 3000)).toBe("over soft, grace over (EDQUOT)");
    expect(quotaState(q({ overSoft: true, overHard: true }))).toBe("over hard");
    // Each kind over its soft limit has its own grace clock, and the state names each.
    const both = q({ overSoft: true, graceEndsMs: 2000, bytesGraceEndsMs: 2000, entriesGraceEndsMs: 5000 });
    expect(quotaState(both, 3000)).toBe("over soft, bytes grace over (EDQUOT), entries grace until 1970-01-01T00:00:05.000Z");
    expect(quotaJson(both)).toMatchObject({ graceEndsMs: 2000, bytesGraceEndsMs: 2000, entriesGraceEndsMs: 5000 });
    expect(quotaJson(q({})).limits).toEqual({ bytesSoft: 1000, bytesHard: 0, entriesSoft: 0, entriesHard: 10 });
  });

  it("gfs status names the quotas over a limit, and says nothing without quotas", () => {
    expect(formatQuotasLine({ quotas: [] })).toBe("");
    expect(formatQuotasLine({ quotas: [q({}), q({ path: "/h", overHard: true, overSoft: true }), q({ path: "/s", overSoft: true })] }))
      .toBe("quotas: 3; over hard: /h; over soft: /s\n");
  });

  it("quota reads go to any master; a quota set is sent again after a failover (the same limits twice are the same quota)", () => {
    expect(callKindOf("GetQuota", { path: "/d" })).toBe("read");
    expect(callKindOf("ListQuotas", {})).toBe("read");
    expect(callKindOf("SetQuota", { path: "/d" })).toBe("idempotent");
  });
});
