// One simulated chunkserver, wired from the real modules as main.ts wires
// them (ChunkServerService and its deps, LeaseView, PushBuffer, ReportJournal,
// TokenKeyring, replicate) with the simulated network, clock and disk. The
// heartbeat loop is sim-link.ts (MasterLink's on an Env). What should move out
// of main.ts later so both share it: the hooks object below (registration,
// onRegistered, heartbeat, onHeartbeat) and runReplication.
import { defaults, type HeartbeatRequest, type ReplicationOrder__Output } from "@gfs/common";
import { ChunkStore } from "@gfs/chunkserver/dist/chunk-store";
import { Quarantine } from "@gfs/chunkserver/dist/quarantine";
import { SimDisk } from "@gfs/chunkserver/dist/sim-disk";
import { ChunkServerService } from "@gfs/chunkserver/dist/chunkserver-service";
import { LeaseView } from "@gfs/chunkserver/dist/lease";
import { PushBuffer } from "@gfs/chunkserver/dist/push-buffer";
import { PeerDirectory } from "@gfs/chunkserver/dist/push-chain";
import { replicate } from "@gfs/chunkserver/dist/replication";
import { ReportJournal, type ChunkNews } from "@gfs/chunkserver/dist/report-journal";
import { defaultChunkserverSettings, type ChunkserverSettings } from "@gfs/chunkserver/dist/settings";
import { TokenKeyring } from "@gfs/chunkserver/dist/token-keys";
import { simLogger } from "./log";
import { chunkServerDefinitionOf, masterClient, SimPool, type Network } from "./net";
import { SimLink } from "./sim-link";
import { Proc, type World } from "./world";
export type { ChunkStore };

const chunksDir = "/gfs/chunks";
const quarantineDir = "/gfs/quarantine";

export class SimChunkserver {
  readonly proc: Proc;
  service?: ChunkServerService;
  store?: ChunkStore;
  leases?: LeaseView;
  private link?: SimLink;
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
    let link: SimLink | undefined;
    const peers = new PeerDirectory(defaults.replication, () => link?.beat() ?? Promise.resolve(), 1_000, now);
    const pool = new SimPool(net, proc) as never;
    const leases = new LeaseView(now, settings.lease_extension_window_ms);
    this.leases = leases;
    const tokenKeys = new TokenKeyring(now);
    const pushBuffer = new PushBuffer({ maxBytes: settings.push_buffer_bytes_max, ttlMs: settings.push_buffer_ttl_ms });
    const master = masterClient(net, proc, this.masterAddress);
    const service = new ChunkServerService({
      serverId, store, pushBuffer, leases, pool, peers, settings, log, now,
      timers: { set: env.setTimer, clear: env.clearTimer },
      releaseLease: async (handle, version) => { await master.ReleaseLease({ handle, serverId, version }, { timeoutMs: 2_000 }); },
      onChunkChanged: (handle) => journal.noteAdded(handle),
      checkToken: (token, handle, access) => tokenKeys.check(token, handle, access),
    });
    this.service = service;
    peers.self = address;
    net.listen(address, { proc, serverId, definition: chunkServerDefinitionOf(), handlers: service.handlers() as never });

    const deleteChunk = async (handle: string) => {
      try {
        service.forgetChunk(handle);
        await store.delete(handle);
      } catch (e) {
        log.warn("cannot delete chunk", { handle, error: (e as Error).message });
      }
    };
    // As main.ts: orphans are moved aside one at a time; the master restores those it knows again.
    const quarantineChunk = async (handle: string) => {
      try {
        service.forgetChunk(handle);
        await store.detach(handle, (files, info) => quarantine.put(handle, files, info).then(() => {}));
      } catch (e) {
        log.warn("cannot quarantine chunk", { handle, error: (e as Error).message });
      }
    };
    const restoreChunk = async (handle: string, version: number) => {
      try {
        if (!(await quarantine.restore(handle, version, store.filesOf(handle)))) return;
        await store.adopt(handle);
        journal.noteAdded(handle);
      } catch (e) {
        log.error("cannot restore quarantined chunk", { handle, version, error: (e as Error).message });
      }
    };
    let quarantining: Promise<void> = Promise.resolve();
    const quarantineLater = (handles: string[]) => {
      for (const h of handles) quarantining = quarantining.then(() => quarantineChunk(h));
    };
    const replicating = new Map<string, ReplicationOrder__Output | undefined>();
    const runReplication = (order: ReplicationOrder__Output) => {
      if (replicating.has(order.handle)) { replicating.set(order.handle, order); return; }
      replicating.set(order.handle, undefined);
      replicate(pool, store, order, 10_000)
        .then(() => { journal.noteAdded(order.handle); return undefined; },
          (e) => { log.warn("replication failed", { handle: order.handle, error: (e as Error).message }); return replicating.get(order.handle); })
        .then((next) => { replicating.delete(order.handle); if (next) runReplication(next); });
    };
    let cleaning = false;
    const sent = new WeakMap<HeartbeatRequest, { at: number; news: ChunkNews }>();
    const space = { capacityBytes: 1 << 30, freeBytes: 1 << 30, diskId: serverId };
    link = new SimLink(env, master, {
      registration: async () => {
        journal.clear();
        return {
          serverId, address, rack: "", capacityBytes: space.capacityBytes, usedBytes: store.usedBytes(), chunks: store.list(),
          quarantinedChunks: quarantine.list(), heldLeases: leases.held(), dataAddress: "", freeBytes: space.freeBytes, diskId: space.diskId,
        };
      },
      onRegistered: async (res) => {
        tokenKeys.update(res.chunkTokenKeys, res.chunkTokenKeysVersion);
        peers.update(res.chunkservers, res.replication, res.chunkserversVersion);
        if (res.chunkSizeBytes > 0) store.setChunkSizeBytes(res.chunkSizeBytes);
        for (const h of res.deleteChunks) await deleteChunk(h);
        quarantineLater(res.quarantineChunks);
        for (const r of res.restoreChunks) await restoreChunk(r.handle, r.version);
      },
      heartbeat: async () => {
        const at = now();
        const news = journal.take();
        const added = news.added.flatMap((handle) => {
          const info = store.get(handle);
          return info ? [{ handle, version: info.version, length: info.length, corrupt: info.corrupt, unverified: info.unverified, crcDigest: info.crcDigest }] : [];
        });
        const req: HeartbeatRequest = {
          serverId, capacityBytes: space.capacityBytes, usedBytes: store.usedBytes(), chunkCount: store.chunkCount, load: service.inFlight,
          leaseExtensionHandles: leases.extensionHandles(), addedChunks: added, removedChunks: news.removed, corruptChunks: news.corrupt,
          chunkserversVersion: peers.version, chunkTokenKeysVersion: tokenKeys.version, freeBytes: space.freeBytes, diskId: space.diskId,
        };
        sent.set(req, { at, news });
        if (!cleaning) {
          cleaning = true;
          store.markIdleClean(settings.chunk_clean_idle_ms)
            .catch((e) => log.warn("cannot mark chunks clean", { error: (e as Error).message }))
            .finally(() => { cleaning = false; });
        }
        return req;
      },
      onHeartbeat: async (req, res) => {
        if (res.chunkservers.length > 0) peers.update(res.chunkservers, undefined, res.chunkserversVersion);
        if (res.chunkTokenKeys.length > 0) tokenKeys.update(res.chunkTokenKeys, res.chunkTokenKeysVersion);
        const at = sent.get(req)?.at ?? now();
        for (const ext of res.extendedLeases) leases.extend(ext.handle, ext.version, ext.leaseMs, at);
        for (const h of res.deleteChunks) await deleteChunk(h);
        quarantineLater(res.quarantineChunks);
        for (const order of res.replicationOrders) runReplication(order);
      },
      onHeartbeatFailed: (req) => {
        const news = sent.get(req)?.news;
        if (news) journal.putBack(news);
      },
    }, log, settings.heartbeat_interval_ms);
    this.link = link;
    link.start();
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
