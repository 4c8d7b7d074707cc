#!/bin/bash
# Module tests: build kvm-accel.ko against the guest kernel's headers, boot
# the TCG test guest with it (scripts/vm-run.sh) and run load-unload.sh.
#
#   tests/module/run.sh
#
# Counts the guest's TAP lines; a failed build, a VM that did not finish,
# a kernel oops/WARNING or an unexpected taint each count as one more
# failure. Last line: "N passed, N failed". Exit status 0 iff none failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
passed=0 failed=0
summary() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }

start=$SECONDS
if ! ko=$(bash "$repo/scripts/build-module.sh" | tail -n1) || [ ! -f "$ko" ]; then
    echo "not ok - build kvm-accel.ko (see the build output above)"
    failed=$((failed + 1))
    summary
    exit 1
fi
build_s=$((SECONDS - start))

out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
vmrc=0
# vm-run.sh prints the guest script's output on stdout and its own verdict
# on stderr; keep both for counting, then show them.
bash "$repo/scripts/vm-run.sh" --module "$ko" -- "$here/load-unload.sh" \
    > "$out" 2> "$err" || vmrc=$?
cat "$err" >&2
cat "$out"

passed=$(grep -c '^ok ' "$out" || true)
failed=$(grep -c '^not ok ' "$out" || true)
# The VM's own verdict: a kernel problem, a timeout or a crash is a failure
# even when every TAP line passed; so is a script that failed without
# saying "not ok" (e.g. it bailed out or died).
if grep -qE '^vm-run: FAIL: (kernel:|timeout|the guest did not)' "$err"; then
    echo "not ok - VM run: $(grep -E '^vm-run: FAIL: ' "$err" | head -n1 | sed 's/^vm-run: FAIL: //')"
    failed=$((failed + 1))
elif [ "$vmrc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    echo "not ok - VM run: load-unload.sh exited $vmrc"
    failed=$((failed + 1))
fi
echo "# module build ${build_s} s, total $((SECONDS - start)) s"
summary
