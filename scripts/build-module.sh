#!/bin/bash
# Build kvm-accel.ko against the kernel headers of the guest kernel the
# module tests boot (Debian bookworm-backports, 6.12), and with --all also
# against bookworm's own 6.1 headers as a compile check of older kernel APIs.
#
#   scripts/build-module.sh [--all]
#
# Output goes to $NVME_ACCEL_CACHE/module-<release>/ (default cache
# ~/.cache/nvme-accel), never into the source tree. Any compiler or modpost
# warning fails the build (the Kbuild file adds -Werror, the Makefile W=1;
# this script also catches the modpost and linker warnings -Werror misses).
#
# Output: prints the path of the 6.12 kvm-accel.ko on the last stdout line.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${NVME_ACCEL_CACHE:-$HOME/.cache/nvme-accel}
log() { echo "build-module: $*" >&2; }

all=false
for arg in "$@"; do
    case "$arg" in
        --all) all=true ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) log "unknown argument: $arg (usage: build-module.sh [--all])"; exit 2 ;;
    esac
done

suites=(bookworm-backports)
$all && suites+=(bookworm)

# build <suite>: build against that suite's headers; prints the .ko path.
build() {
    local suite=$1 rel kdir out buildlog start
    rel=$(bash "$here/kernel-version.sh" release "$suite")
    kdir=/usr/src/linux-headers-$rel
    if [ ! -d "$kdir" ]; then
        log "$kdir is missing: run scripts/setup-deps.sh (it installs" \
            "linux-headers-$rel)"
        return 1
    fi
    out=$cache/module-$rel
    mkdir -p "$out"
    buildlog=$out/build.log
    log "building against $rel"
    start=$SECONDS
    # Kernel builds print to stdout and stderr; keep both, in order, for the
    # warning scan, and show them on our stderr (stdout carries the result).
    if ! make -C "$repo/kvm-accel" KDIR="$kdir" BUILDDIR="$out" \
            -j"$(nproc)" 2>&1 | tee "$buildlog" >&2; then
        log "FAIL: build against $rel failed (log: $buildlog)"
        return 1
    fi
    # -Werror covers the compiler; modpost ("WARNING: modpost: ...") and the
    # linker can still warn without failing. Debian's 6.1 headers ship no
    # vmlinux, so "Skipping BTF generation" there is expected, not a warning.
    if grep -E -i 'warning|error' "$buildlog" | grep -v 'Skipping BTF generation' |
            grep -q .; then
        log "FAIL: build against $rel printed warnings:"
        grep -E -i 'warning|error' "$buildlog" | grep -v 'Skipping BTF generation' >&2
        return 1
    fi
    if [ ! -f "$out/kvm-accel/kvm-accel.ko" ]; then
        log "FAIL: no kvm-accel.ko after building against $rel"
        return 1
    fi
    log "ok: $rel in $((SECONDS - start)) s"
    echo "$out/kvm-accel/kvm-accel.ko"
}

ko=
for suite in "${suites[@]}"; do
    path=$(build "$suite")
    # The first suite is the one the test guest runs.
    [ -n "$ko" ] || ko=$path
done
echo "$ko"
