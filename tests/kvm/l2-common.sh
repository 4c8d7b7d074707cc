# Sourced by the KVM tier's short L2 tests: TAP helpers, the driver, fio
# with verification.
PATH=/usr/sbin:/usr/bin:/bin:/sbin
ctrl=/dev/nvme0 ns=/dev/nvme0n1 out=/tmp/out
n=0 failures=0
ok()    { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $*"; }
diag()  { sed 's/^/#   /' "$@"; }

# nvme_probe: load the driver and wait for the namespace (one TAP line).
nvme_probe() {
    modprobe nvme > "$out" 2>&1
    i=0
    while { [ ! -b $ns ] || [ ! -c $ctrl ]; } && [ $i -lt 150 ]; do
        sleep 0.2; i=$((i + 1))
    done
    if [ -b $ns ] && [ -c $ctrl ]; then
        ok "modprobe nvme: $ns appears ($(blockdev --getsize64 $ns) bytes)"
    else
        notok "modprobe nvme: $ns appears within 30 s"
        cat "$out" | diag
        dmesg | grep -i nvme | diag
        echo "# bail out: no NVMe device"
        exit 1
    fi
}

# fio_verify DESC ARGS...: fio with crc32c verification; exit status,
# per-job errors and verify complaints decide.
fio_verify() {
    desc=$1; shift
    fio --name=t --filename=$ns --direct=1 --verify=crc32c --do_verify=1 \
        --verify_fatal=1 --group_reporting "$@" > "$out" 2>&1
    rc=$?
    totals=$(sed -n 's/.*issued rwts: total=\([0-9]*\),\([0-9]*\),.*/\1 \2/p' "$out" | head -n1)
    r=${totals% *} w=${totals#* }
    verr=$(grep -icE 'verify.*(fail|bad|mismatch)|bad magic|crc32c.*(fail|mismatch)|io_u error' "$out")
    jerr=$(grep -E 'err= *[0-9]' "$out" | grep -cvE 'err= *0[:,]')
    if [ $rc -eq 0 ] && [ "$verr" -eq 0 ] && [ "$jerr" -eq 0 ] &&
       [ -n "$w" ] && [ "$w" -gt 0 ] && [ "$r" -ge "$w" ]; then
        ok "fio $desc: $w writes verified by $r reads"
    else
        notok "fio $desc: exit $rc, $verr verify errors, $jerr jobs with err, writes '$w' reads '$r'"
        grep -iE 'verify|err|bad|fail' "$out" | head -n 20 | diag
    fi
}

# The driver saw nothing go wrong.
nvme_log_clean() {
    if dmesg | grep -iE 'nvme.*(timeout|abort|error|fail|disabl|remov|reset)|I/O error|blk_update_request|Buffer I/O' > "$out"; then
        notok "kernel log has no NVMe timeouts, resets or I/O errors"
        head -n 20 "$out" | diag
    else
        ok "kernel log has no NVMe timeouts, resets or I/O errors"
    fi
}
