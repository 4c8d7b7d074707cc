#!/bin/bash
# How reliable is the KVM tier? Runs it N times in a row and sorts every
# run by its signature, so that a failure of the nested-virtualization
# infrastructure (TCG's emulated SVM, L1's KVM) is told apart from a
# failure of the product or of a test:
#
#   pass          every check passed
#   L1 panic      L1's kernel panicked ("Kernel panic" on L1's console);
#                 shutdown_interception in the trace means an L2 triple
#                 fault took L1's KVM down with it
#   L1 reset      L1 triple-faulted (vm-run.sh's -d cpu_reset log)
#   L2 panic      an L2's kernel panicked (its oops is in the log: a bug
#                 of the product or of the emulated CPU under it)
#   L2 reset      an L2 reset itself with no reboot or panic message on its
#                 console: a triple fault (tests/kvm/l1-lib.sh, l2_judge)
#   timeout       L1 did not finish in time
#   failed        anything else: a check of the product failed
#
#   tests/kvm/soak.sh [--bench] N [DIR]
#
# --bench soaks scripts/bench-kvm.sh --rounds 1 --seconds 4 --check (the
# kvm stage's second half) instead of tests/kvm/run.sh. Every run's output
# stays in DIR (default: a new directory under /var/tmp). Environment as
# for the soaked script (VM_TCG_OPTS, QEMU, ...). Prints one line per run
# and a count per signature; exit status 0 iff every run passed.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cmd=(bash "$repo/tests/kvm/run.sh") what=tier
if [ "${1:-}" = --bench ]; then
    cmd=(bash "$repo/scripts/bench-kvm.sh" --rounds 1 --seconds 4 --check)
    what=bench
    shift
fi
runs=${1:?usage: soak.sh [--bench] N [DIR]}
dir=${2:-$(mktemp -d "${TMPDIR:-/var/tmp}/nvme-accel-soak.XXXXXX")}
mkdir -p "$dir"
echo "# soak: $runs runs of the KVM $what, VM_TCG_OPTS='${VM_TCG_OPTS:-}', logs in $dir"

signature() {   # LOG: the run's signature
    # vm-run.sh names L1's whole console log when L1 did not finish.
    console=$(sed -n 's/^vm-run: console log: //p' "$1" | tail -n1)
    # L2's console lines come prefixed with "# L2: " or "#   ".
    if cat "$1" ${console:+"$console"} | grep -v '^#' | grep -q 'Kernel panic'; then
        if grep -q shutdown_interception "$1" ${console:+"$console"}; then
            echo "L1 panic (shutdown_interception)"
        else
            echo "L1 panic"
        fi
    elif grep -q 'triple-faulted' "$1"; then
        echo "L1 reset"
    elif grep -qE '^# (L2: |  ).*Kernel panic' "$1"; then
        echo "L2 panic"
    elif grep -q '^# signature: L2 triple fault' "$1"; then
        echo "L2 reset"
    elif grep -q '^vm-run: FAIL: timeout' "$1"; then
        echo "timeout"
    elif tail -n1 "$1" | grep -qE '^[0-9]+ passed, 0 failed'; then
        echo "pass"
    else
        echo "failed"
    fi
}

for i in $(seq 1 "$runs"); do
    log=$dir/run-$i.log
    t0=$SECONDS
    "${cmd[@]}" > "$log" 2>&1
    sig=$(signature "$log")
    echo "run $i: $sig in $((SECONDS - t0)) s ($(tail -n1 "$log"))"
    echo "$sig" >> "$dir/signatures"
done
echo "# soak: $runs runs of the KVM $what:"
sort "$dir/signatures" | uniq -c | sed 's/^/#   /'
[ "$(grep -cvx pass "$dir/signatures")" -eq 0 ]
