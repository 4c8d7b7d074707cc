#!/bin/bash
# Self-test of scripts/vm-run.sh: its verdict must fail a failing script, a
# kernel WARNING, an unexpected taint, a guest crash and a hung guest, and
# must not fail a script that merely prints "WARNING:" itself. About 30 s.
#
#   tests/module/runner-selftest.sh
#
# Last line: "N passed, N failed"; exit status 0 iff none failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0 n=0

# expect <want-rc> <stderr-regex> <description> <guest-script> [vm-run opts]
expect() {
    local want=$1 re=$2 desc=$3 body=$4 rc=0
    shift 4
    n=$((n + 1))
    printf '%s\n' "$body" > "$tmp/t$n.sh"
    bash "$repo/scripts/vm-run.sh" "$@" -- "$tmp/t$n.sh" \
        > "$tmp/out" 2> "$tmp/err" || rc=$?
    if [ "$rc" = "$want" ] && grep -qE "$re" "$tmp/err"; then
        echo "ok $n - $desc"
        passed=$((passed + 1))
    else
        echo "not ok $n - $desc (exit $rc, want $want and /$re/)"
        sed 's/^/#   /' "$tmp/err"
        failed=$((failed + 1))
    fi
}

expect 3 'FAIL: script exited 3' "a failing script fails with its exit code" \
    'echo failing on purpose; exit 3'
expect 0 'vm-run: ok' "a script printing WARNING: itself passes" \
    'echo "WARNING: this is the script talking, not the kernel"'
# /dev/kmsg puts a line in the kernel log as a WARN would; writing to
# /proc/sys/kernel/tainted ORs in a taint bit (512 = W, as after a WARN).
expect 1 'FAIL: kernel: .*WARNING: CPU: 0 PID: 1 at selftest' \
    "a kernel WARNING fails a passing script" \
    'echo "WARNING: CPU: 0 PID: 1 at selftest" > /dev/kmsg'
expect 1 'FAIL: kernel: tainted 512' "an unexpected taint fails a passing script" \
    'echo 512 > /proc/sys/kernel/tainted'
expect 125 'FAIL: the guest did not run the script to the end' \
    "a guest crash fails" 'echo c > /proc/sysrq-trigger; sleep 5'
expect 124 'FAIL: timeout after 8 s' "a hung guest times out" \
    'sleep 1000' --timeout 8

echo "1..$n"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
