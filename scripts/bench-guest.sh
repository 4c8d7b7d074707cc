#!/bin/bash
# Side-by-side guest benchmark: the same fio jobs, in the same guest
# (scripts/vm-run.sh: same kernel, -smp, -m) on the same backing store
# (raw, cache=none, aio=native), against
#   nvme-accel   -device nvme-accel,drive=d0,serial=bench0
#   nvme         -device nvme,drive=d0,serial=bench0,ioeventfd=on  (upstream)
#   virtio-blk   -device virtio-blk-pci,drive=d0
# and against the backend itself (fio on the host, same jobs, direct=1).
# Prints one table (device, job, IOPS, mean latency) and the ratios
# nvme-accel/nvme and nvme-accel/virtio-blk. Absolute numbers on a shared
# machine mean little; the ratios from one run are the result.
#
#   scripts/bench-guest.sh [options]
#
#   --accel tcg|kvm   how the guests run (default tcg). kvm means -accel kvm
#                     -cpu host and needs a real KVM host: the /dev/kvm of
#                     our development machines cannot run stock kernels
#                     ("KVM internal error ... emulation failure"), so the
#                     default there is, and must stay, tcg.
#   --disk PATH       benchmark this file or block device instead of a
#                     scratch image; the jobs WRITE to it (a block device
#                     also needs --force)
#   --force           allow --disk on a block device (its data is lost)
#   --size SIZE       size of the scratch image (default 512M; it is filled
#                     with data first, so reads reach the storage)
#   --runtime S       seconds per job (default 10; time_based), plus
#   --ramp S          seconds of warm-up per job (default 2)
#   --devices LIST    comma-separated subset of nvme-accel,nvme,virtio-blk,host
#                     (default: all four)
#   --rounds N        run the whole device list N times, in turn, and
#                     report the median (default 1; on a shared machine 3
#                     or more, background load moves single runs by 2x)
#   --smp N, --mem SIZE   guest CPUs and RAM (default 2, 1G)
#   --json FILE       also write all results as JSON
#   -v                stream the guest consoles to stderr
#
# Jobs (ioengine=libaio, direct=1, one job each): 4k random read QD1,
# 4k random read QD32, 128k sequential write QD8.
#
# Environment: QEMU=path runs that binary (default: scripts/build-qemu.sh's
# build); TMPDIR holds the scratch image (default /var/tmp: it must support
# O_DIRECT, which tmpfs does not).
#
# Exit status: 0 when every run produced results, 1 otherwise.
#
# --- README: running it on a KVM host with a real NVMe drive -----------------
#
#   On a host with working KVM (Intel VT-x/AMD-V, /dev/kvm usable by you),
#   a kernel image for the guest (scripts/guest-kernel.sh fetches Debian's)
#   and this repository built (scripts/setup-deps.sh, scripts/build-qemu.sh):
#
#     # a scratch file on the file system under test:
#     TMPDIR=/mnt/nvme scripts/bench-guest.sh --accel kvm --runtime 30
#     # or a whole namespace (ALL DATA ON IT IS OVERWRITTEN):
#     scripts/bench-guest.sh --accel kvm --disk /dev/nvme1n1 --force \
#         --runtime 30 --smp 4 --mem 4G --json results.json
#
#   For stable numbers: idle host, performance CPU governor, the drive's
#   own fio numbers ("host" rows) well above what one guest queue can
#   reach, several runs. Compare the ratios, not the absolute IOPS; the
#   published anchor (nvme-mdev, 4k QD1 on an Optane 900P) is host 109.7K
#   IOPS, in-kernel NVMe emulation 102.7K, virtio-blk 45.1K, QEMU's
#   userspace nvme 30.6K.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
log() { echo "bench-guest: $*" >&2; }
die() { log "$*"; exit 2; }

accel=tcg disk='' force=false size=512M runtime=10 ramp=2 smp=2 mem=1G
devices=nvme-accel,nvme,virtio-blk,host json_out='' verbose=() rounds=1
while [ $# -gt 0 ]; do
    case "$1" in
        --accel)   accel=${2:?--accel needs tcg or kvm}; shift 2 ;;
        --disk)    disk=${2:?--disk needs a path}; shift 2 ;;
        --force)   force=true; shift ;;
        --size)    size=${2:?--size needs a size}; shift 2 ;;
        --runtime) runtime=${2:?--runtime needs seconds}; shift 2 ;;
        --ramp)    ramp=${2:?--ramp needs seconds}; shift 2 ;;
        --devices) devices=${2:?--devices needs a list}; shift 2 ;;
        --rounds)  rounds=${2:?--rounds needs a count}; shift 2 ;;
        --smp)     smp=${2:?--smp needs a count}; shift 2 ;;
        --mem)     mem=${2:?--mem needs a size}; shift 2 ;;
        --json)    json_out=${2:?--json needs a file}; shift 2 ;;
        -v)        verbose=(-v); shift ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" |
                       sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
case "$accel" in tcg|kvm) ;; *) die "--accel must be tcg or kvm" ;; esac
{ [[ $runtime =~ ^[0-9]+$ ]] && [[ $ramp =~ ^[0-9]+$ ]]; } ||
    die "--runtime and --ramp want whole seconds"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds wants a count >= 1"
IFS=, read -r -a devlist <<< "$devices"
for d in "${devlist[@]}"; do
    case "$d" in nvme-accel|nvme|virtio-blk|host) ;;
        *) die "unknown device $d (nvme-accel, nvme, virtio-blk, host)" ;; esac
done
for t in fio python3; do
    command -v "$t" > /dev/null || die "need $t on the host (scripts/setup-deps.sh)"
done
fio=$(command -v fio)

# The guest needs QEMU; resolve it once, so all three runs use one binary.
if [ -z "${QEMU:-}" ]; then
    QEMU=$(bash "$here/build-qemu.sh" | tail -n1)/qemu-system-x86_64 ||
        die "building QEMU failed (scripts/build-qemu.sh)"
fi
export QEMU
export VM_ACCEL=$accel

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/nvme-accel-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- the backing store ----------------------------------------------------------

if [ -n "$disk" ]; then
    if [ -b "$disk" ]; then
        $force || die "--disk $disk is a block device: the jobs overwrite it; add --force"
    elif [ ! -f "$disk" ]; then
        die "--disk $disk is neither a file nor a block device"
    fi
    img=$disk
else
    img=$tmp/bench.img
    log "filling a $size scratch image (reads must reach the storage, not holes)"
    bytes=$(numfmt --from=iec "${size%B}")
    dd if=/dev/zero of="$img" bs=1M count=$((bytes >> 20)) oflag=direct \
        conv=fsync status=none
fi

# --- the jobs: one line each, "name|label|fio options" -------------------------

cat > "$tmp/jobs" <<'EOF'
randread-4k-qd1|4k randread QD1|--rw=randread --bs=4k --iodepth=1
randread-4k-qd32|4k randread QD32|--rw=randread --bs=4k --iodepth=32
seqwrite-128k|128k seq write QD8|--rw=write --bs=128k --iodepth=8
EOF
common="--ioengine=libaio --direct=1 --time_based --runtime=$runtime --ramp_time=$ramp --numjobs=1 --norandommap --randrepeat=0 --output-format=json"

# The guest side: find the disk, run each job, print fio's JSON between
# markers (run on the host side of the console by the parser below).
cat > "$tmp/guest.sh" <<'EOF'
#!/bin/sh
# bench-guest.sh's guest script: KIND COMMON-FIO-OPTIONS
kind=$1 common=$2
PATH=/usr/sbin:/usr/bin:/bin:/sbin
case "$kind" in
    virtio-blk) modprobe virtio_blk; dev=/dev/vda ;;
    *)          modprobe nvme; dev=/dev/nvme0n1 ;;
esac
i=0
while [ ! -b $dev ]; do
    [ $i -ge 300 ] && { echo "@@bench error: $dev did not appear@@"; dmesg | tail -n 30; exit 1; }
    sleep 0.2; i=$((i + 1))
done
dmesg | grep -E 'nvme0: [0-9]+/|virtio_blk' | sed 's/^/# /'
rc=0
while IFS='|' read -r name _ opts; do
    [ -n "$name" ] || continue
    # shellcheck disable=SC2086  # option lists
    if fio --name="$name" --filename=$dev $common $opts --output=/tmp/out.json \
            > /tmp/fio.err 2>&1; then
        echo "@@bench json $name begin@@"
        cat /tmp/out.json
        echo "@@bench json $name end@@"
    else
        echo "@@bench error: $name: fio exit $?@@"
        sed 's/^/# /' /tmp/fio.err /tmp/out.json 2>/dev/null | tail -n 20
        rc=1
    fi
done < /bench/jobs
exit $rc
EOF

njobs=$(wc -l < "$tmp/jobs")
vm_timeout=$((180 + njobs * (runtime + ramp) * 3))
fail=0

# Results: host.NAME.ROUND.json, guest.DEVICE.ROUND.out (fio's JSON framed
# by markers in the guest's output).
run_host() {
    local round=$1 name opts
    log "host: fio on $img"
    while IFS='|' read -r name _ opts; do
        # shellcheck disable=SC2086  # option lists
        if ! "$fio" --name="$name" --filename="$img" $common $opts \
                --output="$tmp/host.$name.$round.json" > "$tmp/host.err" 2>&1; then
            log "host: fio $name failed:"; sed 's/^/  /' "$tmp/host.err" >&2
            rm -f "$tmp/host.$name.$round.json"
            fail=1
        fi
    done < "$tmp/jobs"
}

run_guest() {
    local dev=$1 round=$2 devarg
    case "$dev" in
        nvme-accel) devarg=nvme-accel,drive=d0,serial=bench0 ;;
        nvme)       devarg=nvme,drive=d0,serial=bench0,ioeventfd=on ;;
        virtio-blk) devarg=virtio-blk-pci,drive=d0 ;;
    esac
    log "$dev: booting the guest ($accel, -smp $smp, -m $mem)"
    local start=$SECONDS rc=0
    bash "$here/vm-run.sh" ${verbose[@]+"${verbose[@]}"} \
        --timeout "$vm_timeout" --smp "$smp" --mem "$mem" \
        --kmod nvme --kmod virtio_blk --bin "$fio" \
        --file "$tmp/jobs:/bench/jobs" \
        --qemu-arg -drive \
        --qemu-arg "file=$img,if=none,id=d0,format=raw,cache=none,aio=native" \
        --qemu-arg -device --qemu-arg "$devarg" \
        -- "$tmp/guest.sh" "$dev" "$common" \
        > "$tmp/guest.$dev.$round.out" 2> "$tmp/guest.$dev.err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        log "$dev: the guest run failed (exit $rc):"
        sed 's/^/  /' "$tmp/guest.$dev.err" >&2
        grep -E '^(@@bench error|# )' "$tmp/guest.$dev.$round.out" | sed 's/^/  /' >&2 || true
        fail=1
    fi
    log "$dev: $((SECONDS - start)) s"
}

start=$SECONDS
for ((round = 1; round <= rounds; round++)); do
    [ "$rounds" -eq 1 ] || log "round $round of $rounds"
    for d in "${devlist[@]}"; do
        if [ "$d" = host ]; then run_host "$round"; else run_guest "$d" "$round"; fi
    done
done
total_s=$((SECONDS - start))

# --- the table ---------------------------------------------------------------------

python3 - "$tmp" "$accel" "$img" "$total_s" "$json_out" "$rounds" "${devlist[@]}" <<'EOF' || fail=1
import json, os, re, statistics, sys

tmp, accel, img, total_s, json_out, rounds, *devices = sys.argv[1:]
rounds = int(rounds)
jobs = [l.split("|", 2) for l in open(os.path.join(tmp, "jobs")).read().splitlines() if l]

def from_fio(doc, name):
    """IOPS and mean completion-to-submission latency (us) of one fio job."""
    for job in doc.get("jobs", []):
        if job.get("jobname") != name:
            continue
        if job.get("error"):
            return None
        iops = job["read"]["iops"] + job["write"]["iops"]
        # Latency of the direction that did the work.
        side = job["read"] if job["read"]["io_bytes"] >= job["write"]["io_bytes"] else job["write"]
        return {"iops": iops, "lat_us": side["lat_ns"]["mean"] / 1000.0}
    return None

runs = {}               # (device, job) -> [{"iops", "lat_us"} per round]
for rnd in range(1, rounds + 1):
    for dev in devices:
        if dev == "host":
            for name, _, _ in jobs:
                p = os.path.join(tmp, f"host.{name}.{rnd}.json")
                if os.path.exists(p):
                    r = from_fio(json.load(open(p)), name)
                    if r:
                        runs.setdefault((dev, name), []).append(r)
            continue
        p = os.path.join(tmp, f"guest.{dev}.{rnd}.out")
        text = open(p).read() if os.path.exists(p) else ""
        for m in re.finditer(r"^@@bench json (\S+) begin@@\n(.*?)^@@bench json \1 end@@$",
                             text, re.S | re.M):
            name, body = m.group(1), m.group(2)
            # fio may print notes before its JSON; the document starts at "{".
            body = body[body.index("{"):] if "{" in body else body
            try:
                r = from_fio(json.loads(body), name)
            except ValueError as e:
                print(f"bench-guest: {dev} {name}: bad JSON from the guest: {e}",
                      file=sys.stderr)
                continue
            if r:
                runs.setdefault((dev, name), []).append(r)

# The median over the rounds (the value itself for one round); a device
# with a failed round has no result.
results = {k: {"iops": statistics.median(r["iops"] for r in v),
               "lat_us": statistics.median(r["lat_us"] for r in v),
               "iops_min": min(r["iops"] for r in v),
               "iops_max": max(r["iops"] for r in v)}
           for k, v in runs.items() if len(v) == rounds}

label = {name: lab for name, lab, _ in jobs}
print(f"# bench-guest: accel={accel}, backend {img}, {rounds} round(s), {total_s} s in all")
spread = rounds > 1
print(f"{'device':<12} {'job':<20} {'IOPS':>10} {'mean lat (us)':>14}"
      + (f" {'IOPS min-max':>16}" if spread else ""))
missing = 0
for name, _, _ in jobs:
    for dev in devices:
        r = results.get((dev, name))
        if r:
            print(f"{dev:<12} {label[name]:<20} {r['iops']:>10.0f} {r['lat_us']:>14.1f}"
                  + (f" {r['iops_min']:>8.0f}-{r['iops_max']:<7.0f}" if spread else ""))
        else:
            print(f"{dev:<12} {label[name]:<20} {'FAILED':>10} {'-':>14}")
            missing += 1

def ratio(a, b, key):
    ra, rb = results.get((a, name)), results.get((b, name))
    if not ra or not rb or not rb[key]:
        return "-"
    return f"{ra[key] / rb[key]:.2f}"

others = [b for b in ("nvme", "virtio-blk", "host")
          if "nvme-accel" in devices and b in devices]
if others:
    print()
    print("ratios nvme-accel/X (IOPS above 1 and latency below 1 favour nvme-accel)")
    print(f"{'job':<20} " + " ".join(f"{'/' + b + ' IOPS':>17} {'/' + b + ' lat':>16}" for b in others))
    for name, _, _ in jobs:
        print(f"{label[name]:<20} " + " ".join(
            f"{ratio('nvme-accel', b, 'iops'):>17} {ratio('nvme-accel', b, 'lat_us'):>16}"
            for b in others))
if json_out:
    with open(json_out, "w") as f:
        json.dump({"accel": accel, "backend": img, "rounds": rounds,
                   "results": [{"device": d, "job": j, **r} for (d, j), r in results.items()],
                   "runs": [{"device": d, "job": j, "round": i + 1, **r}
                            for (d, j), v in runs.items() for i, r in enumerate(v)]},
                  f, indent=2)
sys.exit(1 if missing else 0)
EOF
exit "$fail"
