// One simulated chunkserver, wired from the real modules as main.ts wires
// them (ChunkStore and Quarantine on a SimDisk, ChunkServerService and its
// deps, LeaseView, PushBuffer, ReportJournal, TokenKeyring, and the master
// protocol's ChunkServerNode carried by MasterLink) on the server's own Env
// and the simulated network. What differs from main.ts: no servers or
// sockets (the network calls the handlers), no scrubber or verify orders, a
// fixed disk size.
import { defaults } from "@gfs/common";
import { ChunkStore } from "@gfs/chunkserver/dist/chunk-store";
import { Quarantine } from "@gfs/chunkserver/dist/quarantine";
import { SimDisk } from "@gfs/chunkserver/dist/sim-disk";
import { ChunkServerService } from "@gfs/chunkserver/dist/chunkserver-service";
import { LeaseView } from "@gfs/chunkserver/dist/lease";
import { PushBuffer } from "@gfs/chunkserver/dist/push-buffer";
import { PeerDirectory } from "@gfs/chunkserver/dist/push-chain";
import { ChunkServerNode } from "@gfs/chunkserver/dist/chunkserver-node";
import { MasterLink } from "@gfs/chunkserver/dist/master-link";
import { ReportJournal } from "@gfs/chunkserver/dist/report-journal";
import { defaultChunkserverSettings, type ChunkserverSettings } from "@gfs/chunkserver/dist/settings";
import { TokenKeyring } from "@gfs/chunkserver/dist/token-keys";
import { simLogger } from "./log";
import { chunkServerDefinitionOf, masterClient, SimPool, type Network } from "./net";
import { Proc, type World } from "./world";
export type { ChunkStore };

const chunksDir = "/gfs/chunks";
const quarantineDir = "/gfs/quarantine";

export class SimChunkserver {
  readonly proc: Proc;
  service?: ChunkServerService;
  store?: ChunkStore;
  leases?: LeaseView;
  readonly settings: ChunkserverSettings;
  /** The server's disk: survives its crashes, minus whatever was not synced. */
  readonly disk = new SimDisk();
  /** Simulated times of this server's crashes. */
  readonly crashes: number[] = [];

  constructor(private readonly world: World, private readonly net: Network, readonly serverId: string, readonly address: string,
    private readonly masterAddress: string, overrides: Partial<ChunkserverSettings>) {
    this.proc = new Proc(serverId);
    this.settings = { ...defaultChunkserverSettings(), ...overrides };
  }

  get up(): boolean { return this.proc.up; }

  async start(): Promise<void> {
    const { world, net, proc, settings, serverId, address } = this;
    const env = world.envOf(proc);
    const env0 = proc.incarnation;
    const now = env.now;
    const log = simLogger(world, serverId, "warn");
    const journal = new ReportJournal();
    const { disk } = this;
    const quarantine = await Quarantine.open(quarantineDir, chunksDir, { retentionMs: defaults.quarantine_retention_ms, now, log, disk });
    const store = await ChunkStore.open(chunksDir, {
      blockBytes: settings.checksum_block_bytes, chunkSizeBytes: settings.chunk_size_bytes, log, now, disk,
      onCorrupt: (handle) => journal.noteCorrupt(handle),
    });
    if (this.proc.incarnation !== env0) return; // crashed again while loading
    this.store = store;
    let linkRef: MasterLink | undefined;
    const peers = new PeerDirectory(defaults.replication, () => linkRef?.beat() ?? Promise.resolve(), 1_000, now);
    const pool = new SimPool(net, proc) as never;
    const leases = new LeaseView(now, settings.lease_extension_window_ms);
    this.leases = leases;
    const tokenKeys = new TokenKeyring(now);
    const pushBuffer = new PushBuffer({ maxBytes: settings.push_buffer_bytes_max, ttlMs: settings.push_buffer_ttl_ms, now });
    const master = masterClient(net, proc, this.masterAddress);
    let link: MasterLink | undefined;
    const service = new ChunkServerService({
      serverId, store, pushBuffer, leases, pool, peers, settings, log, env,
      releaseLease: async (handle, version) => { await master.ReleaseLease({ handle, serverId, version }, { timeoutMs: 2_000 }); },
      onChunkChanged: (handle) => journal.noteAdded(handle),
      onCopied: () => link?.beatSoon(),
      checkToken: (token, handle, access) => tokenKeys.check(token, handle, access),
    });
    this.service = service;
    peers.self = address;
    net.listen(address, { proc, serverId, definition: chunkServerDefinitionOf(), handlers: service.handlers() as never });
    // The master-protocol hooks and the register/heartbeat loop are main.ts's own (ChunkServerNode, MasterLink),
    // on this server's Env and over the simulated network; no scrubber or verify orders in the simulation.
    const node = new ChunkServerNode({
      env, serverId, address, rack: "", store, service, leases, tokenKeys, peers, journal, settings, log, quarantine,
      space: async () => ({ capacityBytes: 1 << 30, freeBytes: 1 << 30, diskId: serverId }),
    });
    link = new MasterLink(this.masterAddress, node, log, settings.heartbeat_interval_ms, env, master as never);
    linkRef = link;
    // Registers for as long as it takes (a simulated master may be down a while), then heartbeats.
    void link.start(Number.MAX_SAFE_INTEGER, this.masterAddress).catch((e) => log.error("cannot register", { error: (e as Error).message }));
  }

  crash(): void {
    this.world.crash(this.proc);
    this.crashes.push(this.world.now);
    this.disk.crash();
    this.store = undefined;
    this.service = undefined;
    this.leases = undefined;
  }

  async restart(): Promise<void> {
    this.world.restart(this.proc);
    await this.start();
  }
}
