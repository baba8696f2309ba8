# ivshmem scenario of the L2 guest, sourced by /init (busybox sh) after /virtio.sh (its BAR helpers and free_slot).
# The L1 driver gives the VMM an ivshmem-plain device (1af4:1110) over a 1 MiB file whose bytes 0x1000.. it filled
# with "L1-HOST-PATTERN!". Linux has no driver for ivshmem-plain: `echo 1 > enable` turns decoding on and busybox
# devmem reaches BAR2, the 64-bit prefetchable BAR that is the file itself (a memory slot in PluginVmm).
#
# The guest reads the host's pattern, writes its own (L1 checks the file after the VM ends), then the BAR-rollback
# scenario on BAR2 with a real kernel: out-of-range addresses through sysfs config, both dwords (LAPIC, RAM, 2^60),
# must read back as the old address with the data still there; a legal move to a free aligned address must take the
# memory slot along: the data reads back at the new address and a write there reaches the file.

scenario_ivshmem() {
    local d dev=none s e flags old_lo old_hi old new t lo hi rollback
    for d in /sys/bus/pci/devices/*; do
        [ "$(cat "$d/vendor" 2>/dev/null):$(cat "$d/device" 2>/dev/null)" = 0x1af4:0x1110 ] && dev=$(basename "$d")
    done
    result "device=$dev"
    [ "$dev" = none ] && return
    cfg=/sys/bus/pci/devices/$dev/config bar=2
    set -- $(sed -n 3p /sys/bus/pci/devices/$dev/resource)   # BAR2: start end flags
    s=$1 e=$2 flags=$3
    result "bar2_resource=$s-$e/$flags"
    echo 1 > /sys/bus/pci/devices/$dev/enable
    old=$((s))
    result "host_pattern=$(devmem $((old + 0x1000)) 32)"
    devmem $old 32 0x600dcafe
    devmem $((old + 4)) 32 0x12345678
    result "readback=$(devmem $old 32)"

    old_lo=$(bar_lo) old_hi=$(bar_hi)
    result "bar_old=$old_hi:$old_lo"
    rollback=yes
    for t in lapic:0xfee00000:0x0 ram:0x00200000:0x0 far:0x00000000:0x10000000; do
        set -- $(echo "$t" | tr ':' ' ')
        bar_set $(( $2 | (old_lo & 0xf) )) $3
        result "bar_after_$1=$(bar_hi):$(bar_lo)"
        if [ "$(bar_hi):$(bar_lo)" != "$old_hi:$old_lo" ]; then rollback=no; bar_set $old_lo $old_hi; fi
    done
    result "rollback=$rollback"
    result "after_hostile=$(devmem $old 32)"
    devmem $((old + 8)) 32 0x0badf00d

    new=$(free_slot $old $((e - s + 1)))
    result "bar_target=$new"
    [ "$new" = none ] && return
    bar_set $(( (new & 0xffffffff) | (old_lo & 0xf) )) $(( new >> 32 ))
    result "bar_moved=$(bar_hi):$(bar_lo)"
    result "moved_read=$(devmem $((new)) 32)"
    devmem $((new + 12)) 32 0xfeedf00d
    end=${end:-poweroff}
}
