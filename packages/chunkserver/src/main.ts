#!/usr/bin/env node
// gfs-chunkserver: flags, wiring and signals only; the logic lives in the modules.
import {
  chunkServerDefinition, createLogger, defaults, helpText, onShutdown, parseFlags, runMain, startServer, stopServer,
  type FlagSpec,
} from "@gfs/common";
import { diskSpace } from "./disk-space";
import { MasterLink } from "./master-link";
import { loadOrCreateServerId } from "./server-identity";
import { defaultChunkserverSettings } from "./settings";

const flagSpecs: Record<string, FlagSpec> = {
  listen: { type: "hostport", help: "address to serve on (port 0: any free port)", default: "127.0.0.1:0" },
  advertise: { type: "hostport", help: "address clients and peers use to reach this server (default: the listen address)" },
  master: { type: "hostport", help: "the master's address", required: true },
  data: { type: "string", help: "directory holding this server's chunks", required: true },
  rack: { type: "string", help: "rack label; replicas of a chunk spread across racks", default: "" },
  "heartbeat-interval-ms": { type: "int", help: "heartbeat period until the master says otherwise", default: defaults.heartbeat_interval_ms, min: 10 },
  "master-wait-ms": { type: "int", help: "how long to keep trying to register at start-up", default: 30_000, min: 0 },
};

runMain("gfs-chunkserver", async () => {
  const { values, help } = parseFlags(process.argv.slice(2), flagSpecs);
  if (help) {
    process.stdout.write(helpText("gfs-chunkserver", "--master HOST:PORT --data DIR [options]", flagSpecs) + "\n");
    return;
  }
  const log = createLogger("chunkserver");
  const settings = { ...defaultChunkserverSettings(), heartbeat_interval_ms: values["heartbeat-interval-ms"] as number, master_wait_ms: values["master-wait-ms"] as number };
  const dataDir = values.data as string;
  const serverId = await loadOrCreateServerId(dataDir);
  const { server, port } = await startServer(values.listen as string, [{ definition: chunkServerDefinition(), handlers: {} }]);
  const address = (values.advertise as string | undefined) ?? `${(values.listen as string).replace(/:\d+$/, "")}:${port}`;
  const rack = values.rack as string;
  const link = new MasterLink(values.master as string, {
    registration: async () => {
      const space = await diskSpace(dataDir);
      return { serverId, address, rack, capacityBytes: space.capacityBytes, usedBytes: 0, chunks: [] };
    },
    onRegistered: async () => {},
    heartbeat: async () => {
      const space = await diskSpace(dataDir);
      return { serverId, capacityBytes: space.capacityBytes, usedBytes: 0, chunkCount: 0, load: 0 };
    },
    onHeartbeat: async () => {},
    onHeartbeatFailed: () => {},
  }, log, settings.heartbeat_interval_ms);
  log.info("chunkserver listening", { address, serverId, data: dataDir, rack });
  await link.start(settings.master_wait_ms, values.master as string);
  log.info("registered with master", { master: values.master, heartbeatIntervalMs: link.intervalMs });
  onShutdown(async () => {
    log.info("chunkserver shutting down");
    link.stop();
    await stopServer(server);
  });
});
