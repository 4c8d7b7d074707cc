#!/bin/bash
# Benchmark the kvm-accel datapath against fio on the same null_blk device,
# side by side in one TCG test guest (scripts/vm-run.sh): 4K random reads at
# QD1 and QD32, through the module (the guest side played by kacc-test,
# once waiting for interrupts, once polling its CQ) and with fio (libaio,
# and pvsync2 --hipri). Under TCG only the ratios mean anything, and little
# more than that on a loaded machine.
#
#   scripts/bench-module.sh [SECONDS [POLL_USECS]]
#
# SECONDS per run (default 5); POLL_USECS: the module's poll_usecs
# parameter (default: the module's, 50). Prints the "# bench:" lines.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${NVME_ACCEL_CACHE:-$HOME/.cache/nvme-accel}
seconds=${1:-5}
poll=${2:-}

ko=$(bash "$here/build-module.sh" | tail -n1)
mkdir -p "$cache"
gcc -O2 -g -static -pthread -Wall -Wextra -Werror -I "$repo/include" \
    -o "$cache/kacc-test" "$repo/tests/module/kacc-test.c"
[ -x /usr/bin/fio ] || echo "bench-module: no /usr/bin/fio on the host: module numbers only" >&2
fio_args=()
[ -x /usr/bin/fio ] && fio_args=(--bin /usr/bin/fio)
bash "$here/vm-run.sh" --timeout $((300 + 8 * seconds)) --module "$ko" \
    --file "$cache/kacc-test:/usr/bin/kacc-test" ${fio_args[@]+"${fio_args[@]}"} \
    -- "$repo/tests/module/kacc.sh" bench "$seconds" $poll | grep '^# bench:'
