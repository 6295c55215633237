#!/usr/bin/env bash
# Idempotent set-up on a Debian machine with Node and npm: system packages for
# FUSE and etcd, pnpm, dependencies (with their native builds), the build, and the
# gfs, gfs-master, gfs-chunkserver and gfs-mount launchers on PATH.
# Each step is skipped when it is already done.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

say() { printf 'setup: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else say "need root for: $*"; return 1; fi; }

# --- system packages: libfuse2 (fuse-native's prebuild links libfuse.so.2), fuse3 (fusermount3),
# libfuse-dev (headers for building fuse-native from source), etcd-server and etcd-client (etcd, etcdctl: the
# replicated masters' election and in-sync set, issue 16; the tests start their own), chromium (the
# status page is checked in a real headless browser, issue 17), systemd (systemd-analyze verifies the units)
# attr (setfattr/getfattr: the mount's extended attributes are checked with the tools users run, issue 19) and
# python3 (the model-based test makes its system calls, xattrs and utimensat included, through Python's os module).
missing=()
for pkg in libfuse2 fuse3 libfuse-dev etcd-server etcd-client chromium systemd attr python3; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# fuse-native unmounts with `fusermount`; Debian's fuse3 only ships fusermount3.
if ! command -v fusermount >/dev/null && command -v fusermount3 >/dev/null; then
  as_root ln -sf "$(command -v fusermount3)" /usr/local/bin/fusermount
fi

# --- pnpm (corepack does not work here; npm's global install does).
if ! command -v pnpm >/dev/null; then
  say "installing pnpm"
  npm install -g --silent pnpm@12 >/dev/null 2>&1
fi

# --- dependencies, with native builds against the local Node headers (no downloads).
export npm_config_nodedir="${npm_config_nodedir:-/usr}"
stamp="node_modules/.gfs-install-stamp"
lock_sum="$(cat pnpm-lock.yaml package.json packages/*/package.json pnpm-workspace.yaml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  say "installing dependencies"
  CI=true pnpm install --frozen-lockfile --reporter=silent
  echo "$lock_sum" > "$stamp"
fi

# --- build: generate protocol types, compile every package; skipped when nothing the build reads
# changed since the last one (sources, proto, the generator, tsconfigs, package manifests, lock file)
# and its output is there. GFS_FORCE_BUILD=1 builds anyway (scripts/test.sh does: tests run dist).
build_stamp="node_modules/.gfs-build-stamp"
source_sum() {
  { find packages/*/src proto -path packages/common/src/generated -prune -o -type f -print
    ls scripts/gen-proto.mjs scripts/gen-version.mjs tsconfig*.json packages/*/tsconfig.json package.json packages/*/package.json pnpm-lock.yaml
  } | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1
}
built() { for d in packages/*/tsconfig.json; do [ -d "$(dirname "$d")/dist" ] || return 1; done; }
src_sum="$(source_sum)"
if [ -z "${GFS_FORCE_BUILD:-}" ] && [ -f "$build_stamp" ] && [ "$(cat "$build_stamp")" = "$src_sum" ] && built; then
  say "build is up to date (sources unchanged since the last build); not building"
else
  say "building"
  rm -f "$build_stamp"
  pnpm run --silent build
  echo "$src_sum" > "$build_stamp"
fi

# --- launchers on PATH, pointing at this checkout.
# GFS_BIN_DIR: elsewhere (tests of this script).
bindir="${GFS_BIN_DIR:-/usr/local/bin}"
[ -n "${GFS_BIN_DIR:-}" ] || [ -w "$bindir" ] || bindir="$HOME/.local/bin"
mkdir -p "$bindir"
launcher() {
  local name="$1" target="$2" file="$bindir/$1"
  local body="#!/bin/sh
exec node \"$repo/$target\" \"\$@\""
  if [ ! -f "$file" ] || [ "$(cat "$file")" != "$body" ]; then
    printf '%s\n' "$body" > "$file"
    chmod +x "$file"
  fi
}
launcher gfs packages/client-core/dist/cli.js
launcher gfs-master packages/master/dist/main.js
launcher gfs-chunkserver packages/chunkserver/dist/main.js
launcher gfs-mount packages/fuse-mount/dist/main.js
say "ready: gfs, gfs-master, gfs-chunkserver, gfs-mount in $bindir"
