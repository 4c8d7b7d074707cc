#!/bin/sh
# KVM tier, L2 of scripts/bench-kvm.sh: fio on each of the disks L1 gave
# us, all on the same backend in L1, for each workload (bench-fio.sh), in
# interleaved rounds. Around each run, cues for L1, which reads KVM's
# counters and its threads' CPU time:
#   @@bench: begin DEV RUN ROUND@@ ... @@bench: end DEV RUN ROUND IOS IOPS MEAN_US P99_US@@
# with 2 s of quiet before fio and 4 s after (L1 reads its counters then:
# every character on the console is an exit to QEMU).
# Devices: nvme-accel serial "kern" (accel=kernel), "user" (accel=off),
# "useri" (accel=off, iothread), upstream nvme serial "upst", virtio-blk
# serial "virt".
PATH=/usr/sbin:/usr/bin:/bin:/sbin
. /kvm/bench-fio.sh
rounds=3 secs=6 qds="1 32" devs="kern user upst virt"
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        nac.rounds=*) rounds=${arg#*=} ;;
        nac.round=*) first=${arg#*=} rounds=${arg#*=} ;;
        nac.secs=*) secs=${arg#*=} ;;
        nac.qds=*) qds=$(echo "${arg#*=}" | tr , ' ') ;;
        nac.devs=*) devs=$(echo "${arg#*=}" | tr , ' ') ;;
    esac
done
# Kernel messages on the console would split our cue lines.
dmesg -n 1
modprobe -a nvme virtio_blk 2>/dev/null
dev_of() {      # the block device whose controller or disk has this serial
    for c in /sys/class/nvme/nvme*; do
        [ "$(sed 's/[[:space:]]*$//' "$c/serial" 2>/dev/null)" = "$1" ] &&
            { echo /dev/${c##*/}n1; return; }
    done
    for d in /sys/block/vd*; do
        [ "$(cat "$d/serial" 2>/dev/null)" = "$1" ] && { echo /dev/${d##*/}; return; }
    done
}
i=0
while [ $i -lt 150 ]; do
    all=1
    for s in $devs; do [ -b "$(dev_of $s)" ] || all=0; done
    [ $all = 1 ] && break
    sleep 0.2; i=$((i + 1))
done
for s in $devs; do
    echo "# bench: $s is $(dev_of $s)"
done
r=${first:-1}
while [ $r -le "$rounds" ]; do
    for qd in $qds; do
        for s in $devs; do
            dev=$(dev_of $s)
            [ -b "$dev" ] || { echo "# bench: no device for $s"; continue; }
            # Quiet before and after fio: L1 measures in between.
            echo "@@bench: begin $s $qd $r@@"
            sleep 2
            res=$(bench_fio "$qd" "$dev" "$secs")
            sleep 4
            # A failed fio makes a short cue, which L1 reports and skips.
            echo "@@bench: end $s $qd $r $res@@"
        done
    done
    r=$((r + 1))
done
# What the drivers said (timeouts, resets), now that the cues are out.
dmesg | grep -iE 'nvme|virtio|timeout|reset|abort|error' | grep -vE 'default/read/poll|logical blocks|pci function' |
    sed 's/^/# L2 dmesg: /' | tail -n 20
echo "@@bench: done@@"
