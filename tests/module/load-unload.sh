#!/bin/sh
# Runs inside the test guest (scripts/vm-run.sh --module kvm-accel.ko): load
# the module's soft dependencies, then load and unload kvm-accel twice; the
# second round catches init/exit paths that leave state behind. Prints TAP.
#
# busybox sh: POSIX only.

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
# check "description" command...: one TAP line for the command's status.
check() {
	desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
loaded() { grep -q '^kvm_accel ' /proc/modules; }
unloaded() { ! loaded; }

ko=
for m in $VM_EXTRA_MODULES; do
	case "$m" in */kvm-accel.ko) ko=$m ;; esac
done
if [ -z "$ko" ]; then
	echo "Bail out! kvm-accel.ko not given (VM_EXTRA_MODULES='$VM_EXTRA_MODULES')"
	exit 1
fi

for m in vfio vfio_iommu_type1 mdev; do
	check "modprobe $m" modprobe "$m"
done

for round in 1 2; do
	check "insmod kvm-accel.ko (round $round)" insmod "$ko"
	check "kvm_accel listed in /proc/modules (round $round)" loaded
	check "rmmod kvm_accel (round $round)" rmmod kvm_accel
	check "kvm_accel gone from /proc/modules (round $round)" unloaded
done
check "init logged its banner twice" \
	test "$(dmesg | grep -c 'kvm_accel: loaded')" -eq 2

echo "1..$n"
[ "$failed" -eq 0 ]
