#!/usr/bin/env bash
# Deterministic simulation of the whole cluster (packages/sim, issue 14).
#   scripts/simulate.sh --seeds N [--from S]     run seeds S..S+N-1 (default from 1); exit 1 on any violation
#   scripts/simulate.sh --seed S [--trace]       replay one seed exactly (with --trace: every event)
#   options: --duration-ms MS (client and fault time, default 60000), --faults kind,kind (default: from the seed),
#            --trash-retention-ms MS (issue 20: keep deletes in the trash; default 0)
# Builds first unless SIMULATE_NO_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${SIMULATE_NO_BUILD:-0}" != 1 ]]; then pnpm run --silent build >/dev/null; fi
exec node packages/sim/dist/cli.js "$@"
