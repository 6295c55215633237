// Issue 20 (quota lane): the status page's quotas table, rendered from the renderer's own source text
// (as the browser runs it: no imported helper), shown only when a quota exists.
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { renderStatus } from "../src/status-page";

const base = { chunkservers: [], chunkCount: 0, fileCount: 0, safeMode: false, safeModeReasons: [], masters: [], events: [] };
const quota = (path: string, over: { soft?: boolean; hard?: boolean; graceEndsMs?: number }) => ({
  path, limits: { bytesSoft: 1024, bytesHard: 2048, entriesSoft: 0, entriesHard: 10 }, bytesUsed: 1500, entriesUsed: 3,
  overSoft: !!over.soft, overHard: !!over.hard, softExceededSinceMs: over.soft ? 1 : 0, graceEndsMs: over.graceEndsMs ?? 0,
});

describe("status page quotas table", () => {
  it("lists each quota with usage, limits and state, from its own source text; no table without quotas", () => {
    const status = { ...base, quotas: [quota("/home/<a>", {}), quota("/p", { soft: true, graceEndsMs: 10_000 }), quota("/q", { soft: true, hard: true })] };
    const html = runInNewContext(`(${renderStatus.toString()})(status, 5000)`, { status: structuredClone(status) }) as string;
    expect(html).toBe(renderStatus(structuredClone(status) as never, 5000));
    expect(html).toContain("<h2>Quotas</h2>");
    expect(html).toContain('data-quota-path="/home/&#60;a&#62;"'); // escaped
    expect(html).toMatch(/data-quota-path="\/p" class="other">.*over soft, grace until 1970-01-01 00:00:10 UTC/);
    expect(html).toMatch(/data-quota-path="\/q" class="dead">.*over hard/);
    expect(renderStatus({ ...base, quotas: [] } as never, 0)).not.toContain("Quotas");
  });

  it("names each kind over its soft limit with its own grace (bytes and entries have separate clocks)", () => {
    const q = { ...quota("/k", { soft: true, graceEndsMs: 2000 }), bytesGraceEndsMs: 2000, entriesGraceEndsMs: 10_000 };
    const html = runInNewContext(`(${renderStatus.toString()})(status, 5000)`, { status: { ...base, quotas: [q] } }) as string;
    expect(html).toContain("over soft, bytes grace over, entries grace until 1970-01-01 00:00:10 UTC");
  });
});
