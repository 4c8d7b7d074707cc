#!/bin/sh
# Guest side of tests/guest/run.sh: Linux's own nvme driver, nvme-cli, fio
# with verification, controller resets under I/O, a driver rebind and an
# ext4 round trip against one `-device nvme-accel` (serial "guest0") with a
# 256 MiB raw disk behind it.
#
# Runs under busybox sh in the vm-run.sh guest, which must carry the kernel
# modules nvme and ext4 and the programs nvme, fio, sfdisk, mkfs.ext4,
# e2fsck, blkdiscard and fstrim (vm-run.sh --bin). Prints TAP ("ok N - ...",
# "not ok N - ...", "# diagnostics"); lines "# host: ..." tell run.sh what
# to check in the image after the VM is gone. Exit status 0 iff every check
# passed.
#
# Disk layout (512-byte LBAs, 524288 of them):
#   fio jobs       raw device, 0-224 MiB (disjoint ranges), then 0-96 MiB
#                  across the resets, before partitioning
#   nvme0n1p1      sectors 2048..329727 (160 MiB): ext4 round trip
#   nvme0n1p2      sectors 329728..end: discard / write-zeroes checks

PATH=/usr/sbin:/usr/bin:/bin:/sbin
ctrl=/dev/nvme0 ns=/dev/nvme0n1 blk=nvme0n1
out=/tmp/out
n=0 failures=0

ok()     { n=$((n + 1)); echo "ok $n - $*"; }
notok()  { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $*"; }
skip()   { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
diag()   { sed 's/^/#   /' "$@"; }
# check DESC CMD...: one TAP line from a command's exit status; its output
# is shown only on failure.
check() {
    desc=$1; shift
    if "$@" > "$out" 2>&1; then
        ok "$desc"
    else
        notok "$desc (exit $?: $*)"
        tail -n 20 "$out" | diag
        return 1
    fi
}
# wait_for TEST-ARGS...: poll a test(1) condition for up to 30 s.
wait_for() {
    i=0
    while ! test "$@"; do
        [ $i -ge 150 ] && return 1
        sleep 0.2
        i=$((i + 1))
    done
}
# Field of "name : value" output (nvme-cli's normal format), trimmed.
field() { sed -n "s/^$1[[:space:]]*:[[:space:]]*//p" "$2" | sed 's/[[:space:]]*$//' | head -n1; }
# Integer of a smart-log JSON key ("key":"123" or "key":123).
smart() { sed -n "s/.*\"$1\":\"\{0,1\}\([0-9]*\).*/\1/p" "$2" | head -n1; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
# busybox sh runs its own applets before anything on PATH, and busybox has
# a blkdiscard (without -z) and an fstrim: name the copied programs in full.
prog() {
    for d in /usr/sbin /usr/bin /sbin; do
        [ -x "$d/$1" ] && [ ! -L "$d/$1" ] && { echo "$d/$1"; return; }
    done
    echo "/missing/$1"
}
blkdiscard=$(prog blkdiscard) fstrim=$(prog fstrim)

echo "# nvme-accel under Linux $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs"

# --- driver ------------------------------------------------------------------

check "modprobe nvme" modprobe nvme
if wait_for -b $ns && wait_for -c $ctrl; then
    ok "$ctrl and $ns appear"
else
    notok "$ctrl and $ns appear within 30 s"
    dmesg | grep -i nvme | diag
    echo "# bail out: no NVMe device"
    exit 1
fi

queues=$(dmesg | sed -n 's/.*nvme nvme0: \([0-9]*\)\/[0-9]*\/[0-9]* default\/read\/poll queues.*/\1/p' | tail -n1)
hwq=$(find /sys/block/$blk/mq -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)
cpus=$(grep -c ^processor /proc/cpuinfo)
if [ -n "$queues" ] && [ "$queues" -ge 2 ] && [ "$queues" -ge "$cpus" ] && [ "$hwq" -eq "$queues" ]; then
    ok "driver created $queues I/O queues ($hwq blk-mq hw queues, $cpus CPUs)"
else
    notok "driver created >= 2 I/O queues, one per CPU (dmesg: '${queues:-none}', blk-mq: $hwq, CPUs: $cpus)"
    dmesg | grep -i nvme | diag
fi

# --- nvme-cli: admin commands --------------------------------------------------

idctrl=/tmp/id-ctrl
if nvme id-ctrl $ctrl > $idctrl 2>&1; then
    mn=$(field mn $idctrl) sn=$(field sn $idctrl)
    case "$mn" in
        *nvme-accel*|*"NVMe Accel"*) mn_ok=true ;;
        *) mn_ok=false ;;
    esac
    if $mn_ok && [ "$sn" = guest0 ]; then
        ok "nvme id-ctrl: mn '$mn', sn '$sn'"
    else
        notok "nvme id-ctrl: mn '$mn' should name nvme-accel, sn '$sn' should be guest0"
    fi
else
    notok "nvme id-ctrl $ctrl"
    diag $idctrl
fi
oncs=$(field oncs $idctrl) vwc=$(field vwc $idctrl)
oncs=$((${oncs:-0})) vwc=$((${vwc:-0}))

idns=/tmp/id-ns
if nvme id-ns $ns > $idns 2>&1; then
    nsze=$(($(field nsze $idns))) ncap=$(($(field ncap $idns)))
    flbas=$(($(field flbas $idns)))
    lbads=$(sed -n "s/^lbaf *$((flbas & 15)) *:.*lbads:\([0-9]*\).*/\1/p" $idns)
    bytes=$(blockdev --getsize64 $ns)
    if [ -n "$lbads" ] && [ $((nsze << lbads)) -eq 268435456 ] &&
       [ "$ncap" -eq "$nsze" ] && [ "$bytes" -eq 268435456 ]; then
        ok "nvme id-ns: nsze $nsze x $((1 << lbads)) B = 256 MiB, as the block device"
    else
        notok "nvme id-ns: nsze $nsze ncap $ncap lbads '$lbads' should give 256 MiB (block device: $bytes B)"
        diag $idns
    fi
else
    notok "nvme id-ns $ns"
    diag $idns
fi

nq=$(nvme get-feature $ctrl -f 7 2>&1)
v=$(echo "$nq" | sed -n 's/.*Current value: *\(0x[0-9a-fA-F]*\).*/\1/p')
if [ -n "$v" ]; then
    nsqa=$(( (v & 0xffff) + 1 )) ncqa=$(( ((v >> 16) & 0xffff) + 1 ))
    if [ "$nsqa" -ge "${queues:-2}" ] && [ "$ncqa" -ge "${queues:-2}" ]; then
        ok "nvme get-feature -f 7: $nsqa SQs / $ncqa CQs allocated (driver uses ${queues:-?})"
    else
        notok "nvme get-feature -f 7: $nsqa SQs / $ncqa CQs, fewer than the ${queues:-?} the driver uses"
    fi
else
    notok "nvme get-feature -f 7 (number of queues)"
    echo "$nq" | diag
fi

wc_feat=$(nvme get-feature $ctrl -f 6 2>&1)
v=$(echo "$wc_feat" | sed -n 's/.*Current value: *\(0x[0-9a-fA-F]*\).*/\1/p')
sys_wc=$(cat /sys/block/$blk/queue/write_cache 2>/dev/null)
if [ -z "$v" ]; then
    notok "nvme get-feature -f 6 (volatile write cache)"
    echo "$wc_feat" | diag
elif [ $((v & 1)) -eq 1 ] && [ $((vwc & 1)) -eq 1 ] && [ "$sys_wc" = "write back" ]; then
    ok "nvme get-feature -f 6: write cache on (vwc $vwc, block layer: $sys_wc)"
elif [ $((v & 1)) -eq 0 ] && [ "$sys_wc" = "write through" ]; then
    ok "nvme get-feature -f 6: write cache off (vwc $vwc, block layer: $sys_wc)"
else
    notok "nvme get-feature -f 6: value $v, vwc $vwc and block layer '$sys_wc' disagree"
fi

check "nvme flush $ns" nvme flush $ns

smart0=/tmp/smart0
nvme smart-log $ctrl -o json > $smart0 2>&1 ||
    { notok "nvme smart-log $ctrl (before I/O)"; diag $smart0; }

# --- fio with verification -------------------------------------------------------

# run_fio DESC ARGS...: fio's exit status, its per-job "err=" and any verify
# complaint decide; every written block must have been read back.
run_fio() {
    desc=$1; shift
    fio --name=t --filename=$ns --direct=1 --verify=crc32c --do_verify=1 \
        --verify_fatal=1 --group_reporting "$@" > "$out" 2>&1
    rc=$?
    totals=$(sed -n 's/.*issued rwts: total=\([0-9]*\),\([0-9]*\),.*/\1 \2/p' "$out" | head -n1)
    r=${totals% *} w=${totals#* }
    verr=$(grep -icE 'verify.*(fail|bad|mismatch)|bad magic|crc32c.*(fail|mismatch)|io_u error' "$out")
    jerr=$(grep -E 'err= *[0-9]' "$out" | grep -cvE 'err= *0[:,]')
    iops=$(sed -n 's/^ *write: IOPS=\([^,]*\),.*/\1/p' "$out" | head -n1)
    if [ $rc -eq 0 ] && [ "$verr" -eq 0 ] && [ "$jerr" -eq 0 ] &&
       [ -n "$w" ] && [ "$w" -gt 0 ] && [ "$r" -ge "$w" ]; then
        ok "fio $desc: $w writes verified by $r reads, write IOPS $iops"
    else
        notok "fio $desc: exit $rc, $verr verify errors, $jerr jobs with err, writes '$w' reads '$r'"
        grep -iE 'verify|err|bad|fail' "$out" | head -n 20 | diag
    fi
}

# Interrupts per I/O queue ("nvme0qN COUNT"), summed over the CPUs.
queue_irqs() {
    awk '$NF ~ /^nvme0q[1-9][0-9]*$/ {
        s = 0
        for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i
        print $NF, s }' /proc/interrupts
}
queue_irqs > /tmp/irq0
# One job per CPU (split), so both of the driver's I/O queues carry I/O.
run_fio "4k randwrite+verify, 2 jobs x QD16 (one per CPU), libaio" \
    --ioengine=libaio --rw=randwrite --bs=4k --iodepth=16 --numjobs=2 \
    --size=16M --offset=0 --offset_increment=16M \
    --cpus_allowed=0-$((cpus - 1)) --cpus_allowed_policy=split
queue_irqs > /tmp/irq1
# Every I/O queue completed commands and raised its own MSI-X vector.
idle=$(awk 'NR == FNR { before[$1] = $2; next }
            $2 <= before[$1] { printf "%s ", $1 }' /tmp/irq0 /tmp/irq1)
nirq=$(wc -l < /tmp/irq1)
if [ "$nirq" -ge 2 ] && [ "$nirq" -eq "${queues:-0}" ] && [ -z "$idle" ]; then
    ok "every I/O queue interrupted during the 2-job run: $(paste -sd' ' /tmp/irq1)"
else
    notok "every I/O queue interrupts during the 2-job run ($nirq queue vectors, idle: ${idle:-none})"
    grep nvme /proc/interrupts | diag
fi
run_fio "64k seq write+verify, QD8, libaio" \
    --ioengine=libaio --rw=write --bs=64k --iodepth=8 --size=48M --offset=32M
run_fio "1M seq write+verify, QD4, libaio (split at MDTS)" \
    --ioengine=libaio --rw=write --bs=1M --iodepth=4 --size=64M --offset=80M
if [ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 2)" = 0 ]; then
    run_fio "4k randwrite+verify, QD32, io_uring" \
        --ioengine=io_uring --rw=randwrite --bs=4k --iodepth=32 --size=16M --offset=144M
else
    skip "fio 4k randwrite+verify, io_uring" "io_uring disabled in this kernel"
fi
# Mixed sizes in one queue: the verify header carries each block's offset
# and length, so misplaced or truncated transfers show.
run_fio "4k-256k random sizes randwrite+verify, QD16, libaio" \
    --ioengine=libaio --rw=randwrite --bsrange=4k-256k --iodepth=16 --size=64M --offset=160M

# --- interrupt masking under I/O ---------------------------------------------------

# Linux masks an MSI-X vector while it rewrites its message (an affinity
# change), and shuts a CPU's managed queue vector down when the CPU goes
# offline: under KVM each is a route update or an irqfd unbound and bound
# again. No completion may be lost meanwhile, and the admin vector's
# interrupts must follow its new affinity (a stale route would deliver them
# to the old CPU, where Linux no longer handles that vector).
admin_irq=$(awk '$NF == "nvme0q0" { sub(":", "", $1); print $1 }' /proc/interrupts)
cpu1=/sys/devices/system/cpu/cpu1/online
# "IRQ CPU": the vector's interrupts on that CPU.
irq_on() { awk -v q="$1:" -v c=$(($2 + 2)) '$1 == q { print $c }' /proc/interrupts; }
if [ "$cpus" -ge 2 ] && [ -w $cpu1 ] && [ -n "$admin_irq" ]; then
    fio --name=t --filename=$ns --direct=1 --verify=crc32c --do_verify=1 \
        --verify_fatal=1 --group_reporting --ioengine=libaio --rw=randwrite \
        --bs=4k --iodepth=16 --numjobs=2 --size=16M --offset=0 \
        --offset_increment=16M > /tmp/fio-mask 2>&1 &
    fiopid=$!
    rounds=0 moved=0 admin_err=0
    while kill -0 $fiopid 2>/dev/null; do
        for c in 0 1; do
            echo $((1 << c)) > /proc/irq/$admin_irq/smp_affinity 2>/dev/null
            # x86 moves an MSI when its next interrupt arrives on the old
            # CPU: the second command's completion must land on the new.
            nvme get-feature $ctrl -f 7 > /dev/null 2>&1 || admin_err=$((admin_err + 1))
            a0=$(irq_on "$admin_irq" $c)
            nvme get-feature $ctrl -f 7 > /dev/null 2>&1 || admin_err=$((admin_err + 1))
            [ "$(irq_on "$admin_irq" $c)" -gt "$a0" ] && moved=$((moved + 1))
        done
        echo 0 > $cpu1
        nvme get-feature $ctrl -f 7 > /dev/null 2>&1 || admin_err=$((admin_err + 1))
        echo 1 > $cpu1
        rounds=$((rounds + 1))
    done
    wait $fiopid
    rc=$?
    echo 3 > /proc/irq/$admin_irq/smp_affinity 2>/dev/null
    totals=$(sed -n 's/.*issued rwts: total=\([0-9]*\),\([0-9]*\),.*/\1 \2/p' /tmp/fio-mask | head -n1)
    r=${totals% *} w=${totals#* }
    verr=$(grep -icE 'verify.*(fail|bad|mismatch)|bad magic|crc32c.*(fail|mismatch)|io_u error' /tmp/fio-mask)
    if [ $rc -eq 0 ] && [ "$verr" -eq 0 ] && [ "${w:-0}" -gt 0 ] &&
       [ "${r:-0}" -ge "$w" ] && [ "$rounds" -ge 1 ] && [ $admin_err -eq 0 ] &&
       [ "$(cat $cpu1)" = 1 ]; then
        ok "fio 4k randwrite+verify while vectors are masked and moved ($rounds rounds of CPU 1 offline/online and admin vector affinity 0 <-> 1): $w writes verified"
    else
        notok "fio randwrite+verify while vectors are masked: exit $rc, $verr verify errors, writes '$w' reads '$r', $rounds rounds, $admin_err admin errors, cpu1 online $(cat $cpu1)"
        grep -iE 'verify|err|bad|fail' /tmp/fio-mask | head -n 20 | diag
    fi
    if [ "$moved" -eq $((2 * rounds)) ]; then
        ok "admin vector's interrupts follow its affinity ($moved of $((2 * rounds)) moves)"
    else
        notok "admin vector's interrupts follow its affinity: $moved of $((2 * rounds)) moves landed on the new CPU"
        grep -E 'CPU|nvme' /proc/interrupts | diag
    fi
else
    skip "interrupt masking under I/O" "needs 2 CPUs, CPU hotplug and MSI-X"
    skip "admin vector's interrupts follow its affinity" "needs 2 CPUs, CPU hotplug and MSI-X"
fi

smart1=/tmp/smart1
if nvme smart-log $ctrl -o json > $smart1 2>&1; then
    dur0=$(smart data_units_read $smart0) duw0=$(smart data_units_written $smart0)
    dur1=$(smart data_units_read $smart1) duw1=$(smart data_units_written $smart1)
    hw0=$(smart host_write_commands $smart0) hw1=$(smart host_write_commands $smart1)
    # fio wrote 2 x 16 + 48 + 64 + 16 + 64 = 224 MiB; a data unit is
    # 1000 x 512 B, so at least 234881024 / 512000 = 458 more units.
    if [ -n "$duw1" ] && [ "${dur1:-0}" -gt "${dur0:-0}" ] &&
       [ "$duw1" -ge $((${duw0:-0} + 458)) ] && [ "${hw1:-0}" -gt "${hw0:-0}" ]; then
        ok "nvme smart-log: data units read $dur0 -> $dur1, written $duw0 -> $duw1, write commands $hw0 -> $hw1"
    else
        notok "nvme smart-log after 224 MiB of writes: data units read ${dur0:-?} -> ${dur1:-?}, written ${duw0:-?} -> ${duw1:-?}, write commands ${hw0:-?} -> ${hw1:-?}"
        diag $smart1
    fi
else
    notok "nvme smart-log $ctrl"
    diag $smart1
fi

# --- controller resets and driver rebind -------------------------------------------

# Each (re)initialisation of the controller prints the queue line again.
inits() { dmesg | grep -c 'nvme nvme0: [0-9]*/[0-9]*/[0-9]* default/read/poll queues'; }
n0=$(inits)
# NVME_IOCTL_RESET returns when the reset work is done.
if nvme reset $ctrl > "$out" 2>&1 && [ "$(inits)" -gt "$n0" ] && [ -b $ns ]; then
    ok "nvme reset: the controller comes back with its I/O queues"
else
    notok "nvme reset: the controller comes back with its I/O queues"
    diag "$out"; dmesg | grep nvme | tail -n 10 | diag
fi

# Resets with commands in flight: the driver cancels or requeues them and
# recreates the queues; the device must drop nothing and corrupt nothing.
fio --name=reset --filename=$ns --direct=1 --ioengine=libaio --rw=randwrite \
    --bs=4k --iodepth=32 --numjobs=2 --size=48M --offset=0 --offset_increment=48M \
    --verify=crc32c --do_verify=1 --verify_fatal=1 --group_reporting \
    > /tmp/fio-reset 2>&1 &
fiopid=$!
n0=$(inits) busy=0
for how in ioctl sysfs; do
    sleep 0.7
    kill -0 $fiopid 2>/dev/null && busy=$((busy + 1))
    if [ $how = ioctl ]; then
        nvme reset $ctrl >> "$out" 2>&1
    else
        echo 1 > /sys/class/nvme/nvme0/reset_controller
    fi
done
wait $fiopid
rc=$?
# The sysfs reset returns before the reset work is done: give it 30 s.
i=0
while [ "$(inits)" -lt $((n0 + 2)) ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
verr=$(grep -icE 'verify.*(fail|bad|mismatch)|bad magic|io_u error' /tmp/fio-reset)
if [ $rc -eq 0 ] && [ "$verr" -eq 0 ] && [ $busy -eq 2 ] && [ "$(inits)" -ge $((n0 + 2)) ]; then
    ok "2 controller resets (ioctl, sysfs) during fio randwrite+verify: no errors"
else
    notok "2 controller resets during fio randwrite+verify: fio exit $rc, $verr verify errors, fio busy at $busy of 2 resets, $(($(inits) - n0)) re-inits"
    grep -iE 'verify|err|bad|fail' /tmp/fio-reset | head -n 20 | diag
    dmesg | grep nvme | tail -n 10 | diag
fi

# Unbind and rebind: a clean shutdown (CC.SHN) and a fresh probe; what was
# written before must read back.
if modprobe -r nvme > "$out" 2>&1 && [ ! -e $ctrl ] && modprobe nvme >> "$out" 2>&1 &&
   wait_for -b $ns && wait_for -c $ctrl; then
    ok "modprobe -r nvme; modprobe nvme: the device is probed again"
else
    notok "modprobe -r nvme; modprobe nvme: the device is probed again"
    diag "$out"; dmesg | grep nvme | tail -n 10 | diag
fi
if fio --name=reset --filename=$ns --direct=1 --ioengine=libaio --rw=read --bs=4k \
       --iodepth=32 --numjobs=2 --size=48M --offset=0 --offset_increment=48M \
       --verify=crc32c --verify_only --verify_fatal=1 --group_reporting \
       > "$out" 2>&1 && ! grep -qiE 'verify.*(fail|bad|mismatch)|bad magic' "$out"; then
    ok "after the rebind, the 96 MiB written across the resets verify"
else
    notok "after the rebind, the 96 MiB written across the resets verify"
    grep -iE 'verify|err|bad|fail' "$out" | head -n 20 | diag
fi

# --- partitions, ext4, checksums ---------------------------------------------------

# sfdisk asks the kernel to re-read the table (BLKRRPART) itself.
check "sfdisk: GPT with two partitions" sfdisk -q --no-reread $ns <<'EOF'
label: gpt
start=2048, size=327680, type=linux, name=fs
start=329728, type=linux, name=scratch
EOF
check "blockdev --rereadpt $ns" blockdev --rereadpt $ns
p1=/dev/${blk}p1 p2=/dev/${blk}p2
if wait_for -b $p1 && wait_for -b $p2 &&
   [ "$(cat /sys/block/$blk/${blk}p1/start)" = 2048 ] &&
   [ "$(cat /sys/block/$blk/${blk}p1/size)" = 327680 ] &&
   [ "$(cat /sys/block/$blk/${blk}p2/start)" = 329728 ]; then
    ok "kernel reads back the partition table ($p1, $p2)"
else
    notok "kernel reads back the partition table (p1 at 2048 x 327680, p2 at 329728)"
    diag /proc/partitions
fi
echo "# host: part1 2048 327680"

# The file system part stops at its first failure: the checks after it
# would only repeat it.
fs_tests() {
    # The kernel cannot load modules on demand here (its modprobe_path,
    # /sbin/modprobe, is not in the initramfs), and busybox modprobe skips
    # softdeps: load ext4's crc32c (crypto API) by hand.
    check "modprobe crc32c_generic ext4" modprobe -a crc32c_generic ext4 || return
    # mkfs discards the whole partition first (DSM deallocate).
    check "mkfs.ext4 $p1" mkfs.ext4 -F -q -L accel $p1 || return
    mkdir -p /mnt
    check "mount ext4" mount -t ext4 $p1 /mnt || return
    # Random contents of assorted sizes: big sequential files, odd tails,
    # many small files (lots of metadata).
    mkdir -p /mnt/data/small
    rc=0
    dd if=/dev/urandom of=/mnt/data/big1 bs=1M count=6 2>/dev/null || rc=1
    dd if=/dev/urandom of=/mnt/data/big2 bs=64k count=37 2>/dev/null || rc=1
    head -c 1234567 /dev/urandom > /mnt/data/odd || rc=1
    i=0
    while [ $i -lt 40 ]; do
        head -c $((i * 997 + 1)) /dev/urandom > /mnt/data/small/f$i || rc=1
        i=$((i + 1))
    done
    (cd /mnt && find data -type f | sort | xargs md5sum) > /tmp/md5 || rc=1
    (cd /mnt && find data -type f | sort | xargs sha256sum) > /tmp/sha256 || rc=1
    sync || rc=1
    if [ $rc -eq 0 ] && [ "$(wc -l < /tmp/md5)" -eq 43 ]; then
        ok "wrote 43 files ($(du -sk /mnt/data | cut -f1) KiB) and their md5/sha256"
    else
        notok "write files on ext4 and checksum them"
        return
    fi
    sed 's/^/# host: md5 /' /tmp/md5

    roundtrip "ext4 round trip" || return
    if [ $((oncs & 4)) -ne 0 ]; then
        check "fstrim /mnt (DSM deallocate of free space)" "$fstrim" -v /mnt || return
        roundtrip "after fstrim" || return
    else
        skip "fstrim /mnt" "device has no Dataset Management (oncs $oncs)"
    fi
    check "umount" umount /mnt
}

# roundtrip LABEL: unmount, drop every cache, fsck, mount, verify.
roundtrip() {
    if ! umount /mnt > "$out" 2>&1; then notok "$1: umount"; diag "$out"; return 1; fi
    drop_caches
    check "$1: e2fsck -fn $p1 is clean" e2fsck -fn $p1 || return
    if ! mount -t ext4 $p1 /mnt > "$out" 2>&1; then
        notok "$1: mount again"; diag "$out"; return 1
    fi
    if (cd /mnt && md5sum -c -s /tmp/md5 && sha256sum -c -s /tmp/sha256) > "$out" 2>&1; then
        ok "$1: md5 and sha256 of all files match after remount"
    else
        notok "$1: checksums after remount"
        (cd /mnt && md5sum -c /tmp/md5) 2>&1 | grep -v ': OK$' | head -n 10 | diag
        return 1
    fi
}
fs_tests

# --- discard and write zeroes on the raw partition ------------------------------

four=4194304
zero_md5=$(head -c $four /dev/zero | md5sum | cut -d' ' -f1)
head -c $four /dev/urandom > /tmp/pattern
pat_md5=$(md5sum < /tmp/pattern | cut -d' ' -f1)
readback() { dd if=$p2 bs=1M count=4 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1; }
if dd if=/tmp/pattern of=$p2 bs=1M oflag=direct 2>/dev/null && [ "$(readback)" = "$pat_md5" ]; then
    ok "4 MiB pattern written to $p2 reads back (O_DIRECT)"
else
    notok "4 MiB pattern written to $p2 reads back (O_DIRECT)"
fi
if [ $((oncs & 4)) -ne 0 ]; then
    check "blkdiscard $p2 (DSM deallocate)" "$blkdiscard" $p2
else
    skip "blkdiscard $p2" "device has no Dataset Management"
fi
# BLKZEROOUT: Write Zeroes when the device has it (ONCS bit 3), else the
# kernel writes zero pages; either way the range must read back as zeros.
dd if=/tmp/pattern of=$p2 bs=1M oflag=direct 2>/dev/null
if "$blkdiscard" -z -o 0 -l $four $p2 > "$out" 2>&1 && [ "$(readback)" = "$zero_md5" ]; then
    ok "blkdiscard -z: 4 MiB of $p2 read back as zeros (write zeroes, oncs $oncs)"
else
    notok "blkdiscard -z: 4 MiB of $p2 read back as zeros"
    diag "$out"
fi

# --- the device's own view -------------------------------------------------------

check "nvme flush $ns (after the file system work)" nvme flush $ns
elog=/tmp/error-log smart2=/tmp/smart2
if nvme error-log $ctrl > $elog 2>&1 && nvme smart-log $ctrl -o json > $smart2 2>&1; then
    nerr=$(grep -E '^error_count' $elog | grep -cvE ':[[:space:]]*0$')
    entries=$(smart num_err_log_entries $smart2)
    if [ "$nerr" -eq 0 ] && [ "${entries:-x}" = 0 ]; then
        ok "nvme error-log: no error entries (num_err_log_entries $entries)"
    else
        notok "nvme error-log: $nerr entries with errors, num_err_log_entries '${entries:-?}'"
        grep -vE ':[[:space:]]*0$' $elog | head -n 30 | diag
    fi
else
    notok "nvme error-log $ctrl, nvme smart-log $ctrl"
    diag $elog $smart2
fi

# The driver complains in the kernel log when commands time out or fail;
# vm-run.sh only judges oopses, WARNINGs and taint. ("resetting
# controller" is expected: we asked for it; a reset after a timeout also
# logs the timeout.)
if dmesg | grep -iE 'nvme.*(timeout|abort|error|fail|disabl|remov)|I/O error|blk_update_request|Buffer I/O|EXT4-fs (error|warning)' > "$out"; then
    notok "kernel log has no NVMe timeouts, aborts or I/O errors"
    head -n 20 "$out" | diag
else
    ok "kernel log has no NVMe timeouts, aborts or I/O errors"
fi

echo "# $failures of $n checks failed"
[ $failures -eq 0 ]
