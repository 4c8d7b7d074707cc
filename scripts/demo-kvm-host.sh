#!/bin/sh
# The main job's demo on a KVM host (scripts/run.sh): as root, load
# kvm-accel, create a mediated device over a loop device, boot a Linux
# guest under KVM whose disk is `-device nvme-accel,accel=kernel` on that
# mdev, let it run scripts/demo-guest.sh, and show what happened: the
# guest's own view, the module's counters, and per I/O of the guest's fio
# run the KVM exits, exits to QEMU userspace, interrupts and the CPU time
# of QEMU's threads and of kvm-accel's worker.
#
# On these development machines scripts/run.sh runs it inside the TCG test
# guest, where QEMU's emulated SVM lets kvm_amd run real KVM guests; on a
# host with a working KVM it runs it on the host itself.
#
#   demo-kvm-host.sh QEMU KVM-ACCEL.KO KERNEL INITRD [LIB-DIR]
#
# An empty KVM-ACCEL.KO means $VM_EXTRA_MODULES (scripts/vm-run.sh --module).
#
# KERNEL/INITRD boot the guest (its initramfs runs demo-guest.sh); LIB-DIR
# holds l1-lib.sh (default: tests/kvm next to this script). Exit status 0
# iff the guest did its I/O through the module with intact data.
set -u
QEMU_BIN=$1 ko=${2:-${VM_EXTRA_MODULES:-}} L2_KERNEL=$3 L2_INITRD=$4
lib=${5:-$(dirname "$0")/../tests/kvm}
. "$lib/l1-lib.sh"
say() { printf '\n== %s\n' "$*"; }
die() { echo "demo: $*"; cleanup; exit 1; }
loaded_by_us=false uuid= loop= img=
cleanup() {
    [ -n "$uuid" ] && [ -e /sys/bus/mdev/devices/$uuid ] &&
        echo 1 > /sys/bus/mdev/devices/$uuid/remove
    [ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
    [ -n "$img" ] && rm -f "$img"
    $loaded_by_us && rmmod kvm_accel
}

say "KVM and kvm-accel on $(uname -r)"
[ -c /dev/kvm ] || modprobe kvm_amd 2>/dev/null || modprobe kvm_intel 2>/dev/null
[ -c /dev/kvm ] || die "no /dev/kvm"
dmesg | grep -E 'kvm_amd: Nested|kvm_intel' | sed 's/^\[[^]]*\] //' | head -n 3
modprobe -a vfio vfio_iommu_type1 mdev loop || die "cannot load vfio, mdev, loop"
if [ ! -d /sys/module/kvm_accel ]; then
    insmod "$ko" || die "insmod $ko"
    loaded_by_us=true
fi
dmesg | grep -E 'kvm_accel: loaded' | tail -n 1 | sed 's/^\[[^]]*\] //'
types=$(ls -d /sys/class/mdev_bus/*/mdev_supported_types/* 2>/dev/null | head -n1)
uuid=$(cat /proc/sys/kernel/random/uuid)
echo "$uuid" > "$types/create" || die "create an mdev under $types"
mdev=/sys/bus/mdev/devices/$uuid
img=$(mktemp "${TMPDIR:-/tmp}/nvme-accel-demo.XXXXXX")
dd if=/dev/zero of="$img" bs=1M count=0 seek=256 2>/dev/null
loop=$(losetup -f) && losetup "$loop" "$img" || die "losetup $loop $img"
echo "mdev $uuid ($(basename "$types")) over $loop (256 MiB)"
mount -t debugfs none /sys/kernel/debug 2>/dev/null

say "booting a Linux guest under KVM on nvme-accel, I/O queues in kvm-accel"
l2_start demo -name demo,debug-threads=on \
    -drive file=$loop,if=none,id=d0,format=raw,cache=none,aio=native \
    -device nvme-accel,id=nv0,drive=d0,serial=nvme-accel-demo,accel=kernel,sysfsdev=$mdev
snap=false queues=
if l2_wait_line '@@demo: fio begin@@' 300; then
    sleep 1
    l2_snapshot > /tmp/demo.snap0
    # The guest runs fio for 5 s after 2 s of quiet, then stays quiet 4 s.
    sleep 8.5
    l2_snapshot > /tmp/demo.snap1
    snap=true
    queues=$(l2_qom_get /machine/peripheral/nv0 kernel-queues | sed -n 's/.*"return": *\([0-9]*\).*/\1/p')
fi
l2_wait 600
stats=$(l2_qom_get /machine/peripheral/nv0 kernel-stats)
l2_quit
tr -d '\r' < /tmp/l2.console | awk '
    /@@vm-run: script begin@@$/ { on = 1; next }
    /^@@vm-run: script exit/    { on = 0 }
    on && !/^@@demo:/' | sed 's/^/  | /'
sed 's/^/  QEMU: /' /tmp/l2.err
rc=$(tr -d '\r' < /tmp/l2.console | sed -n 's/^@@vm-run: script exit \([0-9]*\)@@$/\1/p')
case "$l2_state:${rc:-none}" in
    shutdown:0) ;;
    reset:*) echo "  the guest reset itself after $l2_secs s (with nothing on its console: a triple fault)" ;;
    timeout:*) echo "  the guest did not finish in $l2_secs s" ;;
    *) echo "  the guest ended ($l2_state) after $l2_secs s, its script's exit status: ${rc:-none}" ;;
esac

say "kvm-accel's counters for this guest (QMP qom-get kernel-stats)"
echo "$stats" | sed 's/.*"return": *{\([^}]*\)}.*/\1/' | tr ',' '\n' | sed 's/^ */  /'
echo "  I/O queue pairs in the module during fio: ${queues:-?}"

say "per I/O of the guest's fio run (4 KiB random reads, QD 16, 5 s)"
ios=$(tr -d '\r' < /tmp/l2.console | sed -n 's/^@@demo: fio end \([0-9]*\)@@$/\1/p')
if $snap && [ "${ios:-0}" -gt 0 ]; then
    awk -v ios="$ios" -v hz=$L2_HZ '
        NR == FNR { a[$1] = $2; next }
        { d[$1] = $2 - a[$1] }
        END {
            printf "  %d I/Os\n", ios
            printf "  KVM exits                      %8.2f per I/O\n", d["exits"] / ios
            printf "  exits to QEMU userspace        %8.4f per I/O (mmio %d + io %d)\n", (d["mmio_exits"] + d["io_exits"]) / ios, d["mmio_exits"], d["io_exits"]
            printf "  interrupts injected            %8.2f per I/O\n", d["irq_injections"] / ios
            printf "  QEMU main loop and iothreads   %8.1f us user, %.1f us kernel per I/O\n", d["quser"] * 1e6 / hz / ios, d["qsys"] * 1e6 / hz / ios
            printf "  QEMU vCPU threads              %8.1f us per I/O (guest, KVM, userspace exits)\n", d["vcpu"] * 1e6 / hz / ios
            printf "  kvm-accel worker               %8.1f us per I/O\n", d["worker"] / 1000 / ios
        }' /tmp/demo.snap0 /tmp/demo.snap1
else
    echo "  (no measurement: the guest gave no fio cues; its console ends:)"
    tr -d '\r' < /tmp/l2.console | tail -n 15 | sed 's/^/  | /'
fi
echo "  (a guest in a guest on an emulated CPU: compare with scripts/bench-kvm.sh, do not quote)"

cmds=$(kstat "$stats" commands)
cleanup
[ "$rc" = 0 ] && [ "${cmds:-0}" -gt 0 ] && [ "$(kstat "$stats" errors)" = 0 ]
