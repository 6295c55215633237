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
  /**
   * Chunkserver: after a heartbeat that failed (the master down or
   * restarting), the next one comes this soon, not a whole interval later: a
   * restarted master learns chunk locations and held leases from the
   * re-registrations that follow, and writers wait for them.
   */
  heartbeat_retry_ms: 500,
  /** Heartbeats a chunkserver may miss before the master declares it dead. */
  heartbeat_misses_dead: 3,
  /** A primary's lease; it orders mutations of a chunk for this long unless extended. */
  lease_ms: 60_000,
  /**
   * Chunks the master keeps created ahead of demand, each with its first
   * lease: a writer needing a new chunk then waits for one durable commit,
   * not for every replica to create files (master/src/spare-chunks.ts).
   * Refilled in batches of about half this (one CreateChunks per server per
   * batch): at 8, small-file creates cost 0.75 CreateChunks calls per file
   * over 3 servers; at 32, about 0.2 (issue 15). Idle spares cost an empty
   * file per replica and are discarded after half a lease.
   */
  chunk_spares: 8,
  /** Most chunks one CreateChunks call makes. */
  create_chunks_max: 64,
  /**
   * After an op-log commit that answered several writers, the next commit
   * waits up to this long for them to come back, or until as many records are
   * queued as were just answered. Without it, writers answered by one commit
   * arrive just after the next one started and wait for a whole further fsync,
   * so concurrent writers split into cohorts that take turns (measured with 32
   * clients: ~15 records per commit instead of ~32, at ~3 ms per fsync). A
   * lone writer never waits. Like PostgreSQL's commit_delay with commit_siblings.
   */
  oplog_commit_linger_ms: 1,
  /** A primary asks for an extension when its lease has less than this left and it mutated recently. */
  lease_extension_window_ms: 30_000,
  /** Bytes of pushed-but-unapplied data a chunkserver holds before evicting the oldest. */
  push_buffer_bytes_max: 1024 * MiB,
  /** Pushes at least this large get their buffer from the chunkserver's pool of reused push memory. */
  push_memory_pooled_bytes_min: 1 * MiB,
  /** Idle push memory a chunkserver keeps for reuse (beyond the data it holds). */
  push_memory_idle_bytes_max: 64 * MiB,
  /** Pushed data not used by a mutation within this time is dropped. */
  push_buffer_ttl_ms: 60_000,
  /** Checksum granularity of chunk data (the paper's 64 KiB blocks). */
  checksum_block_bytes: 64 * 1024,
  /** A chunk not mutated for this long gets its checksums sidecar marked clean (data synced, CRCs trusted after a crash). */
  chunk_clean_idle_ms: 10_000,
  /** Chunk files a chunkserver keeps open between operations (least recently used closed first). */
  chunk_open_files_max: 256,
  /**
   * Chunk writes with at least this many bytes aligned to
   * chunk_direct_write_align_bytes write those bytes with O_DIRECT, bypassing
   * the page cache (whose copy costs several times more CPU; see the
   * chunkserver's direct-writer.ts). 0 disables direct writes.
   */
  chunk_direct_write_bytes_min: 1 * MiB,
  /** File offsets and lengths of direct writes are multiples of this (the file system block). */
  chunk_direct_write_align_bytes: 4096,
  /** One staging buffer of direct writes (aligned memory the data is copied through). */
  chunk_direct_write_buffer_bytes: 4 * MiB,
  /** Staging buffers of direct writes per chunkserver: their memory bound, and direct writes in flight at once. */
  chunk_direct_write_buffers: 2,
  /** Longest client-chosen push data id. */
  data_id_chars_max: 128,
  /**
   * Writes and record appends up to this size travel whole with the mutation
   * (client -> primary -> secondaries) instead of a chain push plus a Write:
   * for small mutations round trips, not bytes, are the cost. Larger ones keep
   * the paper's pipelined chain, which spreads a big transfer over every link.
   */
  inline_write_bytes_max: 256 * 1024,
  /**
   * A chunkserver forwarding a push down the chain sends at least this much
   * per write (the rest at the end): socket reads are 64 KiB, and a write per
   * read costs a syscall and a promise each.
   */
  push_forward_bytes_min: 512 * 1024,
  /** Largest piece of data in one push stream message. */
  push_frame_bytes: 1 * MiB,
  /** Bulk data transport: bytes a receiver queues from one connection before it stops reading (backpressure). */
  data_socket_buffer_bytes: 4 * MiB,
  /** Bulk data transport: idle connections a process keeps open to each chunkserver for reuse. */
  data_idle_connections_max: 8,
  /** Bulk data transport: largest protobuf message in a frame (the body is separate and unbounded by this). */
  data_message_bytes_max: 64 * 1024,
  /** Largest slice a client asks one Read call for. */
  read_request_bytes_max: 4 * MiB,
  /** Idle read reply buffers (about read_request_bytes_max each) a chunkserver keeps for reuse instead of allocating one per read. */
  chunk_read_buffers: 8,
  /** A secondary waits this long for an earlier serial before failing a held-back mutation. */
  serial_gap_wait_ms: 5_000,
  /** Largest gRPC message; a push frame or read reply plus headroom. */
  grpc_message_bytes_max: 16 * MiB,
  /** Longest wait between reconnection attempts to an unreachable server (gRPC's own default, 120 s, delays recovery after an outage). */
  grpc_reconnect_backoff_max_ms: 2_000,
  /** Deadline of a control call (master metadata, version updates). */
  rpc_deadline_ms: 10_000,
  /** Deadline of a data call (push, write, read) per MiB moved, plus rpc_deadline_ms. */
  data_deadline_ms_per_mib: 1_000,
  /** Client: how long cached chunk locations are trusted. */
  location_cache_ttl_ms: 30_000,
  /**
   * Client: a reader passing a ReadLayout reuses the file size and chunk
   * locations the master gave it for this long (bytes always come fresh from
   * chunkservers; a stale location fails there and the master is asked again).
   */
  read_layout_ttl_ms: 1_000,
  /** Client: chunks a reader with a ReadLayout asks the master about at once. */
  read_layout_span_chunks: 16,
  /** Client: cached chunk locations kept at most. */
  location_cache_entries_max: 100_000,
  /** Client: attempts of a chunk operation before it fails (refreshing locations between). */
  client_attempts_max: 5,
  /** Client: first retry backoff, doubled each attempt. */
  client_backoff_initial_ms: 100,
  /**
   * Client: how long a chunk operation keeps asking a master that just
   * restarted and has no lease to give yet (it waits until the servers of the
   * chunk's last grant have registered: one heartbeat interval, 5 s by
   * default, plus start-up), before that answer counts as a failed attempt.
   */
  client_master_restart_wait_ms: 15_000,
  /**
   * Client: how long a chunk operation keeps asking for a lease on a chunk with
   * fewer good replicas than its goal (a server declared dead under load is
   * fenced out; leases resume once it is back or the chunk is copied) before
   * that answer counts as a failed attempt. Without it a write failed (EIO)
   * about 1.5 s after one slow server was called dead.
   */
  client_replica_wait_ms: 10_000,
  /**
   * gfs tail -f: how often it asks the master for the file's size (one Stat call a poll, no
   * chunkserver touched until the file grew). 1 s is GNU tail's default sleep interval.
   */
  tail_follow_poll_ms: 1_000,
  /**
   * gfs cat and tail: largest read at once; the bytes go to stdout before the next read, so this
   * bounds the command's memory whatever the file's size (8 MiB: as put/get's transfer pieces).
   */
  cli_read_piece_bytes_max: 8 * MiB,
  /** Largest record append; the paper's quarter chunk keeps padding waste bounded. */
  record_append_fraction_of_chunk: 0.25,
  /** FUSE mount: attributes and directory listings are trusted this long (this mount's own changes invalidate them at once). */
  fuse_attr_cache_ms: 1_000,
  /** FUSE mount: largest piece one open file's write-back buffer sends in one client write (pieces never cross a chunk). */
  fuse_write_piece_bytes_max: 16 * MiB,
  /** FUSE mount: client writes one open file's write-back buffer has in flight at once (scattered small extents need many; bytes are bounded by fuse_write_back_bytes_max). */
  fuse_writes_in_flight_max: 16,
  /** FUSE mount: bytes one open file holds written but unacknowledged (buffered dirty extents plus pieces being sent) before its writes wait. */
  fuse_write_back_bytes_max: 64 * MiB,
  /** FUSE mount: idle write piece buffers (fuse_write_piece_bytes_max each) the mount keeps for reuse by sequential writers. */
  fuse_write_buffer_pool_bytes: 32 * MiB,
  /** FUSE mount: bytes fetched ahead of a sequential reader that has just started; they double with each window fetched. */
  fuse_read_ahead_bytes_initial: 256 * 1024,
  /** FUSE mount: bytes fetched ahead of a sequential reader at most, in several windows fetched at once. */
  fuse_read_ahead_bytes_max: 32 * MiB,
  /** FUSE mount: largest read-ahead window (one client read; the size of the mount's read buffers). */
  fuse_read_ahead_window_bytes: 4 * MiB,
  /**
   * FUSE mount: a read this close to where a sequential reader got to still
   * continues its stream: the kernel's reads of one file overtake each other.
   */
  fuse_read_reorder_bytes: 4 * MiB,
  /** FUSE mount: idle read-ahead buffers kept for reuse by the next reader (fresh ones cost page faults and GC). */
  fuse_read_buffer_pool_bytes: 32 * MiB,
  /** FUSE mount: a metadata operation not answered within this time fails (ETIMEDOUT) instead of hanging the caller. */
  fuse_op_timeout_ms: 60_000,
  /** FUSE mount: the same for read, write, flush, fsync and release, which may move many MiB. */
  fuse_data_op_timeout_ms: 300_000,
  /** FUSE mount: how often the mount checks that it is still mounted (an external `umount` ends the process). */
  fuse_mount_check_interval_ms: 1_000,
  /** FUSE mount: at shutdown, buffered writes get this long to reach the cluster before the unmount. */
  fuse_shutdown_flush_ms: 30_000,
  /**
   * FUSE mount: a calling process's supplementary groups (/proc/PID/status)
   * are reused for this long: one file read per operation would double the
   * cost of a stat, and a process's groups rarely change (newgrp starts a new one).
   */
  fuse_caller_groups_cache_ms: 1_000,
  /** FUSE mount: processes whose groups are remembered at once (a bound, not a working set). */
  fuse_caller_groups_cache_entries_max: 4096,
  /** Chunkserver: the idle-time scrubber verifies at most this many bytes of cold chunks per second. */
  scrub_bytes_per_sec: 8 * MiB,
  /** Chunkserver: a chunk not mutated for this long is cold and due for scrubbing. */
  scrub_cold_after_ms: 60_000,
  /** Chunkserver: a chunk verified by the scrubber is checked again after this long. */
  scrub_repeat_after_ms: 24 * 3600_000,
  /**
   * Master: a client's bad-replica report only asks the replica's server to
   * verify it (a hostile reader must not delete replicas). At most this many
   * verifications wait per server; more reports are dropped (and logged).
   */
  verify_chunks_queued_max: 256,
  /** Master: verifications sent to one server per heartbeat (each reads a whole chunk there). */
  verify_chunks_per_heartbeat_max: 8,
  /** Master: a replica verified on a report is not verified again on another report for this long. */
  verify_chunk_repeat_after_ms: 60_000,
  /** Master: bad-replica reports one client certificate may make per minute; more are dropped (logged once a minute). */
  bad_replica_reports_per_reporter_per_min: 120,
  /** Master: reporters whose rate is tracked at once (a bound, not a working set). */
  bad_replica_reporters_tracked_max: 4096,
  /** Master: copies one chunkserver takes part in (as source or target) at once during re-replication. */
  replication_copies_per_server_max: 2,
  /** Master: a copy not confirmed within this long is abandoned and planned again. */
  replication_copy_timeout_ms: 120_000,
  /**
   * Master (issue 18): the highest replication goal `gfs setrep` may set on a file or directory.
   * Every replica is a full copy on another disk and a member of each write's push chain (which
   * chunkservers bound by this number): past a handful, more copies buy read spread, not safety.
   * MooseFS caps its goal at 9; 16 leaves room for hot, widely read files on bigger clusters.
   */
  replication_goal_max: 16,
  /**
   * CLI (issue 18): `setrep --wait` gives up when the replicas off their goal have not come
   * closer to it for this long (a chunk no server can copy, a full cluster): re-replication
   * copies at a bounded rate, but each round moves something within a few seconds.
   */
  setrep_wait_stall_ms: 60_000,
  /**
   * Master (issue 18): excess replicas (a chunk above its file's goal) ordered deleted per tick at
   * most, so lowering the goal of a big tree deletes at a bounded rate, not all at once.
   */
  replication_removals_per_tick_max: 256,
  /** Master listens here unless told otherwise. */
  master_port: 9000,
  /** Master: a checkpoint is taken once this many op-log records have accumulated since the last one (bounds replay time). */
  checkpoint_every_records: 100_000,
  /** Master: a checkpoint is also taken this long after the last one if any record was logged since. */
  checkpoint_interval_ms: 600_000,
  /**
   * Chunkserver: a chunk the master did not know (an orphan) is moved into
   * quarantine, not deleted, and deleted only after this long: a master that
   * lost op-log records or was given older metadata must not turn that loss
   * into deleted data, and restored metadata can bring the chunk back. Three
   * days, as the GFS paper's hidden deleted files.
   */
  quarantine_retention_ms: 3 * 24 * 3600_000,
  /**
   * Master: one registration reporting more unknown chunks holding data than
   * this (and more than safe_mode_unknown_chunks_fraction of its report)
   * puts the master in safe mode. Normal operation leaves few such chunks
   * (replicas of files deleted while their server was away, once the master
   * has forgotten them); many mean lost or older metadata. Empty version-1
   * chunks (spares the master made and lost track of at a restart) hold no
   * data and do not count. Below the threshold they are quarantined anyway.
   */
  safe_mode_unknown_chunks_max: 16,
  /** Master: see safe_mode_unknown_chunks_max; a big server's report may hold this share of unknown chunks before it counts. */
  safe_mode_unknown_chunks_fraction: 0.01,
  /**
   * Master: handles of chunks it dropped itself (deleted or truncated files,
   * abandoned creations) remembered since it started, so a replica reported
   * later is deleted as known garbage rather than quarantined. Past this, the
   * oldest are forgotten (their replicas are then quarantined: safe, slower).
   */
  garbage_handles_remembered_max: 100_000,
  /**
   * Largest file, in bytes: writes, truncates and chunk allocations beyond it
   * fail with EFBIG. 2^50 (1 PiB) keeps every offset plus any request length
   * exact in a JavaScript number (2^53) with room to spare, is above what any
   * one file here will hold (ext4 stops at 16 TiB), and bounds the chunk index
   * (2^24 at 64 MiB chunks, 2^30 at 1 MiB) so no index is absurd.
   */
  file_size_bytes_max: 2 ** 50,
  /**
   * Master: a file's chunk list stays a dense array while a new chunk leaves
   * at most this many holes before it; beyond, the file keeps a map of its
   * chunks, so a sparse file costs memory per written chunk, not per hole.
   */
  chunk_list_dense_gap_max: 1024,
  /** Master: most chunk slots one FindChunks may span (EINVAL beyond: readers ask per read, a few chunks at a time), so one request cannot make a huge answer. */
  find_chunks_reply_max: 4096,
  /** Chunkserver data transport: a frame header (and its message) must arrive whole within this long of its first byte, or the connection is cut. */
  data_header_timeout_ms: 10_000,
  /** Chunkserver data transport: a connection with no request in progress is closed after this long without a byte (clients reconnect). */
  data_idle_timeout_ms: 120_000,
  /** Chunkserver: a push whose sender sends no byte for this long is cut off and its memory freed. */
  push_stall_timeout_ms: 30_000,
  /** Chunkserver data transport: connections served at once; more are refused by the listener. */
  data_connections_max: 1024,
  // issue 17: metrics
  /**
   * Master /metrics: chunk states and namespace counts come from one pass over
   * the tables, reused for this long, so scrapes (several Prometheus servers, a
   * refreshing page) cannot keep the master walking millions of chunks.
   */
  metrics_census_interval_ms: 2_000,
  /**
   * Chunkserver: pushes being received at once (data transport and gRPC);
   * more are refused with EAGAIN (clients retry with backoff). One mount
   * writing one file has up to fuse_writes_in_flight_max (16) pushes out, and
   * with 3 replicas every server receives each: 64 leaves room for four.
   */
  pushes_in_flight_max: 64,
  /**
   * Chunkserver: bytes announced by the pushes being received at once (each
   * gets its whole buffer when it starts); a push that would exceed it is
   * refused with EAGAIN rather than buffered. 16 pushes of 16 MiB pieces from
   * one writing file are 256 MiB: 1 GiB leaves room for four, as the count does.
   */
  push_in_flight_bytes_max: 1024 * MiB,
  /**
   * Master: how long a chunk access token it hands out (with FindChunks and
   * lease answers) is valid. Short, so a token that leaked or outlived the
   * permission it was given for is soon useless; long enough that a reader or
   * writer rarely has to refresh one mid-transfer (clients refresh expired
   * tokens by asking again, transparently). HDFS uses 10 hours; chunk
   * locations here are cached for seconds, so 10 minutes costs nothing.
   */
  chunk_token_ttl_ms: 10 * 60_000,
  /**
   * Master: a new chunk token key is used for signing this often. Each key is
   * handed to chunkservers one period before it is first used (so all know it
   * in time, heartbeats being far more frequent) and kept until the last token
   * it signed expired (chunk_token_ttl_ms after its period).
   */
  chunk_token_key_rotate_ms: 60 * 60_000,
  /**
   * TLS 1.3 cipher suites of every connection, most preferred first. AES-GCM
   * runs on the CPU's AES instructions, so it comes before ChaCha20 (faster only
   * without them); AES-128 does fewer rounds than AES-256 for the same safety
   * margin a cluster's transport needs.
   */
  tls_ciphersuites: "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
  /**
   * Master: calls one client's call stream (Master.Calls) may have running at
   * once. Beyond it the master stops reading that stream (HTTP/2 flow control
   * holds the client back) until one is answered, so a client cannot make it
   * hold unbounded work or answers. A mount runs one call per FUSE request,
   * and the kernel sends a few dozen at most.
   */
  call_stream_in_flight_max: 64,
  /**
   * Master: largest request payload of one call on a call stream. Metadata
   * requests are paths and a few numbers (a path is at most 4 KiB); anything
   * larger is refused (EINVAL) rather than decoded.
   */
  call_stream_request_bytes_max: 256 * 1024,
  /**
   * Client: a call stream with no call in flight for this long is closed (the
   * next call opens another, for the cost of one unary round trip). An open
   * stream keeps its connection referenced, so without this a process that
   * never closes its client would not exit. 0: keep it open until close().
   */
  call_stream_idle_close_ms: 1_000,
  // issue 16: etcd
  /** Replicated master: a shadow asks etcd who leads this often, besides its watch (which may lag after an outage). */
  leader_poll_ms: 2_000,
  /** Replicated master: at start, how long to keep trying to reach etcd before giving up with one line. */
  etcd_connect_wait_ms: 30_000,
  /** Replicated master: the key prefix under which a cluster keeps its election and in-sync set in etcd. */
  etcd_prefix: "/gfs/",
  /**
   * Replicated master (--etcd): TTL of the etcd lease behind a master's
   * election key; etcd counts whole seconds, so it is rounded up. A dead active
   * master's key goes, and a shadow can win, this long after its last renewal.
   */
  election_ttl_ms: 10_000,
  /**
   * Active master: once no keep-alive of its lease SENT this long ago has
   * succeeded, it stops acknowledging mutations and steps down
   * (master/src/step-down.ts). Below election_ttl_ms: etcd renewed the lease
   * when it answered, after the send, so the lease outlives the send by the
   * TTL and the old active has stopped before anyone else can be elected.
   */
  step_down_after_ms: 6_000,
  /**
   * Master: a keep-alive of its election lease is sent this often, each on its
   * own stream so its send time is known. Several fit in step_down_after_ms,
   * so one slow answer does not step a master down.
   */
  election_keepalive_interval_ms: 1_000,
  /** Master: after finding itself not eligible (not in the in-sync set) or a failed campaign (etcd unreachable), it tries again this much later. */
  election_retry_ms: 1_000,
  /** Master: an etcd read, write or transaction not answered within this fails (watches have none; a keep-alive of the election lease waits up to step_down_after_ms). */
  etcd_call_timeout_ms: 5_000,
  // issue 16: ship
  /**
   * Active master: an in-sync shadow that has not acknowledged a batch this
   * long after it was sent is removed from the in-sync set (recorded in etcd
   * before anything it lacks is acknowledged), so one slow shadow holds
   * client answers back this long at most.
   */
  ship_ack_timeout_ms: 2_000,
  /** Active master: records per frame when a shadow catches up from the log. */
  ship_batch_records_max: 1_000,
  /** Active master: checkpoint parts are sent in frames of about this many bytes (under grpc_message_bytes_max). */
  ship_frame_bytes_max: 1024 * 1024,
  /**
   * Active master: recent records kept in memory to ship to shadows without
   * reading the log back (records not yet durable are always kept).
   */
  ship_tail_records_max: 20_000,
  /** Shadow master: wait before reopening a broken ShipLog stream. */
  ship_reconnect_ms: 500,
  // issue 16: follow
  /**
   * Client of a replicated master (--master A,B,C): how long a call keeps
   * looking for a master that answers it (the active one for a mutation, any
   * one for a read) through transport failures and ENOTACTIVE refusals,
   * round robin with backoff, before it fails with a clear error. Above an
   * election's detection (election_ttl_ms, 10 s) plus the new active's
   * start-up, so a failover is ridden out.
   */
  client_failover_wait_ms: 30_000,
  /** Client of a replicated master: first pause after every master failed a call once (doubles, up to 1 s). */
  client_failover_backoff_initial_ms: 50,
  // issue 17: status page
  /**
   * Master: recent cluster events kept for the status page and `gfs status
   * --json` (server dead or back, re-replication, safe mode, role changes);
   * older ones fall out. Events are batched, so this covers hours of an
   * ordinary cluster's life.
   */
  status_events_max: 100,
  /** Master status page: how often the page in a browser fetches /status.json again. */
  status_page_refresh_ms: 2_000,
  /**
   * Master status page and /status.json: the cluster summary walks every chunk and inode, so it is built
   * at most this often and shared by every request in between (many open tabs cost one walk).
   */
  status_page_cache_ms: 1_000,
  /**
   * Chunkserver (issue 18): on SIGTERM it stops taking new mutations and waits at most this long for the ones in
   * flight to finish before it tells the master it left and exits. A mutation takes well under a second; a stuck
   * one must not hold a stop (systemd's TimeoutStopSec, our tests' 3 s grace) past its own bound.
   */
  chunkserver_leave_drain_ms: 2_000,
  /** Chunkserver: deadline of each Leave call to a master (a master already gone must not hold the stop up). */
  chunkserver_leave_call_timeout_ms: 500,
  /**
   * Master balancer (issue 18): servers' used/capacity may differ by this much (highest minus lowest) before
   * chunks move. 10 points: one chunk's worth on a small server is not worth a copy, and a tighter bound would
   * move chunks back and forth as servers' usage changes with writes.
   */
  balance_tolerance_ratio: 0.1,
  /** Master balancer: moves (copy, then delete the source) ordered per round: the rate at which balancing uses the disks and network. */
  balance_moves_per_round_max: 8,
  /** Master balancer: how often the background balancer plans a round (a round starts only once the last one's copies are done). */
  balance_interval_ms: 10_000,
  // issue 18: transfer (gfs put/get/cp)
  /** Progress bar redraws per second on a terminal: enough to look live, few enough to cost nothing next to the copy. */
  transfer_progress_fps: 5,
  /**
   * After SIGINT/SIGTERM, a copy removes its temporary file, waits this long
   * and looks again: a create still in flight at the signal may make the file
   * just after the first removal.
   */
  transfer_interrupt_recheck_ms: 300,
  // issue 19: POSIX fidelity
  /**
   * Largest extended attribute value, in bytes: Linux's XATTR_SIZE_MAX (the kernel refuses larger
   * values with E2BIG before they reach us; the master checks too, for other clients).
   */
  xattr_value_bytes_max: 65_536,
  /** Largest extended attribute name, with its namespace prefix: Linux's XATTR_NAME_MAX (ERANGE beyond). */
  xattr_name_bytes_max: 255,
  /**
   * All of one inode's extended attributes together (names and values), in bytes. ENOSPC beyond,
   * as ext4 answers when an inode's attributes outgrow their block: the master keeps every byte
   * in memory and in every checkpoint, so one inode must not hold megabytes. Linux's listxattr
   * buffer limit (XATTR_LIST_MAX) is also 64 KiB.
   */
  xattr_bytes_per_inode_max: 65_536,
  /**
   * Most names (hard links) one inode may have: link(2) answers EMLINK beyond, as ext4 does at
   * the same number (EXT4_LINK_MAX). The master keeps a count per linked inode, never a scan.
   */
  links_per_inode_max: 65_000,
  /**
   * A mount renews its session this often (one KeepSession call, carrying the inodes it closed since).
   * Closing the last descriptor of an unlinked file frees its chunks at the next renewal at the latest.
   */
  session_renew_ms: 1_000,
  /**
   * The master forgets a mount session not renewed for this long, and with it the files only that
   * session held open: an unlinked file held by a mount that died is reclaimed then. Also how long a
   * new (restarted or promoted) master waits for sessions to say what they hold before reclaiming.
   */
  session_lease_ms: 30_000,
  /**
   * Mount sessions one master keeps at most (a new session beyond is refused with EAGAIN until one
   * expires): a session costs a few hundred bytes plus its open inodes, and a peer may lie.
   */
  sessions_max: 10_000,
  /**
   * Live sessions one peer (certificate) keeps at most (a new one beyond: EAGAIN): a mount host runs a
   * few mounts, and a restarted one's old session lingers one lease. Stops one lying certificate from
   * filling sessions_max and locking every other mount out. Insecure peers are all one peer: exempt.
   */
  sessions_per_peer_max: 16,
  /** Files one mount session holds open at most (EMFILE beyond): above any kernel's open-file limit of one mount. */
  session_open_files_max: 1_048_576,
  /**
   * Holds (a session having an inode open) the master keeps in all, over every session (EAGAIN beyond):
   * each costs ~100 bytes of Set and Map entries, so this bounds the table near 200 MB whatever peers claim.
   */
  session_holds_max: 2_097_152,
  // ---- issue 20: snapshots, trash and quotas ----
  /**
   * How long a deleted file (or a tree `gfs rm -r` deleted) stays in the trash before the master
   * reclaims its chunks (GFS 4.4 keeps deleted files three days); 0 turns the trash off: a delete
   * frees at once. `gfs-master --trash-retention-ms`.
   */
  trash_retention_ms: 86_400_000,
  /** Trash entries one expiry pass reclaims at most (one logged op): a big backlog drains over several ticks, never one long op. */
  trash_expire_batch_max: 1_000,
  /** Nodes one snapshot may copy at most (EINVAL beyond): the copy is one logged op applied in one turn of the event loop. */
  snapshot_nodes_max: 1_000_000,
  /**
   * How long usage may stay over a quota's soft limit before the soft limit acts as the hard one
   * (EDQUOT), as Linux disk quotas' grace period (7 days there too).
   */
  quota_grace_ms: 7 * 86_400_000,
  // ---- issue 20, snapshot lane ----
  /**
   * Rounds a snapshot revokes its source's leases and looks again (new chunks of files written
   * meanwhile come with leases) before it gives up with EAGAIN: each round is one RevokeLease per
   * leased chunk, so 10 covers a tree under steady writes without letting one call spin for long.
   */
  snapshot_quiesce_rounds_max: 10,
  /** Pause between those rounds: a grant under way when the snapshot started finishes in about one RPC. */
  snapshot_quiesce_pause_ms: 50,
} as const;

export type Defaults = typeof defaults;
