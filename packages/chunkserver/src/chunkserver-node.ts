// A chunkserver's side of the master protocol, beyond the wire: what it says
// when it registers and on every heartbeat (its chunks, news since the last
// beat, the leases it holds, which it wants extended), and what it does with
// the answers (token keys, the server list, lease extensions counted from
// when the beat was sent, deletions, quarantines, restores, copy orders,
// verify orders). main.ts and the simulator (packages/sim) build one each,
// on their own Env, store and master client; MasterLink carries it.
// With several masters (issue 16) each hook is told which master's link calls
// it: the reply of a shadow gives token keys only, and an active master's is
// obeyed only at an epoch no lower than any seen (master-epoch.ts).
import type { Env, HeartbeatRequest, Logger } from "@gfs/common";
import type { ChunkStore } from "./chunk-store";
import type { ChunkServerService } from "./chunkserver-service";
import type { LeaseView } from "./lease";
import { MasterEpoch } from "./master-epoch";
import type { MasterLinkHooks } from "./master-link";
import type { PeerDirectory } from "./push-chain";
import type { Quarantine } from "./quarantine";
import type { ChunkNews, ReportJournal } from "./report-journal";
import type { Scrubber } from "./scrubber";
import type { ChunkserverSettings } from "./settings";
import type { TokenKeyring } from "./token-keys";
import type { VerifyOrders } from "./verify-orders";

export interface DiskSpace {
  capacityBytes: number;
  freeBytes: number;
  diskId: string;
}

export interface ChunkServerNodeDeps {
  env: Env;
  serverId: string;
  address: string;
  rack: string;
  store: ChunkStore;
  service: ChunkServerService;
  leases: LeaseView;
  tokenKeys: TokenKeyring;
  peers: PeerDirectory;
  journal: ReportJournal;
  settings: ChunkserverSettings;
  log: Logger;
  space(): Promise<DiskSpace>;
  /** Absent: a chunk the master does not know is deleted instead of moved aside (and nothing is restored). */
  quarantine?: Quarantine;
  scrubber?: Scrubber;
  verifyOrders?: VerifyOrders;
  /** The highest master epoch seen, shared with the service (which refuses commands below it); default a new one. */
  epoch?: MasterEpoch;
}

/** Runs `fn` every `ms` on `env`'s clock until the returned stop is called. */
export function every(env: Env, ms: number, fn: () => void): () => void {
  let timer: unknown;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    fn();
    timer = env.setTimer(tick, ms);
  };
  timer = env.setTimer(tick, ms);
  return () => {
    stopped = true;
    env.clearTimer(timer);
  };
}

export class ChunkServerNode implements MasterLinkHooks {
  /** Quarantines run one at a time behind the reply that ordered them; never rejects. */
  private quarantining: Promise<void> = Promise.resolve();
  /** What each heartbeat carried and when it was sent: extensions count from then. */
  private readonly sent = new WeakMap<HeartbeatRequest, { at: number; news: ChunkNews }>();
  private cleaning = false;
  readonly epoch: MasterEpoch;
  /** The key of the master whose reply was last obeyed (the active one, as far as this server knows). */
  activeMaster: string | undefined;
  /** Masters whose replies were last refused as stale, so the refusal is logged once per master, not every beat. */
  private readonly staleLogged = new Set<string>();

  constructor(private readonly deps: ChunkServerNodeDeps) {
    this.epoch = deps.epoch ?? new MasterEpoch();
  }

  /**
   * Whether to obey a reply of `master` (else: its token keys only). A
   * deposed active (epoch below the highest seen) is logged once.
   */
  private obeys(res: { masterEpoch: number; masterRole: Parameters<MasterEpoch["judgeReply"]>[1] }, master: string): boolean {
    const use = this.epoch.judgeReply(Number(res.masterEpoch ?? 0), res.masterRole);
    if (use === "obey") {
      this.activeMaster = master;
      this.staleLogged.delete(master);
      return true;
    }
    if (use === "stale" && !this.staleLogged.has(master)) {
      this.staleLogged.add(master);
      this.deps.log.warn("reply of a deposed master ignored (token keys only)", { master, epoch: res.masterEpoch, highestEpoch: this.epoch.highest });
    }
    return false;
  }

  /** Resolves once the quarantines ordered so far are done (for shutdown). */
  settled(): Promise<void> {
    return this.quarantining;
  }

  async registration(master = "") {
    const { deps } = this;
    deps.journal.clear(master);
    const space = await deps.space();
    // The leases held as primary too: a restarted master honours them instead of waiting a lease length.
    return {
      serverId: deps.serverId, address: deps.address, rack: deps.rack, capacityBytes: space.capacityBytes, usedBytes: deps.store.usedBytes(),
      chunks: deps.store.list(), quarantinedChunks: deps.quarantine?.list() ?? [], heldLeases: deps.leases.held(),
      dataAddress: deps.service.dataAddress, freeBytes: space.freeBytes, diskId: space.diskId,
    };
  }

  async onRegistered(res: Parameters<MasterLinkHooks["onRegistered"]>[0], master = ""): Promise<void> {
    const { deps } = this;
    deps.tokenKeys.update(res.chunkTokenKeys, res.chunkTokenKeysVersion, master);
    if (!this.obeys(res, master)) return;
    deps.peers.update(res.chunkservers, res.replication, res.chunkserversVersion);
    if (res.chunkSizeBytes > 0) deps.store.setChunkSizeBytes(res.chunkSizeBytes);
    for (const h of res.deleteChunks) await this.deleteChunk(h);
    this.quarantineLater(res.quarantineChunks);
    for (const r of res.restoreChunks) await this.restoreChunk(r.handle, r.version);
  }

  async heartbeat(master = ""): Promise<HeartbeatRequest> {
    const { deps } = this;
    const at = deps.env.now();
    const space = await deps.space();
    const news = deps.journal.take(master);
    const added = news.added.flatMap((handle) => {
      const info = deps.store.get(handle);
      return info ? [{ handle, version: info.version, length: info.length, corrupt: info.corrupt, unverified: info.unverified, crcDigest: info.crcDigest }] : [];
    });
    const req: HeartbeatRequest = {
      serverId: deps.serverId, capacityBytes: space.capacityBytes, usedBytes: deps.store.usedBytes(), chunkCount: deps.store.chunkCount,
      load: deps.service.inFlight, leaseExtensionHandles: deps.leases.extensionHandles(), addedChunks: added, removedChunks: news.removed,
      corruptChunks: news.corrupt, chunkserversVersion: deps.peers.version, chunkTokenKeysVersion: deps.tokenKeys.versionOf(master),
      freeBytes: space.freeBytes, diskId: space.diskId,
    };
    this.sent.set(req, { at, news });
    if (!this.cleaning) {
      this.cleaning = true;
      deps.store.markIdleClean(deps.settings.chunk_clean_idle_ms)
        .catch((e) => deps.log.warn("cannot mark chunks clean", { error: (e as Error).message }))
        .finally(() => { this.cleaning = false; });
    }
    return req;
  }

  async onHeartbeat(req: HeartbeatRequest, res: Parameters<MasterLinkHooks["onHeartbeat"]>[1], master = ""): Promise<void> {
    const { deps } = this;
    if (res.chunkTokenKeys.length > 0) deps.tokenKeys.update(res.chunkTokenKeys, res.chunkTokenKeysVersion, master);
    if (!this.obeys(res, master)) return;
    // The list comes only when it changed since the version this heartbeat named (never empty: it lists this server).
    if (res.chunkservers.length > 0) deps.peers.update(res.chunkservers, undefined, res.chunkserversVersion);
    const at = this.sent.get(req)?.at ?? deps.env.now();
    for (const ext of res.extendedLeases) deps.leases.extend(ext.handle, ext.version, ext.leaseMs, at);
    for (const h of res.deleteChunks) await this.deleteChunk(h);
    this.quarantineLater(res.quarantineChunks);
    for (const order of res.replicationOrders) deps.service.copyOrder(order);
    if (res.verifyChunks.length > 0) deps.verifyOrders?.add(res.verifyChunks);
  }

  onHeartbeatFailed(req: HeartbeatRequest, master = ""): void {
    const news = this.sent.get(req)?.news;
    if (news) this.deps.journal.putBack(news, master);
  }

  private async deleteChunk(handle: string): Promise<void> {
    const { deps } = this;
    try {
      deps.service.forgetChunk(handle);
      deps.scrubber?.forget(handle);
      await deps.store.delete(handle);
      deps.log.info("deleted chunk on the master's order", { handle });
    } catch (e) {
      deps.log.warn("cannot delete chunk", { handle, error: (e as Error).message });
    }
  }

  /** Orphans are moved aside, not deleted (quarantine.ts); the master restores those it knows again. */
  private async quarantineChunk(handle: string): Promise<void> {
    const { deps } = this;
    const quarantine = deps.quarantine;
    if (!quarantine) return this.deleteChunk(handle);
    try {
      deps.service.forgetChunk(handle);
      deps.scrubber?.forget(handle);
      await deps.store.detach(handle, (files, info) => quarantine.put(handle, files, info).then(() => {}));
    } catch (e) {
      deps.log.warn("cannot quarantine chunk", { handle, error: (e as Error).message });
    }
  }

  // Quarantines run one at a time behind the reply that ordered them (each syncs two directories):
  // many at once after a master lost its metadata must not hold up the heartbeats.
  private quarantineLater(handles: string[]): void {
    for (const h of handles) this.quarantining = this.quarantining.then(() => this.quarantineChunk(h));
  }

  private async restoreChunk(handle: string, version: number): Promise<void> {
    const { deps } = this;
    try {
      if (!deps.quarantine || !(await deps.quarantine.restore(handle, version, deps.store.filesOf(handle)))) {
        deps.log.warn("no quarantined chunk to restore", { handle, version });
        return;
      }
      await deps.store.adopt(handle);
      deps.journal.noteAdded(handle); // reported as an ordinary chunk on the next heartbeat
    } catch (e) {
      deps.log.error("cannot restore quarantined chunk", { handle, version, error: (e as Error).message });
    }
  }
}
