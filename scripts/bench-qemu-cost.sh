#!/bin/bash
# QEMU-side CPU cost per I/O, counted with callgrind: the same qtest-driven
# workload (4 KiB reads through one queue pair at QD 32, submissions and
# reaps batched, MMIO doorbells, a null-co backend that returns zeroes)
# against nvme-accel and against upstream -device nvme. QEMU runs the qtest
# accelerator, so what is counted is device emulation, DMA and the block
# layer: the instructions a host CPU spends in QEMU per guest I/O.
#
# Two runs per device with different I/O counts; the difference divided by
# the difference in I/Os removes start-up and shut-down.
#
#   scripts/bench-qemu-cost.sh [N1 N2]      (default 2000 6000)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
n1=${1:-2000} n2=${2:-6000} qd=32
build=$(QEMU_EXTRA_TARGETS=tests/qtest/nvme-accel-test \
        bash "$repo/scripts/build-qemu.sh" | tail -n1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

instructions() {
    local dev=$1 n=$2 out=$work/$1.$2.cg
    QTEST_QEMU_BINARY="valgrind --tool=callgrind --callgrind-out-file=$out \
        $build/qemu-system-x86_64" \
        "$build/tests/qtest/nvme-accel-test" --bench "$dev" "$n" "$qd" \
        >/dev/null 2>"$work/err" || { cat "$work/err" >&2; return 1; }
    awk '/^summary:/ { print $2 }' "$out"
}

declare -A per_io
for dev in nvme-accel nvme; do
    a=$(instructions "$dev" "$n1")
    b=$(instructions "$dev" "$n2")
    per_io[$dev]=$(( (b - a) / (n2 - n1) ))
done
printf '%-12s %s\n' device "QEMU instructions per 4K read (QD $qd, null-co)"
for dev in nvme-accel nvme; do
    printf '%-12s %s\n' "$dev" "${per_io[$dev]}"
done
awk -v a="${per_io[nvme-accel]}" -v b="${per_io[nvme]}" \
    'BEGIN { printf "nvme-accel / nvme: %.2f\n", a / b }'
