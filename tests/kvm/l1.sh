#!/bin/sh
# Runs in the KVM tier's L1 (tests/kvm/run.sh): a TCG guest with -cpu max,
# whose emulated SVM with nested paging lets it load kvm_amd and run this
# project's QEMU under real KVM. Every L2 below is a Linux guest under KVM
# using nvme-accel as its disk:
#   1. the Linux guest suite (tests/guest/linux-nvme.sh) with accel=off, on
#      virtio disk "nac-off" (an image file on the host)
#   2. the same suite with accel=kernel: every I/O queue pair in kvm-accel,
#      on virtio disk "nac-kernel"; the module's counters must show the I/O
#   3. hand-off: the queues move between kvm-accel and QEMU (QMP qom-set
#      kernel) every half second under verified I/O, then QEMU is killed
#      with SIGKILL mid-I/O
#   4. INTx: L2 booted with pci=nomsi, accel=kernel asked for: the queues
#      stay in QEMU, interrupts are a level through KVM's irqchip
#   then the mdev goes and kvm-accel unloads: no pins or references left.
#
#   l1.sh QEMU VMLINUX INITRD
#
# Prints TAP ("1..N" last); "# phase: NAME" lines split the output per L2
# for the host. Exit status 0 iff every check passed.
set -u
QEMU_BIN=$1 L2_KERNEL=$2 L2_INITRD=$3
. /kvm/l1-lib.sh

echo "# L1: Linux $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs, up $(now_s) s"

# --- KVM, the module, the disks ---------------------------------------------

if modprobe kvm_amd > /tmp/out 2>&1 && [ -c /dev/kvm ]; then
    ok "modprobe kvm_amd: /dev/kvm ($(dmesg | grep -c 'kvm_amd: Nested Paging enabled') x nested paging)"
else
    notok "modprobe kvm_amd gives /dev/kvm"; diag /tmp/out
    dmesg | grep -iE 'kvm|svm' | tail -n 5 | diag
    bail "no KVM"
fi
if modprobe -a vfio vfio_iommu_type1 mdev > /tmp/out 2>&1 &&
   insmod "$VM_EXTRA_MODULES" >> /tmp/out 2>&1; then
    ok "load vfio, vfio_iommu_type1, mdev and kvm-accel"
else
    notok "load vfio, vfio_iommu_type1, mdev and kvm-accel"; diag /tmp/out
    bail "no kvm-accel"
fi
types=$(ls -d /sys/class/mdev_bus/*/mdev_supported_types/* 2>/dev/null | head -n1)
uuid=6b1d6a2e-4b1f-4c1e-9d7a-0000000000c1
mdev=/sys/bus/mdev/devices/$uuid
if [ -n "$types" ] && echo $uuid > "$types/create" && [ -d "$mdev" ]; then
    ok "create mdev $uuid ($(basename "$types"))"
else
    notok "create a kvm-accel mdev (type '${types:-none}')"
    bail "no mdev"
fi
modprobe -a virtio_pci virtio_blk
i=0
while [ $i -lt 50 ] && [ "$(ls -d /sys/block/vd* 2>/dev/null | wc -l)" -lt 2 ]; do
    sleep 0.1; i=$((i + 1))
done
disk() {        # the virtio disk with this serial
    for d in /sys/block/vd*; do
        [ "$(cat "$d/serial" 2>/dev/null)" = "$1" ] && { echo /dev/${d##*/}; return; }
    done
}
off_disk=$(disk nac-off) kernel_disk=$(disk nac-kernel)
if [ -b "$off_disk" ] && [ -b "$kernel_disk" ]; then
    ok "virtio disks nac-off ($off_disk) and nac-kernel ($kernel_disk)"
else
    notok "virtio disks nac-off and nac-kernel (got '$off_disk' '$kernel_disk')"
    bail "no disks"
fi
# Phases 3 and 4 scribble: a loop device over a file in L1's tmpfs.
modprobe loop
dd if=/dev/zero of=/tmp/scratch.img bs=1M count=0 seek=128 2>/dev/null
scratch=$(losetup -f)
if losetup "$scratch" /tmp/scratch.img; then
    ok "scratch disk: loop device $scratch over 128 MiB in tmpfs"
else
    notok "scratch disk: losetup $scratch"
    bail "no scratch disk"
fi
drive() { echo "file=$1,if=none,id=d0,format=raw,cache=none,aio=native"; }
nvme_dev=nvme-accel,id=nv0,drive=d0,serial=guest0

# The module's counters, over QMP, after L2 powered off.
kernel_stats() {
    stats=$(l2_qom_get /machine/peripheral/nv0 kernel-stats)
    echo "# $1: kvm-accel kernel-stats $(echo "$stats" | sed 's/.*"return": *\({[^}]*}\).*/\1/')"
}

# --- 1. the guest suite, accel=off --------------------------------------------

echo "# phase: off"
l2_start suite -drive "$(drive $off_disk)" -device $nvme_dev,accel=off
l2_wait 900
l2_quit
l2_judge "KVM accel=off" 0
if [ "$l2_state" != timeout ] && ! grep -q 'Aborted\|core dumped' /tmp/l2.err &&
   [ "$l2_rc" = 0 ]; then
    ok "KVM accel=off: QEMU realized nvme-accel under KVM and exited 0"
else
    notok "KVM accel=off: QEMU realized nvme-accel under KVM and exited 0 (exit $l2_rc, $l2_state)"
fi

# --- 2. the guest suite, accel=kernel -----------------------------------------

echo "# phase: kernel"
l2_start suite -drive "$(drive $kernel_disk)" \
    -device $nvme_dev,accel=kernel,sysfsdev=$mdev
l2_wait 900
[ "$l2_state" = shutdown ] && kernel_stats "KVM accel=kernel"
l2_quit
l2_judge "KVM accel=kernel" 0
if grep -q 'I/O queues run in kvm-accel' /tmp/l2.err && [ "$l2_rc" = 0 ]; then
    ok "KVM accel=kernel: QEMU ran the I/O queues in kvm-accel and exited 0"
else
    notok "KVM accel=kernel: QEMU ran the I/O queues in kvm-accel and exited 0 (exit $l2_rc)"
fi
# The suite writes more than 300 MiB and reads more than that back.
min=$((300 << 20))
bw=$(kstat "${stats:-}" bytes-written) br=$(kstat "${stats:-}" bytes-read)
if [ "${bw:-0}" -ge $min ] && [ "${br:-0}" -ge $min ] &&
   [ "$(kstat "${stats:-}" errors)" = 0 ] && [ "$(kstat "${stats:-}" irqs)" -gt 0 ] 2>/dev/null; then
    ok "KVM accel=kernel: kvm-accel did the suite's I/O: $(kstat "$stats" commands) commands, $((bw >> 20)) MiB written, $((br >> 20)) MiB read, $(kstat "$stats" irqs) interrupts, 0 errors"
else
    notok "KVM accel=kernel: kvm-accel did the suite's I/O (>= 300 MiB each way, no errors): ${stats:-no reply}"
fi

# --- 3. queues moved under I/O, then QEMU killed mid-I/O ------------------------

echo "# phase: accel"
l2_start accel -drive "$(drive $scratch)" \
    -device $nvme_dev,accel=kernel,sysfsdev=$mdev
moves=0 moves_err=0
if l2_wait_line '@@kvm: handoff begin@@' 120; then
    want=false
    while ! tr -d '\r' < /tmp/l2.console | grep -q '@@kvm: handoff end@@' &&
          l2_alive; do
        before=$(grep -c '"return"\|"error"' /tmp/l2.qmp)
        l2_qmp "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/machine/peripheral/nv0\", \"property\": \"kernel\", \"value\": $want}}"
        i=0
        while [ $i -lt 100 ] && [ "$(grep -c '"return"\|"error"' /tmp/l2.qmp)" -le "$before" ]; do
            sleep 0.1; i=$((i + 1))
        done
        if grep '"return"\|"error"' /tmp/l2.qmp | tail -n1 | grep -q '"return"'; then
            moves=$((moves + 1))
        else
            moves_err=$((moves_err + 1))
        fi
        [ $want = false ] && want=true || want=false
        sleep 0.5
    done
    # End where the pairs are in the module, for the kill below.
    l2_qmp '{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/nv0", "property": "kernel", "value": true}}'
fi
queues=$(l2_qom_get /machine/peripheral/nv0 kernel-queues | sed -n 's/.*"return": *\([0-9]*\).*/\1/p')
if [ "$moves" -ge 4 ] && [ "$moves_err" -eq 0 ]; then
    ok "hand-off: $moves moves between kvm-accel and QEMU under I/O, none refused"
else
    notok "hand-off: >= 4 moves between kvm-accel and QEMU under I/O ($moves done, $moves_err refused)"
fi
killed=false
if l2_wait_line '@@kvm: kill me@@' 120 && [ "${queues:-0}" -ge 1 ]; then
    c0=$(kstat "$(l2_qom_get /machine/peripheral/nv0 kernel-stats)" commands)
    sleep 3
    c1=$(kstat "$(l2_qom_get /machine/peripheral/nv0 kernel-stats)" commands)
    if [ "${c1:-0}" -gt "${c0:-0}" ] && kill -9 $l2_pid; then
        killed=true
        ok "kill -9 QEMU while kvm-accel runs I/O ($queues queue pairs there; $((c1 - c0)) commands in the last 3 s)"
    else
        notok "kill -9 QEMU while kvm-accel runs I/O (commands ${c0:-?} -> ${c1:-?})"
    fi
else
    notok "kill -9 QEMU while kvm-accel runs I/O (no cue from L2, or no queue pair in the module: '${queues:-}')"
fi
l2_wait 30
l2_quit
$killed && l2_state=shutdown
l2_judge "KVM hand-off" 0 partial

# --- 4. INTx ---------------------------------------------------------------------

echo "# phase: intx"
L2_EXTRA_APPEND=pci=nomsi
l2_start quick -drive "$(drive $scratch)" \
    -device $nvme_dev,accel=kernel,sysfsdev=$mdev
l2_wait 300
queues=$(l2_qom_get /machine/peripheral/nv0 kernel-queues | sed -n 's/.*"return": *\([0-9]*\).*/\1/p')
l2_quit
L2_EXTRA_APPEND=
l2_judge "KVM INTx" 0
if [ "$queues" = 0 ]; then
    ok "KVM INTx: pin-based queues stay in QEMU (kernel-queues 0)"
else
    notok "KVM INTx: pin-based queues stay in QEMU (kernel-queues '$queues')"
fi

# --- tear-down --------------------------------------------------------------------

if echo 1 > "$mdev/remove" && [ ! -e "$mdev" ]; then
    ok "remove mdev $uuid"
else
    notok "remove mdev $uuid"
fi
losetup -d "$scratch"
if rmmod kvm_accel > /tmp/out 2>&1; then
    ok "rmmod kvm-accel (no pins or references left)"
else
    notok "rmmod kvm-accel (pins or references left?)"; diag /tmp/out
fi
echo "# L1: $fail of $n checks failed; L1 up $(now_s) s"
echo "1..$n"
[ "$fail" -eq 0 ]
