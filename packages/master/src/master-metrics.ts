// The master's Prometheus metrics (issue 17), all defined here. RPC counts and
// latencies come from guardHandlers (common/metrics.ts); the op log and the
// re-replication scheduler record into the counters and histograms below as
// things happen; everything else is read from the master's tables at scrape
// time, from the phase watched last (a replicated master builds a new one per
// role it takes).
import { counter, defaults, histogram, scrapedGauge, type CallStreamServer } from "@gfs/common";
import { chunkState } from "./chunk-health";
import type { ChunkserverState } from "./liveness";
import type { MasterState } from "./master-state";

/** What scrapes read: a MasterPhase's state, log and call streams. */
export interface MasterMetricsSource {
  state: MasterState;
  oplog: { readonly lastSeq: number };
  streams?: CallStreamServer;
}

// ---- recorded as it happens ----

const opLogCommitSeconds = histogram("gfs_oplog_commit_duration_seconds",
  "time of one op-log transaction (written and fsynced on the writer thread), own records or a shadow's replicated ones");
const opLogCommitRecords = histogram("gfs_oplog_commit_records", "records per op-log transaction (requests that shared one fsync)", [],
  [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096]);
const copiesOrdered = counter("gfs_rereplication_copies_ordered_total", "re-replication copies ordered (chunk to a new chunkserver)");
const copiesDone = counter("gfs_rereplication_copies_done_total", "re-replication copies the target reported done");
const copiesAbandoned = counter("gfs_rereplication_copies_abandoned_total",
  "re-replication copies given up (timed out, a server died, the chunk moved on): planned again");

/** One op-log transaction of `records` records took `ms` milliseconds. */
export function opLogCommitted(records: number, ms: number): void {
  opLogCommitSeconds.observe(ms / 1000);
  opLogCommitRecords.observe(records);
}

export const replicationMetrics = {
  ordered: (n: number) => { if (n > 0) copiesOrdered.inc(n); },
  done: (n: number) => { if (n > 0) copiesDone.inc(n); },
  abandoned: (n: number) => { if (n > 0) copiesAbandoned.inc(n); },
};

// ---- read at scrape time ----

let source: MasterMetricsSource | undefined;

/** Scrapes read `s` from now on (the newest phase wins). */
export function watchMaster(s: MasterMetricsSource): void {
  source = s;
  registerScraped();
}

/** The phase of `state` is closing: scrapes stop reading it (a newer phase may already be watched). */
export function unwatchMaster(state: MasterState): void {
  if (source?.state === state) source = undefined;
}

const chunkStates = ["healthy", "under_replicated", "stale", "corrupt", "suspect", "missing"] as const;

interface Census {
  of: MasterState;
  atMs: number;
  byState: Map<string, number>;
  /** Chunks with a good replica and fewer than the replication goal: what re-replication has to copy. */
  backlog: number;
  files: number;
  directories: number;
}

let census: Census | undefined;

/**
 * Chunk states and namespace counts: one pass over the tables, shared by the
 * gauges of a scrape and reused for metrics_census_interval_ms, so scrapers
 * cannot make the master walk millions of chunks back to back.
 */
function censusOf(state: MasterState): Census {
  const now = performance.now();
  if (census && census.of === state && now - census.atMs < defaults.metrics_census_interval_ms) return census;
  const byState = new Map<string, number>(chunkStates.map((s) => [s, 0]));
  const isAlive = (id: string) => state.liveness.isAlive(id);
  let backlog = 0;
  for (const c of state.chunks.entries()) {
    const goal = state.goalOf(c); // issue 18: each chunk against its file's goal
    const h = chunkState(c, goal, isAlive);
    const label = h.state.replace(/^CHUNK_STATE_/, "").toLowerCase();
    byState.set(label, (byState.get(label) ?? 0) + 1);
    if (h.good > 0 && h.good < goal) backlog++;
  }
  const counts = state.namespace.counts();
  census = { of: state, atMs: now, byState, backlog, files: counts.files, directories: counts.directories };
  return census;
}

let registered = false;

function registerScraped(): void {
  if (registered) return;
  registered = true;
  const withState = <L extends string>(name: string, help: string, labels: readonly L[],
    read: (s: MasterMetricsSource, set: (v: number, l?: Partial<Record<L, string>>) => void) => void) =>
    scrapedGauge<L>(name, help, labels, (set) => { if (source) read(source, set); });

  withState("gfs_chunks", "chunks by state (as fsck judges them)", ["state"], (s, set) => {
    for (const [state, n] of censusOf(s.state).byState) set(n, { state });
  });
  withState("gfs_rereplication_backlog_chunks", "chunks short of their replication goal that have a good replica to copy from", [],
    (s, set) => set(censusOf(s.state).backlog));
  withState("gfs_rereplication_copies_in_flight", "re-replication copies ordered and not yet done", [],
    (s, set) => set(s.state.replication.copiesInFlight));
  withState("gfs_namespace_files", "files in the namespace", [], (s, set) => set(censusOf(s.state).files));
  withState("gfs_namespace_directories", "directories in the namespace (the root included)", [], (s, set) => set(censusOf(s.state).directories));
  withState("gfs_leases_held", "unexpired primary leases", [], (s, set) => set(s.state.leases.heldCount(s.state.clock())));
  withState("gfs_chunkservers", "chunkservers known to the master, by state (alive, dead, leaving, left, draining, retired)", ["state"], (s, set) => {
    const counts = new Map<string, number>(["alive", "dead", "leaving", "left", "draining", "retired"].map((k) => [k, 0]));
    for (const c of s.state.liveness.all()) {
      const state = s.state.lifecycle.stateOf(c);
      counts.set(state, (counts.get(state) ?? 0) + 1);
    }
    for (const [state, n] of counts) set(n, { state });
  });
  withState("gfs_chunkserver_heartbeat_age_seconds", "time since the master last heard from each chunkserver (label server: its id)", ["server"],
    (s, set) => {
      const now = s.state.clock();
      for (const c of s.state.liveness.all()) set(Math.max(0, now - c.lastHeartbeatMs) / 1000, { server: c.serverId });
    });
  // Each chunkserver's disk and chunks as its heartbeats report them: the whole cluster from one scrape of the master.
  const perServer = (name: string, help: string, read: (c: ChunkserverState) => number | undefined) =>
    withState(name, help, ["server"], (s, set) => {
      for (const c of s.state.liveness.all()) {
        const v = read(c);
        if (v !== undefined) set(v, { server: c.serverId });
      }
    });
  perServer("gfs_chunkserver_capacity_bytes", "capacity each chunkserver reported (label server: its id)", (c) => c.capacityBytes);
  perServer("gfs_chunkserver_used_bytes", "chunk bytes each chunkserver reported storing", (c) => c.usedBytes);
  perServer("gfs_chunkserver_free_bytes", "free bytes each chunkserver's disk reported (statfs)", (c) => c.freeBytes);
  perServer("gfs_chunkserver_chunks", "chunks each chunkserver reported holding", (c) => c.chunkCount);
  perServer("gfs_chunkserver_alive", "1 while the master counts each chunkserver alive, 0 once dead", (c) => (c.alive ? 1 : 0));
  withState("gfs_master_safe_mode", "1 while the master is in safe mode (read-only until an operator confirms)", [],
    (s, set) => set(s.state.safeMode.active ? 1 : 0));
  withState("gfs_master_role", "1, labelled with the role of this master (single, active, shadow)", ["role"],
    (s, set) => set(1, { role: s.state.actsAsShadow && s.state.role === "active" ? "shadow" : s.state.role }));
  withState("gfs_oplog_last_seq", "sequence number of the last durable op-log record (shadows: how far they follow)", [],
    (s, set) => set(s.oplog.lastSeq));
  withState("gfs_call_streams_open", "client call streams (Master.Calls) open now", [],
    (s, set) => { if (s.streams) set(s.streams.open); });
}
