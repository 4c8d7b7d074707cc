#!/bin/sh
# Runs inside the test guest (scripts/vm-run.sh --module kvm-accel.ko --file
# kacc-test:/usr/bin/kacc-test): set up two null_blk devices (memory backed,
# with poll queues, so data is kept and polled I/O is exercised) and a loop
# device, load kvm-accel, run kacc-test (TAP), unload the module.
#
#   kacc.sh [bench SECONDS [POLL_USECS]]
#
# With "bench": also 4K random reads at QD1 and QD32 through the module
# (a guest waiting for interrupts, and a polling guest) and with fio (needs
# --bin /usr/bin/fio) on the same null_blk device, printed as "# bench: ..."
# lines with the ratios. POLL_USECS sets the module parameter poll_usecs.
# The benchmark only has to run.
#
# busybox sh: POSIX only.

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
check() {
	desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
loaded() { grep -q '^kvm_accel ' /proc/modules; }
unloaded() { ! loaded; }
no_workers() { ! ps | grep -q '\[kac[c]/'; }

bench=0 poll_usecs=
if [ "${1:-}" = bench ]; then
	bench=${2:-5}
	poll_usecs=${3:-}
fi

ko=
for m in $VM_EXTRA_MODULES; do
	case "$m" in */kvm-accel.ko) ko=$m ;; esac
done
if [ -z "$ko" ] || [ ! -x /usr/bin/kacc-test ]; then
	echo "Bail out! need kvm-accel.ko and /usr/bin/kacc-test"
	exit 1
fi

for m in vfio vfio_iommu_type1 mdev loop; do
	check "modprobe $m" modprobe "$m"
done
check "modprobe null_blk: 2 memory-backed 1 GiB devices with poll queues" \
	modprobe null_blk nr_devices=2 memory_backed=1 gb=1 poll_queues=2 \
	discard=1
# cfg_nullb VAR NAME ATTR=VALUE...: a null_blk device made through configfs,
# its path in $VAR.
cfg_nullb() {
	var=$1 d=/sys/kernel/config/nullb/$2
	shift 2
	modprobe configfs || return 1
	grep -q ' /sys/kernel/config ' /proc/mounts ||
		mount -t configfs none /sys/kernel/config || return 1
	mkdir "$d" || return 1
	for a in "$@" size=64 power=1; do
		echo "${a#*=}" > "$d/${a%%=*}" || return 1
	done
	# Named after the configfs directory, or by index on older kernels.
	for p in "/dev/${d##*/}" "/dev/nullb$(cat "$d/index")"; do
		[ -b "$p" ] && { eval "$var=$p"; return 0; }
	done
	return 1
}
# For the unmap tests: every I/O completes after a second, so what is in
# flight stays in flight (no poll queues: null_blk completes polled I/O at
# once, timer or not); reads of unwritten blocks return zeros.
slow= wc=
check "a slow null_blk through configfs (1 s per I/O)" \
	cfg_nullb slow kaccslow poll_queues=0 irqmode=2 \
	completion_nsec=1000000000 memory_backed=1
# For the event test, which powers it off under the module.
dead=
check "a null_blk to remove under the module" \
	cfg_nullb dead kaccdead memory_backed=1
# For the freeze test: poll queues and a volatile write cache, so that
# flushes enter the queue.
check "a null_blk with poll queues and a write cache" \
	cfg_nullb wc kaccwc poll_queues=2 memory_backed=1 cache_size=16
# For the adaptive polling test: the emulated NVMe disk (2 ms per I/O)
# with a poll queue.
polled=
check "an NVMe disk whose driver polls" sh -c \
	'modprobe nvme && for i in $(seq 100); do
		[ -b /dev/nvme0n1 ] && break; sleep 0.1
	 done && [ "$(cat /sys/block/nvme0n1/queue/io_poll)" = 1 ]'
[ "$(cat /sys/block/nvme0n1/queue/io_poll 2>/dev/null)" = 1 ] &&
	polled=/dev/nvme0n1
# The owner's cgroups (io.max, memory.max) for the cgroup test.
cgroups=
check "cgroup2 with the io and memory controllers" sh -c \
	'mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup &&
	 echo "+io +memory" > /sys/fs/cgroup/cgroup.subtree_control' &&
	grep -q io /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null &&
	cgroups=--cgroups
check "a 64 MiB loop device" sh -c \
	'dd if=/dev/zero of=/tmp/loop.img bs=1M count=64 2>/dev/null &&
	 losetup /dev/loop0 /tmp/loop.img'
check "insmod kvm-accel.ko" insmod "$ko" ${poll_usecs:+poll_usecs=$poll_usecs}
check "its mdev parent is registered" \
	test -e /sys/class/mdev_bus/kvm-accel/mdev_supported_types/kvm-accel-nvme/create

kacc-test --tap-start "$n" --no-plan ${slow:+--slow "$slow"} ${wc:+--wc "$wc"} \
	${polled:+--polled "$polled"} ${dead:+--dead "$dead"} $cgroups \
	> /tmp/kacc.out 2>&1
rc=$?
cat /tmp/kacc.out
n=$((n + $(grep -c '^\(not \)\{0,1\}ok ' /tmp/kacc.out)))
failed=$((failed + $(grep -c '^not ok ' /tmp/kacc.out)))
check "kacc-test exited 0" test "$rc" -eq 0
check "no mdev left behind" sh -c '[ -z "$(ls /sys/bus/mdev/devices)" ]'

# fio_iops <fio options...>: read IOPS of a run on the benchmark device.
fio_iops() {
	/usr/bin/fio --name=bench --filename=/dev/nullb1 --direct=1 \
		--rw=randread --bs=4k --runtime="$bench" --time_based \
		--output-format=terse --terse-version=3 "$@" |
		awk -F';' '{ print $8 }'
}

if [ "$bench" -gt 0 ]; then
	# The module, then fio, one after the other on the same idle device.
	for mode in irq poll; do
		opt=
		[ "$mode" = poll ] && opt=--poll
		kacc-test --bench /dev/nullb1 --seconds "$bench" $opt \
			> /tmp/bench-$mode.out 2>&1
		check "benchmark through kvm-accel ($mode) ran" test $? -eq 0
		sed 's/^/# bench: /' /tmp/bench-$mode.out
	done
	if [ -x /usr/bin/fio ]; then
		for qd in 1 32; do
			iops=$(fio_iops --ioengine=libaio --iodepth=$qd)
			echo "# bench: fio libaio qd=$qd iops=$iops"
			for mode in irq poll; do
				kacc=$(sed -n "s/^kacc qd=$qd iops=\([0-9]*\).*/\1/p" \
					/tmp/bench-$mode.out)
				[ -n "$iops" ] && [ -n "$kacc" ] && [ "$iops" -gt 0 ] &&
					echo "# bench: qd=$qd kvm-accel ($mode)/fio =" \
						"$kacc/$iops = $(awk "BEGIN { printf \"%.2f\", $kacc / $iops }")"
			done
		done
		iops=$(fio_iops --ioengine=pvsync2 --hipri)
		echo "# bench: fio pvsync2 --hipri (polled) qd=1 iops=$iops"
		check "fio ran" test -n "$iops"
	fi
fi

# Unloading with an mdev present (no fd open) removes it.
uuid=$(cat /proc/sys/kernel/random/uuid)
check "create an mdev and leave it" sh -c \
	"echo $uuid > /sys/class/mdev_bus/kvm-accel/mdev_supported_types/kvm-accel-nvme/create"
check "rmmod kvm_accel" rmmod kvm_accel
check "the mdev went with the module" test ! -e "/sys/bus/mdev/devices/$uuid"
check "kvm_accel gone from /proc/modules" unloaded
check "no worker threads left" no_workers
check "init and exit logged" sh -c \
	'dmesg | grep -q "kvm_accel: loaded" && dmesg | grep -q "kvm_accel: unloaded"'
losetup -d /dev/loop0 2>/dev/null

echo "1..$n"
[ "$failed" -eq 0 ]
