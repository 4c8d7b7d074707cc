#!/bin/sh
# Runs in L1 for scripts/bench-kvm.sh: one L2 under KVM per disk and round,
# every disk on the same backend — null_blk with poll queues ("nullb") or a
# loop device on a file in RAM ("file") — nvme-accel accel=kernel,
# nvme-accel accel=off (without and with an iothread), upstream nvme
# (ioeventfd=on), virtio-blk (iothread), running tests/kvm/l2-bench.sh.
# Around each fio run L2 names, we read KVM's
# counters (debugfs kvm/), the CPU time of each of L2's QEMU threads
# (/proc/PID/task/*/stat: utime and stime of QEMU's own threads; the vCPU
# threads' total, since tick sampling cannot split their userspace from
# their guest time: exits to userspace say what they do there) and of
# kvm-accel's
# worker (schedstat), and print one line per run:
#   # bench-raw: DEV RUN ROUND IOS IOPS MEAN_US P99_US EXITS MMIO_EXITS
#     IO_EXITS IRQ_INJ QEMU_USER_US QEMU_SYS_US VCPU_US WORKER_US DEV_IRQS
#     WINDOW_US
# (DEV_IRQS: the interrupts kvm-accel sent, kernel mode only, else "-";
# WINDOW_US: how long the counters ran, around the run)
# (counters and times are totals over the run: the host divides by IOS).
# (RUN: a workload of tests/kvm/bench-fio.sh.) First the backend alone:
# fio in L1 on the backend ("backend").
#
#   bench-l1.sh QEMU VMLINUX INITRD ROUNDS SECONDS RUNS DEVS BACKEND
set -u
QEMU_BIN=$1 L2_KERNEL=$2 L2_INITRD=$3 rounds=$4 secs=$5 qds=$6 devs=$7 kind=$8
. /kvm/l1-lib.sh
. /kvm/bench-fio.sh

modprobe kvm_amd && [ -c /dev/kvm ] || bail "no KVM (modprobe kvm_amd)"
modprobe -a vfio vfio_iommu_type1 mdev && insmod "$VM_EXTRA_MODULES" ||
    bail "cannot load kvm-accel"
case $kind in
    nullb)
        # Two poll queues: the module polls its bios where the backend can.
        modprobe null_blk nr_devices=1 queue_mode=2 submit_queues=2 \
            poll_queues=2 gb=16 || bail "modprobe null_blk"
        backend=/dev/nullb0 ;;
    file)
        # Page cache behind a loop device: completions by interrupt, no
        # polling; fio's 1 GiB, written first so that reads find pages.
        mkdir -p /ram && mount -t tmpfs -o size=1100M tmpfs /ram &&
            dd if=/dev/zero of=/ram/disk bs=1M count=1024 2> /dev/null &&
            modprobe loop && losetup /dev/loop0 /ram/disk ||
            bail "a loop device on a file in RAM"
        backend=/dev/loop0 ;;
    *) bail "unknown backend $kind" ;;
esac
types=$(ls -d /sys/class/mdev_bus/*/mdev_supported_types/* | head -n1)
uuid=6b1d6a2e-4b1f-4c1e-9d7a-0000000000b1
mdev=/sys/bus/mdev/devices/$uuid
echo $uuid > "$types/create" || bail "create mdev"
mount -t debugfs none /sys/kernel/debug 2>/dev/null
[ -r /sys/kernel/debug/kvm/exits ] || bail "no KVM counters in debugfs"
ok "KVM, kvm-accel, backend $backend (poll queues: $(cat /sys/block/${backend#/dev/}/queue/io_poll 2>/dev/null))"

# --- the backend alone --------------------------------------------------------

r=1
while [ $r -le "$rounds" ]; do
    for qd in $(echo "$qds" | tr , ' '); do
        [ "$qd" = idle ] && continue
        res=$(bench_fio "$qd" $backend "$secs")
        if [ "$(echo $res | wc -w)" -eq 4 ]; then
            echo "# bench-raw: backend $qd $r $res - - - - - - - - -"
        else
            echo "# bench: fio on the backend failed ($qd, round $r)"
        fi
    done
    r=$((r + 1))
done

# --- L2 -------------------------------------------------------------------------


drive() { echo "file=$backend,if=none,id=$1,format=raw,cache=none,aio=native,file.locking=off"; }
# The interrupts kvm-accel sent (kernel-stats), apart from the guest's own
# timer ticks and IPIs that KVM's irq_injections counts too.
dev_irqs() {
    [ "$d" = kern ] || return 0
    echo "devirqs $(kstat "$(l2_qom_get /machine/peripheral/kern kernel-stats)" irqs)"
}
# Follow L2's cues until it is done, printing a bench-raw line per run.
bench_one() {
    k=0
    # Boot, then per depth 6 s of quiet, the run, fio's start-up; and
    # room for one NVMe timeout (30 s) and reset.
    deadline=$(($(now_s) + 120 + $(echo "$qds" | tr , '\n' | wc -l) * (secs + 60)))
    while [ "$(now_s)" -lt $deadline ] && l2_alive; do
        # Whole lines only: L2 may be half-way through writing the last.
        tr -d '\r' < /tmp/l2.console | grep -E '^@@bench: .*@@$' > /tmp/marks
        total=$(wc -l < /tmp/marks)
        while [ $k -lt "$total" ]; do
            k=$((k + 1))
            line=$(sed -n "${k}p" /tmp/marks)
            case "$line" in
                "@@bench: begin "*)
                    # L2 sleeps 2 s, runs fio for $secs s, sleeps 4 s, then
                    # says "end": the window holds the whole run and none of
                    # the console output (each character is an exit to QEMU).
                    sleep 1
                    l2_snapshot > /tmp/snap0
                    dev_irqs >> /tmp/snap0
                    sleep $((secs + 3)).5
                    l2_snapshot > /tmp/snap1
                    dev_irqs >> /tmp/snap1 ;;
                "@@bench: end "*)
                    set -- $(echo "$line" | sed 's/^@@bench: end //; s/@@$//')
                    if [ $# -ne 7 ]; then
                        echo "# bench: a garbled cue from L2: $line"
                        continue
                    fi
                    awk -v run="$*" -v hz=$L2_HZ '
                        NR == FNR { a[$1] = $2; next }
                        { d[$1] = $2 - a[$1] }
                        END { printf "# bench-raw: %s %d %d %d %d %d %d %d %d %s %d\n", run,
                              d["exits"], d["mmio_exits"], d["io_exits"], d["irq_injections"],
                              d["quser"] * 1e6 / hz, d["qsys"] * 1e6 / hz,
                              d["vcpu"] * 1e6 / hz, d["worker"] / 1000,
                              ("devirqs" in a) ? d["devirqs"] : "-", d["clock"]
                              # Some of the KVM counters of exits (they
                              # overlap: no sum): halts, host interrupts
                              # (kicks), interrupt windows, and emulated
                              # instructions (MMIO doorbells).
                              printf "# bench-exits: %s: %d exits; halt %d, host irq %d, irq window %d, emulated insns %d\n", run,
                                  d["exits"], d["halt_exits"], d["irq_exits"], d["irq_window_exits"], d["insn_emulation"]
                              printf "# bench-threads: %s:", run
                              for (k in d) if (k ~ /^thread:/ && (d[k] || d["threadsys:" substr(k, 8)]))
                                  printf " %s %d/%d ms", substr(k, 8), d[k] * 1000 / hz, d["threadsys:" substr(k, 8)] * 1000 / hz
                              printf "\n" }' /tmp/snap0 /tmp/snap1
                    runs=$((runs + 1)) ;;
                "@@bench: done@@")
                    tr -d '\r' < /tmp/l2.console | grep '^# L2 dmesg: ' | sed "s/^# /# $d: /"
                    return 0 ;;
            esac
        done
        sleep 0.1
    done
    echo "# bench: $d round $r: L2 stopped early ($(tr -d '\r' < /tmp/l2.console | tail -n 1))"
}

L2_MEM=1G
# One L2 per disk and round (a Linux guest boots in seconds under KVM):
# the counters are the disk's alone, and the rounds interleave.
runs=0 r=1
while [ $r -le "$rounds" ]; do
    for d in $(echo "$devs" | tr , ' '); do
        case $d in
            kern) set -- -drive "$(drive dk)" -device nvme-accel,id=kern,drive=dk,serial=kern,accel=kernel,sysfsdev=$mdev ;;
            user) set -- -drive "$(drive du)" -device nvme-accel,drive=du,serial=user,accel=off ;;
            useri) set -- -object iothread,id=io0 -drive "$(drive di)" -device nvme-accel,drive=di,serial=useri,accel=off,iothread=io0 ;;
            upst) set -- -drive "$(drive dn)" -device nvme,drive=dn,serial=upst,ioeventfd=on ;;
            virt) set -- -object iothread,id=io0 -drive "$(drive dv)" -device virtio-blk-pci,drive=dv,serial=virt,iothread=io0 ;;
            *) bail "unknown disk $d" ;;
        esac
        L2_EXTRA_APPEND="nac.round=$r nac.secs=$secs nac.qds=$qds nac.devs=$d"
        l2_start bench -name "bench-$d,debug-threads=on" "$@"
        bench_one
        l2_wait 60
        l2_quit
    done
    r=$((r + 1))
done
want=$((rounds * $(echo "$devs" | tr , '\n' | wc -l) * $(echo "$qds" | tr , '\n' | wc -l)))
if [ $runs -eq $want ]; then
    ok "L2 ran $runs fio runs (disks $devs x runs $qds x $rounds rounds of $secs s)"
else
    notok "L2 ran $runs of $want fio runs (L2: $l2_state)"
    tr -d '\r' < /tmp/l2.console | tail -n 30 | diag
    diag /tmp/l2.err
fi
echo 1 > "$mdev/remove"
rmmod kvm_accel
[ "$kind" = file ] && losetup -d /dev/loop0 && umount /ram
echo "1..$n"
[ "$fail" -eq 0 ]
