#!/bin/bash
# Run a libFuzzer target for a bounded time: seeds come from the repository
# corpus (read only), new inputs go to a scratch corpus beside the binary.
# Any crash or sanitizer report fails the test; the reproducer is kept.
set -euo pipefail
fuzzer=$1 seeds=$2 seconds=$3
work=$(dirname "$fuzzer")/$(basename "$fuzzer").corpus
mkdir -p "$work" "$work.crashes"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
     -print_final_stats=1 -artifact_prefix="$work.crashes/" \
     "$work" "$seeds"
