#!/bin/sh
# Runs inside the demo guest (scripts/run.sh, scripts/demo-kvm-host.sh):
# Linux's own nvme driver finds the nvme-accel disk; we identify it, write
# and read back data, run a short fio job (between "@@demo: ...@@" cues for
# the host's measurements) and show the controller's SMART counters.
set -e
say() { printf '\n-- %s\n' "$*"; }

# Kernel messages on the console would split the host's cue lines.
dmesg -n 1
modprobe nvme
i=0
while [ ! -b /dev/nvme0n1 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ -b /dev/nvme0n1 ] || { echo "no /dev/nvme0n1"; dmesg | tail -20; exit 1; }

say "the controller, as Linux's nvme driver sees it"
dmesg | grep -E 'nvme nvme0' | sed 's/^\[[^]]*\] //'
nvme id-ctrl /dev/nvme0 | grep -E '^(vid|sn|mn|fr|mdts|sqes|cqes|nn|oncs|vwc|sgls|oacs) '
nvme id-ns /dev/nvme0n1 | grep -E '^(nsze|lbaf  0)'

say "write 32 MiB, drop the page cache, read it back"
dd if=/dev/urandom of=/tmp/data bs=1M count=32 2>/dev/null
dd if=/tmp/data of=/dev/nvme0n1 bs=1M oflag=direct 2>&1 | tail -1
sync
echo 3 > /proc/sys/vm/drop_caches
dd if=/dev/nvme0n1 of=/tmp/back bs=1M count=32 iflag=direct 2>&1 | tail -1
a=$(md5sum < /tmp/data | cut -d' ' -f1)
b=$(md5sum < /tmp/back | cut -d' ' -f1)
echo "md5 written $a"
echo "md5 read    $b"
[ "$a" = "$b" ] || { echo "DATA MISMATCH"; exit 1; }
echo "data intact"

say "fio: 4 KiB random reads, queue depth 16, 5 seconds"
# Quiet around the run: the host measures the guest's exits and its own CPU
# time in between (every character on the console is an exit to QEMU).
echo "@@demo: fio begin@@"
sleep 2
fio --name=demo --filename=/dev/nvme0n1 --direct=1 --ioengine=libaio \
    --rw=randread --bs=4k --iodepth=16 --size=32M --time_based \
    --runtime=5 --group_reporting > /tmp/fio.out 2>&1
sleep 4
echo "@@demo: fio end $(sed -n 's/.*issued rwts: total=\([0-9]*\),.*/\1/p' /tmp/fio.out | head -n1)@@"
grep -E '^ +(read|lat|clat) *[:(]' /tmp/fio.out | head -4

say "SMART / health log"
nvme smart-log /dev/nvme0 | grep -iE 'data.units|host_(read|write)_commands|media_errors|num_err_log'
