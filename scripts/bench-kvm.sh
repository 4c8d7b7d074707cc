#!/bin/bash
# Per-I/O cost of every way to give a VM a disk, under real KVM, side by
# side in one run on the same backend: nvme-accel with its queues in
# kvm-accel (accel=kernel), nvme-accel with its queues in QEMU (accel=off,
# without and with an iothread), upstream -device nvme (ioeventfd=on),
# virtio-blk-pci (iothread), and the backend alone. fio in the guest for
# each workload, interleaved rounds, medians.
#
# Here KVM is one level down (tests/kvm/run.sh explains): the TCG test
# guest (L1) loads kvm_amd, kvm-accel and the backend — null_blk with poll
# queues, or a loop device on a 1 GiB file in RAM (--backend file) — and
# boots a Linux guest (L2) under KVM per disk and round.
# Around each fio run, L1 reads KVM's counters (debugfs kvm/: exits,
# mmio_exits + io_exits = exits to QEMU userspace, irq_injections) and the
# CPU time of L2's QEMU threads (userspace = utime - guest_time, kernel =
# stime) and of kvm-accel's worker. Everything here runs 50-100x slower
# than on hardware: compare the columns, do not quote the numbers.
#
#   scripts/bench-kvm.sh [--rounds N] [--seconds S] [--runs 1,32]
#                        [--devs kern,user,useri,upst,virt]
#                        [--backend nullb|file] [--check]
#                        [--save FILE | --from FILE]
#
# --runs (or --qd): the workloads, tests/kvm/bench-fio.sh: N is 4 KiB
# random reads at queue depth N; jN the same with one job per vCPU (2);
# wN 128 KiB sequential writes at depth N; idle: no I/O (what each disk
# costs an idle guest). The issue's whole matrix:
#   --runs idle,1,8,32,128,j32,w8 --devs kern,user,useri,upst,virt
# (about 3 minutes per disk and round, here).
#
# --check: also print TAP for the bar kernel mode must meet (exits to QEMU
# userspace <= 0.01 per I/O at every depth; QEMU userspace CPU per I/O <=
# 5% of accel=off's at the deepest queue; with an idle run, kvm-accel's
# worker under 1% of a core) and end with "N passed, N failed".
# --save FILE keeps L1's output; --from FILE prints the table (and with
# --check the bar) of a saved run again, without running anything (give
# the same --runs, --devs, --rounds and --backend).
# On a real KVM host with a real NVMe disk, the same comparison is
# scripts/bench-guest.sh --accel kvm --disk /dev/nvmeXnY.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=3 secs=6 qds=1,32 devs=kern,user,upst,virt kind=nullb check=false
save= from=
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --seconds) secs=$2; shift 2 ;;
        --qd|--runs) qds=$2; shift 2 ;;
        --backend) kind=$2; shift 2 ;;
        --devs) devs=$2; shift 2 ;;
        --check) check=true; shift ;;
        --save) save=${2:?--save needs a file}; shift 2 ;;
        --from) from=${2:?--from needs a file}; shift 2 ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-kvm: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $rounds =~ ^[1-9][0-9]*$ && $secs =~ ^[1-9][0-9]*$ && $qds =~ ^(idle|[jw]?[1-9][0-9]*)(,(idle|[jw]?[1-9][0-9]*))*$ &&
   $devs =~ ^(kern|user|useri|upst|virt)(,(kern|user|useri|upst|virt))*$ && $kind =~ ^(nullb|file)$ ]] ||
    { echo "bench-kvm: --rounds, --seconds: positive integers; --runs: a comma list of N, jN, wN, idle; --devs: of kern, user, useri, upst, virt; --backend: nullb or file" >&2; exit 2; }

[ -z "$from" ] || [ -r "$from" ] || { echo "bench-kvm: cannot read $from" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/nvme-accel-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Build everything, boot L1, run the rounds: L1's output in $tmp/out.
run_l1() {
    local ko build qemu vmlinux fio nruns ndevs timeout

    ko=$(bash "$repo/scripts/build-module.sh" | tail -n1)
    build=$(bash "$repo/scripts/build-qemu.sh" | tail -n1)
    qemu=$build/qemu-system-x86_64
    vmlinux=$(bash "$repo/scripts/guest-vmlinux.sh" | tail -n1)
    fio=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v fio)
    bash "$repo/scripts/vm-run.sh" --kmod nvme --kmod virtio_blk --bin "$fio" \
        --file "$repo/tests/kvm/l2-bench.sh:/kvm/l2-bench.sh" \
        --file "$repo/tests/kvm/bench-fio.sh:/kvm/bench-fio.sh" \
        --initrd-out "$tmp/l2.cpio" -- "$repo/tests/kvm/l2.sh" 2> "$tmp/err" ||
        { cat "$tmp/err" >&2; exit 1; }
    # L1's boot and set-up, the backend's runs, then what L1 gives each
    # L2 at most (bench-l1.sh: bench_one's deadline, l2_wait).
    nruns=$(echo "${qds//,/ }" | wc -w) ndevs=$(echo "${devs//,/ }" | wc -w)
    timeout=$((600 + rounds * (nruns * (secs + 15) + ndevs * (180 + nruns * (secs + 60)))))
    . "$repo/tests/kvm/l1-host.sh"
    kvm_l1_args "$build" "$ko" "$vmlinux" /kvm
    QEMU=$qemu bash "$repo/scripts/vm-run.sh" --timeout $timeout --mem 4G \
        "${l1_args[@]}" --bin "$fio" --file "$tmp/l2.cpio:/kvm/l2.cpio" \
        --file "$repo/tests/kvm/bench-fio.sh:/kvm/bench-fio.sh" \
        -- "$repo/tests/kvm/bench-l1.sh" "$qemu" /kvm/vmlinux /kvm/l2.cpio \
        "$rounds" "$secs" "$qds" "$devs" "$kind" > "$tmp/out" 2> "$tmp/err"
}

if [ -n "$from" ]; then
    cp "$from" "$tmp/out"
    : > "$tmp/err"
    vmrc=0
else
    set +e
    run_l1
    vmrc=$?
    set -e
    [ -z "$save" ] || cp "$tmp/out" "$save"
fi
# L1's own checks become diagnostics: the verdict is ours, below.
grep -vE '^# bench-raw: |^1\.\.' "$tmp/out" | sed -E 's/^(not )?ok [0-9]+ - /# L1: \1ok: /' || true
[ $vmrc -eq 0 ] || { echo "# L1 run failed (exit $vmrc):"; tail -n 20 "$tmp/err" | sed 's/^/#   /'; }

# --- medians per disk and depth --------------------------------------------------

sed -n 's/^# bench-raw: //p' "$tmp/out" > "$tmp/raw"
# DEV RUN IOPS MEAN P99 EXITS/IO UEXITS/IO IRQ/IO QUSER_US/IO QSYS_US/IO
#   VCPU_US/IO WORKER_US/IO DEVIRQ/IO WORKER_% (of a core, over the run)
awk '
    function med(key,    n, i, j, t, v) {
        n = split(vals[key], v, " ")
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        return n ? v[int((n + 1) / 2)] : "-"
    }
    function add(k, x) { vals[k] = vals[k] " " x }
    {
        k = $1 " " $2; keys[k] = 1; ios = $4
        add(k " iops", $5); add(k " mean", $6); add(k " p99", $7)
        if ($8 != "-" && ios > 0) {
            add(k " exits", $8 / ios); add(k " uexits", ($9 + $10) / ios)
            add(k " irq", $11 / ios); add(k " quser", $12 / ios)
            add(k " qsys", $13 / ios); add(k " vcpu", $14 / ios); add(k " worker", $15 / ios)
            if ($16 != "" && $16 != "-") add(k " dirq", $16 / ios)
        }
        if ($17 > 0) add(k " wkpct", 100 * $15 / $17)
    }
    END {
        for (k in keys) {
            printf "%s", k
            split("iops mean p99 exits uexits irq quser qsys vcpu worker dirq wkpct", f, " ")
            for (i = 1; i <= 12; i++) printf " %s", med(k " " f[i])
            printf "\n"
        }
    }' "$tmp/raw" | sort -k2,2n -k1,1 > "$tmp/med"

name() {
    case "$1" in
        kern) echo "nvme-accel kernel" ;; user) echo "nvme-accel QEMU" ;;
        useri) echo "nvme-accel QEMU io" ;;
        upst) echo "nvme ioeventfd=on" ;; virt) echo "virtio-blk iothr." ;;
        backend) echo "backend in L1" ;;
    esac
}
echo
echo "fio libaio on $kind, median of $rounds rounds of $secs s. Runs: N = 4 KiB random"
echo "reads at QD N, jN = the same with one job per vCPU (2), wN = 128 KiB"
echo "sequential writes at QD N. \"QEMU io\": accel=off with an iothread. Per I/O:"
echo "KVM exits, exits to QEMU userspace (mmio+io), interrupts injected (all,"
echo "the guest's timer and IPIs too) and kvm-accel's own (dirqs); CPU us of"
echo "QEMU's own threads (main loop, iothreads, thread pool) in userspace and"
echo "kernel, of its vCPU threads (guest + KVM + userspace exits), of kvm-accel's"
echo "worker, and the worker's share of a core over the run (nested KVM: compare,"
echo "do not quote)"
printf '%-18s %4s %7s %8s %8s %6s %8s %5s %5s %8s %8s %8s %7s %5s\n' config run IOPS mean-us p99-us \
    exits uexits irqs dirqs qemu-usr qemu-sys vcpus worker wk%
for qd in ${qds//,/ }; do
    for d in kern user useri upst virt backend; do
        read -r _ _ iops mean p99 ex uex irq qu qs vc wk dirq wkp < <(awk -v k="$d" -v q="$qd" '$1 == k && $2 == q' "$tmp/med") || continue
        fmt() { [ "$1" = - ] && echo - || awk -v x="$1" -v p="$2" 'BEGIN { printf "%.*f", p, x }'; }
        printf '%-18s %4s %7s %8s %8s %6s %8s %5s %5s %8s %8s %8s %7s %5s\n' "$(name $d)" "$qd" \
            "$iops" "$mean" "$p99" "$(fmt "$ex" 2)" "$(fmt "$uex" 4)" "$(fmt "$irq" 2)" \
            "$(fmt "$dirq" 2)" "$(fmt "$qu" 1)" "$(fmt "$qs" 1)" "$(fmt "$vc" 1)" "$(fmt "$wk" 1)" \
            "$(fmt "$wkp" 1)"
    done
done
echo
echo "IOPS ratios, nvme-accel kernel vs:"
for qd in ${qds//,/ }; do
    [ "$qd" = idle ] && continue
    # A configuration that did not run has no ratio: "-", not a number.
    awk -v q="$qd" '$2 == q { iops[$1] = $3 }
        function r(d) { return iops["kern"] && iops[d] ? sprintf("%.2f", iops["kern"] / iops[d]) : "-" }
        END { printf "  %-5s nvme-accel QEMU %s, QEMU io %s, nvme %s, virtio-blk %s, backend %s\n", q,
              r("user"), r("useri"), r("upst"), r("virt"), r("backend") }' "$tmp/med"
done

$check || exit $vmrc

# --- the bar -----------------------------------------------------------------------

passed=0 failed=0 n=0
ok()    { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
# The bar is about nvme-accel: its two modes must have run every round
# and depth. The other rows are comparisons: a run of theirs that did not
# finish is reported, not failed on.
nq=$(echo "${qds//,/ }" | wc -w)
for d in kern user; do
    [[ ,$devs, == *,$d,* ]] || continue
    got=$(awk -v d=$d '$1 == d' "$tmp/raw" | wc -l)
    if [ "$got" -eq $((rounds * nq)) ]; then
        ok "$(name $d): all $got runs measured"
    else
        notok "$(name $d): $got of $((rounds * nq)) runs measured (L1 exit $vmrc)"
    fi
done
for d in useri upst virt; do
    [[ ,$devs, == *,$d,* ]] || continue
    got=$(awk -v d=$d '$1 == d' "$tmp/raw" | wc -l)
    [ "$got" -eq $((rounds * nq)) ] ||
        echo "# note: $(name $d): only $got of $((rounds * nq)) runs finished; see its L2 dmesg lines above"
done
if grep -qE '^vm-run: FAIL: (kernel:|timeout|the guest did not)' "$tmp/err"; then
    notok "L1: $(grep -E '^vm-run: FAIL: ' "$tmp/err" | head -n1 | sed 's/^vm-run: FAIL: //')"
fi
# The deepest plain random-read run, else the last run.
deep=$(echo "${qds//,/ }" | tr ' ' '\n' | { grep -E '^[0-9]+$' || true; } | sort -n | tail -n1)
deep=${deep:-${qds##*,}}
for qd in ${qds//,/ }; do
    [ "$qd" = idle ] && continue
    uex=$(awk -v q="$qd" '$1 == "kern" && $2 == q { print $7 }' "$tmp/med")
    if [ -n "$uex" ] && [ "$uex" != - ] && awk -v x="$uex" 'BEGIN { exit !(x <= 0.01) }'; then
        ok "kernel mode, run $qd: $uex exits to QEMU userspace per I/O (<= 0.01)"
    else
        notok "kernel mode, run $qd: exits to QEMU userspace per I/O <= 0.01 (got '${uex:-none}')"
    fi
done
if [[ ,$qds, == *,idle,* && ,$devs, == *,kern,* ]]; then
    wkp=$(awk '$1 == "kern" && $2 == "idle" { print $14 }' "$tmp/med")
    if [ -n "$wkp" ] && [ "$wkp" != - ] && awk -v x="$wkp" 'BEGIN { exit !(x <= 1) }'; then
        ok "kernel mode, idle guest: kvm-accel's worker used $wkp% of a core (<= 1%)"
    else
        notok "kernel mode, idle guest: kvm-accel's worker <= 1% of a core (got '${wkp:-none}')"
    fi
fi
# Against accel=off (without an iothread if it ran, else with one).
off=user
[[ ,$devs, == *,user,* ]] || off=useri
ku=$(awk -v q="$deep" '$1 == "kern" && $2 == q { print $9 }' "$tmp/med")
uu=$(awk -v q="$deep" -v d=$off '$1 == d && $2 == q { print $9 }' "$tmp/med")
if [[ ,$devs, != *,kern,* || ,$devs, != *,$off,* ]]; then
    echo "# note: no QEMU CPU bar without both kern and user (or useri) in --devs"
elif [ -n "$ku" ] && [ -n "$uu" ] && [ "$ku" != - ] && [ "$uu" != - ] &&
   awk -v k="$ku" -v u="$uu" 'BEGIN { exit !(u > 0 && k <= 0.05 * u) }'; then
    ok "kernel mode, run $deep: QEMU userspace CPU $ku us per I/O, $(awk -v k="$ku" -v u="$uu" 'BEGIN { printf "%.1f", 100 * k / u }')% of $(name $off)'s $uu us (<= 5%)"
else
    notok "kernel mode, run $deep: QEMU userspace CPU per I/O <= 5% of $(name $off)'s (kernel '${ku:-none}' us, off '${uu:-none}' us)"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
