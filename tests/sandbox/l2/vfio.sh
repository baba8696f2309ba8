# vfio scenario of the L2 guest, sourced by /init (busybox sh) after /virtio.sh (its BAR helpers and free_slot).
# The L1 driver passes QEMU's "edu" device (1234:11e8; BAR0: 1 MiB of 32-bit MMIO) through VFIO. No driver binds to
# it in L2: `echo 1 > enable` turns memory decoding on and busybox devmem works on BAR0 (the kernel's
# STRICT_DEVMEM lets /dev/mem reach MMIO that no driver claims). edu registers (BAR0 offsets): +0 ID 0x010000ed,
# +4 liveness (reads back the inverse of what was written), +8 factorial (write n, read n!), +0x20 status (bit 0:
# computing).
#
# Then the BAR-rollback scenario on the passed-through device: out-of-range addresses written into BAR0 through the
# sysfs config file must read back as the old address, with the device still answering there; a legal move to a
# free aligned address in the window must work, the registers answering at the new address only.

# edu_check BASE -> "id=.. live=.. fact=.." read through /dev/mem at BASE
edu_check() {
    local base=$1 n=0
    devmem $((base + 4)) 32 0x12345678
    devmem $((base + 8)) 32 10
    # the factorial is computed asynchronously by the (L0) device model: wait while the status says "computing"
    while [ $(( $(devmem $((base + 0x20)) 32) & 1 )) = 1 ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
    echo "id=$(devmem "$base" 32) live=$(devmem $((base + 4)) 32) fact=$(devmem $((base + 8)) 32)"
}

scenario_vfio() {
    local d dev=none s e flags old_lo old new target rollback
    for d in /sys/bus/pci/devices/*; do
        [ "$(cat "$d/vendor" 2>/dev/null):$(cat "$d/device" 2>/dev/null)" = 0x1234:0x11e8 ] && dev=$(basename "$d")
    done
    result "device=$dev"
    [ "$dev" = none ] && return
    cfg=/sys/bus/pci/devices/$dev/config bar=0
    read -r s e flags < /sys/bus/pci/devices/$dev/resource
    result "bar0_resource=$s-$e/$flags"
    echo 1 > /sys/bus/pci/devices/$dev/enable
    old_lo=$(bar_lo) old=$((s))
    result "bar_old=$old_lo"
    set -- $(edu_check $old)
    result "$1"; result "$2"; result "$3"

    # hostile BAR0 addresses: the LAPIC, RAM, the top of the 32-bit space (a VMM that accepts them - QEMU has no such
    # policy - is put back so the rest of the scenario still runs)
    rollback=yes
    for target in lapic:0xfee00000 ram:0x00100000 top:0xfff00000; do
        cfg_write32 16 $(( ${target#*:} | (old_lo & 0xf) ))
        result "bar_after_${target%%:*}=$(bar_lo)"
        if [ "$(bar_lo)" != "$old_lo" ]; then rollback=no; cfg_write32 16 $old_lo; fi
    done
    result "rollback=$rollback"
    result "id_after_hostile=$(devmem $old 32)"

    # a legal move to a free naturally aligned 1 MiB in the same host-bridge window
    new=$(free_slot $old $((e - s + 1)))
    result "bar_target=$new"
    [ "$new" = none ] && return
    cfg_write32 16 $(( new | (old_lo & 0xf) ))
    result "bar_moved=$(bar_lo)"
    set -- $(edu_check $new)
    result "moved_$1"; result "moved_$2"; result "moved_$3"
    result "old_address_after_move=$(devmem $old 32)"
    end=${end:-poweroff}
}
