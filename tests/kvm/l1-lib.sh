# Sourced by the scripts that run in the KVM tier's L1 (the TCG test guest
# with kvm_amd loaded, tests/kvm/run.sh): boot a Linux guest (L2) under
# real KVM with this project's QEMU, talk QMP to that QEMU, wait for L2,
# and judge its console the way scripts/vm-run.sh judges L1's.
#
# One L2 at a time. Its files are /tmp/l2.*: .console (serial console),
# .err (QEMU's stderr), .qmp (QMP replies and events), .script (the test
# script's output), .kernel (everything else on the console).
#
# TAP: ok, notok and diag below count in n and fail; l2_judge renumbers
# L2's TAP lines into ours; bail ends the run with the plan so far.
#
# Environment: QEMU_BIN, L2_KERNEL, L2_INITRD; optional L2_MEM, L2_SMP,
# L2_EXTRA_APPEND.

L2_APPEND="console=ttyS0 panic=-1 quiet cryptomgr.notests ipv6.disable=1 init_on_alloc=0"
L2_BAD='Oops|BUG:|kernel BUG|WARNING:|Call Trace|possible (recursive|circular) locking|'\
'lockdep|KASAN:|UBSAN:|KFENCE:|general protection fault|Kernel panic|'\
'INFO: task .* blocked|rcu: INFO|self-detected stall|list_(add|del) corruption'

n=0 fail=0
ok()    { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $*"; }
# L2's console carries vm-run.sh's markers; L1's own output must not.
diag()  { sed 's/@@vm-run:/@@L2:/; s/^/#   /' "$@"; }
bail()  { echo "# bail out: $*"; echo "1..$n"; exit 1; }

now_s() { cut -d. -f1 /proc/uptime; }

# l2_start TEST QEMU-ARGS...: boot L2 running the test TEST of its
# initramfs (tests/kvm/l2.sh reads it from the kernel command line).
# -no-shutdown keeps the devices, and their counters, after L2 powers off,
# until l2_quit.
l2_start() {
    _test=$1
    shift
    rm -f /tmp/l2.*
    mkfifo /tmp/l2.qmp.in /tmp/l2.qmp.out
    : > /tmp/l2.console
    cat /tmp/l2.qmp.out > /tmp/l2.qmp &
    l2_cat=$!
    # Read-write: opening never blocks, and writes never block on a QEMU
    # that is gone.
    exec 3<> /tmp/l2.qmp.in
    l2_t0=$(now_s)
    "$QEMU_BIN" -accel kvm -cpu host -machine q35 -m "${L2_MEM:-1G}" \
        -overcommit mem-lock=on \
        -smp "${L2_SMP:-2}" -nodefaults -display none -no-reboot -no-shutdown \
        -serial file:/tmp/l2.console \
        -chardev pipe,id=qmp,path=/tmp/l2.qmp -mon chardev=qmp,mode=control \
        -kernel "$L2_KERNEL" -initrd "$L2_INITRD" \
        -append "$L2_APPEND nac.test=$_test ${L2_EXTRA_APPEND:-}" \
        "$@" < /dev/null > /tmp/l2.err 2>&1 &
    l2_pid=$!
    l2_qmp '{"execute": "qmp_capabilities"}'
}

l2_qmp() { echo "$1" >&3; }

# Running, and not a zombie nobody waited for yet.
l2_alive() {
    [ -r /proc/$l2_pid/stat ] && ! grep -q '^[0-9]* ([^)]*) Z' /proc/$l2_pid/stat
}

# l2_qmp_get PATH PROPERTY: the reply's line (waits up to 30 s).
l2_qom_get() {
    _before=$(grep -c '"return"\|"error"' /tmp/l2.qmp)
    l2_qmp "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"$1\", \"property\": \"$2\"}}"
    _i=0
    while [ $_i -lt 300 ] && l2_alive &&
          [ "$(grep -c '"return"\|"error"' /tmp/l2.qmp)" -le "$_before" ]; do
        sleep 0.1; _i=$((_i + 1))
    done
    grep '"return"\|"error"' /tmp/l2.qmp | tail -n1
}

# l2_wait TIMEOUT: until L2 powers off (state "shutdown"), resets (state
# "reset": -no-reboot turns a reset into a stop; with no "reboot:" or panic
# line on L2's console, that is a triple fault), its QEMU exits ("exited")
# or TIMEOUT seconds from l2_start pass ("timeout"). Sets l2_state and
# l2_secs.
l2_wait() {
    l2_state=timeout
    while [ $(($(now_s) - l2_t0)) -lt "$1" ]; do
        if grep '"event": *"SHUTDOWN"' /tmp/l2.qmp | grep -q '"guest-reset"'; then
            l2_state=reset; break
        fi
        if grep -q '"event": *"SHUTDOWN"' /tmp/l2.qmp; then l2_state=shutdown; break; fi
        if ! l2_alive; then l2_state=exited; break; fi
        sleep 0.5
    done
    l2_secs=$(($(now_s) - l2_t0))
}

# l2_wait_line PATTERN TIMEOUT: until L2's console has a line matching the
# extended regular expression PATTERN.
l2_wait_line() {
    _end=$(($(now_s) + $2))
    while [ "$(now_s)" -lt $_end ] && l2_alive; do
        tr -d '\r' < /tmp/l2.console | grep -qE "$1" && return 0
        sleep 0.2
    done
    tr -d '\r' < /tmp/l2.console | grep -qE "$1"
}

# l2_quit: ask QEMU to quit, kill it if it does not; sets l2_rc.
l2_quit() {
    l2_qmp '{"execute": "quit"}'
    _i=0
    while [ $_i -lt 100 ] && l2_alive; do sleep 0.2; _i=$((_i + 1)); done
    if l2_alive; then
        kill -9 $l2_pid
        l2_state="$l2_state, killed"
    fi
    wait $l2_pid 2>/dev/null
    l2_rc=$?
    exec 3>&-
    kill $l2_cat 2>/dev/null
    wait $l2_cat 2>/dev/null
}

# l2_judge WHAT PLAN [partial]: L2's TAP lines renumbered into ours, one
# "not ok" per line of the plan that never came, and (unless "partial":
# a run ended on purpose before L2's /init could dump its log) whether L2
# ran its script to the end with a clean kernel log and taint.
l2_judge() {
    _what=$1 _plan=$2 _partial=${3:-}
    tr -d '\r' < /tmp/l2.console > /tmp/l2.txt
    awk '/@@vm-run: script begin@@$/       { in_s = 1; next }
         /^@@vm-run: script exit [0-9]*@@$/ { in_s = 0 }
         { print > (in_s ? "/tmp/l2.script" : "/tmp/l2.kernel") }' /tmp/l2.txt
    touch /tmp/l2.script /tmp/l2.kernel
    _base=$n
    awk -v base=$_base -v what="$_what" '
        /^1\.\.[0-9]+$/    { next }
        /^ok [0-9]+/       { $2 = $2 + base; sub(/ - /, " - " what ": "); print; next }
        /^not ok [0-9]+/   { $3 = $3 + base; sub(/ - /, " - " what ": "); print; next }
        /^#/               { print; next }
        { print "# L2: " $0 }' /tmp/l2.script | sed 's/@@vm-run:/@@L2:/'
    _seen=$(grep -cE '^(not )?ok [0-9]+' /tmp/l2.script)
    _lfail=$(grep -c '^not ok [0-9]' /tmp/l2.script)
    n=$((n + _seen)) fail=$((fail + _lfail))
    while [ "$((n - _base))" -lt "$_plan" ]; do
        notok "$_what: L2 check $((n - _base + 1)) of $_plan never printed (L2: $l2_state after ${l2_secs} s)"
    done
    if [ -s /tmp/l2.err ]; then
        echo "# $_what: L2's QEMU said:"
        diag /tmp/l2.err
    fi
    [ "$_partial" = partial ] && return 0
    _rc=$(sed -n 's/^@@vm-run: script exit \([0-9]*\)@@$/\1/p' /tmp/l2.kernel | tail -n1)
    _taint=$(sed -n 's/^@@vm-run: tainted \([0-9]*\)@@$/\1/p' /tmp/l2.kernel | tail -n1)
    if [ -n "$_rc" ] && [ -n "$_taint" ] && { [ "$_rc" = 0 ] || [ "$_lfail" -gt 0 ]; }; then
        ok "$_what: L2 ran its script to the end (exit $_rc) in ${l2_secs} s"
    else
        notok "$_what: L2 ran its script to the end (exit '${_rc:-none}', $l2_state after ${l2_secs} s)"
        echo "# last lines of L2's console:"
        tail -n 30 /tmp/l2.txt | diag
    fi
    grep -E "$L2_BAD" /tmp/l2.kernel | grep -v '^@@vm-run:' | head -n 10 > /tmp/l2.bad
    if [ -z "$_taint" ]; then
        notok "$_what: L2 kernel log and taint (L2 never dumped them)"
    elif [ -s /tmp/l2.bad ] || [ $((_taint & ~(4096 | 8192))) -ne 0 ]; then
        notok "$_what: L2 kernel log has no oops/WARNING/call trace, taint $_taint"
        diag /tmp/l2.bad
    else
        ok "$_what: L2 kernel log has no oops/WARNING/call trace, taint $_taint"
    fi
    if [ "$l2_state" = shutdown ]; then
        ok "$_what: L2 powered off"
    else
        notok "$_what: L2 powered off (L2's QEMU: $l2_state after ${l2_secs} s)"
    fi
    if [ "$l2_state" = reset ] && ! grep -qE 'reboot: |Kernel panic' /tmp/l2.txt; then
        echo "# signature: L2 triple fault: reset with no reboot or panic on its console"
    fi
}

# l2_snapshot: KVM's counters (debugfs kvm/, mounted by the caller) and
# the CPU time of L2's QEMU threads and of kvm-accel's workers, now, as
# "key value" lines (times of /proc/PID/stat in 1/L2_HZ s, the workers'
# in ns), and the clock (us since boot). Start L2 with -name ...,debug-threads=on so that vCPU threads
# have their names.
l2_snapshot() {
    for c in exits mmio_exits io_exits irq_injections halt_exits irq_exits \
             irq_window_exits insn_emulation; do
        echo "$c $(cat /sys/kernel/debug/kvm/$c 2>/dev/null || echo 0)"
    done
    # utime, stime, guest_time: fields 14, 15, 43 after the "(comm)".
    for t in /proc/$l2_pid/task/*; do
        printf '%s ' "$(tr ' ' _ < "$t/comm")"
        sed 's/^.*) //' "$t/stat" 2>/dev/null
    done | awk '{ # vCPU threads: their utime includes guest time, and the
                  # two are sampled apart: count their total. The other
                  # threads of QEMU (main loop, iothreads, thread pool) are the
                  # userspace datapath.
                  if ($1 ~ /^CPU_[0-9]+\/KVM$/) { v += $13 + $14; next }
                  u += $13; s += $14; tu[$1] += $13; ts[$1] += $14 }
                END { printf "quser %d\nqsys %d\nvcpu %d\n", u, s, v
                      for (t in tu) printf "thread:%s %d\nthreadsys:%s %d\n", t, tu[t], t, ts[t] }'
    w=0
    for p in /proc/[0-9]*; do
        case "$(cat $p/comm 2>/dev/null)" in
            kacc/*) w=$((w + $(cut -d' ' -f1 $p/schedstat))) ;;
        esac
    done
    echo "worker $w"
    echo "clock $(awk '{ printf "%d", $1 * 1000000 }' /proc/uptime)"
}
L2_HZ=100    # USER_HZ: the unit of /proc/PID/stat times

# kstat JSON FIELD: a number from a kernel-stats reply.
kstat() { echo "$1" | sed -n "s/.*\"$2\": *\([0-9]*\).*/\1/p"; }
