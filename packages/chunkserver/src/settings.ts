// The chunkserver's settings: defaults from @gfs/common's config, overridden by flags.
import { defaults } from "@gfs/common";

export interface ChunkserverSettings {
  heartbeat_interval_ms: number;
  push_buffer_bytes_max: number;
  push_buffer_ttl_ms: number;
  checksum_block_bytes: number;
  serial_gap_wait_ms: number;
  /** How long a starting chunkserver keeps trying to register before it gives up. */
  master_wait_ms: number;
}

export const defaultChunkserverSettings = (): ChunkserverSettings => ({
  heartbeat_interval_ms: defaults.heartbeat_interval_ms,
  push_buffer_bytes_max: defaults.push_buffer_bytes_max,
  push_buffer_ttl_ms: defaults.push_buffer_ttl_ms,
  checksum_block_bytes: defaults.checksum_block_bytes,
  serial_gap_wait_ms: defaults.serial_gap_wait_ms,
  master_wait_ms: 30_000,
});
