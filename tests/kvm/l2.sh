#!/bin/sh
# PID 1's test script in the KVM tier's L2 guests (tests/kvm/run.sh): runs
# the test that L1 named on the kernel command line (nac.test=NAME):
#   suite   tests/guest/linux-nvme.sh, the Linux guest suite
#   accel   tests/kvm/l2-accel.sh: I/O while L1 moves the queues between
#           kvm-accel and QEMU, then I/O until L1 kills QEMU
#   quick   tests/kvm/l2-quick.sh: a short verified round trip (INTx)
#   bench   tests/kvm/l2-bench.sh: fio on four disks for scripts/bench-kvm.sh
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        nac.test=*) test=${arg#nac.test=} ;;
    esac
done
case "${test:-}" in
    suite) exec sh /kvm/linux-nvme.sh ;;
    accel|quick|bench) exec sh /kvm/l2-$test.sh ;;
    *) echo "not ok 1 - unknown test '${test:-}' (nac.test=)"; exit 1 ;;
esac
