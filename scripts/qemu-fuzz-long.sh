#!/bin/bash
# A long run of QEMU's generic-fuzz on nvme-accel: both configs of
# patches/qemu/0008 at once (one core each) for SECONDS (default 1800), from
# the seed corpus and the scratch corpora the test.sh stage "qemu-fuzz"
# keeps in build/qemu-fuzz/, which grow. Then a summary per config:
# executions, exec/s, coverage (cov: edges, ft: features), corpus, crashes.
# A crash, sanitizer report, leak or timeout ends that config's run; its
# reproducer is in build/qemu-fuzz/<config>.corpus.crashes/.
#
#   nice -n 10 scripts/qemu-fuzz-long.sh [SECONDS]
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-1800}
out=$repo/build/qemu-fuzz
mkdir -p "$out"
qbuild=$(QEMU_VARIANT=fuzz bash "$repo/scripts/build-qemu.sh" \
             2> "$out/build.log" | tail -n 1) ||
    { tail -n 30 "$out/build.log"; exit 1; }

configs=(nvme-accel nvme-accel-iothread)
pids=()
for c in "${configs[@]}"; do
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$repo/scripts/run-fuzz.sh" "$qbuild/qemu-fuzz-x86_64" \
        "$repo/tests/fuzz/corpus-generic-nvme-accel" "$seconds" \
        "$out/$c.corpus" --fuzz-target="generic-fuzz-$c" \
        > "$out/$c.long.log" 2>&1 &
    pids+=($!)
done
rc=0
for i in "${!configs[@]}"; do
    wait "${pids[$i]}" || rc=1
done

printf '%-22s %10s %7s %6s %7s %7s %s\n' config executions exec/s cov ft \
       corpus crashes
for c in "${configs[@]}"; do
    log=$out/$c.long.log
    last=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1)
    printf '%-22s %10s %7s %6s %7s %7s %s\n' "$c" \
        "$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")" \
        "$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")" \
        "$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")" \
        "$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")" \
        "$(ls "$out/$c.corpus" | wc -l)" \
        "$(ls "$out/$c.corpus.crashes" | wc -l)"
done
exit $rc
