#!/bin/bash
# The uncompressed kernel (vmlinux) of the test guests' Debian kernel
# (scripts/guest-kernel.sh), for booting nested guests through PVH: QEMU
# loads it straight into memory, with no decompression inside a guest.
# Cached next to the extracted package.
#
# Output: prints the vmlinux path on the last line of stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${NVME_ACCEL_CACHE:-$HOME/.cache/nvme-accel}

kroot=$(bash "$here/guest-kernel.sh" | tail -n1)
vmlinuz=$(ls "$kroot"/boot/vmlinuz-* | head -n1)
rel=${vmlinuz##*/vmlinuz-}
vmlinux=$cache/nested/vmlinux-$rel

# The bzImage's payload is a compressed vmlinux (zstd on Debian's 6.12);
# like the kernel's scripts/extract-vmlinux, try every place that starts
# like a compressed stream and keep the first that decompresses to an ELF.
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
    extract_vmlinux || { echo "guest-vmlinux: no vmlinux found in $vmlinuz" >&2; exit 1; }
fi
echo "$vmlinux"
