#!/bin/bash
# Accelerated mode end to end: inside a TCG guest booted from Debian's
# kernel (scripts/vm-run.sh), load kvm-accel, create an mdev, and run the
# nvme-accel qtests with the I/O queues handed to the module (the inner
# QEMU runs with -accel qtest and opens the mdev through VFIO), including
# moving queues between the module and QEMU with commands outstanding.
#
#   tests/accel/run.sh [-v]
#
# Last line: "N passed, N failed". Exit status 0 iff none failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
verbose=()
[ "${1:-}" = -v ] && verbose=(-v)
passed=0 failed=0
summary() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }

if ! ko=$(bash "$repo/scripts/build-module.sh" | tail -n1) || [ ! -f "$ko" ]; then
    echo "not ok - build kvm-accel.ko"; failed=1; summary; exit 1
fi
if ! build=$(QEMU_EXTRA_TARGETS=tests/qtest/nvme-accel-test \
             bash "$repo/scripts/build-qemu.sh" | tail -n1); then
    echo "not ok - build QEMU"; failed=1; summary; exit 1
fi
qemu=$build/qemu-system-x86_64
qtest=$build/tests/qtest/nvme-accel-test

out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
vmrc=0
QEMU=$qemu bash "$repo/scripts/vm-run.sh" ${verbose[@]+"${verbose[@]}"} \
    --timeout 900 --mem 3G --smp 2 --module "$ko" --kmod configfs \
    --bin "$qemu" --bin "$qtest" \
    --file "$build/qemu-bundle:$build/qemu-bundle" \
    --file "$build/pc-bios/optionrom:$build/pc-bios/optionrom" \
    --file /usr/share/seabios:/usr/share/seabios \
    -- "$here/qtest-kernel.sh" "$qemu" "$qtest" > "$out" 2> "$err" || vmrc=$?
cat "$err" >&2
cat "$out"
passed=$(grep -cE '^ok ' "$out" || true)
failed=$(grep -c '^not ok ' "$out" || true)
if grep -qE '^vm-run: FAIL: (kernel:|timeout|the guest did not)' "$err"; then
    echo "not ok - VM run: $(grep -E '^vm-run: FAIL: ' "$err" | head -n1 | sed 's/^vm-run: FAIL: //')"
    failed=$((failed + 1))
elif [ "$vmrc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    echo "not ok - VM run: qtest-kernel.sh exited $vmrc"
    failed=$((failed + 1))
fi
summary
