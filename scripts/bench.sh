#!/usr/bin/env bash
# bench.sh — the project's benchmark (not part of the test suite). Bounded: well
# under 10 minutes on 2 cores. Run as root (FUSE, drop_caches).
#
# Starts its own cluster (1 master + 3 chunkservers, replication 3, 64 MiB chunks)
# through scripts/mount.sh on its own GFS_HOME and ports, mounts it with gfs-mount,
# and prints one line per figure, `name value unit`:
#   - file-system figures (../shared/bench/fsbench.sh) through the mount AND on a local
#     directory in the same run, each mount figure with its ratio to local disk;
#   - client-core figures (scripts/bench-client.mjs): put/get of 1 GiB, record append
#     with 1, 4, 8 appenders of 1 MiB and 4 KiB records;
#   - TLS cost (scripts/bench-tls.sh): seq write, cold read, put, get on a TLS and a plaintext cluster;
#   - master figures (scripts/bench-master.mjs, when present): creates/s, recovery;
#   - re-replication after a primary's SIGKILL (scripts/bench-rereplication.mjs, its own
#     cluster at default settings: 12 MiB chunk, its primary killed under the writer's 60 s lease).
#   - replicated master (scripts/bench-failover.mjs, its own etcd and masters, plaintext): SIGKILL of the
#     active master to the first create+write on the new one at default settings (median and worst of
#     BENCH_FAILOVER_ROUNDS, default 10), acknowledged operations lost over 20 SIGKILLs under load (short
#     TTLs), durable creates/s with 32 clients on a single master and with 2 in-sync shadows (issue 16).
# Writes the table with the machine it ran on to docs/BENCHMARKS.md (BENCH_NO_DOC=1: don't).
#
#   scripts/bench.sh --peer moosefs   also runs MooseFS (../shared/bench/peer-moosefs.sh) on this host
#     and fsbench on both mounts in the same run, BENCH_ROUNDS rounds each (default 2, alternating
#     ours and MooseFS), and writes a side-by-side table with the ratio ours/MooseFS per figure
#     (>1 is better for us: for times it is MooseFS's time over ours) into docs/BENCHMARKS.md.
#
#   BENCH_HOME        cluster state, logs and mount point (default /tmp/gfs-bench)
#   BENCH_PORT        master port; chunkservers take the next 3 (default 9700)
#   BENCH_SIZE_MIB    client-core put/get size (default 1024)
#   BENCH_SKIP        space-separated parts to skip: fs local client tls master rerep failover
#   BENCH_FAILOVER_ROUNDS  failover rounds (default 10); BENCH_LOSS_ROUNDS: SIGKILL rounds under load (default 20)
#   BENCH_FSBENCH     fsbench.sh to use (default ../shared/bench/fsbench.sh beside the repo)
#   BENCH_ROUNDS      fsbench rounds per mount with --peer (default 2)
#   BENCH_PEER_SCRIPT peer-moosefs.sh to use (default ../shared/bench/peer-moosefs.sh beside the repo)
#   GFS_INSECURE=1    a plaintext cluster (no TLS), to measure what TLS costs against a default (mutual TLS) run
set -uo pipefail
peer=""
while [ $# -gt 0 ]; do
  case "$1" in
    --peer) peer="${2:-}"; shift 2 || { echo "bench.sh: --peer needs a name (moosefs)" >&2; exit 2; } ;;
    --peer=*) peer="${1#--peer=}"; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1' (usage: bench.sh [--peer moosefs])" >&2; exit 2 ;;
  esac
done
case "$peer" in ""|moosefs) ;; *) echo "bench.sh: --peer $peer: only moosefs is known" >&2; exit 2 ;; esac
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${BENCH_HOME:-/tmp/gfs-bench}"
port="${BENCH_PORT:-9700}"
size_mib="${BENCH_SIZE_MIB:-1024}"
skip=" ${BENCH_SKIP:-} "
fsbench="${BENCH_FSBENCH:-$repo/../shared/bench/fsbench.sh}"
peer_script="${BENCH_PEER_SCRIPT:-$repo/../shared/bench/peer-moosefs.sh}"
rounds="${BENCH_ROUNDS:-2}"
peer_out="$home/peer.txt"
mnt="$home/mnt"
master="127.0.0.1:$port"
out="$home/results.txt"
started=$(date +%s)

say() { echo "bench: $*" >&2; }
skipped() { [[ "$skip" == *" $1 "* ]]; }
cluster_env=(env GFS_HOME="$home/cluster" GFS_MASTER_PORT="$port" GFS_CHUNK_SIZE=67108864 GFS_CHUNKSERVERS=3 GFS_INSECURE="${GFS_INSECURE:-}")
# How clients join it: mount.sh's admin identity, or plaintext.
if [ -n "${GFS_INSECURE:-}" ] && [ "${GFS_INSECURE}" != 0 ]; then transport=(--insecure); mount_transport=(--insecure)
else transport=(--tls-dir "$home/cluster/tls/admin"); mount_transport=(--tls-dir "$home/cluster/tls/mount"); fi

mounted() { grep -qs " $mnt fuse" /proc/mounts; }
stop_all() {
  if mounted; then fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true; fi
  if [ -f "$home/mount.pid" ]; then kill -TERM "$(cat "$home/mount.pid")" 2>/dev/null || true; rm -f "$home/mount.pid"; fi
  "${cluster_env[@]}" bash "$repo/scripts/mount.sh" --stop "$mnt" >/dev/null 2>&1 || true
  if [ -n "$peer" ] && [ -f "$peer_script" ]; then bash "$peer_script" stop >/dev/null 2>&1 || true; fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# ---- a fresh cluster
stop_all
rm -rf "$home"
mkdir -p "$home" "$mnt"
: >"$out"
say "building and starting the cluster in $home (master $master)"
(cd "$repo" && npx tsc -b packages/master packages/chunkserver packages/client-core packages/fuse-mount >&2) || say "build reported errors; using the existing dist/"
if ! "${cluster_env[@]}" bash "$repo/scripts/mount.sh" "$mnt" >&2; then
  say "cluster did not start; logs in $home/cluster/logs"
  exit 1
fi

emit() { echo "$1 $2 $3" | tee -a "$out"; }

# ---- the mount: mount.sh mounts once gfs-mount is wired in; otherwise mount it here.
if ! mounted && command -v gfs-mount >/dev/null 2>&1; then
  gfs-mount "$mnt" --master "$master" "${mount_transport[@]}" --pid-file "$home/mount.pid" --log-file "$home/mount.log" >&2 2>&1 || true
  for _ in $(seq 50); do mounted && break; sleep 0.2; done
fi
have_mount=0
if mounted && touch "$mnt/.bench-probe" 2>/dev/null && rm -f "$mnt/.bench-probe"; then have_mount=1; fi

# fsbench measures 4 KiB random pwrite IOPS only with fio.
if ! command -v fio >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  say "installing fio"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fio >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fio >/dev/null 2>&1; } ||
    say "fio not available: no random pwrite figures"
fi

# ---- file-system figures: local directory and the mount, same tool, same run
declare -A localfig
if [ -x "$fsbench" ] || [ -f "$fsbench" ]; then
  if ! skipped local; then
    say "fsbench on a local directory"
    ldir="$home/local"
    mkdir -p "$ldir"
    while read -r _ name value unit; do
      localfig[$name]=$value
      emit "local_$name" "$value" "$unit"
    done < <(bash "$fsbench" "$ldir" local)
    rm -rf "$ldir"
  fi
  if ! skipped fs; then
    if [ $have_mount = 1 ]; then
      say "fsbench on the GFS mount"
      while read -r _ name value unit; do
        emit "gfs_$name" "$value" "$unit"
        l=${localfig[$name]:-}
        if [ -n "$l" ] && [ "$unit" != bool ] && [ "$unit" != count ] && awk -v l="$l" 'BEGIN{exit !(l+0>0)}'; then
          # s: lower is better, so the ratio is local/gfs; rates: gfs/local
          if [ "$unit" = s ]; then r=$(awk -v g="$value" -v l="$l" 'BEGIN{printf "%.2f", (g>0)?l/g:0}'); else r=$(awk -v g="$value" -v l="$l" 'BEGIN{printf "%.2f", g/l}'); fi
          emit "gfs_${name}_vs_local" "$r" x
        fi
      done < <(bash "$fsbench" "$mnt" gfs)
    else
      say "no working gfs-mount: skipping the file-system figures through the mount"
      emit gfs_mount_available 0 bool
    fi
  fi
else
  say "fsbench.sh not found at $fsbench: skipping the file-system figures"
fi

# ---- side by side with a peer (--peer moosefs): fsbench on both mounts, alternating, same run
if [ -n "$peer" ] && ! skipped fs && [ $have_mount = 1 ]; then
  : >"$peer_out"
  if [ ! -f "$peer_script" ]; then
    say "--peer $peer: $peer_script not found"; exit 1
  fi
  say "starting MooseFS ($peer_script)"
  peer_mnt=$(bash "$peer_script" start | tail -1)
  if ! grep -qs " $peer_mnt fuse" /proc/mounts; then say "MooseFS did not mount (see $peer_script status)"; exit 1; fi
  for r in $(seq 1 "$rounds"); do
    for side in gfs moosefs; do
      m=$mnt; [ $side = moosefs ] && m=$peer_mnt
      say "side by side: fsbench round $r on $side ($m)"
      bash "$fsbench" "$m" "$side" | while read -r _ name value unit; do echo "$side $r $name $value $unit"; done >>"$peer_out"
    done
  done
  # ratio per figure and round: ours over MooseFS for rates, MooseFS over ours for times (>1: we are better)
  awk '
    { v[$1 SUBSEP $2 SUBSEP $3] = $4; u[$3] = $5; if (!($3 in seen)) { seen[$3] = 1; order[++n] = $3 }; if ($2 > R) R = $2 }
    END {
      for (i = 1; i <= n; i++) { f = order[i]; if (u[f] == "bool" || u[f] == "count") continue
        for (r = 1; r <= R; r++) { g = v["gfs" SUBSEP r SUBSEP f]; m = v["moosefs" SUBSEP r SUBSEP f]
          if (g == "" || m == "" || g == "NA" || m == "NA" || g + 0 <= 0 || m + 0 <= 0) continue
          printf "gfs_%s_vs_moosefs_r%d %.2f x\n", f, r, (u[f] == "s") ? m / g : g / m } }
    }' "$peer_out" >"$home/peer-ratios.txt"
  while read -r side r name value unit; do emit "${side}_${name}_r$r" "$value" "$unit"; done <"$peer_out"
  while read -r n v u; do emit "$n" "$v" "$u"; done <"$home/peer-ratios.txt"
  bash "$peer_script" stop >/dev/null 2>&1 || true
fi

# ---- shells appending through the mount: 4 shells x 1,000 `echo >> f`, one open per line, each >>
# acknowledged only once its record is applied (fsbench's append_concurrent keeps one open per writer)
if ! skipped fs && [ $have_mount = 1 ]; then
  say "shell appends through the mount (4 x 1000 echo >>)"
  f="$mnt/.bench-append"
  rm -f "$f"
  t0=$(date +%s.%N)
  pids=()
  for w in 1 2 3 4; do
    (for i in $(seq 1 1000); do echo "writer-$w line-$i" >>"$f" || exit 1; done) &
    pids+=($!)
  done
  ok=1
  for p in "${pids[@]}"; do wait "$p" || ok=0; done
  t1=$(date +%s.%N)
  emit gfs_append_shell_4x1000 "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')" s
  emit gfs_append_shell_ok "$([ $ok = 1 ] && [ "$(wc -l <"$f")" -eq 4000 ] && echo 1 || echo 0)" bool
  rm -f "$f"
fi

# ---- client-core figures
if ! skipped client; then
  say "client-core figures ($size_mib MiB put/get, record append)"
  node "$repo/scripts/bench-client.mjs" --master "$master" "${transport[@]}" --size-mib "$size_mib" --append-seconds 4 | tee -a "$out" ||
    say "bench-client failed"
fi

# ---- what mutual TLS costs: the same data-path figures on a TLS and a plaintext cluster (scripts/bench-tls.sh)
if ! skipped tls && [ -z "${GFS_INSECURE:-}" ]; then
  say "TLS cost (a TLS and a plaintext cluster side by side)"
  BENCH_HOME="$home/tls-cost" BENCH_PORT=$((port + 100)) bash "$repo/scripts/bench-tls.sh" | tee -a "$out" || say "bench-tls failed"
fi

# ---- master figures (their own master, see scripts/bench-master.mjs)
if ! skipped master && [ -f "$repo/scripts/bench-master.mjs" ]; then
  say "master figures"
  timeout 240 node "$repo/scripts/bench-master.mjs" >"$home/master.txt" || say "bench-master failed or timed out"
  cat "$home/master.txt" >&2
  # Its lines are prose; pick out the figures.
  awk '
    /durable creates, +1 [a-z-]* *client/ { for (i = 1; i <= NF; i++) if ($i == "creates/s") { print "master_creates_1_client", $(i-1), "creates/s"; break } }
    /durable creates, +32 [a-z-]* *client/ { for (i = 1; i <= NF; i++) if ($i == "creates/s") { print "master_creates_32_clients", $(i-1), "creates/s"; break } }
    /^recovery of/ { n = $3; for (i = 1; i <= NF; i++) { if ($i == "in" && $(i+1) == "recovery,") print "master_recovery_" n "_files", $(i-2), "s"; if ($i == "RSS") print "master_recovery_" n "_files_rss", $(i+1), "MiB" } }
  ' "$home/master.txt" | while read -r n v u; do emit "$n" "${v%,}" "$u"; done
fi

# ---- issue 20, snapshot lane: `gfs snapshot` of a tree of 10,000 files and of a 10 GiB file (the master's
# duration_us and the CLI's wall time; its own cluster, see scripts/bench-snapshot.mjs for how the files are made)
if ! skipped snapshot && [ -f "$repo/scripts/bench-snapshot.mjs" ]; then
  say "snapshots: 10,000 files and a 10 GiB file"
  if timeout 300 node "$repo/scripts/bench-snapshot.mjs" >"$home/snapshot.txt"; then
    while read -r n v u; do emit "$n" "$v" "$u"; done <"$home/snapshot.txt"
  else
    cat "$home/snapshot.txt" >&2
    say "bench-snapshot failed or timed out"
  fi
fi

# ---- re-replication after a primary's SIGKILL (s): detection (3 missed 5 s heartbeats) plus the copy;
# the dead primary's lease is fenced, not waited out (its own cluster, see scripts/bench-rereplication.mjs)
if ! skipped rerep && [ -f "$repo/scripts/bench-rereplication.mjs" ]; then
  say "re-replication after a primary's SIGKILL"
  if timeout 300 node "$repo/scripts/bench-rereplication.mjs" --settings default --file-mib 12 --victim primary >"$home/rerep.txt"; then
    cat "$home/rerep.txt" >&2
    awk '$1 == "rereplication_primary_default_seconds" { print "rereplication_after_primary_sigkill", $2, $3 }' "$home/rerep.txt" |
      while read -r n v u; do emit "$n" "$v" "$u"; done
  else
    say "bench-rereplication failed or timed out"
  fi
fi

# ---- replicated master (issue 16): failover time, acknowledged operations lost, what shipping costs creates
# (its own etcd, masters and chunkservers, see scripts/bench-failover.mjs; about 10 minutes at defaults)
if ! skipped failover && [ -f "$repo/scripts/bench-failover.mjs" ]; then
  if command -v etcd >/dev/null 2>&1; then
    say "replicated master: failover, loss under SIGKILL, durable creates with shadows"
    if timeout 1200 node "$repo/scripts/bench-failover.mjs" --rounds "${BENCH_FAILOVER_ROUNDS:-10}" --loss-rounds "${BENCH_LOSS_ROUNDS:-20}" >"$home/failover.txt"; then
      while read -r n v u; do emit "$n" "$v" "$u"; done <"$home/failover.txt"
    else
      cat "$home/failover.txt" >&2
      say "bench-failover failed or timed out"
    fi
  else
    say "no etcd (scripts/setup.sh installs etcd-server): skipping the replicated-master figures"
  fi
fi

elapsed=$(( $(date +%s) - started ))
emit bench_elapsed "$elapsed" s

# ---- docs/BENCHMARKS.md
if [ "${BENCH_NO_DOC:-0}" != 1 ]; then
  doc="$repo/docs/BENCHMARKS.md"
  mkdir -p "$repo/docs"
  {
    echo "# Benchmarks"
    echo
    echo "Generated by \`scripts/bench.sh\` on $(date -u +%Y-%m-%dT%H:%MZ) at commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null)."
    echo "Cluster: 1 master + 3 chunkservers + client on one host (loopback), replication 3, 64 MiB chunks."
    echo
    echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/Mem:/{print $2}') GiB RAM,"
    echo "$(uname -sr), Node $(node --version), disk $(df -h "$home" | awk 'NR==2{print $1" ("$2")"}'); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "| figure | value | unit |"
    echo "|---|---:|---|"
    awk '{printf "| %s | %s | %s |\n", $1, $2, $3}' "$out"
    if [ -n "$peer" ] && [ -s "$peer_out" ]; then
      echo
      echo "### Side by side with MooseFS ($(dpkg-query -W -f '${Version}' moosefs-master 2>/dev/null || echo '?'), same run, $rounds rounds, \`scripts/bench.sh --peer moosefs\`)"
      echo
      echo "ours / MooseFS: ours over MooseFS for rates, MooseFS over ours for times (above 1: we are better)."
      echo
      awk '
        { v[$1 SUBSEP $2 SUBSEP $3] = $4; u[$3] = $5; if (!($3 in seen)) { seen[$3] = 1; order[++n] = $3 }; if ($2 > R) R = $2 }
        END {
          printf "| figure | unit | MooseFS | ours | ours / MooseFS |\n|---|---|---:|---:|---:|\n"
          for (i = 1; i <= n; i++) { f = order[i]; ms = ""; gs = ""; rs = ""
            for (r = 1; r <= R; r++) { m = v["moosefs" SUBSEP r SUBSEP f]; g = v["gfs" SUBSEP r SUBSEP f]
              ms = ms (r > 1 ? " / " : "") m; gs = gs (r > 1 ? " / " : "") g
              if (u[f] != "bool" && u[f] != "count" && g + 0 > 0 && m + 0 > 0) rs = rs (rs != "" ? " / " : "") sprintf("%.2f", (u[f] == "s") ? m / g : g / m) }
            printf "| %s | %s | %s | %s | %s |\n", f, u[f], ms, gs, rs }
        }' "$peer_out"
    fi
    if [ -s "$home/master.txt" ]; then echo; echo "scripts/bench-master.mjs said:"; echo; echo '```'; cat "$home/master.txt"; echo '```'; fi
    if [ -f "$repo/docs/BENCHMARKS.notes.md" ]; then echo; cat "$repo/docs/BENCHMARKS.notes.md"; fi
  } >"$doc"
  say "wrote $doc"
fi
