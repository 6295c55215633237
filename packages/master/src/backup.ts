// `gfs-master backup --data DIR OUT` (issue 16): an online, consistent copy
// of a master's metadata. The newest checkpoint and every record after it are
// read in ONE SQLite read transaction beside the running master (WAL mode
// lets readers and the writer go on together), so the copy is the state after
// exactly one record: everything acknowledged before the backup started, and
// perhaps some of what was acknowledged while it ran. OUT gets an op log that
// starts from that state as a checkpoint; `gfs-master --data OUT` serves it.
import { existsSync, readdirSync } from "node:fs";
import { configFlagSpecs, helpText, parseFlags, UsageError, versionLine, type FlagSpec } from "@gfs/common";
import type { MetadataOp } from "./metadata";
import { OpLog } from "./op-log";
import { recoverMetadata } from "./recovery";

const flagSpecs: Record<string, FlagSpec> = {
  data: { type: "path", help: "the master's data directory (it may be running)", required: true },
  config: { ...configFlagSpecs.config, help: "the master's config file: its data directory is backed up (the file's other settings are checked, not used)" },
};

/** `masterSpecs`: the master's flags, so `--config` takes the master's own file. */
export async function runBackup(argv: string[], masterSpecs: Record<string, FlagSpec>): Promise<void> {
  const { values, positionals, help, version } = parseFlags(argv, flagSpecs, { positionals: true, configSpecs: masterSpecs });
  if (version) return void process.stdout.write(`${versionLine("gfs-master")}\n`);
  if (help) {
    process.stdout.write(helpText("gfs-master backup", "(--data DIR | --config FILE) OUT", flagSpecs) + "\n");
    return;
  }
  if (positionals.length !== 1) throw new UsageError(`backup takes one OUT directory, got ${positionals.length} arguments`);
  const dir = values.data as string;
  const out = positionals[0];
  if (!existsSync(dir)) throw new UsageError(`--data ${dir} does not exist`);
  if (existsSync(out) && readdirSync(out).length > 0) throw new UsageError(`${out} is not empty: a backup goes into a new or empty directory`);
  const t0 = performance.now();
  const recovered = OpLog.readUpTo<MetadataOp>(dir, Number.MAX_SAFE_INTEGER);
  const { metadata, lastSeq } = recoverMetadata(recovered);
  const { log: oplog } = OpLog.open<MetadataOp>(out);
  try {
    await oplog.installCheckpoint(metadata.checkpointParts(), lastSeq);
  } finally {
    await oplog.close();
  }
  const counts = metadata.namespace.counts();
  process.stdout.write(`backup of ${dir} up to record ${lastSeq} (${counts.files} files, ${counts.directories} directories, `
    + `${metadata.chunks.size} chunks) written to ${out} in ${Math.round(performance.now() - t0)} ms\n`);
}
