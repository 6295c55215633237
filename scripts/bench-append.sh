#!/usr/bin/env bash
# Appends through a mount (as fsbench's append_concurrent): 4 processes each append 1,000 lines of
# 100 bytes to one file opened once with O_APPEND (one write(2) per line), then 4 shells x 250
# `echo >>` (one open per line). Checks that every line is there, whole. Usage: scripts/bench-append.sh MOUNT
set -euo pipefail
f="$1/.bench-append-$$"
: >"$f"
fill=$(printf '%091d' 0 | tr 0 x)
writer() { local p=$1 i; for ((i = 0; i < 1000; i++)); do printf 'P%d-%04d-%s\n' "$p" "$i" "$fill"; done >>"$f"; }
t0=$(date +%s.%N)
for p in 0 1 2 3; do writer "$p" & done
wait
t1=$(date +%s.%N)
good=$(grep -E '^P[0-3]-[0-9]{4}-x{91}$' "$f" | sort -u | wc -l)
awk -v a="$t0" -v b="$t1" -v g="$good" -v s="$(stat -c %s "$f")" 'BEGIN { printf "append_concurrent %.2f s (4 x 1000 lines, one open each): %d intact distinct lines, %d bytes\n", b - a, g, s }'
: >"$f"
t0=$(date +%s.%N)
for p in 0 1 2 3; do (for ((i = 0; i < 250; i++)); do echo "P$p-$i" >>"$f"; done) & done
wait
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v n="$(wc -l <"$f")" 'BEGIN { printf "append_shell %.2f s (4 shells x 250 echo >>): %d lines\n", b - a, n }'
rm -f "$f"
