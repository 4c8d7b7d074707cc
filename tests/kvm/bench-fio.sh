# Sourced by tests/kvm/bench-l1.sh (the backend alone, in L1) and
# tests/kvm/l2-bench.sh (each disk, in L2): one fio run of a workload of
# scripts/bench-kvm.sh --runs, printed as "IOS IOPS MEAN_US P99_US"
# (nothing if fio failed).
#   N    4 KiB random reads at queue depth N, one job
#   jN   the same with one job per CPU (of the machine it runs on: L1
#        and L2 both have 2), each at depth N
#   wN   128 KiB sequential writes at queue depth N
#   idle no I/O: the guest sits there (what the datapath costs then)
bench_fio() {   # WORKLOAD DEVICE SECONDS
    if [ "$1" = idle ]; then
        sleep "$3"
        echo "0 0 0.0 -"
        return
    fi
    _depth=${1#[jw]} _rw=randread _kib=4 _jobs=1 _off=0
    case $1 in
        j*) _jobs=$(nproc) ;;
        w*) _rw=write _kib=128 _off=41 ;;   # terse v3: write fields follow
    esac
    fio --name=b --filename="$2" --direct=1 --ioengine=libaio --rw=$_rw \
        --bs=${_kib}k --iodepth="$_depth" --numjobs=$_jobs --group_reporting \
        --time_based --runtime="$3" --size=1G --norandommap \
        --output-format=terse --terse-version=3 > /tmp/fio.t 2>&1
    # terse v3 (reads; writes 41 fields on): 6 KiB, 8 IOPS, 16 completion
    # latency mean (us), 18-37 its percentiles. Its line only, not fio's
    # warnings.
    awk -F';' -v o=$_off -v kib=$_kib '/^3;/ {
        p99 = "?"
        for (i = 18 + o; i <= 37 + o; i++)
            if ($i ~ /^99\.000000%=/) { split($i, a, "="); p99 = a[2] }
        printf "%d %d %.1f %s\n", $(6 + o) / kib, $(8 + o), $(16 + o), p99
    }' /tmp/fio.t
}
