#!/bin/sh
# Runs in the TCG test guest (L1) of tests/accel/run-nested.sh: load
# kvm-accel, create a mediated device, back it with a loop device over a
# 128 MiB file in tmpfs, and boot a second Linux guest (L2, TCG inside TCG)
# with the same QEMU and `-device nvme-accel,accel=kernel` on that mdev.
# L2 runs nested-l2.sh (driver, dd round trip, fio with verification);
# afterwards L1 judges L2's console the way vm-run.sh judges L1's, reads
# the module's counters over QMP, checks the backing file, removes the mdev
# and unloads the module.
#
#   nested-l1.sh QEMU VMLINUX INITRD L2-PLAN L2-TIMEOUT [VERBOSE]
#
# VMLINUX is the uncompressed kernel (booted through PVH), INITRD the L2
# initramfs (vm-run.sh --initrd-out), L2-PLAN the number of TAP lines
# nested-l2.sh prints, L2-TIMEOUT the seconds L2's QEMU gets from its start
# to powering off; VERBOSE=1 streams L2's console as "# L2| " lines.
# Prints TAP, "1..N" first: N = $own_plan + L2-PLAN. L2's lines are
# renumbered into ours; one that never came counts as "not ok".
own_plan=12
set -u
QEMU_BIN=$1 KERNEL=$2 INITRD=$3 l2_plan=$4 l2_timeout=$5 verbose=${6:-0}
n=0 fail=0
ok()    { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $*"; }
# L2's console carries vm-run.sh's markers; L1's own console must not, or
# the host would split L1's output at them.
diag()  { sed 's/@@vm-run:/@@L2:/; s/^/#   /' "$@"; }
now()   { cut -d. -f1 /proc/uptime; }

echo "1..$((own_plan + l2_plan))"
echo "# L1: Linux $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs, up $(now) s"

# --- set-up (a failure here ends the run: the missing lines count) -----------

if modprobe -a vfio vfio_iommu_type1 mdev loop > /tmp/out 2>&1; then
    ok "modprobe vfio vfio_iommu_type1 mdev loop"
else
    notok "modprobe vfio vfio_iommu_type1 mdev loop"; diag /tmp/out; exit 1
fi
if insmod "$VM_EXTRA_MODULES" > /tmp/out 2>&1; then
    ok "insmod kvm-accel"
else
    notok "insmod kvm-accel"; diag /tmp/out; exit 1
fi
types=$(ls -d /sys/class/mdev_bus/*/mdev_supported_types/* 2>/dev/null | head -n1)
uuid=5c0ffee0-7e57-4e57-8e57-00000000005e
sysfsdev=/sys/bus/mdev/devices/$uuid
if [ -n "$types" ] && echo $uuid > "$types/create" && [ -d "$sysfsdev" ]; then
    ok "create mdev $uuid ($(basename "$types"))"
else
    notok "create a kvm-accel mdev (type: '${types:-none}')"; exit 1
fi
img=/tmp/nested-disk.img
dd if=/dev/zero of=$img bs=1M count=0 seek=128 2>/dev/null
loop=$(losetup -f)
if losetup "$loop" $img > /tmp/out 2>&1; then
    ok "loop device $loop over a 128 MiB file in tmpfs"
else
    notok "losetup $loop $img"; diag /tmp/out; exit 1
fi

# --- L2 --------------------------------------------------------------------------

# QMP over a pair of FIFOs (chardev "pipe": QEMU reads qmp.in, writes
# qmp.out); -no-shutdown keeps the device, and the module's counters, after
# L2 powers off, until we ask QEMU to quit.
mkfifo /tmp/qmp.in /tmp/qmp.out
cat /tmp/qmp.out > /tmp/qmp.log &
catpid=$!
exec 3<> /tmp/qmp.in             # read-write: never blocks, even without QEMU
qmp() { echo "$1" >&3; }
qmp '{"execute": "qmp_capabilities"}'

# vm-run.sh's kernel command line, plus: L2's vCPUs are threads in L1, which
# is itself two host threads on a shared machine: a vCPU can sit unscheduled
# for many seconds, which the RCU stall detector (21 s) would report as a
# stall (a real hang still shows, as a missing TAP line); and the same
# jitter makes L2's clocksource watchdog reject the TSC, leaving every clock
# read to the emulated ACPI PM timer.
append="console=ttyS0 panic=-1 quiet cryptomgr.notests ipv6.disable=1 init_on_alloc=0"
append="$append rcupdate.rcu_cpu_stall_timeout=300 tsc=reliable"
: > /tmp/l2.console
start=$(now)
"$QEMU_BIN" -accel tcg -machine q35 -m 512M -smp 2 -nodefaults -display none \
    -no-reboot -no-shutdown -serial file:/tmp/l2.console \
    -chardev pipe,id=qmp,path=/tmp/qmp -mon chardev=qmp,mode=control \
    -kernel "$KERNEL" -initrd "$INITRD" -append "$append" \
    -drive file="$loop",if=none,id=d0,format=raw,cache=none,aio=native \
    -device nvme-accel,id=nv0,drive=d0,serial=nested0,accel=kernel,sysfsdev=$sysfsdev \
    < /dev/null > /tmp/l2.err 2>&1 &
qpid=$!

# Running, and not a zombie nobody waited for yet.
alive() { [ -r /proc/$qpid/stat ] && ! grep -q '^[0-9]* ([^)]*) Z' /proc/$qpid/stat; }
shown=0
stream() {      # print L2's new console lines (VERBOSE=1)
    [ "$verbose" = 1 ] || return 0
    lines=$(wc -l < /tmp/l2.console)
    [ "$lines" -gt "$shown" ] || return 0
    sed -n "$((shown + 1)),${lines}p" /tmp/l2.console | tr -d '\r' |
        sed 's/@@vm-run:/@@L2:/; s/^/# L2| /'
    shown=$lines
}
state=timeout
while [ $(($(now) - start)) -lt "$l2_timeout" ]; do
    if grep -q '"event": *"SHUTDOWN"' /tmp/qmp.log; then state=shutdown; break; fi
    if ! alive; then state=exited; break; fi
    stream
    sleep 1
done
stream
l2_s=$(($(now) - start))
stats=
if [ $state = shutdown ]; then
    qmp '{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/nv0", "property": "kernel-stats"}}'
    i=0
    while [ $i -lt 30 ] && ! grep -qE '"bytes-written"|"error"' /tmp/qmp.log; do sleep 1; i=$((i + 1)); done
    stats=$(grep '"bytes-written"' /tmp/qmp.log | tail -n1)
    qmp '{"execute": "quit"}'
    i=0
    while [ $i -lt 30 ] && alive; do sleep 1; i=$((i + 1)); done
fi
alive && { kill -9 $qpid; state="$state, killed"; }
wait $qpid 2>/dev/null          # (no "Killed" from the shell in our TAP)
qrc=$?
exec 3>&-
kill $catpid 2>/dev/null
wait $catpid 2>/dev/null
echo "# L2's QEMU: $state after ${l2_s} s, exit $qrc"

if grep -q 'I/O queues run in kvm-accel' /tmp/l2.err; then
    ok "L2's QEMU: nvme-accel nested0 runs its I/O queues in kvm-accel"
else
    notok "L2's QEMU: nvme-accel nested0 runs its I/O queues in kvm-accel"
fi
if [ -s /tmp/l2.err ]; then
    echo "# L2's QEMU said:"
    diag /tmp/l2.err
fi

# --- L2's verdict, the way vm-run.sh judges a guest ------------------------------

tr -d '\r' < /tmp/l2.console > /tmp/l2.txt
awk '/@@vm-run: script begin@@$/       { in_s = 1; next }
     /^@@vm-run: script exit [0-9]*@@$/ { in_s = 0 }
     { print > (in_s ? "/tmp/l2.script" : "/tmp/l2.kernel") }' /tmp/l2.txt
touch /tmp/l2.script /tmp/l2.kernel
l2_rc=$(sed -n 's/^@@vm-run: script exit \([0-9]*\)@@$/\1/p' /tmp/l2.kernel | tail -n1)
l2_tainted=$(sed -n 's/^@@vm-run: tainted \([0-9]*\)@@$/\1/p' /tmp/l2.kernel | tail -n1)

# L2's TAP, renumbered after ours; its other output as diagnostics.
base=$n
awk -v base=$base '
    /^1\.\.[0-9]+$/          { next }
    /^ok [0-9]+/             { $2 = $2 + base; print; next }
    /^not ok [0-9]+/         { $3 = $3 + base; print; next }
    /^# l1: /                { next }
    /^#/                     { print; next }
    { print "# L2: " $0 }' /tmp/l2.script | sed 's/@@vm-run:/@@L2:/'
seen=$(grep -cE '^(not )?ok [0-9]+' /tmp/l2.script)
l2_fail=$(grep -c '^not ok [0-9]' /tmp/l2.script)
n=$((n + seen)) fail=$((fail + l2_fail))
while [ "$((n - base))" -lt "$l2_plan" ]; do
    notok "L2 check $((n - base + 1)) of $l2_plan never printed (L2's QEMU: $state after ${l2_s} s)"
done

if [ -n "$l2_rc" ] && [ -n "$l2_tainted" ] && { [ "$l2_rc" = 0 ] || [ "$l2_fail" -gt 0 ]; }; then
    ok "L2 booted and ran nested-l2.sh to the end (exit $l2_rc; L2's QEMU ran ${l2_s} s)"
else
    notok "L2 booted and ran nested-l2.sh to the end (exit '${l2_rc:-none}', $state after ${l2_s} s)"
    echo "# last lines of L2's console:"
    tail -n 30 /tmp/l2.txt | diag
fi

bad='Oops|BUG:|kernel BUG|WARNING:|Call Trace|possible (recursive|circular) locking|'\
'lockdep|KASAN:|UBSAN:|KFENCE:|general protection fault|Kernel panic|'\
'INFO: task .* blocked|rcu: INFO|self-detected stall|list_(add|del) corruption'
grep -E "$bad" /tmp/l2.kernel | grep -v '^@@vm-run:' | head -n 10 > /tmp/l2.bad
if [ -z "$l2_tainted" ]; then
    notok "L2 kernel log and taint (L2 never dumped them)"
elif [ -s /tmp/l2.bad ] || [ $((l2_tainted & ~(4096 | 8192))) -ne 0 ]; then
    notok "L2 kernel log has no oops/WARNING/call trace, taint $l2_tainted"
    diag /tmp/l2.bad
else
    ok "L2 kernel log has no oops/WARNING/call trace, taint $l2_tainted"
fi

if [ "$state" = shutdown ] && [ "$qrc" = 0 ]; then
    ok "L2 powered off and its QEMU exited 0"
else
    notok "L2 powered off and its QEMU exited 0 (QEMU: $state, exit $qrc)"
fi

# --- the module's view, the backing file ------------------------------------------

# {"return": {"commands": 1, "reads": 2, ..., "bytes-written": 3, ...}}
kstat() { echo "$stats" | sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p"; }
if [ -n "$stats" ]; then
    echo "# kvm-accel kernel-stats: $(echo "$stats" | sed 's/.*"return": *\({[^}]*}\).*/\1/')"
    bw=$(kstat bytes-written) br=$(kstat bytes-read) err=$(kstat errors)
    dberr=$(kstat doorbell-errors) cmds=$(kstat commands) irqs=$(kstat irqs)
    # dd 32 MiB + fio 16 MiB each way at least.
    min=$((48 << 20))
    if [ "${bw:-0}" -ge $min ] && [ "${br:-0}" -ge $min ] &&
       [ "${err:-x}" = 0 ] && [ "${dberr:-x}" = 0 ] && [ "${irqs:-0}" -gt 0 ]; then
        ok "kvm-accel did L2's I/O: $cmds commands, $((bw >> 20)) MiB written, $((br >> 20)) MiB read, $irqs interrupts, 0 errors"
    else
        notok "kvm-accel did L2's I/O: >= 48 MiB each way, no errors (written ${bw:-?}, read ${br:-?}, errors ${err:-?}, doorbell errors ${dberr:-?}, irqs ${irqs:-?})"
    fi
else
    notok "kvm-accel counters over QMP (qom-get nv0 kernel-stats; QEMU: $state)"
    tail -n 5 /tmp/qmp.log | diag
fi

md5=$(sed -n 's/^# l1: md5 \([0-9]*\) \([0-9]*\) \([0-9a-f]*\)$/\1 \2 \3/p' /tmp/l2.script | tail -n1)
if [ -z "$md5" ]; then
    notok "backing file holds what L2 wrote (L2 sent no '# l1: md5' line)"
else
    set -- $md5
    got=$(dd if=$img bs=1M skip="$1" count="$2" 2>/dev/null | md5sum | cut -d' ' -f1)
    if [ "$got" = "$3" ]; then
        ok "backing file holds L2's $2 MiB at $1 MiB (md5 $got)"
    else
        notok "backing file holds L2's $2 MiB at $1 MiB: md5 $got, L2 wrote $3"
    fi
fi

# --- tear-down -------------------------------------------------------------------

if echo 1 > "$sysfsdev/remove" && [ ! -e "$sysfsdev" ]; then
    ok "remove mdev $uuid"
else
    notok "remove mdev $uuid"
fi
losetup -d "$loop"
if rmmod kvm_accel > /tmp/out 2>&1; then
    ok "rmmod kvm-accel (no pins or references left)"
else
    notok "rmmod kvm-accel (pins or references left?)"; diag /tmp/out
    lsmod | diag
fi
echo "# L1: $fail of $n checks failed; L1 up $(now) s"
[ "$fail" -eq 0 ]
