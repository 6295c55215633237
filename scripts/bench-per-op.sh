#!/usr/bin/env bash
# bench-per-op.sh — where a metadata-heavy operation's time goes, per process (not a test, not part
# of bench.sh). Starts its own cluster and mount with scripts/mount.sh, then for N operations of each
# kind prints the wall time per operation and the CPU (utime + stime from /proc) each daemon spent
# per operation:
#   small_file   open O_CREAT|O_TRUNC, one 4 KiB write, close (python3, one process)
#   unlink       rm -r of those files
#   fsync_write  4 KiB pwrite at a random 4 KiB offset of an 8 MiB file, then fsync
# Run as root (FUSE). Output: `kind wall_ms_per_op <ms> | process cpu_ms_per_op <ms> ...`.
#   BENCH_PORT  master port (default 9980); BENCH_OPS  operations of each kind (default 300)
#   PATH        decides which gfs-master, gfs-chunkserver, gfs-mount and gfs are measured
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${BENCH_PORT:-9980}"
ops="${BENCH_OPS:-300}"
home="$(mktemp -d /tmp/gfs-per-op.XXXXXX)"
mnt="$home/mnt"
export GFS_HOME="$home" GFS_MASTER_PORT="$port"
stop() { bash "$repo/scripts/mount.sh" --stop "$mnt" >/dev/null 2>&1; rm -rf "$home"; }
trap stop EXIT
trap 'exit 130' INT TERM
bash "$repo/scripts/mount.sh" "$mnt" >"$home.start.log" 2>&1 || { echo "cluster did not start: $home.start.log" >&2; exit 1; }
rm -f "$home.start.log"

# The daemons of this cluster: their pid and a short name.
daemons() {
  for p in $(pgrep -f "$home/"); do
    local args; args=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
    case "$args" in
      *master/dist/main.js*) echo "$p master" ;;
      *chunkserver/dist/main.js*) echo "$p $(grep -o 'chunkserver[0-9]*' <<<"$args" | tail -1)" ;;
      *fuse-mount/dist/main.js*) echo "$p mount" ;;
    esac
  done
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)

# measure KIND CMD...: runs CMD and prints its line.
measure() {
  local kind=$1; shift
  declare -A before
  local list; list=$(daemons)
  while read -r p _; do before[$p]=$(ticks "$p"); done <<<"$list"
  local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N)
  local line; line="$kind wall_ms_per_op $(awk -v a="$t0" -v b="$t1" -v n="$ops" 'BEGIN{printf "%.2f", (b-a)*1000/n}')"
  while read -r p name; do
    line+=" | $name cpu_ms_per_op $(awk -v d="$(( $(ticks "$p") - ${before[$p]} ))" -v hz="$hz" -v n="$ops" 'BEGIN{printf "%.2f", d*1000/hz/n}')"
  done <<<"$list"
  echo "$line"
}

mkdir -p "$mnt/p"
measure small_file python3 -c "
import os, sys
blk = os.urandom(4096)
for i in range($ops):
    fd = os.open(f'$mnt/p/f{i}', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644); os.write(fd, blk); os.close(fd)"
measure unlink rm -r "$mnt/p"
head -c 8388608 /dev/urandom >"$mnt/fsync.bin"
measure fsync_write python3 -c "
import os, random
fd = os.open('$mnt/fsync.bin', os.O_RDWR); blk = os.urandom(4096)
for i in range($ops):
    os.pwrite(fd, blk, random.randrange(2048) * 4096); os.fsync(fd)
os.close(fd)"
