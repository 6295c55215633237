#!/usr/bin/env bash
# Set up (idempotent), typecheck everything (sources and tests), run every test.
# Ends with a plain "N passed, N failed" line.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# Tests run the built dist: build even when setup's stamp says the sources are unchanged.
GFS_FORCE_BUILD=1 bash scripts/setup.sh

echo "== typecheck"
pnpm exec tsc -p tsconfig.tests.json

echo "== tests"
# Every process a test starts inherits this mark, so leftovers can be found exactly.
export GFS_TEST_RUN_ID="gfs-test-$$-$RANDOM"
results="$(mktemp)"
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
  if (r.numTotalTests === 0) { console.error("no tests ran"); process.exit(1); }
' "$results" || status=1
rm -f "$results"
# Nothing a test started may outlive the run.
leftovers="$(grep -lsa "GFS_TEST_RUN_ID=$GFS_TEST_RUN_ID" /proc/[0-9]*/environ 2>/dev/null | grep -v "^/proc/$$/" | cut -d/ -f3 || true)"
for pid in $leftovers; do
  [ "$pid" = "$$" ] && continue
  args="$( { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null || true)"
  case "$args" in *dist/main.js*) echo "test.sh: left behind by a test: $pid $args" >&2; kill -9 "$pid" 2>/dev/null || true; status=1 ;; esac
done
exit $status
