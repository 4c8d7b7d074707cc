#!/bin/sh
# KVM tier, L2: a short verified round trip, and how the controller
# interrupts (MSI-X, or INTx when L1 booted us with pci=nomsi).
. /kvm/l2-common.sh
nvme_probe
kind=$(awk '$NF ~ /^nvme0q[0-9]+$/ { print $(NF - 2) }' /proc/interrupts | sort -u | paste -sd,)
if grep -qw pci=nomsi /proc/cmdline; then
    case "$kind" in
        *MSI*|"") notok "pci=nomsi: the controller uses a pin interrupt (got '$kind')" ;;
        *) ok "pci=nomsi: the controller uses a pin interrupt ($kind)" ;;
    esac
fi
dd if=/dev/urandom of=/tmp/pattern bs=1M count=16 2>/dev/null
want=$(md5sum < /tmp/pattern | cut -d' ' -f1)
dd if=/tmp/pattern of=$ns bs=1M oflag=direct conv=fsync 2>"$out"
got=$(dd if=$ns bs=1M count=16 iflag=direct 2>>"$out" | md5sum | cut -d' ' -f1)
if [ "$got" = "$want" ]; then
    ok "dd: 16 MiB written and read back (O_DIRECT), md5 $got"
else
    notok "dd: 16 MiB read back as md5 $got, wrote $want"; diag "$out"
fi
fio_verify "4k randwrite+verify, 2 jobs x QD16" --ioengine=libaio \
    --rw=randwrite --bs=4k --iodepth=16 --numjobs=2 --size=8M --offset=32M \
    --offset_increment=8M
nvme_log_clean
echo "# L2: $failures of $n checks failed"
[ $failures -eq 0 ]
