#!/bin/sh
# Runs inside the TCG test guest (tests/accel/run.sh): load kvm-accel,
# create a mediated device, back it with a loop device, and run the device
# qtests with every nvme-accel's I/O queues in the module.
set -u
n=0 fail=0
ok()    { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $*"; }

for m in vfio vfio_iommu_type1 mdev loop; do
    modprobe $m || notok "modprobe $m"
done
insmod "$VM_EXTRA_MODULES" && ok "insmod kvm-accel" || { notok "insmod kvm-accel"; exit 1; }

types=$(ls -d /sys/class/mdev_bus/*/mdev_supported_types/* 2>/dev/null | head -n1)
if [ -z "$types" ]; then
    notok "kvm-accel registers an mdev type"; exit 1
fi
uuid=2a4e6b3c-0d1f-4e5a-9b8c-7d6e5f4a3b21
echo $uuid > "$types/create" && ok "create mdev $uuid" || { notok "create mdev"; exit 1; }

dd if=/dev/zero of=/tmp/disk.img bs=1M count=16 2>/dev/null
loop=$(losetup -f)
losetup "$loop" /tmp/disk.img && ok "loop device $loop" || { notok "losetup"; exit 1; }

# A null_blk the bdev-dead qtest powers off under the module.
d=/sys/kernel/config/nullb/kaccdead
if modprobe configfs && { grep -q ' /sys/kernel/config ' /proc/mounts ||
                           mount -t configfs none /sys/kernel/config; } &&
   modprobe null_blk nr_devices=0 && mkdir $d &&
   echo 1 > $d/memory_backed && echo 16 > $d/size && echo 1 > $d/power &&
   [ -b /dev/kaccdead ]; then
    ok "configfs null_blk /dev/kaccdead"
    export NVME_ACCEL_TEST_DEAD=/dev/kaccdead
else
    notok "configfs null_blk /dev/kaccdead"
fi

# The write-cache qtest reads which bios carried FUA from tracefs.
t=/sys/kernel/tracing
if { [ -e $t/trace ] || mount -t tracefs none $t; } &&
   [ -e $t/events/block/block_bio_queue/enable ]; then
    ok "tracefs at $t"
    export NVME_ACCEL_TEST_TRACEFS=$t
else
    notok "tracefs at $t"
fi

export NVME_ACCEL_TEST_SYSFSDEV=/sys/bus/mdev/devices/$uuid
export NVME_ACCEL_TEST_BDEV=$loop
QEMU_BIN=$1 QTEST_BIN=$2
export QTEST_QEMU_BINARY=$QEMU_BIN
# The qtests' own TAP, renumbered after ours.
("$QTEST_BIN" --tap -k 2>/tmp/qtest.err; echo "# qtest exit $?") | awk -v base=$n '
    /^ok [0-9]+/     { $2 = $2 + base; print; next }
    /^not ok [0-9]+/ { $3 = $3 + base; print; next }
    /^# /            { print }' > /tmp/qtest.tap
cat /tmp/qtest.tap
n=$((n + $(grep -cE '^(not )?ok ' /tmp/qtest.tap)))
fail=$((fail + $(grep -c '^not ok ' /tmp/qtest.tap)))
tail -n 20 /tmp/qtest.err | sed 's/^/# /'
# A qtest that aborted (g_assert) prints no "not ok" line of its own.
grep -q '^# qtest exit 0$' /tmp/qtest.tap && ok "qtests ran to the end" ||
    notok "qtests ran to the end ($(grep '^# qtest exit' /tmp/qtest.tap))"

# QEMU killed mid-I/O: the module must let go of everything.
"$QTEST_BIN" --bench nvme-accel-kernel 100000000 32 > /dev/null 2>&1 &
bench=$!
sleep 4
qpid=
for p in /proc/[0-9]*; do
    case "$(tr '\0' ' ' < $p/cmdline 2>/dev/null)" in
        *qemu-system-x86_64\ -qtest*) qpid=${p#/proc/}; break ;;
    esac
done
if [ -n "$qpid" ] && kill -9 "$qpid"; then
    ok "kill -9 QEMU with I/O in flight"
else
    notok "kill -9 QEMU with I/O in flight (no QEMU running?)"
fi
kill -9 $bench 2>/dev/null
wait $bench 2>/dev/null
sleep 1

# One benchmark run: the same qtest-driven 4 KiB reads at QD 32 on the same
# loop device, I/O queues in kvm-accel vs in QEMU vs upstream -device nvme.
echo "# benchmark (qtest driver, loop device, 4 KiB reads, QD 32, TCG guest):"
for dev in nvme-accel-kernel nvme-accel nvme; do
    r=$("$QTEST_BIN" --bench $dev 5000 32 2>/dev/null | tail -n1)
    echo "#   $r"
done

# The module writes guest RAM behind the back of every accelerator but KVM:
# under TCG, accel=kernel must refuse and accel=auto stay in QEMU.
tcg() {
    timeout 60 "$QEMU_BIN" -accel tcg -machine q35 -nodefaults -display none \
        -S -qmp stdio -drive file=$loop,if=none,id=d0,format=raw \
        -device nvme-accel,drive=d0,serial=t0,accel=$1,sysfsdev=$NVME_ACCEL_TEST_SYSFSDEV \
        < /tmp/quit.qmp > /tmp/tcg.out 2>&1
}
printf '%s\n' '{"execute": "qmp_capabilities"}' '{"execute": "quit"}' > /tmp/quit.qmp
if ! tcg kernel && grep -q 'accel=kernel needs KVM' /tmp/tcg.out; then
    ok "TCG: accel=kernel refuses with a clear error"
else
    notok "TCG: accel=kernel refuses with a clear error"; sed 's/^/#   /' /tmp/tcg.out
fi
if tcg auto && grep -q 'the accelerator is not KVM, running I/O queues in QEMU' /tmp/tcg.out; then
    ok "TCG: accel=auto runs the I/O queues in QEMU and says so"
else
    notok "TCG: accel=auto runs the I/O queues in QEMU and says so"; sed 's/^/#   /' /tmp/tcg.out
fi

echo 1 > "/sys/bus/mdev/devices/$uuid/remove" && ok "remove mdev" || notok "remove mdev"
losetup -d "$loop"
rmmod kvm_accel && ok "rmmod kvm-accel" || notok "rmmod kvm-accel (pins or references left?)"
[ "$fail" -eq 0 ]
