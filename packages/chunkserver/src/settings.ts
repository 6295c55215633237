// The chunkserver's settings: defaults from @gfs/common's config, overridden by flags.
import { defaults } from "@gfs/common";

export interface ChunkserverSettings {
  heartbeat_interval_ms: number;
  /** Until the master says otherwise at registration. */
  chunk_size_bytes: number;
  push_buffer_bytes_max: number;
  push_buffer_ttl_ms: number;
  push_frame_bytes: number;
  checksum_block_bytes: number;
  serial_gap_wait_ms: number;
  lease_extension_window_ms: number;
  read_request_bytes_max: number;
  record_append_fraction_of_chunk: number;
  chunk_clean_idle_ms: number;
  data_id_chars_max: number;
  rpc_deadline_ms: number;
  scrub_bytes_per_sec: number;
  scrub_cold_after_ms: number;
  scrub_repeat_after_ms: number;
  /** How long a starting chunkserver keeps trying to register before it gives up. */
  master_wait_ms: number;
  pushes_in_flight_max: number;
  push_in_flight_bytes_max: number;
  push_stall_timeout_ms: number;
  data_header_timeout_ms: number;
  data_idle_timeout_ms: number;
  data_connections_max: number;
}

export const defaultChunkserverSettings = (): ChunkserverSettings => ({
  heartbeat_interval_ms: defaults.heartbeat_interval_ms,
  chunk_size_bytes: defaults.chunk_size_bytes,
  push_buffer_bytes_max: defaults.push_buffer_bytes_max,
  push_buffer_ttl_ms: defaults.push_buffer_ttl_ms,
  push_frame_bytes: defaults.push_frame_bytes,
  checksum_block_bytes: defaults.checksum_block_bytes,
  serial_gap_wait_ms: defaults.serial_gap_wait_ms,
  lease_extension_window_ms: defaults.lease_extension_window_ms,
  read_request_bytes_max: defaults.read_request_bytes_max,
  record_append_fraction_of_chunk: defaults.record_append_fraction_of_chunk,
  chunk_clean_idle_ms: defaults.chunk_clean_idle_ms,
  data_id_chars_max: defaults.data_id_chars_max,
  rpc_deadline_ms: defaults.rpc_deadline_ms,
  scrub_bytes_per_sec: defaults.scrub_bytes_per_sec,
  scrub_cold_after_ms: defaults.scrub_cold_after_ms,
  scrub_repeat_after_ms: defaults.scrub_repeat_after_ms,
  master_wait_ms: 30_000,
  pushes_in_flight_max: defaults.pushes_in_flight_max,
  push_in_flight_bytes_max: defaults.push_in_flight_bytes_max,
  push_stall_timeout_ms: defaults.push_stall_timeout_ms,
  data_header_timeout_ms: defaults.data_header_timeout_ms,
  data_idle_timeout_ms: defaults.data_idle_timeout_ms,
  data_connections_max: defaults.data_connections_max,
});
