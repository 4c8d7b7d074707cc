#!/bin/bash
# Fetch Debian's QEMU source (trixie, 10.0.x, whatever Debian revision is
# current), overlay this repository's QEMU-tree files and hook patches, and
# build a minimal qemu-system-x86_64 plus our qtests.
#
# Everything lives under $NVME_ACCEL_CACHE (default ~/.cache/nvme-accel) so a
# fresh clone reuses the previous build: only what changed is rebuilt.
#
# Output: prints the build directory on the last line of stdout.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${NVME_ACCEL_CACHE:-$HOME/.cache/nvme-accel}
# "asan": ASan+UBSan; "fuzz": clang, libFuzzer, ASan+UBSan, qemu-fuzz-x86_64
variant=${QEMU_VARIANT:-default}
tree=$cache/qemu-tree
build=$cache/qemu-build-$variant
log() { echo "build-qemu: $*" >&2; }

mkdir -p "$cache/dl"

# 1. Source: the newest trixie qemu source package.
fetch_source() {
    local dsc
    (cd "$cache/dl" && apt-get source -qq --download-only qemu/trixie >&2)
    dsc=$(ls -t "$cache"/dl/qemu_*.dsc | head -n1)
    echo "$dsc"
}
dsc=$(fetch_source)
srcver=$(basename "$dsc" .dsc)
pristine=$cache/src-$srcver
if [ ! -d "$pristine" ]; then
    log "unpacking $srcver"
    rm -rf "$pristine.tmp"
    dpkg-source --no-check -x "$dsc" "$pristine.tmp" >/dev/null
    mv "$pristine.tmp" "$pristine"
fi

# 2. Working tree: pristine + hook patches. Recreated when the source or the
# patch set changes; files touched by the old or new patch set are copied
# fresh so their mtimes move forward and ninja rebuilds them.
patches=("$repo"/patches/qemu/*.patch)
stamp_want=$( { echo "$srcver"; cat "${patches[@]}"; } | sha256sum | cut -d' ' -f1)
stamp_have=$(cat "$tree/.nvme-accel-stamp" 2>/dev/null || true)
if [ ! -d "$tree" ] || ! grep -qx "$srcver" "$tree/.nvme-accel-srcver" 2>/dev/null; then
    log "creating work tree from $srcver"
    rm -rf "$tree" "$cache"/qemu-build-*
    cp -a "$pristine" "$tree"
    echo "$srcver" > "$tree/.nvme-accel-srcver"
    stamp_have=
fi
if [ "$stamp_want" != "$stamp_have" ]; then
    log "applying hook patches"
    touched=$(cat "$tree/.nvme-accel-patched" 2>/dev/null || true)
    for p in "${patches[@]}"; do
        touched+=$'\n'$(grep -E '^\+\+\+ ' "$p" | sed -E 's#^\+\+\+ [ab]/##; s#\t.*##')
    done
    printf '%s\n' "$touched" | sort -u | grep -v '^$' > "$tree/.nvme-accel-patched"
    while read -r f; do
        if [ -e "$pristine/$f" ]; then cp "$pristine/$f" "$tree/$f"; else rm -f "$tree/$f"; fi
    done < "$tree/.nvme-accel-patched"
    for p in "${patches[@]}"; do
        patch -d "$tree" -p1 -s --no-backup-if-mismatch < "$p"
    done
    echo "$stamp_want" > "$tree/.nvme-accel-stamp"
fi

# 3. Overlay: our files at the same paths. Copy only what differs so that
# unchanged files keep their mtime; remove files we overlaid before and no
# longer ship.
overlay_dirs=(accel-core include hw tests/qtest docs configs)
manifest_new=$(cd "$repo" && for d in "${overlay_dirs[@]}"; do
                   [ -d "$d" ] && find "$d" -type f; done | sort)
manifest_old=$(cat "$tree/.nvme-accel-overlay" 2>/dev/null || true)
comm -23 <(printf '%s\n' "$manifest_old" | grep -v '^$' || true) \
         <(printf '%s\n' "$manifest_new") |
while read -r f; do
    if [ -e "$pristine/$f" ]; then cp "$pristine/$f" "$tree/$f"; else rm -f "$tree/$f"; fi
done
# A file named X.append is appended to QEMU's X (used for trace-events).
printf '%s\n' "$manifest_new" | while read -r f; do
    dst=$f
    mkdir -p "$tree/$(dirname "$f")"
    if [ "${f%.append}" != "$f" ]; then
        dst=${f%.append}
        cat "$pristine/$dst" "$repo/$f" > "$tree/$dst.new"
    else
        cp "$repo/$f" "$tree/$dst.new"
    fi
    if cmp -s "$tree/$dst.new" "$tree/$dst"; then
        rm "$tree/$dst.new"
    else
        mv "$tree/$dst.new" "$tree/$dst"
    fi
done
printf '%s\n' "$manifest_new" > "$tree/.nvme-accel-overlay"

# 4. Configure (once per variant and option set) and build.
conf=(--target-list=x86_64-softmmu
      --without-default-features --without-default-devices
      --with-devices-x86_64=nvme-accel
      --enable-kvm --enable-linux-aio --enable-tcg
      --disable-docs --disable-install-blobs --disable-download
      --firmwarepath=/usr/share/seabios:/usr/share/qemu
      --python=/usr/bin/python3)
case "$variant" in
    default) ;;
    asan) conf+=(--enable-asan --enable-ubsan) ;;
    # generic-fuzz (tests/qtest/fuzz/) needs clang's libFuzzer; only this
    # variant uses clang.
    fuzz) conf+=(--cc=clang --cxx=clang++
                 --enable-fuzzing --enable-asan --enable-ubsan) ;;
    *) log "unknown QEMU_VARIANT $variant"; exit 1 ;;
esac
# "roms": configure must have found the -m32 compiler for the option ROMs.
conf_stamp=$(printf '%s\n' "${conf[@]}" roms | sha256sum | cut -d' ' -f1)
configure() {
    (cd "$build" && "$tree/configure" "${conf[@]}" >configure.log 2>&1)
}
if [ ! -f "$build/build.ninja" ] || [ "$(cat "$build/.conf-stamp" 2>/dev/null)" != "$conf_stamp" ]; then
    log "configuring ($variant)"
    mkdir -p "$build"
    # Reconfigure in place (objects survive); start afresh if that fails.
    if ! configure; then
        rm -rf "$build"; mkdir -p "$build"
        configure || { tail -n 30 "$build/configure.log" >&2; exit 1; }
    fi
    echo "$conf_stamp" > "$build/.conf-stamp"
fi
if [ "$variant" = fuzz ]; then
    targets=(qemu-fuzz-x86_64 ${QEMU_EXTRA_TARGETS:-})
else
    targets=(qemu-system-x86_64 ${QEMU_EXTRA_TARGETS:-})
fi
log "building ${targets[*]}"
ninja -C "$build" -j"$(nproc)" "${targets[@]}" >&2
# Debian strips prebuilt blobs: build the x86 option ROMs (linuxboot_dma for
# -kernel, pvh, kvmvapic) from source. The fuzz variant boots nothing, and
# configure finds no -m32 compiler for them with clang.
if [ "$variant" != fuzz ]; then
    make -s -C "$build/pc-bios/optionrom" >&2
fi
# Run from the build tree, QEMU looks for firmware under qemu-bundle/ (the
# configured --firmwarepath and datadir relocated there): point it at
# Debian's SeaBIOS and at the ROMs just built.
mkdir -p "$build/qemu-bundle/usr/share" "$build/qemu-bundle/usr/local/share/qemu"
ln -sfn /usr/share/seabios "$build/qemu-bundle/usr/share/seabios"
for rom in "$build"/pc-bios/optionrom/*.bin; do
    [ -e "$rom" ] || continue
    ln -sfn "$rom" "$build/qemu-bundle/usr/local/share/qemu/$(basename "$rom")"
done
echo "$build"
