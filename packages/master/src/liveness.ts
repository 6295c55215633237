// Which chunkservers are alive: a pure module driven by a clock. A server is
// dead once it has missed `heartbeat_misses_dead` heartbeats in a row, and
// alive again on its next register or heartbeat.

export interface ChunkserverInfo {
  serverId: string;
  address: string;
  /** Its bulk data transport's HOST:PORT ("" if it has none or did not say). */
  dataAddress?: string;
  rack: string;
  capacityBytes: number;
  usedBytes: number;
  chunkCount: number;
  load: number;
  /** What its data dir's disk has free (statfs), and which disk that is; absent if it did not say. */
  freeBytes?: number;
  diskId?: string;
}

export interface ChunkserverState extends ChunkserverInfo {
  lastHeartbeatMs: number;
  alive: boolean;
  /**
   * Issue 18: it said it is stopping (SIGTERM): "leaving" while it finishes its in-flight mutations, "left" once
   * done (or silent). Either way it is not alive for placement, leases, reads or goals; only its next
   * registration (a new start) makes it alive again, not a late heartbeat.
   */
  leave?: "leaving" | "left";
}

export interface LivenessSettings {
  heartbeat_interval_ms: number;
  heartbeat_misses_dead: number;
}

export type LivenessEvent = { kind: "dead" | "alive"; serverId: string };

/** Told of every change; `first`: an "alive" of a server this master had not heard of before (not a return). */
export type LivenessListener = (ev: LivenessEvent, s: ChunkserverState, first: boolean) => void;

export class Liveness {
  private readonly servers = new Map<string, ChunkserverState>();

  /** `onEvent`: told of every change (the status page's recent events, cluster-events.ts). */
  constructor(private readonly settings: LivenessSettings, private readonly onEvent: LivenessListener = () => {}) {}

  private emit(ev: LivenessEvent, first = false): LivenessEvent {
    this.onEvent(ev, this.servers.get(ev.serverId)!, first);
    return ev;
  }

  private get deadAfterMs(): number {
    return this.settings.heartbeat_interval_ms * this.settings.heartbeat_misses_dead;
  }

  /** A server (re)introduces itself. Returns "alive" if it was dead or unknown. */
  register(info: ChunkserverInfo, nowMs: number): LivenessEvent | undefined {
    const prev = this.servers.get(info.serverId);
    this.servers.set(info.serverId, { ...info, lastHeartbeatMs: nowMs, alive: true });
    return !prev || !prev.alive ? this.emit({ kind: "alive", serverId: info.serverId }, !prev) : undefined;
  }

  /** A heartbeat from a known server; false if unknown (it must register first). */
  heartbeat(serverId: string, update: Omit<ChunkserverInfo, "serverId" | "address" | "rack" | "dataAddress">, nowMs: number):
    { known: boolean; event?: LivenessEvent } {
    const s = this.servers.get(serverId);
    if (!s) return { known: false };
    if (s.leave) {
      Object.assign(s, update, { lastHeartbeatMs: nowMs });
      return { known: true };
    }
    const wasDead = !s.alive;
    Object.assign(s, update, { lastHeartbeatMs: nowMs, alive: true });
    return { known: true, event: wasDead ? this.emit({ kind: "alive", serverId }) : undefined };
  }

  /**
   * A server says it is stopping (`done`: its in-flight mutations finished). False if unknown.
   * Not alive from now on; "left" once done, or once silent as long as a dead one.
   */
  leave(serverId: string, done: boolean, nowMs: number): boolean {
    const s = this.servers.get(serverId);
    if (!s) return false;
    s.alive = false;
    s.lastHeartbeatMs = nowMs;
    s.leave = done || s.leave === "left" ? "left" : "leaving";
    return true;
  }

  /** Forgets a server (`gfs chunkserver forget`): gone from every list until it registers again. */
  forget(serverId: string): boolean {
    return this.servers.delete(serverId);
  }

  /** Marks servers that missed too many heartbeats dead; returns the newly dead. */
  sweep(nowMs: number): LivenessEvent[] {
    const events: LivenessEvent[] = [];
    for (const s of this.servers.values()) {
      if (s.leave === "leaving" && nowMs - s.lastHeartbeatMs > this.deadAfterMs) s.leave = "left";
      if (s.alive && nowMs - s.lastHeartbeatMs > this.deadAfterMs) {
        s.alive = false;
        events.push(this.emit({ kind: "dead", serverId: s.serverId }));
      }
    }
    return events;
  }

  get(serverId: string): ChunkserverState | undefined {
    return this.servers.get(serverId);
  }

  isAlive(serverId: string): boolean {
    return this.servers.get(serverId)?.alive ?? false;
  }

  all(): ChunkserverState[] {
    return [...this.servers.values()].sort((a, b) => a.address.localeCompare(b.address));
  }

  alive(): ChunkserverState[] {
    return this.all().filter((s) => s.alive);
  }
}
