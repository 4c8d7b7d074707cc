#!/bin/sh
# Runs in the nested guest (L2) of tests/accel/run-nested.sh: Linux's own
# nvme driver against `-device nvme-accel,accel=kernel` whose I/O queues run
# in kvm-accel inside L1, over a 128 MiB loop device in L1's tmpfs.
#
# Its initramfs comes from scripts/vm-run.sh --initrd-out (busybox, the
# modules nvme and nvme-core, fio and its libraries, vm-run.sh's /init), so
# it runs under busybox sh with /proc, /sys, /dev and /tmp mounted. Prints
# TAP: exactly $plan lines when it runs to the end (nested-l1.sh counts a
# line that never came as a failure); "# l1: ..." lines tell nested-l1.sh
# what to check in the backing file after L2 is gone.
#
# Disk layout (128 MiB): dd round trip at 0-32 MiB, fio at 64-80 MiB.
# Everything here runs 10-25x slower than in L1: keep the work small, and
# keep fio from reading the clock for latency statistics (--gtod_reduce).
plan=6
PATH=/usr/sbin:/usr/bin:/bin:/sbin
ctrl=/dev/nvme0 ns=/dev/nvme0n1
out=/tmp/out
n=0 failures=0
ok()    { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $*"; }
diag()  { sed 's/^/#   /' "$@"; }
t0=$(cut -d. -f1 /proc/uptime)
elapsed() { echo $(($(cut -d. -f1 /proc/uptime) - t0)); }

echo "1..$plan"
echo "# L2: Linux $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs, up ${t0} s at the start of the script"

# --- driver -------------------------------------------------------------------

if modprobe nvme > "$out" 2>&1; then
    ok "modprobe nvme ($(elapsed) s)"
else
    notok "modprobe nvme"; diag "$out"
fi
i=0
while { [ ! -b $ns ] || [ ! -c $ctrl ]; } && [ $i -lt 300 ]; do
    sleep 0.2; i=$((i + 1))
done
if [ -b $ns ] && [ -c $ctrl ]; then
    bytes=$(blockdev --getsize64 $ns)
    queues=$(dmesg | sed -n 's/.*nvme nvme0: \([0-9]*\)\/[0-9]*\/[0-9]* default\/read\/poll queues.*/\1/p' | tail -n1)
    serial=$(cat /sys/class/nvme/nvme0/serial 2>/dev/null | sed 's/[[:space:]]*$//')
    cpus=$(grep -c ^processor /proc/cpuinfo)
    if [ "$bytes" -eq 134217728 ] && [ "$serial" = nested0 ] && [ "${queues:-0}" -ge "$cpus" ]; then
        ok "$ns appears: 128 MiB, serial $serial, $queues I/O queues for $cpus CPUs ($(elapsed) s)"
    else
        notok "$ns: 128 MiB (got $bytes B), serial nested0 (got '$serial'), one I/O queue per CPU (got '${queues:-none}' for $cpus)"
        dmesg | grep -i nvme | diag
    fi
else
    notok "$ctrl and $ns appear within 60 s"
    dmesg | grep -i nvme | diag
    echo "# bail out: no NVMe device"
    exit 1
fi

# --- dd round trip: 32 MiB of random data, O_DIRECT both ways ---------------------

mib=32
# 1 MiB reads: urandom in small reads costs 2-3x more, a minute here.
dd if=/dev/urandom of=/tmp/pattern bs=1M count=$mib iflag=fullblock 2>/dev/null
want=$(md5sum < /tmp/pattern | cut -d' ' -f1)
if dd if=/tmp/pattern of=$ns bs=1M count=$mib oflag=direct conv=fsync > "$out" 2>&1; then
    ok "dd: wrote $mib MiB of random data to $ns (O_DIRECT, fsync) ($(elapsed) s)"
else
    notok "dd: write $mib MiB to $ns"; diag "$out"
fi
rm -f /tmp/pattern
echo "# l1: md5 0 $mib $want"
got=$(dd if=$ns bs=1M count=$mib iflag=direct 2>"$out" | md5sum | cut -d' ' -f1)
if [ "$got" = "$want" ]; then
    ok "dd: read back $mib MiB (O_DIRECT), md5 $got matches ($(elapsed) s)"
else
    notok "dd: read back $mib MiB, md5 $got, wrote $want"; diag "$out"
fi

# --- fio with verification ---------------------------------------------------------

fio --name=nested --filename=$ns --direct=1 --ioengine=libaio --rw=randwrite \
    --bs=4k --iodepth=8 --size=16M --offset=64M --verify=crc32c --do_verify=1 \
    --verify_fatal=1 --gtod_reduce=1 > "$out" 2>&1
rc=$?
totals=$(sed -n 's/.*issued rwts: total=\([0-9]*\),\([0-9]*\),.*/\1 \2/p' "$out" | head -n1)
r=${totals% *} w=${totals#* }
verr=$(grep -icE 'verify.*(fail|bad|mismatch)|bad magic|crc32c.*(fail|mismatch)|io_u error' "$out")
if [ $rc -eq 0 ] && [ "$verr" -eq 0 ] && [ -n "$w" ] && [ "$w" -eq 4096 ] && [ "$r" -ge "$w" ]; then
    ok "fio 4k randwrite+verify 16 MiB QD8 libaio: $w writes verified by $r reads ($(elapsed) s)"
else
    notok "fio 4k randwrite+verify 16 MiB QD8: exit $rc, $verr verify errors, writes '$w' reads '$r'"
    grep -iE 'verify|err|bad|fail' "$out" | head -n 20 | diag
fi

# --- the driver's view ---------------------------------------------------------------

if dmesg | grep -iE 'nvme.*(timeout|abort|error|fail|disabl|remov|reset)|I/O error|blk_update_request|Buffer I/O' > "$out"; then
    notok "L2 kernel log has no NVMe timeouts, resets or I/O errors"
    head -n 20 "$out" | diag
else
    ok "L2 kernel log has no NVMe timeouts, resets or I/O errors"
fi

echo "# L2: $failures of $n checks failed, script took $(elapsed) s"
[ $failures -eq 0 ]
