#!/usr/bin/env bash
# bench-meta-quick.sh tls|plain — a two-minute look at the metadata path through the mount
# (not a test, not part of bench.sh): starts a cluster with scripts/mount.sh (mutual TLS, or
# GFS_INSECURE=1 for plain), writes 500 files of 4 KiB with one `head` process each, then
# twice: drop caches, `ls -l`, `find -size`; then `rm -r`. Prints one line per figure. Run as root.
#   BENCH_PORT  master port (default 9900 for tls, 9920 for plain)
set -u
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
c="${1:-}"; case "$c" in tls) ins="" ;; plain) ins=1 ;; *) echo "usage: $0 tls|plain" >&2; exit 2 ;; esac
port="${BENCH_PORT:-$([ "$c" = plain ] && echo 9920 || echo 9900)}"
home="/tmp/gfs-meta-quick-$c"
export GFS_HOME="$home" GFS_MASTER_PORT="$port" GFS_INSECURE="$ins"
trap 'bash "$repo/scripts/mount.sh" --stop "$home/mnt" >/dev/null 2>&1; rm -rf "$home"' EXIT
bash "$repo/scripts/mount.sh" "$home/mnt" >/dev/null 2>&1 || { echo "cluster did not start; logs in $home/logs" >&2; exit 1; }
m="$home/mnt"; mkdir -p "$m/d"
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b-a}'; }
t0=$(date +%s.%N); for i in $(seq 1 500); do head -c 4096 /dev/zero >"$m/d/f$i"; done; t1=$(date +%s.%N)
echo "${c}_create_500 $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", 500/(b-a)}') files/s"
for r in 1 2; do
  sync; echo 3 >/proc/sys/vm/drop_caches
  t0=$(date +%s.%N); ls -l "$m/d" >/dev/null; t1=$(date +%s.%N); find "$m/d" -size +1k >/dev/null; t2=$(date +%s.%N)
  echo "${c}_ls_l_round$r $(secs "$t0" "$t1") s"
  echo "${c}_find_round$r $(secs "$t1" "$t2") s"
  sleep 2 # past the mount's attribute cache
done
t0=$(date +%s.%N); rm -r "$m/d"; t1=$(date +%s.%N)
echo "${c}_rm_r_500 $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", 500/(b-a)}') files/s"
