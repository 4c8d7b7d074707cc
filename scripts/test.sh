#!/bin/bash
# Run every nvme-accel test on this machine, installing what is missing.
#
#   scripts/test.sh            everything
#   scripts/test.sh core qemu  only some stages (deps core fuzz kernel qemu
#                              qemu-asan qemu-fuzz guest module accel kvm
#                              bench)
#
# Each stage's output goes to build/test-logs/<stage>.log; TAP lines
# ("ok N", "not ok N") are counted. Ends with "N passed, N failed, N skipped".
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
logs=$repo/build/test-logs
mkdir -p "$logs"
passed=0 failed=0 skipped=0
failures=()

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(deps core fuzz kernel qemu qemu-asan qemu-fuzz guest module accel kvm bench)
want() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

# Run a command whose output has TAP lines; count them. A non-zero exit
# with no failing TAP line still counts as one failure.
tap() {
    local name=$1 log=$logs/$1.log rc p f s
    shift
    echo "=== $name: $*"
    "$@" > "$log" 2>&1
    rc=$?
    p=$(grep -cE '^ok [0-9]+' "$log" | tr -d ' ' ; true)
    s=$(grep -cE '^ok [0-9]+.*# SKIP' "$log" | tr -d ' ' ; true)
    f=$(grep -cE '^not ok [0-9]+' "$log" | tr -d ' ' ; true)
    p=$((p - s))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    grep -E '^not ok ' "$log" | sed "s/^/  $name: /"
    if [ "$f" -gt 0 ]; then
        failures+=("$name")
        echo "  $name: FAILED (exit $rc) - last lines of $log:"
        tail -n 25 "$log" | sed 's/^/    /'
    fi
    echo "  $name: $p passed, $f failed, $s skipped"
}

# A command that is one test: its exit status decides.
one() {
    local name=$1 log=$logs/$1.log rc
    shift
    echo "=== $name: $*"
    "$@" > "$log" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "  $name: passed"
    else
        failed=$((failed + 1)); failures+=("$name")
        echo "  $name: FAILED (exit $rc) - last lines of $log:"
        tail -n 25 "$log" | sed 's/^/    /'
    fi
}

if want deps; then
    one setup-deps bash "$repo/scripts/setup-deps.sh"
fi

if want core; then
    bdir=$repo/build/core
    if [ ! -f "$bdir/build.ninja" ]; then
        meson setup "$bdir" "$repo" -Db_sanitize=address,undefined \
              -Db_lundef=false -Dfuzz=disabled > "$logs/core-setup.log" 2>&1 ||
            { cat "$logs/core-setup.log"; }
    fi
    one core-build ninja -C "$bdir"
    for t in queue dptr cmd model; do
        tap "core-$t" "$bdir/test-$t" --tap
    done
fi

if want fuzz; then
    fdir=$repo/build/fuzz
    if [ ! -f "$fdir/build.ninja" ]; then
        CC=clang meson setup "$fdir" "$repo" -Dfuzz=enabled \
              -Dfuzz_seconds="${FUZZ_SECONDS:-30}" > "$logs/fuzz-setup.log" 2>&1 ||
            cat "$logs/fuzz-setup.log"
    else
        meson configure "$fdir" -Dfuzz_seconds="${FUZZ_SECONDS:-30}" >/dev/null
    fi
    one fuzz-build ninja -C "$fdir"
    for f in cmd queue; do
        one "fuzz-$f" "$repo/scripts/run-fuzz.sh" "$fdir/fuzz-$f" \
            "$repo/tests/fuzz/corpus-$f" "${FUZZ_SECONDS:-30}"
    done
fi

if want kernel; then
    one kernel-module-build bash "$repo/scripts/build-module.sh" --all
fi

if want qemu; then
    qlog=$logs/qemu-build.log
    if QEMU_EXTRA_TARGETS="tests/qtest/nvme-accel-test tests/qtest/qos-test" \
        bash "$repo/scripts/build-qemu.sh" > "$qlog" 2>&1; then
        passed=$((passed + 1))
        qbuild=$(tail -n 1 "$qlog")
        tap qtest-nvme-accel env QTEST_QEMU_BINARY="$qbuild/qemu-system-x86_64" \
            "$qbuild/tests/qtest/nvme-accel-test" --tap
        # QEMU's own nvme-test.c cases, registered for nvme-accel too.
        qos_paths=$(QTEST_QEMU_BINARY="$qbuild/qemu-system-x86_64" \
                    "$qbuild/tests/qtest/qos-test" -l 2>/dev/null |
                    grep -E '^/.*/nvme-accel/' | sed 's/^/-p /')
        tap qos-test-nvme-accel env QTEST_QEMU_BINARY="$qbuild/qemu-system-x86_64" \
            "$qbuild/tests/qtest/qos-test" --tap $qos_paths
    else
        failed=$((failed + 1)); failures+=(qemu-build)
        echo "=== qemu-build FAILED:"; tail -n 40 "$qlog"
    fi
fi

if want qemu-asan; then
    # The device qtests again, in a QEMU built with ASan and UBSan: no
    # invalid access, no undefined behaviour, no leak across reset, unplug
    # and exit.
    qlog=$logs/qemu-asan-build.log
    if QEMU_VARIANT=asan QEMU_EXTRA_TARGETS=tests/qtest/nvme-accel-test \
        bash "$repo/scripts/build-qemu.sh" > "$qlog" 2>&1; then
        passed=$((passed + 1))
        qbuild=$(tail -n 1 "$qlog")
        tap qtest-nvme-accel-asan env \
            QTEST_QEMU_BINARY="$qbuild/qemu-system-x86_64" \
            ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
            UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            "$qbuild/tests/qtest/nvme-accel-test" --tap
    else
        failed=$((failed + 1)); failures+=(qemu-asan-build)
        echo "=== qemu-asan-build FAILED:"; tail -n 40 "$qlog"
    fi
fi

if want qemu-fuzz; then
    # QEMU's generic-fuzz (tests/qtest/fuzz/) on the device, in a clang
    # build with libFuzzer, ASan and UBSan: each config of
    # patches/qemu/0008 for QEMU_FUZZ_SECONDS from the seed corpus. A crash,
    # sanitizer report, leak or timeout fails; its reproducer stays in
    # build/qemu-fuzz/<config>.corpus.crashes/.
    qlog=$logs/qemu-fuzz-build.log
    if QEMU_VARIANT=fuzz bash "$repo/scripts/build-qemu.sh" > "$qlog" 2>&1; then
        passed=$((passed + 1))
        qbuild=$(tail -n 1 "$qlog")
        for c in nvme-accel nvme-accel-iothread; do
            one "qemu-fuzz-$c" env UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
                "$repo/scripts/run-fuzz.sh" "$qbuild/qemu-fuzz-x86_64" \
                "$repo/tests/fuzz/corpus-generic-nvme-accel" \
                "${QEMU_FUZZ_SECONDS:-90}" "$repo/build/qemu-fuzz/$c.corpus" \
                --fuzz-target="generic-fuzz-$c"
        done
    else
        failed=$((failed + 1)); failures+=(qemu-fuzz-build)
        echo "=== qemu-fuzz-build FAILED:"; tail -n 40 "$qlog"
    fi
fi

if want guest; then
    # Linux's own nvme driver, nvme-cli and fio on an nvme-accel disk, TCG.
    tap linux-guest bash "$repo/tests/guest/run.sh"
fi

if want module; then
    tap module-in-vm bash "$repo/tests/module/run.sh"
fi

if want accel; then
    # The device qtests again, in a TCG guest with kvm-accel loaded: every
    # I/O queue pair runs in the module; queues move to QEMU and back.
    tap accel-in-vm bash "$repo/tests/accel/run.sh"
fi

if want kvm; then
    # Real KVM one level down: a TCG guest loads kvm_amd and runs Linux
    # guests under KVM on nvme-accel disks, in both modes.
    tap kvm-tier bash "$repo/tests/kvm/run.sh"
    # The per-I/O table (one round: the table, and the bar kernel mode
    # must meet, not a timing test), printed here too. The idle run checks
    # the worker's CPU use with nothing to do.
    tap kvm-bench bash "$repo/scripts/bench-kvm.sh" --rounds 1 --seconds 4 \
        --runs idle,1,32 --check
    awk '/^fio libaio on/ { p = 1 } /^(not )?ok [0-9]/ { p = 0 } p' \
        "$logs/kvm-bench.log" | sed 's/^/  /'
fi

if want bench; then
    # Figures, not a pass/fail criterion (beyond the benchmark running).
    one core-bench bash "$repo/scripts/bench-core.sh"
    cat "$logs/core-bench.log" | sed 's/^/  /'
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
    echo "failed stages: ${failures[*]} (logs in $logs)"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
