#!/bin/bash
# vmm-qemu.sh - L2 VMM adapter for QEMU, the reference VMM (runs inside L1).
# Contract: /sandbox/vmm-adapter-contract.txt. Maps the generic options to a
# qemu-system-x86_64 -accel kvm command line, prints it to stderr as
# "VMM-CMD: ...", and execs it.
set -u
QEMU=${QEMU:-qemu-system-x86_64}
unsupported() { echo "UNSUPPORTED $*" >&2; exit 2; }

kernel="" initrd="" cmdline="" memory=256 vcpus=1 machine=q35
devices=()
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || unsupported "$1 (missing value)"
    case "$1" in
    --kernel) kernel=$2 ;;
    --initrd) initrd=$2 ;;
    --cmdline) cmdline=$2 ;;
    --memory) memory=$2 ;;
    --vcpus) vcpus=$2 ;;
    --machine) machine=$2 ;;
    --device) devices+=("$2") ;;
    *) unsupported "option $1" ;;
    esac
    shift 2
done
[ -n "$kernel" ] && [ -n "$initrd" ] || unsupported "run without --kernel/--initrd"

# microvm: virtio devices use virtio-mmio; PCI-only devices need pcie=on (a
# GPEX host bridge found through ACPI). rtc=on because without an RTC the
# guest's rtc_cmos probe costs ~3 s under KVM; microvm-nortc is plain
# `-M microvm` (for benchmarks).
case "$machine" in
q35) transport=pci; machine_opts=q35 ;;
microvm) transport=device; machine_opts="microvm,rtc=on" ;;
microvm-nortc) transport=device; machine_opts="microvm" ;;
*) unsupported "machine $machine" ;;
esac
needs_pci=no

# value KEY SPEC -> the value of KEY=... in "kind,k=v,k=v"
value() { local kv; for kv in ${2//,/ }; do [ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }; done; }

args=()
n=0
for spec in "${devices[@]}"; do
    n=$((n + 1))
    kind=${spec%%,*}
    case "$kind" in
    pvpanic)
        needs_pci=yes
        args+=(-device pvpanic-pci -action panic=exit-failure) ;;
    virtio-block)
        ro=off; [ "$(value readonly "$spec")" = true ] && ro=on
        args+=(-drive "file=$(value path "$spec"),if=none,id=blk$n,format=raw,readonly=$ro"
               -device "virtio-blk-$transport,drive=blk$n") ;;
    virtio-net)
        mac=$(value mac "$spec")
        rom=""; [ $transport = pci ] && rom=",romfile="
        args+=(-netdev "tap,id=net$n,ifname=$(value tap "$spec"),script=no,downscript=no"
               -device "virtio-net-$transport,netdev=net$n${mac:+,mac=$mac}$rom") ;;
    vfio)
        needs_pci=yes
        args+=(-device "vfio-pci,host=$(value host "$spec")") ;;
    ivshmem)
        needs_pci=yes
        args+=(-object "memory-backend-file,id=shm$n,mem-path=$(value path "$spec"),size=$(value size_mib "$spec")M,share=on"
               -device "ivshmem-plain,memdev=shm$n") ;;
    *) unsupported "device $kind" ;;
    esac
done
[ $transport = device ] && [ $needs_pci = yes ] && machine_opts="$machine_opts,pcie=on"

# debug-threads: QEMU names its threads ("CPU 0/KVM", "worker"), so the per-thread CPU (l1/driver.sh) can tell
# the vCPU from the I/O thread
cmd=("$QEMU" -accel kvm -M "$machine_opts" -cpu host -m "$memory" -smp "$vcpus"
     -nodefaults -no-user-config -display none -no-reboot -serial stdio -name debug-threads=on
     -kernel "$kernel" -initrd "$initrd" -append "$cmdline" "${args[@]}")
printf 'VMM-CMD:' >&2; printf ' %q' "${cmd[@]}" >&2; echo >&2
exec "${cmd[@]}"
