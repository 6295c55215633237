#!/usr/bin/env node
// gfs-master: flags, wiring and signals only; the logic lives in the modules.
import { mkdirSync } from "node:fs";
import {
  createLogger, helpText, masterDefinition, onShutdown, parseFlags, runMain, startServer, stopServer, defaults,
  type FlagSpec,
} from "@gfs/common";
import { MasterState, masterHandlers } from "./master-service";

const flagSpecs: Record<string, FlagSpec> = {
  listen: { type: "hostport", help: "address to serve clients and chunkservers on", default: `127.0.0.1:${defaults.master_port}` },
  data: { type: "string", help: "directory for the operation log and checkpoints", required: true },
  "chunk-size": { type: "bytes", help: "chunk size in bytes (suffixes K, M, G)", default: defaults.chunk_size_bytes, min: 65536 },
  replication: { type: "int", help: "replicas per chunk", default: defaults.replication, min: 1 },
  "heartbeat-interval-ms": { type: "int", help: "expected chunkserver heartbeat period", default: defaults.heartbeat_interval_ms, min: 10 },
  "heartbeat-misses": { type: "int", help: "missed heartbeats before a chunkserver is dead", default: defaults.heartbeat_misses_dead, min: 1 },
  "lease-ms": { type: "int", help: "primary lease length", default: defaults.lease_ms, min: 100 },
};

runMain("gfs-master", async () => {
  const { values, help } = parseFlags(process.argv.slice(2), flagSpecs);
  if (help) {
    process.stdout.write(helpText("gfs-master", "--data DIR [options]", flagSpecs) + "\n");
    return;
  }
  const log = createLogger("master");
  const dataDir = values.data as string;
  mkdirSync(dataDir, { recursive: true });
  const state = new MasterState({
    chunk_size_bytes: values["chunk-size"] as number,
    replication: values.replication as number,
    heartbeat_interval_ms: values["heartbeat-interval-ms"] as number,
    heartbeat_misses_dead: values["heartbeat-misses"] as number,
    lease_ms: values["lease-ms"] as number,
  }, Date.now, log);
  const { server, port } = await startServer(values.listen as string, [{ definition: masterDefinition(), handlers: masterHandlers(state) }]);
  const sweep = setInterval(() => state.tick(), Math.max(10, Math.floor(state.settings.heartbeat_interval_ms / 2)));
  const host = (values.listen as string).replace(/:\d+$/, "");
  log.info("master listening", { address: `${host}:${port}`, data: dataDir, ...state.settings });
  onShutdown(async () => {
    log.info("master shutting down");
    clearInterval(sweep);
    await stopServer(server);
  });
});
