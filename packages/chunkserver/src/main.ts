#!/usr/bin/env node
// gfs-chunkserver: flags, wiring and signals only; the logic lives in the modules.
import { join } from "node:path";
import {
  ChunkServerPool, chunkServerDefinition, defaults, helpText, onShutdown, parseFlags, realEnv, runMain,
  logTransportSecurity, setTransportSecurity, startServer, stopServer, transportFlagSpecs, transportFromFlags, type FlagSpec,
  httpFlagSpecs, startHttpEndpoint, configFlagSpecs, configToToml, versionLine,
  processMetrics, logFlagSpecs, startDaemonLog, type Readiness,
} from "@gfs/common";
import { ChunkStore } from "./chunk-store";
import { ChunkServerNode, every } from "./chunkserver-node";
import { watchChunkserver } from "./chunkserver-metrics";
import { ChunkServerService } from "./chunkserver-service";
import { startDataServer } from "./data-server";
import { diskSpace } from "./disk-space";
import { LeaseView } from "./lease";
import { MasterEpoch } from "./master-epoch";
import { MasterLink, MasterLinks } from "./master-link";
import { PushBuffer } from "./push-buffer";
import { Quarantine, quarantineSweepIntervalMs } from "./quarantine";
import { PeerDirectory } from "./push-chain";
import { Scrubber } from "./scrubber";
import { VerifyOrders } from "./verify-orders";
import { ReportJournal } from "./report-journal";
import { leaveGracefully } from "./graceful-leave";
import { certifiedServerId, loadOrCreateServerId } from "./server-identity";
import { defaultChunkserverSettings } from "./settings";
import { TokenKeyring } from "./token-keys";

const flagSpecs: Record<string, FlagSpec> = {
  listen: { type: "hostport", help: "address to serve on (port 0: any free port)", default: "127.0.0.1:0" },
  advertise: { type: "hostport", help: "address clients and peers use to reach this server (default: the listen address)" },
  "data-listen": { type: "hostport", help: "address of the bulk data transport (PushData/Read on raw TCP; port 0: any free port; default: the listen host)" },
  master: { type: "hostports", help: "the master's address, or every master's (comma-separated: A,B,C)", required: true },
  data: { type: "path", help: "directory holding this server's chunks", required: true },
  ...configFlagSpecs,
  ...transportFlagSpecs,
  ...httpFlagSpecs,
  ...logFlagSpecs,
  rack: { type: "string", help: "rack label; replicas of a chunk spread across racks", default: "" },
  "heartbeat-interval-ms": { type: "int", help: "heartbeat period until the master says otherwise", default: defaults.heartbeat_interval_ms, min: 10 },
  "master-wait-ms": { type: "int", help: "how long to keep trying to register at start-up", default: 30_000, min: 0 },
  "scrub-bytes-per-sec": { type: "bytes", help: "idle-time checksum scrubbing rate (0: off)", default: defaults.scrub_bytes_per_sec, min: 0 },
  "scrub-cold-ms": { type: "int", help: "a chunk unmodified this long is scrubbed", default: defaults.scrub_cold_after_ms, min: 0 },
  "quarantine-retention-ms": {
    type: "int", min: 0, default: defaults.quarantine_retention_ms,
    help: "chunks the master did not know are kept aside this long (restorable) before they are deleted",
  },
  "pushes-in-flight-max": { type: "int", help: "pushes received at once; more are refused (EAGAIN)", default: defaults.pushes_in_flight_max, min: 1 },
  "push-in-flight-bytes-max": { type: "bytes", help: "bytes announced by the pushes received at once; more are refused (EAGAIN)", default: defaults.push_in_flight_bytes_max, min: 1 },
  "push-stall-timeout-ms": { type: "int", help: "a push (or inline body) sending no byte this long is cut off", default: defaults.push_stall_timeout_ms, min: 1 },
  "data-header-timeout-ms": { type: "int", help: "a data frame header must arrive whole within this long of its first byte", default: defaults.data_header_timeout_ms, min: 1 },
  "data-idle-timeout-ms": { type: "int", help: "an idle data connection is closed after this long", default: defaults.data_idle_timeout_ms, min: 1 },
  capacity: {
    type: "bytes", min: 0, default: 0,
    help: "the most this server may hold (suffixes K, M, G; 0: its disk's size): its reported capacity, and its free space at most this minus what it holds",
  },
  "leave-drain-ms": {
    type: "int", min: 0, default: defaults.chunkserver_leave_drain_ms,
    help: "on SIGTERM, how long to wait for in-flight mutations after telling the master this server is leaving",
  },
  "data-connections-max": { type: "int", help: "data transport connections served at once", default: defaults.data_connections_max, min: 1 },
};

runMain("gfs-chunkserver", async () => {
  const { values, help, version } = parseFlags(process.argv.slice(2), flagSpecs);
  if (version) return void process.stdout.write(`${versionLine("gfs-chunkserver")}\n`);
  if (help) {
    process.stdout.write(helpText("gfs-chunkserver", "--master HOST:PORT[,HOST:PORT...] --data DIR (--tls-dir DIR | --insecure) [options]\n"
      + "       gfs-chunkserver --config FILE [options]   (settings from a TOML file; flags win)", flagSpecs) + "\n");
    return;
  }
  if (values["print-config"]) return void process.stdout.write(configToToml(flagSpecs, values));
  const log = startDaemonLog("chunkserver", values["log-file"] as string | undefined);
  const security = transportFromFlags(values["tls-dir"] as string | undefined, values.insecure as boolean | undefined, "chunkserver");
  setTransportSecurity(security);
  const settings = {
    ...defaultChunkserverSettings(), heartbeat_interval_ms: values["heartbeat-interval-ms"] as number, master_wait_ms: values["master-wait-ms"] as number,
    scrub_bytes_per_sec: values["scrub-bytes-per-sec"] as number, scrub_cold_after_ms: values["scrub-cold-ms"] as number,
    pushes_in_flight_max: values["pushes-in-flight-max"] as number, push_in_flight_bytes_max: values["push-in-flight-bytes-max"] as number,
    push_stall_timeout_ms: values["push-stall-timeout-ms"] as number, data_header_timeout_ms: values["data-header-timeout-ms"] as number,
    data_idle_timeout_ms: values["data-idle-timeout-ms"] as number, data_connections_max: values["data-connections-max"] as number,
  };
  const dataDir = values.data as string;
  // Under TLS the server id is the certificate's name (the master accepts no other from us); --insecure: the data dir's.
  const serverId = await loadOrCreateServerId(dataDir,
    security.insecure ? undefined : certifiedServerId(security.identity.self, join(security.identity.dir, "tls.crt")));
  // The one clock, timer source and randomness of this process: everything below reads time through it.
  const env = realEnv;
  const now = () => env.now();
  const masters = (values.master as string).split(",");
  const journal = new ReportJournal(MasterLinks.keysOf(masters));
  // The highest master epoch seen (issue 16): the heartbeat replies raise it, the service refuses commands below it.
  const masterEpoch = new MasterEpoch();
  // Before the store loads: a quarantine move a crash interrupted is finished first (see quarantine.ts).
  const quarantine = await Quarantine.open(join(dataDir, "quarantine"), join(dataDir, "chunks"), {
    retentionMs: values["quarantine-retention-ms"] as number, now, log,
  });
  const store = await ChunkStore.open(join(dataDir, "chunks"), {
    blockBytes: settings.checksum_block_bytes, chunkSizeBytes: settings.chunk_size_bytes, log, now,
    onCorrupt: (handle) => journal.noteCorrupt(handle),
  });
  log.info("chunks loaded", { chunks: store.chunkCount, usedBytes: store.usedBytes(), quarantined: quarantine.size });
  // The master links are made after the servers (they need the bound address); the directory asks them once bound.
  let links: MasterLinks | undefined;
  let node: ChunkServerNode | undefined;
  // Pushes are forwarded only to chunkservers the master listed, at the data addresses it has for them.
  const peers = new PeerDirectory(defaults.replication, () => links?.beat() ?? Promise.resolve(), undefined, now);
  const pool = new ChunkServerPool({ dataAddressOf: (a) => peers.dataAddressOf(a) });
  const leases = new LeaseView(now, settings.lease_extension_window_ms);
  // Chunk token keys come from the master (Register, Heartbeat); until then every token is "unknown key" (retry).
  const tokenKeys = new TokenKeyring(now);
  const pushBuffer = new PushBuffer({ maxBytes: settings.push_buffer_bytes_max, ttlMs: settings.push_buffer_ttl_ms, now });
  const service = new ChunkServerService({
    serverId, store, pushBuffer, leases, pool, peers, settings, log, env,
    releaseLease: async (handle, version) => {
      if (!links || !node) throw new Error("not registered yet");
      // To the master last obeyed: a lease is the active master's.
      await links.linkOf(node.activeMaster).master.ReleaseLease({ handle, serverId, version }, { timeoutMs: 2_000 });
    },
    onChunkChanged: (handle) => journal.noteAdded(handle),
    onCopied: () => links?.beatSoon(),
    checkToken: (token, handle, access) => tokenKeys.check(token, handle, access),
    masterEpoch,
    quarantined: (handle) => quarantine.holds(handle),
  });
  logTransportSecurity(log, security);
  const { server, port } = await startServer(values.listen as string, [{ definition: chunkServerDefinition(), handlers: service.handlers() }]);
  const address = (values.advertise as string | undefined) ?? `${(values.listen as string).replace(/:\d+$/, "")}:${port}`;
  const rack = values.rack as string;
  const listenHost = (values.listen as string).replace(/:\d+$/, "");
  peers.self = address;
  const dataServer = await startDataServer((values["data-listen"] as string | undefined) ?? `${listenHost}:0`, service.dataHandlers(), log, {
    headerTimeoutMs: settings.data_header_timeout_ms, idleTimeoutMs: settings.data_idle_timeout_ms,
    stallTimeoutMs: settings.push_stall_timeout_ms, connectionsMax: settings.data_connections_max,
  });
  // Clients reach the data port on the host they reach the gRPC port on.
  service.dataAddress = `${address.replace(/:\d+$/, "")}:${dataServer.port}`;

  const scrubber = new Scrubber(store, settings, now, () => service.inFlight > 0);
  // Replicas a client reported bad, checked here before the master believes it (verify-orders.ts).
  const verifyOrders = new VerifyOrders(store, defaults.verify_chunks_queued_max, log);
  const stopScrub = settings.scrub_bytes_per_sec > 0
    ? every(env, 1_000, () => void scrubber.round().catch((e) => log.warn("scrub round failed", { error: (e as Error).message })))
    : undefined;
  const stopQuarantineSweep = every(env, quarantineSweepIntervalMs(values["quarantine-retention-ms"] as number), () => void quarantine.expire()
    .catch((e) => log.warn("cannot delete expired quarantined chunks", { error: (e as Error).message })));
  const hooks = node = new ChunkServerNode({
    env, serverId, address, rack, store, service, leases, tokenKeys, peers, journal, settings, log, quarantine, scrubber, verifyOrders,
    space: async () => capped(await diskSpace(dataDir), values.capacity as number, store.usedBytes(), dataDir), epoch: masterEpoch,
  });
  // One link per master (issue 16): each registers and heartbeats on its own.
  links = new MasterLinks(masters, env, (a, o) => new MasterLink(a, hooks, log, settings.heartbeat_interval_ms, env, undefined, o));
  processMetrics("chunkserver");
  watchChunkserver({
    stats: service.stats, inFlight: () => service.inFlight, store, pushBuffer, dataDir, now,
    masters: () => links?.links ?? [],
  });
  // Ready while registered with a master that answered recently (issue 17): before, or once every master
  // has been silent for as long as a master waits before calling a server dead, no client is sent here.
  const readiness = (): Readiness => {
    const silentAfterMs = settings.heartbeat_interval_ms * defaults.heartbeat_misses_dead;
    const answering = links?.links.some((l) => l.registered && l.lastReplyMs !== undefined && now() - l.lastReplyMs < silentAfterMs);
    if (answering) return { ready: true };
    return { ready: false, reason: links?.links.some((l) => l.registered) ? "no master answered lately" : "not registered with a master yet" };
  };
  const http = values["http-listen"]
    ? await startHttpEndpoint({
      listen: values["http-listen"] as string,
      readiness,
    })
    : undefined;
  if (http) log.info("http listening", { address: http.address });
  onShutdown(async () => {
    log.info("chunkserver shutting down");
    // Issue 18: tell the masters first, so they re-replicate at once rather than after the heartbeat timeout.
    await leaveGracefully({
      env, log, stopMutations: () => { service.leaving = true; }, inFlight: () => service.inFlight,
      drainMs: values["leave-drain-ms"] as number, callTimeoutMs: defaults.chunkserver_leave_call_timeout_ms,
      tell: async (done, timeoutMs) => {
        await Promise.all((links?.links ?? []).filter((l) => l.registered)
          .map((l) => l.master.Leave({ serverId, done }, { timeoutMs }).catch((e) => log.warn("leave not heard by a master", { master: l.address, done, error: (e as Error).message }))));
      },
    });
    await http?.close();
    links?.stop();
    stopScrub?.();
    stopQuarantineSweep();
    await node.settled(); // never rejects: quarantines log their failures
    await stopServer(server);
    await dataServer.close();
    await store.close();
    pool.close();
  });
  log.info("chunkserver listening", { address, dataAddress: service.dataAddress, serverId, data: dataDir, rack });
  const first = await links.start(settings.master_wait_ms);
  log.info("registered with master", { master: first.address, heartbeatIntervalMs: first.intervalMs, chunkSizeBytes: store.chunkSizeBytes,
    ...(masters.length > 1 ? { masters: masters.join(","), masterEpoch: masterEpoch.highest } : {}) });
});

/** --capacity: the disk as this server may use it (its capacity at most CAP, its free space at most CAP minus what it holds). */
// A capped server's free space is its own budget, not the shared disk's: its disk id names the data dir too.
function capped(disk: { capacityBytes: number; freeBytes: number; diskId: string }, cap: number, usedBytes: number, dataDir: string) {
  if (cap <= 0) return disk;
  return {
    capacityBytes: Math.min(disk.capacityBytes, cap), freeBytes: Math.max(0, Math.min(disk.freeBytes, cap - usedBytes)),
    diskId: `${disk.diskId}:${dataDir}`,
  };
}
