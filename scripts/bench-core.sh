#!/bin/bash
# Datapath core microbenchmark: ns per 4 KiB read command (fetch, decode,
# PRP walk, CQ post, interrupt decision) and, with callgrind, instructions
# per command. Built optimized (release), without sanitizers.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bdir=$repo/build/bench
if [ ! -f "$bdir/build.ninja" ]; then
    meson setup "$bdir" "$repo" --buildtype=release -Dfuzz=disabled >/dev/null
fi
ninja -C "$bdir" nac-bench >/dev/null
"$bdir/nac-bench" 2000000
n=100000
out=$(mktemp)
trap 'rm -f "$out"' EXIT
valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out" \
    "$bdir/nac-bench" "$n" >/dev/null 2>&1
ir=$(awk '/^summary:/ { print $2 }' "$out")
echo "nac-bench: $((ir / n)) instructions per 4K read (callgrind, $n commands," \
     "guest memory accessors included)"
