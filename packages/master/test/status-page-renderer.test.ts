// The status page's renderer is sent to the browser as its own source text
// (status-page.ts), so it may use nothing from outside its body: an imported
// helper is a ReferenceError in the page, and the page stops refreshing.
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { renderStatus } from "../src/status-page";

const status = {
  chunkservers: [
    { serverId: "cs-1", address: "127.0.0.1:1", rack: "r1", capacityBytes: 100, usedBytes: 10, chunkCount: 1, alive: true, lastHeartbeatAgeMs: 5, load: 0, state: "alive" },
    { serverId: "cs-2", address: "127.0.0.1:2", rack: "r2", capacityBytes: 100, usedBytes: 10, chunkCount: 1, alive: false, lastHeartbeatAgeMs: 9000, load: 0, state: "left" },
    { serverId: "cs-3", address: "127.0.0.1:3", rack: "r2", capacityBytes: 100, usedBytes: 10, chunkCount: 1, alive: false, lastHeartbeatAgeMs: 9000, load: 0, state: "dead" },
  ],
  chunkCount: 1, fileCount: 1, safeMode: false, safeModeReasons: [], masters: [], events: [],
};

describe("status page renderer", () => {
  it("renders from its own source text alone, as the browser runs it (no imported helper), and counts only dead servers as dead", () => {
    const html = runInNewContext(`(${renderStatus.toString()})(status, 0)`, { status: structuredClone(status) }) as string;
    expect(html).toBe(renderStatus(structuredClone(status) as never, 0));
    expect(html).toContain("cs-2");
    expect(html).toContain('<div class="note">1 dead</div>'); // one dead server, not two
    expect(html).toMatch(/data-server-id="cs-2"[^>]*class="other"/); // a server that left is not shown as a failure
    expect(html).toMatch(/data-server-id="cs-3"[^>]*class="dead"/);
  });
});
