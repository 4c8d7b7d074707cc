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
# 5 minutes on the 2-core development machine when nothing else runs
# (measured 293 s end to end; 475 s while two other TCG guests shared the
# cores; the last line before the summary says how long this run took).
# Nearly all of it is L2, TCG inside TCG, where work costs 10-25x what it
# costs in L1 (see "Nested runs fit CI" in DESIGN.md): L1 boots in 3 s;
# L2 runs its script after ~80 s (its QEMU loading the 57 MB vmlinux,
# ~60 s of kernel boot), the nvme probe takes ~15 s, the dd round trip
# ~30 s, and fio ~130 s: ~16 ms for each of its 8192 4 KiB commands, the
# per-command cost of L2's kernel and fio and of its QEMU (bytes are cheap:
# the dd round trip moves 64 MiB in 1 MiB commands). Then ~20 s for L2's
# power-off and L1's checks.
#
# Environment: QEMU=path runs that build's qemu-system-x86_64 in L1 and L2
# (its qemu-bundle/ and pc-bios/optionrom/ are copied along; default:
# scripts/build-qemu.sh's build); NESTED_L2_TIMEOUT=S gives L2 S seconds
# (default 840).
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

# Debian's fio links the libraries of every I/O engine it has (ceph, gluster,
# rdma, pmem, nbd: 83 MB with theirs, vm-run.sh --bin would copy them all);
# L2 would spend minutes unpacking them. L2 needs the libaio engine only:
# copy fio with the libraries that has, and give it a stub of each other
# library, defining (with fio's symbol versions) what fio imports from it
# as a function that says so and aborts. About 3 MB.
fio_for_l2() {      # fio_for_l2 FIO DIR: DIR/{lib,interp}/ for the guest
    local fio=$1 dir=$2 interp lib path vs
    local kept=" libc.so.6 libm.so.6 libz.so.1 libaio.so.1 libnuma.so.1 "
    mkdir -p "$dir/lib" "$dir/interp" "$dir/src"
    interp=$(readelf -l "$fio" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p')
    [ -n "$interp" ] || return 1
    cp -L "$interp" "$dir/interp/$(basename "$interp")"
    # "libgfapi.so.0 GFAPI_6.0": the versions fio needs, per library.
    readelf -V "$fio" | awk '/File: / { f = $5 } /Name: / && f { print f, $3 }' \
        > "$dir/src/versions"
    # "glfs_init GFAPI_3.4.0": fio's imports ("-": unversioned).
    nm -D --undefined-only "$fio" |
        awk '$1 == "U" { n = split($2, a, "@"); print a[1], (n > 1 ? a[n] : "-") }' |
        sort -u > "$dir/src/imports"
    : > "$dir/src/provided"
    for lib in $(readelf -d "$fio" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
        [[ $kept == *" $lib "* ]] || continue
        path=$(ldd "$fio" | awk -v l="$lib" '$1 == l && $2 == "=>" { print $3 }')
        [ -f "$path" ] || return 1
        cp -L "$path" "$dir/lib/$lib"
        nm -D --defined-only "$path" | awk '{ sub(/@.*/, "", $3); print $3 }' \
            >> "$dir/src/provided"
    done
    for lib in $(readelf -d "$fio" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
        [[ $kept == *" $lib "* ]] && continue
        # What fio imports in this library's versions, or, for a library
        # without versions, every unversioned import nothing kept provides.
        awk -v l="$lib" '
            FILENAME ~ /versions$/ { if ($1 == l) { v[$2] = 1; nv++ }; next }
            FILENAME ~ /provided$/ { p[$1] = 1; next }
            !($1 in p) && (nv ? ($2 in v) : $2 == "-")' \
            "$dir/src/versions" "$dir/src/provided" "$dir/src/imports" > "$dir/src/$lib.syms"
        {
            echo '#include <stdio.h>'
            echo '#include <stdlib.h>'
            echo 'static void stub(const char *f) { fprintf(stderr, "%s: a stub in the nested guest\n", f); abort(); }'
            awk '{ printf "void %s(void) { stub(\"%s\"); }\n", $1, $1 }' "$dir/src/$lib.syms"
        } > "$dir/src/$lib.c"
        awk -v l="$lib" '
            FILENAME ~ /versions$/ { if ($1 == l) vs[++nv] = $2; next }
            { s[$2] = s[$2] " " $1 ";"; seen[$2] = 1 }
            END { for (i = 1; i <= nv; i++)
                      printf "%s {%s%s };\n", vs[i], (vs[i] in seen) ? " global:" : "", s[vs[i]] }' \
            "$dir/src/versions" "$dir/src/$lib.syms" > "$dir/src/$lib.map"
        vs=()
        # shellcheck disable=SC2054  # one gcc argument
        [ -s "$dir/src/$lib.map" ] && vs=(-Wl,--version-script="$dir/src/$lib.map")
        gcc -shared -fPIC -O1 -w -Wl,-soname,"$lib" ${vs[@]+"${vs[@]}"} \
            -o "$dir/lib/$lib" "$dir/src/$lib.c" || return 1
    done
    echo "$interp"
}

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/nvme-accel-nested.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
out=$tmp/l1.out err=$tmp/l1.err
interp=$(fio_for_l2 "$fio" "$tmp/fio") || setup_fail "fio with stub libraries for L2"
# The libraries go where the dynamic loader looks by default.
libdir=$(dirname "$(ldd "$fio" | awk '$1 == "libc.so.6" { print $3 }')")
bash "$repo/scripts/vm-run.sh" --kmod nvme --file "$fio:/usr/bin/fio" \
    --file "$tmp/fio/lib:$libdir" --file "$tmp/fio/interp:$(dirname "$interp")" \
    --initrd-out "$tmp/l2.cpio" -- "$here/nested-l2.sh" 2> "$err" ||
    { cat "$err" >&2; setup_fail "build L2's initramfs (vm-run.sh --initrd-out)"; }
l2_timeout=${NESTED_L2_TIMEOUT:-840}
[[ $l2_timeout =~ ^[0-9]+$ ]] || setup_fail "NESTED_L2_TIMEOUT=$l2_timeout is whole seconds"
l2_plan=$(sed -n 's/^plan=\([0-9]*\)$/\1/p' "$here/nested-l2.sh")
l1_plan=$(sed -n 's/^own_plan=\([0-9]*\)$/\1/p' "$here/nested-l1.sh")

# --- L1 -----------------------------------------------------------------------------

l1=(env QEMU="$qemu" bash "$repo/scripts/vm-run.sh" ${verbose[@]+"${verbose[@]}"}
    --timeout $((l2_timeout + 180)) --mem 3G --smp 2 --module "$ko" --bin "$qemu"
    --file "$build/qemu-bundle:$build/qemu-bundle"
    --file "$build/pc-bios/optionrom:$build/pc-bios/optionrom"
    --file /usr/share/seabios:/usr/share/seabios
    --file "$vmlinux:/nested/vmlinux" --file "$tmp/l2.cpio:/nested/l2.cpio"
    -- "$here/nested-l1.sh" "$qemu" /nested/vmlinux /nested/l2.cpio
    "$l2_plan" "$l2_timeout" "$l1_verbose")
set +e
if [ "$l1_verbose" = 1 ]; then
    # vm-run.sh streams L1's console on stderr: show it as it comes.
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
