#!/bin/bash
# Install everything nvme-accel needs to build and test, from Debian's
# archive only. Idempotent: a second run installs nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive

"$here/apt-setup.sh"

pkgs=(
    # core, unit tests, fuzzers, benchmarks
    build-essential pkg-config clang libclang-rt-14-dev libfuzzer-14-dev
    valgrind
    # QEMU build (meson >= 1.5 comes from bookworm-backports below)
    ninja-build python3 python3-venv libglib2.0-dev libpixman-1-dev
    zlib1g-dev libaio-dev libfdt-dev flex bison dpkg-dev seabios
    gcc-multilib    # QEMU builds its x86 option ROMs (linuxboot, pvh) with -m32
    # kernel module build
    kmod bc
    # VM runner: initramfs, guest kernel unpacking
    busybox-static cpio xz-utils zstd
    # guest tests and benchmarks (binaries copied into the guest with
    # vm-run.sh --bin): nvme-cli, fio, sfdisk, mkfs.ext4, blkdiscard
    nvme-cli fio fdisk e2fsprogs util-linux
)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# meson from bookworm-backports (QEMU 10 needs >= 1.5)
if ! dpkg --compare-versions "$(dpkg-query -W -f='${Version}' meson 2>/dev/null || echo 0)" ge 1.5; then
    apt-get install -y -qq --no-install-recommends -t bookworm-backports meson
fi

# Kernel headers: backports (the version the guest kernel runs) and, as a
# compile check, bookworm's own. Both are versioned packages that coexist.
bpo_hdr=$("$here/kernel-version.sh" headers bookworm-backports)
old_hdr=$("$here/kernel-version.sh" headers bookworm)
for p in "$bpo_hdr" "$old_hdr"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' ||
        apt-get install -y -qq --no-install-recommends "$p"
done
