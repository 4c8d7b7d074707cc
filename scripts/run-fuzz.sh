#!/bin/bash
# Run a libFuzzer target for a bounded time: seeds come from the repository
# corpus (read only), new inputs go to a scratch corpus beside the binary.
# Any crash, timeout or sanitizer report fails the test; the reproducer is
# kept.
#
#   run-fuzz.sh FUZZER SEEDS SECONDS [WORK [ARGS...]]
#
# WORK: the scratch corpus (default FUZZER.corpus); reproducers go to
# WORK.crashes/. ARGS go first on the fuzzer's command line (QEMU's
# qemu-fuzz-* wants --fuzz-target=NAME there), then libFuzzer's options;
# FUZZ_EXTRA_ARGS adds more of those (e.g. -jobs=2 for a long run).
set -euo pipefail
fuzzer=$1 seeds=$2 seconds=$3
work=${4:-$(dirname "$fuzzer")/$(basename "$fuzzer").corpus}
shift $(($# < 4 ? $# : 4))
mkdir -p "$work" "$work.crashes"
exec "$fuzzer" "$@" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
     -print_final_stats=1 -artifact_prefix="$work.crashes/" \
     ${FUZZ_EXTRA_ARGS:-} "$work" "$seeds"
