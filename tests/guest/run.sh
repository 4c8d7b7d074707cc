#!/bin/bash
# Linux guest test: boot the TCG test guest (scripts/vm-run.sh) with
# `-device nvme-accel` on a 256 MiB raw image (cache=none, aio=native) and
# run linux-nvme.sh in it: Linux's own nvme driver, nvme-cli, fio with
# verification, partitions + ext4 + checksums, discard and write zeroes.
# Afterwards the host checks the image itself: the partition table, a clean
# e2fsck of the file system and the checksums of the files the guest wrote.
#
#   tests/guest/run.sh [-v]          (-v streams the guest console)
#
# Environment: QEMU=path runs that binary (default: scripts/build-qemu.sh's
# build); TMPDIR holds the image (default /var/tmp: it must support
# O_DIRECT, which tmpfs does not).
#
# Prints the guest's TAP lines, then the host's; a VM that did not finish,
# a kernel oops/WARNING or an unexpected taint each count as one more
# failure. Last line: "N passed, N failed". Exit status 0 iff none failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
verbose=()
[ "${1:-}" = -v ] && verbose=(-v)

passed=0 failed=0 n=0
ok()    { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
summary() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }

# The guest's tools come from the host (Debian packages, see
# scripts/setup-deps.sh); vm-run.sh copies them with their libraries.
bins=()
for t in nvme fio sfdisk mkfs.ext4 e2fsck blkdiscard fstrim; do
    if p=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$t"); then
        bins+=(--bin "$p")
    else
        notok "host has $t (run scripts/setup-deps.sh)"
    fi
done
for t in debugfs e2fsck sfdisk; do
    PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$t" > /dev/null ||
        notok "host has $t (run scripts/setup-deps.sh)"
done
[ "$failed" -eq 0 ] || { summary; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/nvme-accel-guest.XXXXXX")
out=$tmp/guest.out err=$tmp/guest.err img=$tmp/disk.img
trap 'rm -rf "$tmp"' EXIT
truncate -s 256M "$img"

mke2fs_conf=()
[ -f /etc/mke2fs.conf ] && mke2fs_conf=(--file /etc/mke2fs.conf:/etc/mke2fs.conf)

start=$SECONDS
vmrc=0
# vm-run.sh prints the guest script's output on stdout and its own verdict
# on stderr; keep both for counting, then show them.
bash "$repo/scripts/vm-run.sh" ${verbose[@]+"${verbose[@]}"} \
    --timeout 480 --smp 2 --mem 2G --kmod nvme --kmod ext4 \
    "${bins[@]}" "${mke2fs_conf[@]}" \
    --qemu-arg -drive \
    --qemu-arg "file=$img,if=none,id=d0,format=raw,cache=none,aio=native" \
    --qemu-arg -device --qemu-arg nvme-accel,drive=d0,serial=guest0 \
    -- "$here/linux-nvme.sh" > "$out" 2> "$err" || vmrc=$?
vm_s=$((SECONDS - start))
cat "$err" >&2
cat "$out"

passed=$(grep -c '^ok ' "$out" || true)
failed=$(grep -c '^not ok ' "$out" || true)
n=$(grep -cE '^(not )?ok ' "$out" || true)
if grep -qE '^vm-run: FAIL: (kernel:|timeout|the guest did not)' "$err"; then
    notok "VM run: $(grep -E '^vm-run: FAIL: ' "$err" | head -n1 | sed 's/^vm-run: FAIL: //')"
elif [ "$vmrc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    notok "VM run: linux-nvme.sh exited $vmrc"
fi

# --- the host's view of what the guest wrote --------------------------------

. "$here/host-check.sh"
host_check "$img" "$out" "$tmp"

echo "# guest test: VM ${vm_s} s, total $((SECONDS - start)) s"
summary
