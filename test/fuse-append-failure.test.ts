// An O_APPEND write through the mount is acknowledged only once its record is
// applied on every replica. Before, the mount accepted the write at once and
// reported a failed append only at close, which shells ignore: `echo >> log`
// exited 0 and the line was lost.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "./harness/cluster";
import { sh, TestMount } from "./harness/mount";

const MiB = 1024 * 1024;
/** What a FUSE operation may take before the caller should have its answer (the mount's short test setting). */
const FUSE_OP_TIMEOUT_MS = 15_000;

describe("appends through the mount during a failure", { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let mount: TestMount;

  beforeAll(async () => {
    cluster = await TestCluster.start({ chunkSizeBytes: MiB, leaseMs: 2_000 });
    mount = await TestMount.start(cluster);
  });
  afterAll(async () => {
    await mount?.stop();
    await cluster?.stop();
  });

  it("`>>` during a failure exits non-zero, and every line whose `>>` exited 0 is in the file afterwards", async () => {
    const log = mount.path("log");
    const acked: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const r = await sh(`echo before-${i} >> ${log}`);
      expect(r.code, r.stderr).toBe(0);
      acked.push(`before-${i}`);
    }
    // Writes need every replica: with one of the three chunkservers gone, no append can succeed.
    await cluster.kill(1, "SIGKILL");
    let failed = 0;
    for (let i = 1; i <= 3; i++) {
      const t0 = Date.now();
      const r = await sh(`echo during-${i} >> ${log}`, { timeoutMs: 60_000 });
      expect(Date.now() - t0, `append ${i} took too long`).toBeLessThan(FUSE_OP_TIMEOUT_MS);
      if (r.code === 0) {
        acked.push(`during-${i}`);
      } else {
        failed++;
        expect(r.stderr).toMatch(/Input\/output error|No space left|Resource temporarily unavailable/);
      }
    }
    expect(failed, "an append that cannot reach every replica must fail the shell's >>").toBeGreaterThan(0);
    const read = await sh(`cat ${log}`);
    expect(read.code, read.stderr).toBe(0);
    const lines = read.stdout.split("\n").filter((l) => l.length > 0);
    for (const line of acked) expect(lines, `acknowledged line ${line} lost`).toContain(line);
  });
});
