#!/usr/bin/env bash
# POSIX conformance as a measure (issue 19): pjdfstest, the suite FreeBSD,
# ZFS and many FUSE file systems use, run against a throwaway cluster's mount
# and, for comparison, against a local directory. Prints failed/total
# assertions per syscall directory. A measure, not a CI test: it takes minutes,
# and some assertions fail on every Linux file system (chflags is BSD's).
#
#   scripts/posix-conformance.sh [--local-only|--mount-only] [TEST_DIR...]
#     TEST_DIR: pjdfstest's tests/ subdirectories to run (default: all), e.g. link unlink rename
#   PJDFSTEST_SRC   a pjdfstest checkout (default: cloned at PJDFSTEST_COMMIT into ~/.cache/gfs/pjdfstest)
#   LOCAL_DIR       the local directory compared (default: a temp dir under /tmp)
#
# Runs as root (pjdfstest switches uids); the mount is made with allow_other.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
commit="${PJDFSTEST_COMMIT:-85a8aea}"
say() { printf 'posix-conformance: %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { say "run as root (pjdfstest changes uids)"; exit 2; }

which_runs="both"
case "${1:-}" in
  --local-only) which_runs=local; shift ;;
  --mount-only) which_runs=mount; shift ;;
  -h|--help) sed -n 2,13p "$0"; exit 0 ;;
  -*) say "unknown option $1"; exit 2 ;;
esac

# --- pjdfstest, built without autoconf: its config.h for Linux/glibc by hand.
src="${PJDFSTEST_SRC:-$HOME/.cache/gfs/pjdfstest}"
if [ ! -f "$src/pjdfstest.c" ]; then
  say "fetching pjdfstest ($commit) into $src"
  git clone -q https://github.com/pjd/pjdfstest "$src"
  git -C "$src" checkout -q "$commit"
fi
if [ ! -x "$src/pjdfstest" ] || [ "$src/pjdfstest.c" -nt "$src/pjdfstest" ]; then
  cat > "$src/config.h" <<'EOF'
#define HAVE_FCHMODAT 1
#define HAVE_FCHOWNAT 1
#define HAVE_FSTATAT 1
#define HAVE_LINKAT 1
#define HAVE_MKDIRAT 1
#define HAVE_MKFIFOAT 1
#define HAVE_MKNODAT 1
#define HAVE_OPENAT 1
#define HAVE_POSIX_FALLOCATE 1
#define HAVE_RENAMEAT 1
#define HAVE_SYMLINKAT 1
#define HAVE_UNLINKAT 1
#define HAVE_UTIMENSAT 1
#define HAVE_STRUCT_STAT_ST_ATIM 1
#define HAVE_STRUCT_STAT_ST_CTIM 1
#define HAVE_STRUCT_STAT_ST_MTIM 1
#define HAVE_SYS_SYSMACROS_H 1
EOF
  gcc -O1 -DHAVE_CONFIG_H -I"$src" -o "$src/pjdfstest" "$src/pjdfstest.c"
fi
dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || mapfile -t dirs < <(cd "$src/tests" && for d in */; do echo "${d%/}"; done)

# run_suite LABEL DIR: every .t of the chosen directories inside DIR; prints "syscall failed/total".
run_suite() {
  local label="$1" where="$2" fail_total=0 all_total=0
  printf '%-10s %-18s %s\n' "$label" "syscall" "failed/total"
  for d in "${dirs[@]}"; do
    local f=0 n=0
    for t in "$src/tests/$d"/*.t; do
      local work; work="$(mktemp -d "$where/pjd.XXXXXX")"
      local out; out="$(cd "$work" && timeout 300 bash "$t" 2>/dev/null || true)"
      n=$((n + $(grep -c '^ok\|^not ok' <<<"$out" || true)))
      f=$((f + $(grep -c '^not ok' <<<"$out" || true)))
      rm -rf "$work" 2>/dev/null || true
    done
    printf '%-10s %-18s %d/%d\n' "$label" "$d" "$f" "$n"
    fail_total=$((fail_total + f)); all_total=$((all_total + n))
  done
  printf '%-10s %-18s %d/%d\n' "$label" "TOTAL" "$fail_total" "$all_total"
}

if [ "$which_runs" != mount ]; then
  local_dir="${LOCAL_DIR:-$(mktemp -d /tmp/posix-local.XXXXXX)}"
  chmod 755 "$local_dir"
  run_suite local "$local_dir"
  [ -n "${LOCAL_DIR:-}" ] || rm -rf "$local_dir"
fi

if [ "$which_runs" != local ]; then
  home="$(mktemp -d /tmp/posix-gfs.XXXXXX)"
  mnt="$home/mnt"
  mkdir -p "$mnt"
  export GFS_HOME="$home" GFS_MASTER_PORT="${GFS_MASTER_PORT:-19300}" GFS_HTTP_PORT=off GFS_CHUNK_SIZE=1048576 GFS_SKIP_SETUP=1
  export GFS_MOUNT_OPTIONS="allow_other"
  cleanup() { bash "$repo/scripts/mount.sh" --stop "$mnt" >/dev/null 2>&1 || true; rm -rf "$home"; }
  trap cleanup EXIT
  bash "$repo/scripts/mount.sh" "$mnt" >/dev/null
  chmod 777 "$mnt"
  run_suite gfs "$mnt"
fi
