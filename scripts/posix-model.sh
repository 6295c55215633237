#!/usr/bin/env bash
# Replays one seed of the POSIX model test (test/posix-model.test.ts) on a
# throwaway cluster and mount, printing every call and both sides' answers.
#   scripts/posix-model.sh SEED [OPS]      (default 300 calls)
#   env: POSIX_MODEL_OFF=link,xattr,...    parts switched off (test/harness/posix-model.ts SWITCHES)
#        POSIX_MODEL_USER=UID              run the calls as that user (uid=gid) instead of root
#        POSIX_MODEL_FORCE_SYNC=1          stat through statx(AT_STATX_FORCE_SYNC): the mount's answer, not the kernel's cache
#        POSIX_MODEL_KEEP_GOING=1          note every distinct discrepancy instead of stopping at the first
#        POSIX_MODEL_NO_BUILD=1            skip the build
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 || ! "$1" =~ ^[0-9]+$ ]]; then sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
if [[ "${POSIX_MODEL_NO_BUILD:-0}" != 1 ]]; then pnpm run --silent build >/dev/null; fi
export POSIX_MODEL_SEED="$1" POSIX_MODEL_OPS="${2:-300}" POSIX_MODEL_TRACE=1
exec pnpm exec vitest run test/posix-model.test.ts --silent=false --reporter=verbose
