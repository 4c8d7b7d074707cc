#!/bin/sh
# Runs in the KVM tier's L1 instead of l1.sh (tests/kvm/run.sh with
# KVM_PROBE=N): boots N L2 guests one after the other running the Linux
# guest suite on QEMU's own -device nvme (no nvme-accel, no kvm-accel), and
# counts how each ended: powered off, reset with nothing on its console (a
# triple fault), timeout. A failure here is the nested-virtualization
# infrastructure's (TCG's emulated SVM, L1's KVM), not the product's.
#
#   probe-l1.sh QEMU VMLINUX INITRD N
set -u
QEMU_BIN=$1 L2_KERNEL=$2 L2_INITRD=$3 runs=$4
. /kvm/l1-lib.sh

echo "# L1: Linux $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs, up $(now_s) s"
modprobe kvm_amd && [ -c /dev/kvm ] || bail "no KVM"
ok "modprobe kvm_amd"
modprobe -a virtio_pci virtio_blk
off_disk=
for d in /sys/block/vd*; do
    [ "$(cat "$d/serial" 2>/dev/null)" = nac-off ] && off_disk=/dev/${d##*/}
done
[ -b "$off_disk" ] || bail "no virtio disk nac-off"

off=0 reset=0 other=0 i=0
while [ $i -lt "$runs" ]; do
    i=$((i + 1))
    l2_start suite -drive "file=$off_disk,if=none,id=d0,format=raw,cache=none,aio=native" \
        -device nvme,drive=d0,serial=guest0
    l2_wait 900
    l2_quit
    why=
    if [ "$l2_state" = reset ]; then
        # A reset with no reboot or panic line on the console: triple fault.
        why=$(grep -m1 -oE 'reboot:.*|Kernel panic.*' /tmp/l2.console ||
              echo "nothing on its console: triple fault")
    fi
    echo "# probe $i: $l2_state after $l2_secs s (L1 up $(now_s) s)${why:+: $why}"
    tail -n 2 /tmp/l2.console | diag
    case "$l2_state" in
        shutdown) off=$((off + 1)) ;;
        reset) reset=$((reset + 1)) ;;
        *) other=$((other + 1)) ;;
    esac
done
echo "# probe: $runs L2 runs on -device nvme: $off powered off, $reset reset (triple fault), $other other"
if [ $off -eq "$runs" ]; then
    ok "every L2 on -device nvme powered off ($off of $runs)"
else
    notok "every L2 on -device nvme powered off ($off of $runs; $reset reset, $other other)"
fi
echo "1..$n"
[ $fail -eq 0 ]
