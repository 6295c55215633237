// Every tunable limit of the system, with its unit in the name. Processes take
// these defaults and override them from flags; tests shrink them to run fast.

const MiB = 1024 * 1024;

export const defaults = {
  /** GFS chunk size; 64 MiB as in the paper. Tests use 1 MiB to cross boundaries cheaply. */
  chunk_size_bytes: 64 * MiB,
  /** Replicas per chunk. */
  replication: 3,
  /** Chunkserver heartbeat period. */
  heartbeat_interval_ms: 5_000,
  /** Heartbeats a chunkserver may miss before the master declares it dead. */
  heartbeat_misses_dead: 3,
  /** A primary's lease; it orders mutations of a chunk for this long unless extended. */
  lease_ms: 60_000,
  /** A primary asks for an extension when its lease has less than this left and it mutated recently. */
  lease_extension_window_ms: 30_000,
  /** Bytes of pushed-but-unapplied data a chunkserver holds before evicting the oldest. */
  push_buffer_bytes_max: 1024 * MiB,
  /** Pushed data not used by a mutation within this time is dropped. */
  push_buffer_ttl_ms: 60_000,
  /** Checksum granularity of chunk data (the paper's 64 KiB blocks). */
  checksum_block_bytes: 64 * 1024,
  /** A chunk not mutated for this long gets its checksums sidecar marked clean (data synced, CRCs trusted after a crash). */
  chunk_clean_idle_ms: 10_000,
  /** Longest client-chosen push data id. */
  data_id_chars_max: 128,
  /** Largest piece of data in one push stream message. */
  push_frame_bytes: 1 * MiB,
  /** Largest slice a client asks one Read call for. */
  read_request_bytes_max: 4 * MiB,
  /** A secondary waits this long for an earlier serial before failing a held-back mutation. */
  serial_gap_wait_ms: 5_000,
  /** Largest gRPC message; a push frame or read reply plus headroom. */
  grpc_message_bytes_max: 16 * MiB,
  /** Deadline of a control call (master metadata, version updates). */
  rpc_deadline_ms: 10_000,
  /** Deadline of a data call (push, write, read) per MiB moved, plus rpc_deadline_ms. */
  data_deadline_ms_per_mib: 1_000,
  /** Client: how long cached chunk locations are trusted. */
  location_cache_ttl_ms: 30_000,
  /** Client: cached chunk locations kept at most. */
  location_cache_entries_max: 100_000,
  /** Client: attempts of a chunk operation before it fails (refreshing locations between). */
  client_attempts_max: 5,
  /** Client: first retry backoff, doubled each attempt. */
  client_backoff_initial_ms: 100,
  /** Largest record append; the paper's quarter chunk keeps padding waste bounded. */
  record_append_fraction_of_chunk: 0.25,
  /** Master listens here unless told otherwise. */
  master_port: 9000,
} as const;

export type Defaults = typeof defaults;
