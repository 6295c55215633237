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
  /** Issue 18: the balancer runs in the background (gfs-master --no-balance turns it off; `gfs balance` still starts a round). */
  balance_background?: boolean;
  balance_tolerance_ratio?: number;
  balance_moves_per_round_max?: number;
  balance_interval_ms?: number;
  /** Issue 19: a mount session not renewed this long is gone (gfs-master --session-lease-ms; default defaults.session_lease_ms). */
  session_lease_ms?: number;
  /** Issue 20: how long deleted entries stay in the trash; 0: no trash (gfs-master --trash-retention-ms). */
  trash_retention_ms?: number;
  /** Issue 20: how long usage may stay over a soft quota before it acts as the hard one (gfs-master --quota-grace-ms). */
  quota_grace_ms?: number;
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
  balance_background: true,
  balance_tolerance_ratio: defaults.balance_tolerance_ratio,
  balance_moves_per_round_max: defaults.balance_moves_per_round_max,
  balance_interval_ms: defaults.balance_interval_ms,
  session_lease_ms: defaults.session_lease_ms,
  trash_retention_ms: defaults.trash_retention_ms,
  quota_grace_ms: defaults.quota_grace_ms,
});
