#!/usr/bin/env node
// gfs-master: flags, wiring and signals only; the logic lives in the modules.
import { mkdirSync } from "node:fs";
import {
  helpText, masterDefinition, onShutdown, parseFlags, runMain, setTransportSecurity, startServer, stopServer, defaults,
  logTransportSecurity, transportFlagSpecs, transportFromFlags, UsageError, type FlagSpec, httpFlagSpecs, startHttpEndpoint, type HttpEndpoint, type Readiness,
  configFlagSpecs, configToToml, versionLine,
  processMetrics, logFlagSpecs, startDaemonLog,
} from "@gfs/common";
import { runBackup } from "./backup";
import { ChunkTokenKeys } from "./chunk-token-keys";
import { ClusterEvents } from "./cluster-events";
import { MasterPhase } from "./master-phase";
import { masterCallStreams } from "./master-service";
import type { MasterState } from "./master-state";
import { ReplicatedMaster } from "./replicated-master";
import { defaultMasterSettings, type MasterSettings } from "./settings";
import { statusRoutes } from "./status-page";

const flagSpecs: Record<string, FlagSpec> = {
  listen: { type: "hostport", help: "address to serve clients and chunkservers on", default: `127.0.0.1:${defaults.master_port}` },
  data: { type: "path", help: "directory for the operation log and checkpoints", required: true },
  ...configFlagSpecs,
  ...transportFlagSpecs,
  ...httpFlagSpecs,
  ...logFlagSpecs,
  "chunk-size": { type: "bytes", help: "chunk size in bytes (suffixes K, M, G)", default: defaults.chunk_size_bytes, min: 65536 },
  replication: { type: "int", help: "replicas per chunk", default: defaults.replication, min: 1 },
  "heartbeat-interval-ms": { type: "int", help: "expected chunkserver heartbeat period", default: defaults.heartbeat_interval_ms, min: 10 },
  "heartbeat-misses": { type: "int", help: "missed heartbeats before a chunkserver is dead", default: defaults.heartbeat_misses_dead, min: 1 },
  "lease-ms": { type: "int", help: "primary lease length (also the longest a restarted master waits for chunkservers to report leases it forgot)", default: defaults.lease_ms, min: 100 },
  "copies-per-server": { type: "int", help: "re-replication copies one chunkserver takes part in at once", default: defaults.replication_copies_per_server_max, min: 1 },
  "chunk-spares": { type: "int", help: "empty chunks kept created ahead of demand, so writers need not wait for creation (0: none)", default: defaults.chunk_spares, min: 0 },
  "copy-timeout-ms": { type: "int", help: "a re-replication copy not confirmed in this time is planned again", default: defaults.replication_copy_timeout_ms, min: 100 },
  "session-lease-ms": {
    type: "int", min: 100, default: defaults.session_lease_ms,
    help: "a mount session not renewed this long is gone, and the unlinked files only it held open are reclaimed (also the wait after a start before reclaiming any)",
  },
  "trash-retention-ms": {
    type: "int", min: 0, default: defaults.trash_retention_ms,
    help: "a deleted file or tree stays in the trash (gfs trash ls/restore, /.trash on a mount) this long before its chunks are reclaimed; 0: no trash, a delete frees at once",
  },
  "quota-grace-ms": {
    type: "int", min: 0, default: defaults.quota_grace_ms,
    help: "how long a directory's usage may stay over its soft quota before the soft limit acts as the hard one (EDQUOT)",
  },
  "checkpoint-every-records": { type: "int", help: "checkpoint after this many op-log records", default: defaults.checkpoint_every_records, min: 1 },
  "checkpoint-interval-ms": { type: "int", help: "checkpoint this often if anything was logged", default: defaults.checkpoint_interval_ms, min: 100 },
  "safe-mode-unknown-chunks": {
    type: "int", min: 0, default: defaults.safe_mode_unknown_chunks_max,
    help: `a registration with more unknown chunks holding data than this (and than ${defaults.safe_mode_unknown_chunks_fraction * 100}% of its report) puts the master in safe mode`,
  },
  "chunk-token-ttl-ms": { type: "int", help: "chunk access tokens handed to clients are valid this long", default: defaults.chunk_token_ttl_ms, min: 1 },
  "chunk-token-key-rotate-ms": { type: "int", help: "a new chunk token signing key is used this often", default: defaults.chunk_token_key_rotate_ms, min: 1_000 },
  // Issue 18: the balancer (balancer.ts).
  "no-balance": { type: "boolean", help: "no background balancing (gfs balance still starts a round)" },
  "balance-tolerance-percent": {
    type: "int", min: 1, default: Math.round(defaults.balance_tolerance_ratio * 100),
    help: "chunks move once servers' used/capacity differ by more than this many percentage points",
  },
  "balance-moves": { type: "int", help: "chunk moves the balancer orders per round", default: defaults.balance_moves_per_round_max, min: 1 },
  "balance-interval-ms": { type: "int", help: "how often the background balancer plans a round", default: defaults.balance_interval_ms, min: 10 },
  // Issue 16: a replicated master set (one active, shadows) coordinated through etcd.
  etcd: { type: "string", help: "etcd endpoints (comma-separated URLs): this master joins a replicated set (without: a single master)" },
  id: { type: "string", help: "this master's id in a replicated set (default: its certificate's name; required with --insecure)" },
  "etcd-prefix": { type: "string", help: "key prefix of this cluster in etcd", default: defaults.etcd_prefix },
  "election-ttl-ms": { type: "int", help: "etcd lease TTL of the active master's election", default: defaults.election_ttl_ms, min: 1_000 },
  "step-down-after-ms": {
    type: "int", help: "the active master stops acknowledging once its etcd lease was not renewed for this long (below the TTL)",
    default: defaults.step_down_after_ms, min: 100,
  },
};

runMain("gfs-master", async () => {
  // A backup runs the same script as the daemon: a logrotate `pkill -HUP` aimed at the daemons must not end it half-written.
  if (process.argv[2] === "backup") process.on("SIGHUP", () => {});
  if (process.argv[2] === "backup") return runBackup(process.argv.slice(3), flagSpecs);
  const { values, help, version } = parseFlags(process.argv.slice(2), flagSpecs);
  if (version) return void process.stdout.write(`${versionLine("gfs-master")}\n`);
  if (help) {
    process.stdout.write(helpText("gfs-master", "--data DIR (--tls-dir DIR | --insecure) [--etcd URLS] [options]\n"
      + "       gfs-master --config FILE [options]   (settings from a TOML file; flags win)\n"
      + "       gfs-master backup --data DIR OUT   (an online, consistent copy of DIR's metadata)", flagSpecs) + "\n");
    return;
  }
  const ttlMs = values["election-ttl-ms"] as number;
  const stepDownAfterMs = values["step-down-after-ms"] as number;
  if (values.etcd && stepDownAfterMs >= ttlMs) {
    throw new UsageError(`--step-down-after-ms ${stepDownAfterMs} must be below --election-ttl-ms ${ttlMs}: `
      + "the active master must stop acknowledging before another can be elected");
  }
  // A key is handed to chunkservers one rotation before it signs, and they hear of it only by heartbeat:
  // a rotation shorter than two heartbeats would sign tokens no chunkserver knows yet (refused as stale).
  const rotateMs = values["chunk-token-key-rotate-ms"] as number;
  const heartbeatMs = values["heartbeat-interval-ms"] as number;
  if (rotateMs < 2 * heartbeatMs) {
    throw new UsageError(`--chunk-token-key-rotate-ms ${rotateMs} must be at least twice --heartbeat-interval-ms ${heartbeatMs}: `
      + "chunkservers learn a new key only by heartbeat, before it signs");
  }
  if (values["print-config"]) return void process.stdout.write(configToToml(flagSpecs, values));
  const log = startDaemonLog("master", values["log-file"] as string | undefined);
  const security = transportFromFlags(values["tls-dir"] as string | undefined, values.insecure as boolean | undefined, "master");
  setTransportSecurity(security);
  const dataDir = values.data as string;
  mkdirSync(dataDir, { recursive: true });
  const settings: MasterSettings = {
    ...defaultMasterSettings(),
    safe_mode_unknown_chunks_max: values["safe-mode-unknown-chunks"] as number,
    chunk_size_bytes: values["chunk-size"] as number,
    replication: values.replication as number,
    heartbeat_interval_ms: values["heartbeat-interval-ms"] as number,
    heartbeat_misses_dead: values["heartbeat-misses"] as number,
    lease_ms: values["lease-ms"] as number,
    replication_copies_per_server_max: values["copies-per-server"] as number,
    replication_copy_timeout_ms: values["copy-timeout-ms"] as number,
    chunk_spares: values["chunk-spares"] as number,
    balance_background: !values["no-balance"],
    balance_tolerance_ratio: (values["balance-tolerance-percent"] as number) / 100,
    balance_moves_per_round_max: values["balance-moves"] as number,
    balance_interval_ms: values["balance-interval-ms"] as number,
    session_lease_ms: values["session-lease-ms"] as number,
    trash_retention_ms: values["trash-retention-ms"] as number,
    quota_grace_ms: values["quota-grace-ms"] as number,
  };
  const checkpoints = {
    checkpoint_every_records: values["checkpoint-every-records"] as number,
    checkpoint_interval_ms: values["checkpoint-interval-ms"] as number,
  };
  // New random keys at every start: tokens from before are refused as "unknown key", and clients ask again.
  const tokens = new ChunkTokenKeys({
    ttlMs: values["chunk-token-ttl-ms"] as number, rotateMs, now: Date.now,
  });
  const streams = masterCallStreams();
  const events = new ClusterEvents();
  // What the HTTP port shows: filled in once the master has recovered (a single one) or started its roles (replicated).
  let current: () => MasterState | undefined = () => undefined;
  let readiness = (): Readiness => ({ ready: false, reason: values.etcd
    ? "starting: connecting to etcd, then recovering the metadata as a shadow"
    : "starting: recovering the metadata (checkpoint and op log), then opening the RPC port" });
  processMetrics("master"); // the rest of /metrics: master-metrics.ts, fed by MasterPhase
  // The HTTP port (issue 17) comes up first, so a master still recovering already answers /healthz and /readyz.
  const http: HttpEndpoint | undefined = values["http-listen"]
    ? await startHttpEndpoint({ listen: values["http-listen"] as string, readiness: () => readiness(), routes: statusRoutes(() => current()) })
    : undefined;
  if (http) log.info("http listening", { address: http.address });
  if (values.etcd) {
    const id = (values.id as string | undefined) ?? (security.insecure ? undefined : security.identity.self.name);
    if (!id) throw new UsageError("--id NAME is required with --etcd and --insecure (under TLS the certificate's name is the id)");
    logTransportSecurity(log, security);
    const { stop, master } = await ReplicatedMaster.start({
      id, listen: values.listen as string, security, log, streams,
      etcd: { endpoints: (values.etcd as string).split(",").filter(Boolean), prefix: values["etcd-prefix"] as string, ttlMs, stepDownAfterMs },
      phase: { dataDir, settings, checkpoints, log, tokens, streams, events },
    });
    current = () => master.state;
    readiness = () => master.readiness();
    onShutdown(async () => {
      log.info("master shutting down");
      await http?.close();
      await stop();
      log.info("master stopped", {});
    });
    return;
  }
  const phase = MasterPhase.open({
    dataDir, settings, checkpoints, role: "single", epoch: 0, log, tokens, streams, events,
    // Fail-stop: memory is ahead of the disk now; answering anything more could acknowledge what a restart loses.
    onJournalFailure: () => process.exit(1),
  });
  logTransportSecurity(log, security);
  const { server, port } = await startServer(values.listen as string, [{ definition: masterDefinition(), handlers: phase.handlers }]);
  const host = (values.listen as string).replace(/:\d+$/, "");
  log.info("master listening", { address: `${host}:${port}`, data: dataDir, ...settings });
  current = () => phase.state;
  readiness = () => ({ ready: true });
  onShutdown(async () => {
    log.info("master shutting down");
    await http?.close();
    // Call streams never end by themselves: ended here once their calls are answered, so the grace below is not spent waiting on them.
    streams.close();
    await stopServer(server);
    await phase.close();
    const stats = phase.oplog.stats;
    log.info("master stopped", { opLogRecords: stats.records, opLogCommits: stats.commits, checkpoints: stats.checkpoints });
  });
});
