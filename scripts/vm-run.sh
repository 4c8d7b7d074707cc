#!/bin/bash
# Run a test script inside a throw-away TCG guest booted from Debian's
# bookworm-backports kernel (scripts/guest-kernel.sh) with a busybox
# initramfs, and judge the result from the script's exit code *and* the
# guest kernel's log and taint flags.
#
#   scripts/vm-run.sh [options] -- script.sh [args...]
#
#   --timeout S          host-side limit for the whole VM run (default 300)
#   --module path.ko     extra module, put in /lib/modules/<rel>/extra/ and
#                        indexed, so both "insmod <path>" and "modprobe <name>"
#                        work (repeatable)
#   --kmod name          another module of the guest kernel to include, with
#                        its dependencies (repeatable; vfio, vfio_iommu_type1,
#                        mdev, null_blk and loop are always there)
#   --file host:guest    copy a host file or directory to a guest path
#                        (repeatable)
#   --bin /path/to/prog  copy a host program to the same path in the guest,
#                        with every shared library ldd lists and the dynamic
#                        loader, so e.g. nvme-cli, fio or mkfs.ext4 run in
#                        the busybox guest (repeatable; /usr/bin and
#                        /usr/sbin are on the guest's PATH, but busybox sh
#                        runs its own applets first: call a program that
#                        busybox also has, e.g. blkdiscard, by its full path)
#   --qemu-arg ARG       append one argument to the QEMU command line, e.g.
#                        to attach disks and devices (repeatable; one ARG per
#                        option: --qemu-arg -device --qemu-arg nvme-accel,...)
#   --mem SIZE           guest RAM (default 2G)
#   --smp N              guest CPUs (default 2)
#   --append ARGS        more kernel command line parameters (repeatable)
#   -v, --verbose        stream the guest console to stderr while it runs
#   --initrd-out FILE    build the initramfs (busybox, modules, --bin and
#                        --file contents, the script and the /init below)
#                        into FILE and exit 0 without booting: the guest of
#                        a guest (tests/kvm/run.sh); needs no QEMU
#
# Environment: QEMU=path overrides the QEMU binary (default: our build, from
# scripts/build-qemu.sh); NVME_ACCEL_CACHE moves the cache; VM_TCG_OPTS
# adds options to -accel tcg (e.g. thread=single); VM_CPU replaces the CPU
# model max and VM_CPU_OPTS adds options to it (e.g. mpx=off), for
# experiments with the outer guest. The guest runs
# under TCG (-accel tcg -cpu max); VM_ACCEL=kvm runs it with -accel kvm
# -cpu host instead, for real KVM hosts only (scripts/bench-guest.sh --accel
# kvm): the /dev/kvm of the machines this project is developed on cannot run
# stock kernels, and there is no fallback.
#
# In the guest, the script runs as PID 1's child under busybox sh with
# /proc, /sys, /dev and /tmp mounted, in /, with $VM_EXTRA_MODULES listing
# the guest paths of the --module files.
#
# Exit status: the script's; if the script passed, 1 when the kernel log
# shows an oops, BUG, WARNING, lockdep/KASAN/UBSAN report or call trace, or
# when the kernel is tainted by anything but O (out-of-tree) and E
# (unsigned) modules; 124 on timeout; 125 when the VM did not run the script
# to the end. The script's output goes to stdout; everything vm-run.sh says,
# including the reason for a failure, to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${NVME_ACCEL_CACHE:-$HOME/.cache/nvme-accel}
log() { echo "vm-run: $*" >&2; }
die() { log "$*"; exit 2; }

timeout_s=300 mem=2G smp=2 verbose=false initrd_out= append_extra=
modules=() files=() bins=() extra_qemu_args=()
kmods=(vfio vfio_iommu_type1 mdev null_blk loop)
while [ $# -gt 0 ]; do
    case "$1" in
        --timeout) timeout_s=${2:?--timeout needs seconds}; shift 2 ;;
        --module)  modules+=("${2:?--module needs a path}"); shift 2 ;;
        --kmod)    kmods+=("${2:?--kmod needs a module name}"); shift 2 ;;
        --file)    files+=("${2:?--file needs host:guest}"); shift 2 ;;
        --mem)     mem=${2:?--mem needs a size}; shift 2 ;;
        --smp)     smp=${2:?--smp needs a count}; shift 2 ;;
        --append)  append_extra="$append_extra ${2:?--append needs parameters}"; shift 2 ;;
        -v|--verbose) verbose=true; shift ;;
        --bin)     bins+=("${2:?--bin needs a path}"); shift 2 ;;
        --qemu-arg) extra_qemu_args+=("${2?--qemu-arg needs an argument}"); shift 2 ;;
        --initrd-out) initrd_out=${2:?--initrd-out needs a path}; shift 2 ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" |
                       sed 's/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[ $# -ge 1 ] || die "usage: vm-run.sh [options] -- script.sh [args...]"
script=$1; shift
[ -f "$script" ] || die "test script $script not found"
for m in ${modules[@]+"${modules[@]}"}; do
    [ -f "$m" ] || die "module $m not found"
done
for f in ${files[@]+"${files[@]}"}; do
    case "$f" in
        *:/*) [ -e "${f%%:*}" ] || die "--file source ${f%%:*} not found" ;;
        *) die "--file wants host:/absolute/guest/path, got $f" ;;
    esac
done
for b in ${bins[@]+"${bins[@]}"}; do
    case "$b" in
        /*) { [ -f "$b" ] && [ -x "$b" ]; } || die "--bin $b is not an executable file" ;;
        *) die "--bin wants an absolute host path, got $b" ;;
    esac
done
[[ $timeout_s =~ ^[0-9]+$ ]] || die "--timeout wants whole seconds"
case "${VM_ACCEL:-tcg}" in
    tcg) accel_args=(-accel "tcg${VM_TCG_OPTS:+,$VM_TCG_OPTS}" -cpu "${VM_CPU:-max}${VM_CPU_OPTS:+,$VM_CPU_OPTS}") ;;
    kvm) [ -w /dev/kvm ] || die "VM_ACCEL=kvm but /dev/kvm is not usable"
         accel_args=(-accel kvm -cpu host) ;;
    *) die "VM_ACCEL must be tcg or kvm, got $VM_ACCEL" ;;
esac

# --- guest kernel and QEMU -------------------------------------------------

kroot=$(bash "$here/guest-kernel.sh" | tail -n1)
rel=
for d in "$kroot"/lib/modules/*/; do rel=$(basename "$d"); done
[ -n "$rel" ] || die "no lib/modules/<release> in $kroot"
vmlinuz=$kroot/boot/vmlinuz-$rel
[ -f "$vmlinuz" ] || die "no $vmlinuz in $kroot"

if [ -n "$initrd_out" ]; then
    qemu=                                       # not booting: none needed
elif [ -n "${QEMU:-}" ]; then
    qemu=$QEMU
else
    # Our build, refreshed (a no-op when nothing changed).
    qemu=$(bash "$here/build-qemu.sh" | tail -n1)/qemu-system-x86_64 ||
        die "building QEMU failed (scripts/build-qemu.sh); QEMU=path runs another binary"
fi
[ -n "$initrd_out" ] || [ -x "$qemu" ] || die "QEMU binary $qemu is not executable"

# --- initramfs base: busybox + trimmed module tree, cached -----------------

# The guest has no libc: busybox must be the static build (ldd fails on it).
busybox=/bin/busybox
if [ ! -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
    die "need a static $busybox (package busybox-static; run scripts/setup-deps.sh)"
fi

# The key covers everything the base is made of; bump "layout" when the
# construction below changes.
key=$(printf '%s\n' layout=1 "$kroot" "${kmods[@]}" \
          "$(stat -L -c '%s %Y' "$busybox")" | sha256sum | cut -c1-16)
base=$cache/vm-initramfs/$rel-$key

build_base() {
    local tmp mdir deps path rp
    tmp=$(mktemp -d "$cache/vm-initramfs/.build.XXXXXX")
    mkdir -p "$tmp"/{bin,sbin,dev,proc,sys,tmp,run,root,etc}
    cp "$busybox" "$tmp/bin/busybox"
    local applet
    for applet in $("$busybox" --list); do
        [ "$applet" = busybox ] || ln -s busybox "$tmp/bin/$applet"
    done
    # Only the listed modules and what they need. modprobe on the host
    # resolves dependencies (softdeps and aliases too) from the full
    # tree's index that guest-kernel.sh generated.
    deps=$(modprobe -d "$kroot" -S "$rel" --show-depends -a "${kmods[@]}") ||
        { rm -rf "$tmp"; die "cannot resolve guest kernel modules ${kmods[*]}"; }
    mdir=$tmp/lib/modules/$rel
    mkdir -p "$mdir"
    while read -r verb path _; do
        [ "$verb" = insmod ] || continue        # "builtin x": nothing to copy
        rp=${path#*/lib/modules/"$rel"/}           # e.g. kernel/drivers/...
        mkdir -p "$mdir/$(dirname "$rp")"
        # Debian 6.12 ships modules xz-compressed: store them plain, so
        # neither busybox's loader nor the kernel has to decompress them.
        case "$path" in
            *.ko.xz)  xz -dc "$path" > "$mdir/${rp%.xz}" ;;
            *.ko.zst) zstd -q -dc "$path" > "$mdir/${rp%.zst}" ;;
            *.ko.gz)  gzip -dc "$path" > "$mdir/${rp%.gz}" ;;
            *.ko)     cp "$path" "$mdir/$rp" ;;
            *) rm -rf "$tmp"; die "unexpected module file $path" ;;
        esac
    done <<< "$deps"
    # depmod needs to know what is built in so "modprobe <builtin>" works.
    cp "$kroot/lib/modules/$rel"/modules.builtin{,.modinfo} "$mdir/"
    (cd "$mdir" && find kernel -name '*.ko' | sort) > "$mdir/modules.order"
    mkdir -p "$cache/vm-initramfs"
    if [ -e "$base" ]; then                     # another run was faster
        rm -rf "$tmp"
    else
        mv "$tmp" "$base" 2>/dev/null || rm -rf "$tmp"
    fi
}

mkdir -p "$cache/vm-initramfs" "$cache/vm-run"
[ -d "$base" ] || { log "building initramfs base for $rel (${kmods[*]})"; build_base; }

# --- per-run initramfs: base + modules, files, script, /init ---------------

run=$(mktemp -d "$cache/vm-run/run.XXXXXX")
stage=$run/root
consolelog=$run/console.log
# Old runs: keep a week of console logs, drop staging trees right away.
find "$cache/vm-run" -mindepth 1 -maxdepth 1 -name 'run.*' -mtime +7 \
    -exec rm -rf {} + 2>/dev/null || true
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    rm -rf "$stage" "$run/initrd.cpio" "$run/console.txt" "$run/script.out" \
        "$run/kernel.txt"
}
trap cleanup EXIT

# Hard links: the base stays untouched as long as we only add files and
# replace (never rewrite) the index files, which we delete first.
cp -al "$base" "$stage"
mdir=$stage/lib/modules/$rel
rm -f "$mdir"/modules.*.bin "$mdir"/modules.{dep,alias,symbols,softdep,devname,builtin.alias.bin}
guest_mods=()
if [ ${#modules[@]} -gt 0 ]; then
    mkdir -p "$mdir/extra"
    for m in "${modules[@]}"; do
        cp "$m" "$mdir/extra/"
        guest_mods+=("/lib/modules/$rel/extra/$(basename "$m")")
        echo "extra/$(basename "$m")" >> "$mdir/modules.order"
    done
fi
# A small index: busybox modprobe parses modules.dep in full on every call.
depmod -b "$stage" "$rel"

for f in ${files[@]+"${files[@]}"}; do
    src=${f%%:*} dst=${f#*:}
    mkdir -p "$stage$(dirname "$dst")"
    cp -a "$src" "$stage$dst"
done

# Programs with their libraries, each at its host path. The stage shares
# inodes with the cached base (cp -al above), so never write through an
# existing file or symlink there: remove it first, then copy.
put() {     # put HOST-PATH: copy the file (symlinks resolved) to the same path
    local dst=$stage$1
    mkdir -p "$(dirname "$dst")"
    rm -f "$dst"
    cp -L "$1" "$dst"
}
declare -A copied=()
for b in ${bins[@]+"${bins[@]}"}; do
    put "$b"
    # ldd prints "libx.so => /path (0x...)" and "/lib64/ld-linux... (0x...)";
    # it fails on static programs and scripts, which need nothing more.
    libs=$(ldd "$b" 2>/dev/null) || continue
    if grep -q 'not found' <<< "$libs"; then
        die "--bin $b: ldd cannot resolve $(grep 'not found' <<< "$libs" | head -n1)"
    fi
    while read -r lib; do
        if [ -z "$lib" ] || [ -n "${copied[$lib]+x}" ]; then continue; fi
        put "$lib"
        copied[$lib]=1
    done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<< "$libs")
done

mkdir -p "$stage/test"
cp "$script" "$stage/test/script"
# Arguments survive as one shell-quoted line that the guest's sh evaluates.
: > "$stage/test/args"
[ $# -eq 0 ] || printf '%q ' "$@" > "$stage/test/args"
printf '%s\n' "${guest_mods[*]-}" > "$stage/test/extra-modules"

cat > "$stage/init" <<'EOF'
#!/bin/sh
# PID 1 of the test guest: run /test/script, report, power off. The markers
# are what vm-run.sh looks for on the host.
/bin/busybox mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
# The initramfs has no /dev/console node, so the kernel could not give us
# stdio; take the console from devtmpfs.
exec </dev/console >/dev/console 2>&1
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
VM_EXTRA_MODULES=$(cat /test/extra-modules)
export VM_EXTRA_MODULES
# A fresh line first: firmware escape codes may precede our first output.
echo
echo "@@vm-run: script begin@@"
eval "set -- $(cat /test/args)"
sh /test/script "$@"
rc=$?
echo "@@vm-run: script exit $rc@@"
echo "@@vm-run: dmesg begin@@"
dmesg
echo "@@vm-run: dmesg end@@"
echo "@@vm-run: tainted $(cat /proc/sys/kernel/tainted)@@"
sync
poweroff -f
EOF
chmod +x "$stage/init" "$stage/test/script"

# newc, owned by root, uncompressed: a few MB that QEMU hands over at once.
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
     cpio -o -H newc -R 0:0 --quiet) > "$run/initrd.cpio"

if [ -n "$initrd_out" ]; then
    mv "$run/initrd.cpio" "$initrd_out"
    rm -rf "$stage"
    rmdir "$run"
    log "initramfs for $(basename "$script") on $rel: $initrd_out"
    exit 0
fi

# --- boot -------------------------------------------------------------------

append="console=ttyS0 panic=-1 quiet cryptomgr.notests ipv6.disable=1 init_on_alloc=0$append_extra"
# -nodefaults: q35's default empty CD-ROM on AHCI makes SeaBIOS probe for
# ~30 s under TCG before it boots the kernel (measured: 34 s vs 2 s to the
# kernel); without defaults the serial console must be asked for.
# -d cpu_reset: a guest that resets itself (a triple fault) makes QEMU
# exit 0 under -no-reboot with nothing on the console; the log says why.
qemu_args=("${accel_args[@]}" -machine q35 -m "$mem" -smp "$smp"
           -nodefaults -nographic -serial mon:stdio -no-reboot
           -d guest_errors,cpu_reset -D "$run/qemu.log"
           -kernel "$vmlinuz" -initrd "$run/initrd.cpio" -append "$append"
           ${extra_qemu_args[@]+"${extra_qemu_args[@]}"})
log "booting $rel with $(basename "$script") (console log: $consolelog)"
start=$SECONDS
set +e
if $verbose; then
    timeout -k 10 "$timeout_s" "$qemu" "${qemu_args[@]}" < /dev/null 2>&1 |
        tee "$consolelog" >&2
    qrc=${PIPESTATUS[0]}
else
    timeout -k 10 "$timeout_s" "$qemu" "${qemu_args[@]}" < /dev/null > "$consolelog" 2>&1
    qrc=$?
fi
set -e
elapsed=$((SECONDS - start))

# --- verdict ----------------------------------------------------------------

# The serial console ends lines with CR LF.
clean=$run/console.txt
tr -d '\r' < "$consolelog" > "$clean"

# Split the console into the script's own output (between the markers) and
# everything else: firmware, kernel console messages, the dmesg dump. Only
# the latter is scanned for kernel trouble, so a test may print "BUG:" or
# "WARNING:" itself without failing the run.
script_out=$run/script.out kernel_out=$run/kernel.txt
awk -v so="$script_out" -v ko="$kernel_out" '
    /@@vm-run: script begin@@$/       { in_s = 1; next }
    /^@@vm-run: script exit [0-9]*@@$/ { in_s = 0 }
    { print > (in_s ? so : ko) }' "$clean"
touch "$script_out" "$kernel_out"
cat "$script_out"

rc=$(sed -n 's/^@@vm-run: script exit \([0-9]*\)@@$/\1/p' "$kernel_out" | tail -n1)
tainted=$(sed -n 's/^@@vm-run: tainted \([0-9]*\)@@$/\1/p' "$kernel_out" | tail -n1)

# Every failure line starts "vm-run: FAIL: "; problems with the kernel
# rather than the script start "vm-run: FAIL: kernel: " (tests/*/run.sh
# count those as failures of their own).
fail() { log "FAIL: $*"; }

if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    fail "timeout after ${timeout_s} s; last console lines:"
    tail -n 20 "$clean" | sed 's/^/vm-run:   | /' >&2
    log "console log: $consolelog"
    exit 124
fi
if [ -z "$rc" ] || [ -z "$tainted" ]; then
    if grep -q 'Triple fault' "$run/qemu.log" 2>/dev/null; then
        fail "the guest did not run the script to the end: it triple-faulted (QEMU log $run/qemu.log)"
    fi
    fail "the guest did not run the script to the end (QEMU exit $qrc); last console lines:"
    tail -n 30 "$clean" | sed 's/^/vm-run:   | /' >&2
    log "console log: $consolelog"
    exit 125
fi

# Kernel trouble on the console (covers messages printed before a crash)
# or in the dmesg dump (covers messages below the console loglevel). The
# patterns are the kernel's own headlines for these reports.
bad='Oops|BUG:|kernel BUG|WARNING:|Call Trace|possible (recursive|circular) locking|'\
'lockdep|KASAN:|UBSAN:|KFENCE:|general protection fault|Kernel panic|'\
'INFO: task .* blocked|rcu: INFO|self-detected stall|list_(add|del) corruption'
reasons=()
hits=$(grep -E "$bad" "$kernel_out" | grep -v '^@@vm-run:' | head -n 10 || true)
if [ -n "$hits" ]; then
    while IFS= read -r l; do reasons+=("kernel: $l"); done <<< "$hits"
fi
# Taint bits O (4096, out-of-tree) and E (8192, unsigned) are what loading
# our module costs; anything else (W after a WARN, D after an oops, ...) is
# a problem.
if [ $(( tainted & ~(4096 | 8192) )) -ne 0 ]; then
    reasons+=("kernel: tainted $tainted (allowed: O=4096, E=8192)")
fi

log "guest ran $(basename "$script") in ${elapsed} s: exit $rc, tainted $tainted"
for r in ${reasons[@]+"${reasons[@]}"}; do fail "$r"; done
if [ "$rc" -ne 0 ]; then
    fail "script exited $rc"
    log "console log: $consolelog"
    exit "$rc"
fi
if [ ${#reasons[@]} -gt 0 ]; then
    log "console log: $consolelog"
    exit 1
fi
log "ok (console log: $consolelog)"
exit 0
