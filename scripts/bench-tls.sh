#!/usr/bin/env bash
# bench-tls.sh — what mutual TLS costs on the data path (issue 13: at most 15 %).
# Called by bench.sh (part "tls"); can run alone as root. Not a test.
#
# Starts two clusters side by side through scripts/mount.sh (1 master + 3
# chunkservers, 64 MiB chunks, each mounted): the default one (mutual TLS 1.3
# everywhere) and a plaintext one (GFS_INSECURE=1). It measures the same four
# figures on each, alternating clusters round by round so that drift of the
# machine hits both alike, and prints `name value unit` lines:
#   tls_seq_write_{tls,plain}      dd of 1 GiB of random data (page-cached source) into the mount, conv=fsync  MB/s
#   tls_seq_read_cold_{tls,plain}  drop_caches, then cat of that file from the mount                          MB/s
#   tls_client_put_{tls,plain}     client-core put of 1 GiB (scripts/bench-client.mjs)                         MB/s
#   tls_client_get_{tls,plain}     client-core get of it                                                       MB/s
#   tls_<figure>_loss              1 - tls/plain of the best round of each, in %                               %
#
#   BENCH_HOME        where both clusters live (default /tmp/gfs-bench-tls)
#   BENCH_PORT        master port of the TLS cluster; the plaintext one takes port + 10 (default 9800)
#   BENCH_TLS_ROUNDS  rounds per cluster (default 2)
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${BENCH_HOME:-/tmp/gfs-bench-tls}"
port="${BENCH_PORT:-9800}"
rounds="${BENCH_TLS_ROUNDS:-2}"
src=/tmp/gfs-bench-src-1073741824.bin
MiB=1048576

say() { echo "bench-tls: $*" >&2; }
# cluster_env NAME: the environment mount.sh runs cluster NAME (tls or plain) with.
cluster_env() {
  local p=$port insecure=""
  if [ "$1" = plain ]; then p=$((port + 10)); insecure=1; fi
  echo GFS_HOME="$home/$1" GFS_MASTER_PORT="$p" GFS_CHUNK_SIZE=67108864 GFS_CHUNKSERVERS=3 GFS_INSECURE="$insecure" GFS_SKIP_SETUP=1
}
transport() { if [ "$1" = plain ]; then echo --insecure; else echo --tls-dir "$home/tls/tls/admin"; fi; }
master_of() { if [ "$1" = plain ]; then echo "127.0.0.1:$((port + 10))"; else echo "127.0.0.1:$port"; fi; }

stop_all() {
  for c in tls plain; do
    env $(cluster_env $c) bash "$repo/scripts/mount.sh" --stop "$home/$c/mnt" >/dev/null 2>&1 || true
  done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

stop_all
rm -rf "$home"
mkdir -p "$home"
bash "$repo/scripts/setup.sh" >&2 || { say "setup failed"; exit 1; }
for c in tls plain; do
  mkdir -p "$home/$c/mnt"
  if ! env $(cluster_env $c) bash "$repo/scripts/mount.sh" "$home/$c/mnt" >&2; then
    say "the $c cluster did not start; logs in $home/$c/logs"
    exit 1
  fi
done

if [ ! -f "$src" ] || [ "$(stat -c %s "$src")" != $((1024 * MiB)) ]; then
  say "writing 1 GiB of random data to $src"
  head -c $((1024 * MiB)) /dev/urandom >"$src"
fi
cat "$src" >/dev/null # page-cached: the local disk is not what we measure

rate() { awk -v b="$1" -v a="$2" -v z="$3" 'BEGIN{ printf "%.1f", (b / 1e6) / (z - a) }'; }
declare -A best
keep() { # keep NAME VALUE: the best round
  local cur="${best[$1]:-0}"
  if awk -v v="$2" -v c="$cur" 'BEGIN{exit !(v > c)}'; then best[$1]=$2; fi
}

for r in $(seq 1 "$rounds"); do
  for c in tls plain; do
    say "round $r: $c cluster"
    m="$home/$c/mnt"
    rm -f "$m/seq.bin"
    t0=$(date +%s.%N); dd if="$src" of="$m/seq.bin" bs=1M conv=fsync status=none; t1=$(date +%s.%N)
    keep "seq_write_$c" "$(rate $((1024 * MiB)) "$t0" "$t1")"
    sync; echo 3 >/proc/sys/vm/drop_caches
    t0=$(date +%s.%N); cat "$m/seq.bin" >/dev/null; t1=$(date +%s.%N)
    keep "seq_read_cold_$c" "$(rate $((1024 * MiB)) "$t0" "$t1")"
    rm -f "$m/seq.bin"
    while read -r name value _; do
      case "$name" in client_put|client_get) keep "${name}_$c" "$value" ;; esac
    done < <(node "$repo/scripts/bench-client.mjs" --master "$(master_of $c)" $(transport $c) --size-mib 1024 --append-seconds 0 --source "$src")
  done
done

for f in seq_write seq_read_cold client_put client_get; do
  t="${best[${f}_tls]:-0}" p="${best[${f}_plain]:-0}"
  echo "tls_${f}_tls $t MB/s"
  echo "tls_${f}_plain $p MB/s"
  echo "tls_${f}_loss $(awk -v t="$t" -v p="$p" 'BEGIN{ printf "%.1f", (p > 0) ? 100 * (1 - t / p) : 0 }') %"
done
