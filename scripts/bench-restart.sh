#!/usr/bin/env bash
# How long writers wait after a master crash, with default settings (5 s heartbeats, 60 s leases):
# a cluster from mount.sh in a temporary GFS_HOME, an append holding a lease, SIGKILL of the master,
# the master started again with the same command line, and the time until an append into the
# existing chunk succeeds. Three rounds. Usage: scripts/bench-restart.sh [PORT]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GFS_HOME; GFS_HOME="$(mktemp -d /tmp/gfs-bench-restart.XXXXXX)"
export GFS_MASTER_PORT="${1:-9470}"
mnt="$GFS_HOME/mnt"; m="127.0.0.1:$GFS_MASTER_PORT"
cleanup() { bash "$repo/scripts/mount.sh" --stop "$mnt" >/dev/null 2>&1 || true; rm -rf "$GFS_HOME"; }
trap cleanup EXIT
bash "$repo/scripts/mount.sh" "$mnt" >/dev/null
echo first | gfs --master "$m" put - /log
for round in 1 2 3; do
  echo more | gfs --master "$m" append /log >/dev/null   # a lease is held now
  pid="$(cat "$GFS_HOME/run/master.pid")"; cmd="$(tr '\0' ' ' < "/proc/$pid/cmdline")"
  kill -9 "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  setsid $cmd >>"$GFS_HOME/logs/master.log" 2>&1 </dev/null & echo $! >"$GFS_HOME/run/master.pid"; disown
  tries=0
  until echo again | timeout 30 gfs --master "$m" append /log >/dev/null 2>&1; do tries=$((tries + 1)); sleep 0.05; done
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v r="$round" -v n="$tries" 'BEGIN { printf "round %d: an append succeeded %.2f s after the master was started again (%d failed tries)\n", r, b - a, n }'
  sleep 2
done
