#!/bin/bash
# The main job: build everything (datapath core, QEMU with nvme-accel, the
# kvm-accel module), boot a Linux guest under KVM whose disk is an
# nvme-accel controller with its I/O queues in kvm-accel, and show it
# working: the controller as Linux sees it, data written and read back with
# checksums, a short fio run, the module's counters and, per I/O, the KVM
# exits, exits to QEMU and CPU time of that run. Then the datapath core's
# microbenchmark.
#
# KVM is probed for real (a guest must boot to a marker), not assumed from
# /dev/kvm. Where it works, the demo (scripts/demo-kvm-host.sh) runs on this
# host: it loads kvm-accel, built for the running kernel, and removes it
# afterwards. Where it does not (the development machines' /dev/kvm cannot
# run stock guests), the same demo runs one level down: in a TCG guest with
# -cpu max, whose emulated SVM lets kvm_amd run the demo guest under KVM.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${NVME_ACCEL_CACHE:-$HOME/.cache/nvme-accel}
say() { printf '\n== %s\n' "$*"; }

say "installing build dependencies (Debian packages)"
bash "$repo/scripts/setup-deps.sh"

say "building QEMU with nvme-accel (cached after the first run)"
qbuild=$(bash "$repo/scripts/build-qemu.sh" | tail -n 1)
qemu=$qbuild/qemu-system-x86_64

say "building the kvm-accel kernel module"
ko=$(bash "$repo/scripts/build-module.sh" | tail -n 1)
echo "module: $ko"
modinfo "$ko" | grep -E '^(name|vermagic|description):' || true

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/nvme-accel-demo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
vmlinux=$(bash "$repo/scripts/guest-vmlinux.sh" | tail -n 1)
bins=()
for t in nvme fio; do
    bins+=(--bin "$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$t")")
done
bash "$repo/scripts/vm-run.sh" --kmod nvme "${bins[@]}" \
    --initrd-out "$tmp/guest.cpio" -- "$repo/scripts/demo-guest.sh" 2>/dev/null

say "probing KVM on this machine"
printf 'echo kvm-probe-ok\n' > "$tmp/probe.sh"
host_kvm=false
if [ ! -e /dev/kvm ]; then
    echo "no /dev/kvm here"
elif VM_ACCEL=kvm QEMU=$qemu bash "$repo/scripts/vm-run.sh" --timeout 60 \
        -- "$tmp/probe.sh" > "$tmp/probe.out" 2> "$tmp/probe.err" &&
     grep -q kvm-probe-ok "$tmp/probe.out"; then
    host_kvm=true
    echo "KVM boots a guest here"
else
    echo "/dev/kvm exists but cannot boot a guest here:"
    grep -E 'KVM|kvm|FAIL' "$tmp/probe.err" | head -n 3 | sed 's/^/  /'
fi

if $host_kvm; then
    say "the demo on this host, under KVM"
    [ "$(id -u)" = 0 ] || { echo "loading kvm-accel needs root"; exit 1; }
    hko=$cache/module-host-$(uname -r)
    mkdir -p "$hko"
    make -s -C "$repo/kvm-accel" KDIR="/lib/modules/$(uname -r)/build" \
        BUILDDIR="$hko" -j"$(nproc)" >&2
    sh "$repo/scripts/demo-kvm-host.sh" "$qemu" "$hko/kvm-accel/kvm-accel.ko" \
        "$vmlinux" "$tmp/guest.cpio" "$repo/tests/kvm"
else
    say "the demo one level down: a TCG guest with kvm_amd runs it under KVM"
    . "$repo/tests/kvm/l1-host.sh"
    kvm_l1_args "$qbuild" "$ko" "$vmlinux" /demo
    QEMU=$qemu bash "$repo/scripts/vm-run.sh" --timeout 900 --mem 3G \
        "${l1_args[@]}" --file "$tmp/guest.cpio:/demo/guest.cpio" \
        -- "$repo/scripts/demo-kvm-host.sh" "$qemu" "" \
        /demo/vmlinux /demo/guest.cpio /demo
fi

say "datapath core microbenchmark"
bash "$repo/scripts/bench-core.sh"
