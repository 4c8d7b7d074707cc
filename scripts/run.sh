#!/bin/bash
# The main job: build everything (datapath core, QEMU with nvme-accel, the
# kvm-accel module) and show the device working.
#
# Today the device is the controller's register file (the admin and I/O
# queues arrive with the next steps): QEMU starts with an nvme-accel disk
# and its monitor shows the PCI function; the datapath core runs its
# microbenchmark.
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

say "starting QEMU with -device nvme-accel on a 64 MiB disk image"
img=$(mktemp --suffix=.img)
trap 'rm -f "$img"' EXIT
truncate -s 64M "$img"
printf 'info pci\ninfo qtree\nquit\n' |
    "$qemu" -accel tcg -machine q35 -nodefaults -display none -S \
        -drive "file=$img,if=none,id=d0,format=raw" \
        -device nvme-accel,drive=d0,serial=nvme-accel-demo \
        -monitor stdio 2>&1 |
    tr -d '\r' | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' |
    awk '/Bus +[0-9]+, device/ { bus = $0 }
         /PCI device 1af4:10f0/ { print bus; pci = 1 }
         pci { print; if ($1 == "id") pci = 0 }
         /dev: nvme-accel/ { tree = 1 }
         tree && !/_size|backend_defaults|account-|share-rw|discard_gran/ { print }
         tree && /class Class/ { tree = 0 }'

say "datapath core microbenchmark"
bash "$repo/scripts/bench-core.sh"
