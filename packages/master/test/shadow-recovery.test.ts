// Issue 16: a shadow restarted from its own log serves only what clients were
// told succeeded: the records after the last one known acknowledged stay in
// its log, unapplied, until its active says they are committed (review finding:
// a stepped-down active served its own unacknowledged tail).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger, crc32c } from "@gfs/common";
import { MasterPhase } from "../src/master-phase";
import { defaultChunkTokenKeys, masterCallStreams } from "../src/master-service";
import type { MetadataOp } from "../src/metadata";
import { OpLog, type LogRecord } from "../src/op-log";
import { defaultMasterSettings } from "../src/settings";

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

const mkdir = (path: string, id: number): MetadataOp => ({ op: "mkdir", path, mode: 0o755, uid: 0, gid: 0, parents: false, ids: [id], timeMs: 1 });
const rec = (seq: number, op: MetadataOp): LogRecord => {
  const payload = JSON.stringify(op);
  return { seq, epoch: 3, format: 1, crc: crc32c(Buffer.from(payload, "utf8")), payload };
};

function open(dir: string, role: "shadow" | "active"): MasterPhase {
  return MasterPhase.open({
    dataDir: dir, settings: defaultMasterSettings(), checkpoints: { checkpoint_every_records: 1_000_000, checkpoint_interval_ms: 3_600_000 },
    role, epoch: 3, log: createLogger("test", "error"), tokens: defaultChunkTokenKeys(), streams: masterCallStreams(), onJournalFailure: () => {},
  });
}

describe("shadow recovery", () => {
  it("a shadow reopened from its log serves records up to the last acknowledged one only; an active recovers them all", async () => {
    const dir = mkdtempSync(join(tmpdir(), "shadow-recovery-"));
    dirs.push(dir);
    const { log } = OpLog.open<MetadataOp>(dir);
    await log.appendReplicated([rec(1, mkdir("/acked", 2)), rec(2, mkdir("/not-acked", 3))]);
    log.noteAcknowledged(1);
    await log.close();

    const shadow = open(dir, "shadow");
    expect(shadow.state.namespace.exists("/acked")).toBe(true);
    expect(shadow.state.namespace.exists("/not-acked")).toBe(false);
    expect(shadow.state.appliedSeq).toBe(1);
    expect(shadow.oplog.lastSeq).toBe(2); // kept in the log: the active may still commit it
    await shadow.close();

    const active = open(dir, "active");
    expect(active.state.namespace.exists("/not-acked")).toBe(true);
    await active.close();
  });
});
