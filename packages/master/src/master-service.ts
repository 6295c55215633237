// gRPC handlers of the master: they only translate between the wire and the
// pure modules (liveness, namespace, chunk table, leases).
import { unary, type Logger, type MasterHandlers } from "@gfs/common";
import type { StatusResponse } from "@gfs/common";
import { Liveness } from "./liveness";
import type { MasterSettings } from "./settings";

export type Clock = () => number;

export class MasterState {
  readonly liveness: Liveness;

  constructor(readonly settings: MasterSettings, readonly clock: Clock, readonly log: Logger) {
    this.liveness = new Liveness(settings);
  }

  /** Periodic work: declare silent chunkservers dead. */
  tick(): void {
    for (const ev of this.liveness.sweep(this.clock())) {
      this.log.warn("chunkserver dead", { serverId: ev.serverId, address: this.liveness.get(ev.serverId)?.address });
    }
  }

  status(): StatusResponse {
    const now = this.clock();
    return {
      chunkservers: this.liveness.all().map((s) => ({
        serverId: s.serverId, address: s.address, rack: s.rack,
        capacityBytes: s.capacityBytes, usedBytes: s.usedBytes, chunkCount: s.chunkCount,
        alive: s.alive, lastHeartbeatAgeMs: Math.max(0, now - s.lastHeartbeatMs), load: s.load,
      })),
      chunkSizeBytes: this.settings.chunk_size_bytes,
      replication: this.settings.replication,
    };
  }
}

export function masterHandlers(state: MasterState): Partial<MasterHandlers> {
  const { liveness, log, clock, settings } = state;
  return {
    Register: unary((req) => {
      const ev = liveness.register({
        serverId: req.serverId, address: req.address, rack: req.rack,
        capacityBytes: req.capacityBytes, usedBytes: req.usedBytes, chunkCount: req.chunks.length, load: 0,
      }, clock());
      log.info("chunkserver registered", { serverId: req.serverId, address: req.address, rack: req.rack, chunks: req.chunks.length, wasDead: !!ev });
      return { heartbeatIntervalMs: settings.heartbeat_interval_ms, chunkSizeBytes: settings.chunk_size_bytes, deleteChunks: [] };
    }),
    Heartbeat: unary((req) => {
      const { known, event } = liveness.heartbeat(req.serverId, {
        capacityBytes: req.capacityBytes, usedBytes: req.usedBytes, chunkCount: req.chunkCount, load: req.load,
      }, clock());
      if (event) log.info("chunkserver alive again", { serverId: req.serverId });
      return { reregister: !known, deleteChunks: [], replicationOrders: [], extendedLeases: [] };
    }),
    Status: unary(() => state.status()),
  };
}
