#!/bin/bash
# Unpack Debian's bookworm-backports kernel image (the same version as the
# linux-headers the module is built against) into the cache, for booting a
# TCG test guest. The package is only downloaded and extracted, never
# installed: the host runs its own kernel and must not be touched.
#
# Output: prints the extracted root directory (it contains boot/vmlinuz-<rel>
# and lib/modules/<rel>/) on the last line of stdout.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${NVME_ACCEL_CACHE:-$HOME/.cache/nvme-accel}
dir=$cache/guest-kernel
log() { echo "guest-kernel: $*" >&2; }

suite=${GUEST_KERNEL_SUITE:-bookworm-backports}

# Fast path (the VM runner calls this on every run, and asking apt costs
# ~3 s): the answer can only change when the apt lists do.
current=$dir/current-$suite
if [ -s "$current" ] && [ -e "$(cat "$current")/.complete" ] &&
   [ -z "$(find /var/lib/apt/lists -maxdepth 1 -newer "$current" -print -quit 2>/dev/null)" ]; then
    cat "$current"
    exit 0
fi

pkg=$(bash "$here/kernel-version.sh" image "$suite")
rel=$(bash "$here/kernel-version.sh" release "$suite")
# Pin the exact version the suite's metapackage points at, so headers and
# image always come from the same upload.
ver=$(apt-cache madison "$pkg" | awk -v s="$suite/" '$0 ~ s { print $3; exit }')
[ -n "$ver" ] || { log "no version of $pkg found in $suite"; exit 1; }

root=$dir/$pkg-$ver
if [ -e "$root/.complete" ]; then
    echo "$root" > "$current"
    echo "$root"
    exit 0
fi

mkdir -p "$dir"
# apt-get download names the file <pkg>_<version, ":" as %3a>_<arch>.deb.
deb=$dir/${pkg}_${ver//:/%3a}_$(dpkg --print-architecture).deb
if [ ! -e "$deb" ]; then
    log "downloading $pkg=$ver"
    # apt-get download writes into the current directory.
    # As root, apt warns that its _apt sandbox user cannot write the cache;
    # say explicitly that downloading as root is intended.
    sandbox=()
    [ "$(id -u)" = 0 ] && sandbox=(-o APT::Sandbox::User=root)
    (cd "$dir" && apt-get download -q=2 "${sandbox[@]}" "$pkg=$ver" >&2)
    [ -e "$deb" ] || { log "apt-get download did not produce $deb"; exit 1; }
fi

log "extracting $(basename "$deb")"
rm -rf "$root.tmp"
dpkg-deb -x "$deb" "$root.tmp"
if [ ! -e "$root.tmp/boot/vmlinuz-$rel" ] || [ ! -d "$root.tmp/lib/modules/$rel" ]; then
    log "$deb does not contain boot/vmlinuz-$rel and lib/modules/$rel"
    exit 1
fi
# The package ships no modules.dep (its postinst runs depmod on install);
# generate it so the VM runner can resolve module dependencies.
depmod -b "$root.tmp" "$rel"
rm -rf "$root"
mv "$root.tmp" "$root"
touch "$root/.complete"
echo "$root" > "$current"
echo "$root"
