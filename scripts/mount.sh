#!/usr/bin/env bash
# Start a local cluster (1 master + GFS_CHUNKSERVERS chunkservers on 127.0.0.1)
# and mount it at MOUNTPOINT; `--stop MOUNTPOINT` undoes it all. Idempotent.
#
#   GFS_HOME          state and logs (default ~/.gfs)
#   GFS_MASTER_PORT   master port (default 9000); chunkservers take the ports after it
#   GFS_HTTP_PORT     the master's HTTP port: web status page, /metrics, /healthz, /readyz (default GFS_MASTER_PORT + 80,
#                     so 9080); chunkserver i takes GFS_HTTP_PORT + i, the mount GFS_HTTP_PORT + 50, masters of a
#                     replicated set +100 each like their gRPC ports; "off": no HTTP ports
#   GFS_CHUNK_SIZE    chunk size in bytes (default 64 MiB)
#   GFS_CHUNKSERVERS  number of chunkservers (default 3)
#   GFS_MOUNT_OPTIONS extra -o options for gfs-mount (e.g. allow_other)
#   GFS_SKIP_SETUP=1  do not run scripts/setup.sh (gfs, gfs-master, ... on PATH are used as they are)
#   GFS_INSECURE=1    plaintext daemons, no authentication (benchmarks only: each logs a warning)
#   GFS_MASTERS       masters (default 1). More than 1: a replicated master set (issue 16): a local etcd
#                     (data in $GFS_HOME/etcd, client port GFS_ETCD_PORT, default 2479) and masters m1..mN
#                     on GFS_MASTER_PORT, +100, +200, ... (one active, the others shadows); chunkservers,
#                     the mount and `gfs status` are given all of them.
#
# Security: on first start it makes the cluster's CA in $GFS_HOME/tls/ca and an
# identity per process in $GFS_HOME/tls/NAME (ca.crt, tls.crt, tls.key 0600):
# master, cs1..csN (a chunkserver's name is its server id; a data dir from an
# older run keeps the id it has), mount, and admin, which `gfs` run by root
# finds by itself ($GFS_HOME/tls/admin). Later starts reuse them.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() { echo "usage: $0 MOUNTPOINT | $0 --stop MOUNTPOINT" >&2; exit 2; }
stop=false
case "${1:-}" in
  --stop) stop=true; mountpoint="${2:-}" ;;
  -h|--help) usage ;;
  -*) echo "mount.sh: unknown option '$1'" >&2; usage ;;
  *) mountpoint="${1:-}" ;;
esac
[ -n "$mountpoint" ] || usage

home="${GFS_HOME:-$HOME/.gfs}"
port="${GFS_MASTER_PORT:-9000}"
chunk_size="${GFS_CHUNK_SIZE:-67108864}"
count="${GFS_CHUNKSERVERS:-3}"
master="127.0.0.1:$port"
http_port="${GFS_HTTP_PORT:-$((port + 80))}"
case "$http_port" in off) ;; ''|*[!0-9]*) echo "mount.sh: GFS_HTTP_PORT must be a port number or 'off', got '$http_port'" >&2; exit 2 ;; esac
# httpargs OFFSET: the --http-listen flag of the process whose HTTP port is GFS_HTTP_PORT + OFFSET (none when off).
httpargs() { if [ "$http_port" = off ]; then hargs=(); else hargs=(--http-listen "127.0.0.1:$((http_port + $1))"); fi; }
masters="${GFS_MASTERS:-1}"
case "$masters" in ''|*[!0-9]*|0) echo "mount.sh: GFS_MASTERS must be a positive number, got '$masters'" >&2; exit 2 ;; esac
etcd_port="${GFS_ETCD_PORT:-2479}"
if [ "$masters" -gt 1 ]; then
  # Every master's address: what chunkservers, the mount and gfs are given.
  master="$(for i in $(seq 1 "$masters"); do printf '127.0.0.1:%s,' "$((port + (i - 1) * 100))"; done)"
  master="${master%,}"
fi
insecure="${GFS_INSECURE:-}"
[ "$insecure" = 0 ] && insecure=""
tls="$home/tls"
mkdir -p "$home/logs" "$home/run"

running() { local f="$home/run/$1.pid"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

stop_one() {
  local name="$1" f="$home/run/$1.pid"
  running "$name" || { rm -f "$f"; return 0; }
  local pid; pid="$(cat "$f")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
}

if $stop; then
  if grep -qs " $(realpath -m "$mountpoint") fuse" /proc/mounts; then
    fusermount3 -u "$mountpoint" 2>/dev/null || umount -l "$mountpoint" 2>/dev/null || true
  fi
  stop_one mount
  for i in $(seq "$count" -1 1); do stop_one "chunkserver$i"; done
  for f in "$home"/run/chunkserver*.pid; do [ -e "$f" ] && stop_one "$(basename "$f" .pid)"; done
  stop_one master
  for f in "$home"/run/master*.pid; do [ -e "$f" ] && stop_one "$(basename "$f" .pid)"; done
  stop_one etcd
  echo "stopped the cluster in $home"
  exit 0
fi

# GFS_SKIP_SETUP=1: the launchers on PATH are already the ones to use (tests put their own first).
[ -n "${GFS_SKIP_SETUP:-}" ] || bash "$repo/scripts/setup.sh"

# targs: the flags that make process NAME join the cluster (its identity, or plaintext).
transport() { if [ -n "$insecure" ]; then targs=(--insecure); else targs=(--tls-dir "$tls/$1"); fi; }

# issue DIRNAME ROLE CN: an identity, unless one is there from an earlier start.
issue() {
  [ -f "$tls/$1/tls.key" ] && return 0
  gfs cert issue --ca "$tls/ca" --role "$2" --name "$3" --out "$tls/$1" >/dev/null
}

if [ -z "$insecure" ]; then
  mkdir -p "$tls"; chmod 700 "$tls"
  [ -f "$tls/ca/ca.key" ] || gfs ca init "$tls/ca" >/dev/null
  issue master master master
  # A replicated set: each master's certificate names its id (m1, m2, ...).
  if [ "$masters" -gt 1 ]; then for i in $(seq 1 "$masters"); do issue "m$i" master "m$i"; done; fi
  issue admin admin admin
  issue mount mount mount
  for i in $(seq 1 "$count"); do
    # A chunkserver's certificate names its server id: an existing data dir keeps the one it has.
    id="cs$i"
    [ -s "$home/chunkserver$i/server-id" ] && id="$(tr -d '[:space:]' <"$home/chunkserver$i/server-id")"
    issue "cs$i" chunkserver "$id"
  done
fi

start() {
  local name="$1"; shift
  running "$name" && return 0
  setsid nohup "$@" >>"$home/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$home/run/$name.pid"
}

if [ "$masters" -gt 1 ]; then
  command -v etcd >/dev/null || { echo "mount.sh: GFS_MASTERS=$masters needs etcd (scripts/setup.sh installs Debian's etcd-server)" >&2; exit 1; }
  etcd_url="http://127.0.0.1:$etcd_port"
  start etcd etcd --name gfs --data-dir "$home/etcd" --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
    --initial-cluster "gfs=http://127.0.0.1:$((etcd_port + 1))" --log-level warn --logger zap
  for i in $(seq 1 "$masters"); do
    if [ -n "$insecure" ]; then targs=(--insecure --id "m$i"); else targs=(--tls-dir "$tls/m$i"); fi
    httpargs "$(((i - 1) * 100))"
    start "master$i" gfs-master "${targs[@]}" --listen "127.0.0.1:$((port + (i - 1) * 100))" --data "$home/master$i" \
      --chunk-size "$chunk_size" --etcd "$etcd_url" "${hargs[@]}"
  done
else
  transport master
  httpargs 0
  start master gfs-master "${targs[@]}" --listen "$master" --data "$home/master" --chunk-size "$chunk_size" "${hargs[@]}"
fi
for i in $(seq 1 "$count"); do
  transport "cs$i"
  httpargs "$i"
  start "chunkserver$i" gfs-chunkserver "${targs[@]}" --listen "127.0.0.1:$((port + i))" --master "$master" --data "$home/chunkserver$i" "${hargs[@]}"
done

# Wait until every chunkserver is registered and alive.
transport admin
for _ in $(seq 100); do
  alive="$(gfs --master "$master" "${targs[@]}" --timeout-ms 1000 status --json 2>/dev/null | node -e '
    let s = ""; process.stdin.on("data", (d) => s += d).on("end", () => {
      try { console.log(JSON.parse(s).chunkservers.filter((c) => c.alive).length); } catch { console.log(0); } });' || true)"
  alive="${alive:-0}"
  [ "$alive" -ge "$count" ] && break
  sleep 0.2
done
if [ "${alive:-0}" -lt "$count" ]; then
  echo "mount.sh: only ${alive:-0} of $count chunkservers came up; logs in $home/logs" >&2
  exit 1
fi
gfs --master "$master" "${targs[@]}" status || true  # exits 1 while a server is down: a report here, not a failure
echo "cluster running: master${masters/#[2-9]*/s} $master, state and logs in $home"
[ "$masters" -gt 1 ] && echo "gfs needs every master: gfs --master $master ... (or export GFS_MASTER=$master)"

# The mount: gfs-mount daemonizes once mounted and records its pid; a dead
# mountpoint left by a crash is cleaned by gfs-mount itself.
mkdir -p "$mountpoint" 2>/dev/null || true
if ! running mount; then
  transport mount
  httpargs 50
  gfs-mount "$mountpoint" --master "$master" "${targs[@]}" --pid-file "$home/run/mount.pid" --log-file "$home/logs/mount.log" \
    "${hargs[@]}" ${GFS_MOUNT_OPTIONS:+-o "$GFS_MOUNT_OPTIONS"}
fi
echo "mounted at $mountpoint; stop with: $0 --stop $mountpoint"
if [ "$http_port" != off ]; then
  url() { printf 'http://127.0.0.1:%s' "$((http_port + $1))"; }
  pages="$(for i in $(seq 1 "$masters"); do printf '%s/ ' "$(url "$(((i - 1) * 100))")"; done)"
  echo "web status page: ${pages% } (also /status.json)"
  echo "Prometheus metrics at /metrics (/healthz, /readyz beside them):"
  label="master:      "; [ "$masters" -gt 1 ] && label="masters:     "
  echo "  $label$(for i in $(seq 1 "$masters"); do printf '%s/metrics ' "$(url "$(((i - 1) * 100))")"; done)"
  echo "  chunkservers: $(url 1)/metrics ... $(url "$count")/metrics"
  echo "  mount:        $(url 50)/metrics"
fi
