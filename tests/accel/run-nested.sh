#!/bin/bash
# Nested accelerated mode end to end — a real Linux guest on the module:
# boot the TCG test guest (L1, scripts/vm-run.sh), load kvm-accel there,
# create an mdev over a loop device, and boot a second Linux guest (L2, TCG
# inside TCG) with the same QEMU and `-device nvme-accel,accel=kernel` on
# that mdev. In L2 (nested-l2.sh) Linux's own nvme driver does a 32 MiB dd
# write/read-back/md5 round trip and fio 4k randwrite with verification;
# in L1 (nested-l1.sh) QEMU must exit 0, the module's counters (QMP
# qom-get kernel-stats) must show L2's I/O, the backing file must hold
# what L2 wrote, and the mdev removal and rmmod must succeed (no pins
# left).
#
#   tests/accel/run-nested.sh [-v]      (-v streams both guests' consoles)
#
# SLOW TEST, kept out of tests/accel/run.sh and the quick runs: about
# 5 minutes on a 2-core machine (the run that added it: see the
# "# nested test:" line it prints), nearly all of it L2 under TCG inside
# TCG, where guest work costs 10-25x L1's — booting L2 alone takes about a
# minute (see "Nested runs fit CI" in DESIGN.md).
#
# Environment: QEMU=path runs that build's qemu-system-x86_64 in L1 and L2
# (its qemu-bundle/ and pc-bios/optionrom/ are copied along; default:
# scripts/build-qemu.sh's build); NESTED_L2_TIMEOUT=S gives L2 S seconds
# (default 660).
#
# Prints L1's TAP (L2's lines renumbered into it). A line of the plan that
# never printed (a guest hung or stopped early), a VM that did not finish,
# and a kernel oops/WARNING or unexpected taint in L1 each count as a
# failure. Last line: "N passed, N failed". Exit status 0 iff none failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${NVME_ACCEL_CACHE:-$HOME/.cache/nvme-accel}
verbose=() l1_verbose=0
[ "${1:-}" = -v ] && verbose=(-v) l1_verbose=1
start=$SECONDS
passed=0 failed=0
summary() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }
setup_fail() { echo "not ok 1 - $*"; failed=1; summary; exit 1; }

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
for d in qemu-bundle pc-bios/optionrom; do
    [ -d "$build/$d" ] || setup_fail "QEMU build $build has $d/ (firmware for L2)"
done
fio=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v fio) ||
    setup_fail "host has fio (run scripts/setup-deps.sh)"

# --- L2's kernel: the uncompressed vmlinux, booted through PVH ---------------

# The bzImage's payload is a compressed vmlinux (zstd on Debian's 6.12);
# like the kernel's scripts/extract-vmlinux, try every place that starts
# like a compressed stream and keep the first that decompresses to an ELF.
kroot=$(bash "$repo/scripts/guest-kernel.sh" | tail -n1)
vmlinuz=$(ls "$kroot"/boot/vmlinuz-* | head -n1)
rel=${vmlinuz##*/vmlinuz-}
vmlinux=$cache/nested/vmlinux-$rel
extract_vmlinux() {
    local tmp=$vmlinux.tmp.$$ magic cmd pos
    mkdir -p "$(dirname "$vmlinux")"
    for magic in '\x28\xb5\x2f\xfd:zstd -dcq' '\xfd\x37\x7a\x58\x5a\x00:xz -dcq' \
                 '\x1f\x8b\x08:gzip -dcq' '\x02\x21\x4c\x18:lz4 -dcq'; do
        cmd=${magic#*:}
        command -v "${cmd%% *}" > /dev/null || continue
        for pos in $(LC_ALL=C grep -obUaP "${magic%%:*}" "$vmlinuz" | cut -d: -f1); do
            # Trailing bytes after the stream make the decompressor fail;
            # what it wrote before is what counts.
            tail -c +$((pos + 1)) "$vmlinuz" | $cmd > "$tmp" 2> /dev/null || true
            if [ "$(head -c 4 "$tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
                mv "$tmp" "$vmlinux"
                return 0
            fi
        done
    done
    rm -f "$tmp"
    return 1
}
if [ ! -s "$vmlinux" ] || [ "$vmlinuz" -nt "$vmlinux" ]; then
    extract_vmlinux || setup_fail "extract vmlinux from $vmlinuz"
fi

# --- L2's initramfs: busybox, nvme, fio, nested-l2.sh --------------------------

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/nvme-accel-nested.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
out=$tmp/l1.out err=$tmp/l1.err
bash "$repo/scripts/vm-run.sh" --kmod nvme --bin "$fio" \
    --initrd-out "$tmp/l2.cpio" -- "$here/nested-l2.sh" 2> "$err" ||
    { cat "$err" >&2; setup_fail "build L2's initramfs (vm-run.sh --initrd-out)"; }
l2_plan=$(sed -n 's/^plan=\([0-9]*\)$/\1/p' "$here/nested-l2.sh")
l1_plan=$(sed -n 's/^own_plan=\([0-9]*\)$/\1/p' "$here/nested-l1.sh")

# --- L1 -----------------------------------------------------------------------------

vmrc=0
QEMU=$qemu bash "$repo/scripts/vm-run.sh" ${verbose[@]+"${verbose[@]}"} \
    --timeout 900 --mem 3G --smp 2 --module "$ko" --bin "$qemu" \
    --file "$build/qemu-bundle:$build/qemu-bundle" \
    --file "$build/pc-bios/optionrom:$build/pc-bios/optionrom" \
    --file /usr/share/seabios:/usr/share/seabios \
    --file "$vmlinux:/nested/vmlinux" --file "$tmp/l2.cpio:/nested/l2.cpio" \
    -- "$here/nested-l1.sh" "$qemu" /nested/vmlinux /nested/l2.cpio \
    "$l2_plan" "$l1_verbose" > "$out" 2> "$err" || vmrc=$?
cat "$err" >&2
grep -vE '^1\.\.[0-9]+$' "$out" || true

passed=$(grep -cE '^ok [0-9]' "$out" || true)
failed=$(grep -cE '^not ok [0-9]' "$out" || true)
n=$((passed + failed))
plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$out" | head -n1)
plan=${plan:-$((l1_plan + l2_plan))}
why="L1 stopped early"
grep -qE '^vm-run: FAIL: timeout' "$err" && why="L1 timed out"
while [ "$n" -lt "$plan" ]; do
    n=$((n + 1)) failed=$((failed + 1))
    echo "not ok $n - check $n of $plan never printed ($why)"
done
if grep -qE '^vm-run: FAIL: (kernel:|timeout|the guest did not)' "$err"; then
    n=$((n + 1)) failed=$((failed + 1))
    echo "not ok $n - VM run: $(grep -E '^vm-run: FAIL: ' "$err" | head -n1 | sed 's/^vm-run: FAIL: //')"
elif [ "$vmrc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    n=$((n + 1)) failed=$((failed + 1))
    echo "not ok $n - VM run: nested-l1.sh exited $vmrc"
fi
echo "# nested test: $((SECONDS - start)) s end to end ($(grep -oE 'guest ran nested-l1.sh in [0-9]+ s' "$err" | grep -oE '[0-9]+ s' || echo '? s') in L1)"
summary
