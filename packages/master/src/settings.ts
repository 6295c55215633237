// The master's settings: defaults from @gfs/common's config, overridden by flags.
import { defaults } from "@gfs/common";

export interface MasterSettings {
  chunk_size_bytes: number;
  replication: number;
  heartbeat_interval_ms: number;
  heartbeat_misses_dead: number;
  lease_ms: number;
  chunk_spares: number;
  replication_copies_per_server_max: number;
  replication_copy_timeout_ms: number;
  /** See defaults.safe_mode_unknown_chunks_max (master/src/garbage-policy.ts). */
  safe_mode_unknown_chunks_max: number;
  safe_mode_unknown_chunks_fraction: number;
}

export const defaultMasterSettings = (): MasterSettings => ({
  chunk_size_bytes: defaults.chunk_size_bytes,
  replication: defaults.replication,
  heartbeat_interval_ms: defaults.heartbeat_interval_ms,
  heartbeat_misses_dead: defaults.heartbeat_misses_dead,
  lease_ms: defaults.lease_ms,
  chunk_spares: defaults.chunk_spares,
  replication_copies_per_server_max: defaults.replication_copies_per_server_max,
  replication_copy_timeout_ms: defaults.replication_copy_timeout_ms,
  safe_mode_unknown_chunks_max: defaults.safe_mode_unknown_chunks_max,
  safe_mode_unknown_chunks_fraction: defaults.safe_mode_unknown_chunks_fraction,
});
