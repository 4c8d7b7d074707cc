#!/bin/sh
# KVM tier, L2: I/O while L1 moves the I/O queue pairs between kvm-accel
# and QEMU (qom-set kernel false/true), then I/O until L1 kills QEMU with
# SIGKILL. The "@@kvm: ...@@" lines are L1's cues. Everything this script
# judges is printed before the last cue: nothing after it reaches L1.
. /kvm/l2-common.sh
nvme_probe
# Both I/O queues busy (one job per CPU), many commands outstanding.
echo "@@kvm: handoff begin@@"
fio_verify "4k randwrite+verify, 2 jobs x QD32, while L1 moves the queues" \
    --ioengine=libaio --rw=randwrite --bs=4k --iodepth=32 --numjobs=2 \
    --size=32M --offset=0 --offset_increment=32M
echo "@@kvm: handoff end@@"
nvme_log_clean
if dmesg | grep -E "$(printf 'Oops|BUG:|WARNING:|Call Trace|general protection')" > "$out"; then
    notok "kernel log has no oops/WARNING before the kill"; diag "$out"
else
    ok "kernel log has no oops/WARNING before the kill"
fi
echo "# L2: $failures of $n checks failed"
echo "@@kvm: kill me@@"
# QEMU dies under this: reads and writes on both queues, forever.
fio --name=k --filename=$ns --direct=1 --ioengine=libaio --rw=randrw \
    --bs=4k --iodepth=32 --numjobs=2 --size=64M --time_based --runtime=3600 \
    > /dev/null 2>&1
