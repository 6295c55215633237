// The chunkserver's Prometheus metrics (issue 17), all defined here. RPCs on
// gRPC are counted and timed by guardHandlers (common/metrics.ts), the same
// requests on the data transport by timedDataHandlers below, under the same
// method names. Everything else is read at scrape time from what the server
// keeps anyway (its byte counters, store, push buffer, disk, master links).
import { rpcStarted, scrapedCounter, scrapedGauge } from "@gfs/common";
import type { DataHandlers } from "./data-server";
import { diskSpace } from "./disk-space";

/** What scrapes read. */
export interface ChunkserverMetricsSource {
  /** ChunkServerService's running totals. */
  stats: {
    pushBytesReceived: number; pushBytesForwarded: number; mutationsApplied: number; bytesRead: number; bytesWritten: number;
    localCopies: number; localCopyBytes: number;
  };
  /** Requests being served now. */
  inFlight: () => number;
  store: { readonly chunkCount: number; usedBytes(): number; readonly checksumFailures: number };
  pushBuffer: { readonly bytes: number };
  /** The data dir, whose file system's space is reported. */
  dataDir: string;
  /** Each master's address and when it last answered (undefined: never); none before the links exist. */
  masters: () => Array<{ address: string; lastReplyMs: number | undefined }>;
  now: () => number;
}

let source: ChunkserverMetricsSource | undefined;
let registered = false;

/** Scrapes read `s` from now on. */
export function watchChunkserver(s: ChunkserverMetricsSource): void {
  source = s;
  if (registered) return;
  registered = true;
  const total = (name: string, help: string, read: (s: ChunkserverMetricsSource) => number) =>
    scrapedCounter(name, help, () => (source ? read(source) : 0));
  total("gfs_bytes_read_total", "chunk bytes read by clients and peers (Read, gRPC and data transport)", (s) => s.stats.bytesRead);
  total("gfs_bytes_written_total", "chunk bytes written by applied WRITE mutations (writes and record appends)", (s) => s.stats.bytesWritten);
  total("gfs_bytes_pushed_total", "bytes received by data pushes (into the push buffer)", (s) => s.stats.pushBytesReceived);
  total("gfs_bytes_forwarded_total", "bytes of pushes forwarded to the next chunkserver of the chain", (s) => s.stats.pushBytesForwarded);
  total("gfs_mutations_applied_total", "mutations applied to chunks on this server", (s) => s.stats.mutationsApplied);
  // Issue 20: copy-on-write of a snapshot's shared chunks, made on this server's own disks (no network).
  total("gfs_local_copies_total", "chunk replicas copied locally on the master's order (copy-on-write after a snapshot)", (s) => s.stats.localCopies);
  total("gfs_bytes_copied_locally_total", "bytes of those local copies (none crossed the network)", (s) => s.stats.localCopyBytes);
  total("gfs_checksum_failures_total", "chunk blocks whose checksum did not match when read", (s) => s.store.checksumFailures);

  const now = <L extends string>(name: string, help: string, labels: readonly L[],
    read: (s: ChunkserverMetricsSource, set: (v: number, l?: Partial<Record<L, string>>) => void) => void | Promise<void>) =>
    scrapedGauge<L>(name, help, labels, (set) => (source ? read(source, set) : undefined));
  now("gfs_chunks_held", "chunks stored on this server", [], (s, set) => set(s.store.chunkCount));
  now("gfs_chunks_stored_bytes", "bytes of chunk data stored on this server", [], (s, set) => set(s.store.usedBytes()));
  now("gfs_push_buffer_bytes", "pushed data held in memory waiting for its write", [], (s, set) => set(s.pushBuffer.bytes));
  now("gfs_requests_in_flight", "data requests being served now (the load reported to the master)", [], (s, set) => set(s.inFlight()));
  // One statfs per scrape for the three: the disk is asked once and the values kept consistent.
  let disk: Promise<{ capacityBytes: number; freeBytes: number }> | undefined;
  const diskOnce = (s: ChunkserverMetricsSource) => (disk ??= diskSpace(s.dataDir).finally(() => setImmediate(() => { disk = undefined; })));
  now("gfs_disk_capacity_bytes", "size of the file system holding the data dir", [], async (s, set) => set((await diskOnce(s)).capacityBytes));
  now("gfs_disk_free_bytes", "bytes of that file system available to this server", [], async (s, set) => set((await diskOnce(s)).freeBytes));
  now("gfs_disk_used_bytes", "bytes of that file system not available (capacity minus free)", [], async (s, set) => {
    const d = await diskOnce(s);
    set(d.capacityBytes - d.freeBytes);
  });
  now("gfs_master_heartbeat_age_seconds", "time since each master last answered a heartbeat or registration (label master: its address)",
    ["master"], (s, set) => {
      const t = s.now();
      for (const m of s.masters()) if (m.lastReplyMs !== undefined) set(Math.max(0, t - m.lastReplyMs) / 1000, { master: m.address });
    });
}

/** `h`, each request counted and timed under its gRPC method's name (gfs_rpc_*). */
export function timedDataHandlers(h: DataHandlers): DataHandlers {
  const timed = <A extends unknown[], R>(method: string, fn: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    const answered = rpcStarted(method);
    try {
      const r = await fn(...a);
      answered();
      return r;
    } catch (e) {
      answered(e);
      throw e;
    }
  };
  return {
    push: timed("PushData", h.push),
    read: timed("Read", h.read),
    write: timed("Write", h.write),
    append: timed("RecordAppend", h.append),
    apply: timed("ApplyMutation", h.apply),
  };
}
