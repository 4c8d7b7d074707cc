# shellcheck shell=bash
# Sourced by the host scripts that boot the TCG test guest as a KVM host
# one level down (tests/kvm/run.sh, scripts/bench-kvm.sh, scripts/run.sh).
#
# kvm_l1_args QEMU_BUILD KO VMLINUX DIR: sets the array l1_args to the
# scripts/vm-run.sh options that make L1 of it: 2 vCPUs with kvm_amd,
# kvm-accel.ko (KO, may be empty), this project's QEMU from QEMU_BUILD at
# the same path, its option ROMs and SeaBIOS, and the L2 kernel VMLINUX
# plus tests/kvm/l1-lib.sh in DIR.
#
# L1's kernel keeps the memory of L2 where it is: no transparent huge pages
# (khugepaged would collapse L2's memory) and no compaction of the locked
# memory L2's QEMU runs in (-overcommit mem-lock=on, l1-lib.sh). Either
# makes L1's KVM change L2's nested page tables while L2 runs, which is
# where TCG's emulated SVM is weakest.
kvm_l1_args() {
    l1_args=(--smp 2 --kmod kvm_amd --bin "$1/qemu-system-x86_64"
        --file "$1/qemu-bundle:$1/qemu-bundle"
        --file "$1/pc-bios/optionrom:$1/pc-bios/optionrom"
        --file /usr/share/seabios:/usr/share/seabios
        --file "$3:$4/vmlinux"
        --file "$(dirname "${BASH_SOURCE[0]}")/l1-lib.sh:$4/l1-lib.sh"
        --append "transparent_hugepage=never sysctl.vm.compact_unevictable_allowed=0")
    [ -z "$2" ] || l1_args+=(--module "$2")
}
