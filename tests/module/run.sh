#!/bin/bash
# Module tests: build kvm-accel.ko against the guest kernel's headers and the
# kacc-test program, then boot the TCG test guest (scripts/vm-run.sh) twice:
#
#   1. load-unload.sh: load and unload the module;
#   2. kacc.sh: kacc-test drives the module like QEMU and a guest driver
#      would (null_blk and a loop device as backends, every ioctl's error
#      paths, bad guest commands, unmapping and killing the owner mid-I/O),
#      then a short benchmark against fio on the same null_blk device, which
#      only has to run.
#
#   tests/module/run.sh
#
# Counts the guests' TAP lines; a failed build, a VM that did not finish,
# a kernel oops/WARNING or an unexpected taint each count as one more
# failure. Last line: "N passed, N failed". Exit status 0 iff none failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${NVME_ACCEL_CACHE:-$HOME/.cache/nvme-accel}
passed=0 failed=0
summary() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }

start=$SECONDS
if ! ko=$(bash "$repo/scripts/build-module.sh" | tail -n1) || [ ! -f "$ko" ]; then
    echo "not ok - build kvm-accel.ko (see the build output above)"
    failed=$((failed + 1))
    summary
    exit 1
fi
build_s=$((SECONDS - start))

# A static binary: the guest has no C library.
mkdir -p "$cache"
kacc_test=$cache/kacc-test
if ! gcc -O2 -g -static -pthread -Wall -Wextra -Werror -I "$repo/include" \
        -o "$kacc_test" "$here/kacc-test.c"; then
    echo "not ok - build kacc-test (see the compiler output above)"
    failed=$((failed + 1))
    summary
    exit 1
fi

out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# vm_stage <timeout> <vm-run options...> -- <script> [args]: run one guest,
# show its output, add its TAP results and its verdict to the counts.
vm_stage() {
    local timeout=$1 vmrc=0 script p f
    shift
    script=$(printf '%s\n' "$@" | sed -n '/^--$/{n;p;q}')
    bash "$repo/scripts/vm-run.sh" --timeout "$timeout" --module "$ko" "$@" \
        > "$out" 2> "$err" || vmrc=$?
    cat "$err" >&2
    cat "$out"
    p=$(grep -c '^ok ' "$out" || true)
    f=$(grep -c '^not ok ' "$out" || true)
    passed=$((passed + p))
    failed=$((failed + f))
    # The VM's own verdict: a kernel problem, a timeout or a crash is a
    # failure even when every TAP line passed; so is a script that failed
    # without saying "not ok" (e.g. it bailed out or died).
    if grep -qE '^vm-run: FAIL: (kernel:|timeout|the guest did not)' "$err"; then
        echo "not ok - VM run of $(basename "$script"): $(grep -E '^vm-run: FAIL: ' "$err" |
            head -n1 | sed 's/^vm-run: FAIL: //')"
        failed=$((failed + 1))
    elif [ "$vmrc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - VM run: $(basename "$script") exited $vmrc"
        failed=$((failed + 1))
    fi
}

vm_stage 300 -- "$here/load-unload.sh"

# fio for the benchmark's comparison, when the host has it.
fio_args=()
[ -x /usr/bin/fio ] && fio_args=(--bin /usr/bin/fio)
# slub_debug: redzones, poisoning and sanity checks catch a use after free
# or an overrun in the module (Debian's kernel has no KASAN).
# An emulated NVMe disk throttled to 2 ms per I/O, whose driver has a poll
# queue: a device too slow to be worth polling (adaptive polling test).
nvme_img=$cache/kacc-nvme.img
truncate -s 64M "$nvme_img"
vm_stage 600 --kmod configfs --kmod nvme \
    --append slub_debug=FZPU --append nvme.poll_queues=1 \
    --qemu-arg -drive \
    --qemu-arg "file=$nvme_img,if=none,id=nv0,format=raw,throttling.iops-total=500" \
    --qemu-arg -device --qemu-arg nvme,drive=nv0,serial=kaccpoll \
    --file "$kacc_test:/usr/bin/kacc-test" ${fio_args[@]+"${fio_args[@]}"} \
    -- "$here/kacc.sh" bench 1

echo "# module build ${build_s} s, total $((SECONDS - start)) s"
summary
