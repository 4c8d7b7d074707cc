#!/bin/bash
# The KVM tier: nvme-accel under real KVM, one level down.
#
# The machines this project is developed on have no usable KVM of their
# own, but QEMU's TCG emulates AMD SVM with nested paging: the TCG test
# guest (L1, scripts/vm-run.sh, -cpu max) loads kvm_amd and runs this
# project's QEMU with -accel kvm. tests/kvm/l1.sh boots Linux guests (L2)
# there on nvme-accel disks: the Linux guest suite with accel=off and with
# accel=kernel (real ioeventfds, irqfds and MSI routes), the queues moved
# between kvm-accel and QEMU under I/O, QEMU killed mid-I/O, INTx. The two
# suite runs write to image files on this host (L1's virtio disks), which
# are checked here afterwards: partition table, e2fsck, file checksums.
#
#   tests/kvm/run.sh [-v]          (-v streams L1's console)
#
# Environment: QEMU=path runs that build's qemu-system-x86_64 as L1 and in
# L1 (default: scripts/build-qemu.sh's build; an outer QEMU without
# patches/qemu/0004, e.g. Debian's, makes L2s triple-fault and L1 panic
# within minutes); TMPDIR
# holds the images (default /var/tmp, which must support O_DIRECT);
# KVM_PROBE=N runs tests/kvm/probe-l1.sh in L1 instead: N L2s on QEMU's own
# -device nvme, counted by how they ended (is the infrastructure sound?).
#
# Prints TAP; a VM that did not finish, an L1 kernel oops/WARNING or an
# unexpected taint each count as a failure. Last line: "N passed, N
# failed". Exit status 0 iff none failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
verbose=()
[ "${1:-}" = -v ] && verbose=(-v)
start=$SECONDS
passed=0 failed=0 n=0
ok()    { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
summary() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }
setup_fail() { notok "$*"; summary; exit 1; }

if ! ko=$(bash "$repo/scripts/build-module.sh" | tail -n1) || [ ! -f "$ko" ]; then
    setup_fail "build kvm-accel.ko"
fi
if [ -n "${QEMU:-}" ]; then
    qemu=$QEMU
elif ! qemu=$(bash "$repo/scripts/build-qemu.sh" | tail -n1)/qemu-system-x86_64; then
    setup_fail "build QEMU"
fi
[ -x "$qemu" ] || setup_fail "QEMU binary $qemu is executable"
build=$(cd "$(dirname "$qemu")" && pwd)
qemu=$build/$(basename "$qemu")
vmlinux=$(bash "$repo/scripts/guest-vmlinux.sh" | tail -n1) ||
    setup_fail "extract the guest kernel's vmlinux"

# L2's tools, as tests/guest/run.sh gives them to its guest.
bins=()
for t in nvme fio sfdisk mkfs.ext4 e2fsck blkdiscard fstrim; do
    p=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$t") ||
        setup_fail "host has $t (run scripts/setup-deps.sh)"
    bins+=(--bin "$p")
done
for t in debugfs e2fsck sfdisk; do
    PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$t" > /dev/null ||
        setup_fail "host has $t (run scripts/setup-deps.sh)"
done
mke2fs_conf=()
[ -f /etc/mke2fs.conf ] && mke2fs_conf=(--file /etc/mke2fs.conf:/etc/mke2fs.conf)

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/nvme-accel-kvm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
out=$tmp/l1.out err=$tmp/l1.err

bash "$repo/scripts/vm-run.sh" --kmod nvme --kmod ext4 --kmod crc32c_generic \
    "${bins[@]}" ${mke2fs_conf[@]+"${mke2fs_conf[@]}"} \
    --file "$repo/tests/guest/linux-nvme.sh:/kvm/linux-nvme.sh" \
    --file "$here/l2-common.sh:/kvm/l2-common.sh" \
    --file "$here/l2-accel.sh:/kvm/l2-accel.sh" \
    --file "$here/l2-quick.sh:/kvm/l2-quick.sh" \
    --initrd-out "$tmp/l2.cpio" -- "$here/l2.sh" 2> "$err" ||
    { cat "$err" >&2; setup_fail "build L2's initramfs (vm-run.sh --initrd-out)"; }

for d in off kernel; do
    truncate -s 256M "$tmp/$d.img"
done

set +e
. "$here/l1-host.sh"
kvm_l1_args "$build" "$ko" "$vmlinux" /kvm
l1=(env QEMU="$qemu" bash "$repo/scripts/vm-run.sh" ${verbose[@]+"${verbose[@]}"}
    --timeout 2400 --mem 4G "${l1_args[@]}" --kmod virtio_pci --kmod virtio_blk
    --file "$tmp/l2.cpio:/kvm/l2.cpio"
    --qemu-arg -drive --qemu-arg "file=$tmp/off.img,if=none,id=off,format=raw,cache=none,aio=native"
    --qemu-arg -device --qemu-arg virtio-blk-pci,drive=off,serial=nac-off
    --qemu-arg -drive --qemu-arg "file=$tmp/kernel.img,if=none,id=kernel,format=raw,cache=none,aio=native"
    --qemu-arg -device --qemu-arg virtio-blk-pci,drive=kernel,serial=nac-kernel
    -- "$here/l1.sh" "$qemu" /kvm/vmlinux /kvm/l2.cpio)
# KVM_PROBE=N: instead of the tier, N L2s on QEMU's own nvme (probe-l1.sh).
if [ -n "${KVM_PROBE:-}" ]; then
    l1=("${l1[@]:0:${#l1[@]}-4}" "$here/probe-l1.sh" "$qemu" /kvm/vmlinux
        /kvm/l2.cpio "$KVM_PROBE")
fi
if [ ${#verbose[@]} -gt 0 ]; then
    "${l1[@]}" 2>&1 > "$out" | tee "$err" >&2
    vmrc=${PIPESTATUS[0]}
else
    "${l1[@]}" > "$out" 2> "$err"
    vmrc=$?
    cat "$err" >&2
fi
set -e
grep -vE '^1\.\.[0-9]+$' "$out" || true
passed=$(grep -cE '^ok [0-9]' "$out" || true)
failed=$(grep -cE '^not ok [0-9]' "$out" || true)
n=$((passed + failed))
if ! grep -qE '^1\.\.[0-9]+$' "$out"; then
    notok "L1 ran tests/kvm/l1.sh to the end (no plan line)"
fi
if grep -qE '^vm-run: FAIL: (kernel:|timeout|the guest did not)' "$err"; then
    notok "L1: $(grep -E '^vm-run: FAIL: ' "$err" | head -n1 | sed 's/^vm-run: FAIL: //')"
elif [ "$vmrc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    notok "L1: l1.sh exited $vmrc"
fi

# --- what the two suite runs left on the images ---------------------------------

. "$repo/tests/guest/host-check.sh"
phases=(off kernel)
[ -n "${KVM_PROBE:-}" ] && phases=()      # the probe writes to no image
for d in ${phases[@]+"${phases[@]}"}; do
    # The suite's "# host: ..." lines of this phase.
    awk -v p="# phase: $d" '$0 == p { on = 1; next } /^# phase: / { on = 0 } on' \
        "$out" > "$tmp/$d.out"
    host_check "$tmp/$d.img" "$tmp/$d.out" "$tmp/check-$d" "host, accel=$d image"
done

echo "# KVM tier: $((SECONDS - start)) s end to end ($(grep -oE 'guest ran l1.sh in [0-9]+ s' "$err" | grep -oE '[0-9]+ s' || echo '? s') in L1)"
summary
