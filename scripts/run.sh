#!/bin/bash
# The main job: build everything (datapath core, QEMU with nvme-accel, the
# kvm-accel module), boot a Linux guest under TCG whose disk is an
# nvme-accel controller, and show it working: Linux's nvme driver, data
# written and read back, a short fio run, the SMART counters. Then the
# datapath core's microbenchmark.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
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

say "booting a Linux guest (TCG) on an nvme-accel disk"
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/nvme-accel-demo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
truncate -s 256M "$tmp/disk.img"
bins=()
for t in nvme fio; do
    bins+=(--bin "$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$t")")
done
QEMU=$qemu bash "$repo/scripts/vm-run.sh" --timeout 300 --smp 2 --kmod nvme \
    "${bins[@]}" \
    --qemu-arg -drive \
    --qemu-arg "file=$tmp/disk.img,if=none,id=d0,format=raw,cache=none,aio=native" \
    --qemu-arg -device \
    --qemu-arg "nvme-accel,drive=d0,serial=nvme-accel-demo" \
    -- "$repo/scripts/demo-guest.sh"

say "datapath core microbenchmark"
bash "$repo/scripts/bench-core.sh"
