# vfio scenario of the L2 guest, sourced by /init (busybox sh) after /virtio.sh (its BAR helpers and free_slot).
# The L1 driver passes QEMU's "edu" device (1234:11e8; BAR0: 1 MiB of 32-bit MMIO) through VFIO. No driver binds to
# it in L2: `echo 1 > enable` turns memory decoding on and busybox devmem works on BAR0 (the kernel's
# STRICT_DEVMEM lets /dev/mem reach MMIO that no driver claims). edu registers (BAR0 offsets): +0 ID 0x010000ed,
# +4 liveness (reads back the inverse of what was written), +8 factorial (write n, read n!), +0x20 status (bit 0:
# computing).
#
# DMA: the L1 driver reserves 64 KiB of L2 RAM at 0x07000000 (memmap=64K$0x07000000: e820 "reserved", so /dev/mem
# may reach it, and the kernel leaves it alone). edu copies 8 bytes from there into its buffer (device address
# 0x40000) and back to +0x100: the device's DMA reaches L2 RAM only if the VMM mapped guest RAM in the IOMMU at
# iova = guest physical address. edu's DMA registers: +0x80 source, +0x88 destination, +0x90 count, +0x98 command
# (bit 0 run, bit 1 edu -> RAM); its DMA mask is 28 bits, hence an address below 256 MiB.
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

DMA_PAGE=0x07000000

# edu_dma BASE SRC DST COUNT DIRECTION -> waits for the transfer (edu runs it from a 100 ms timer)
edu_dma() {
    local n=0
    devmem $(($1 + 0x80)) 64 $2
    devmem $(($1 + 0x88)) 64 $3
    devmem $(($1 + 0x90)) 64 $4
    devmem $(($1 + 0x98)) 64 $((1 | $5 << 1))
    while [ $(( $(devmem $(($1 + 0x98)) 32) & 1 )) = 1 ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
}

# dma_check BASE -> "ok" when 8 bytes went RAM -> edu -> RAM (+0x100), else what was read back
dma_check() {
    devmem $DMA_PAGE 32 0x5a17c0de
    devmem $((DMA_PAGE + 4)) 32 0x0ddba11
    devmem $((DMA_PAGE + 0x100)) 32 0
    devmem $((DMA_PAGE + 0x104)) 32 0
    edu_dma "$1" $DMA_PAGE 0x40000 8 0
    edu_dma "$1" 0x40000 $((DMA_PAGE + 0x100)) 8 1
    local a b
    a=$(devmem $((DMA_PAGE + 0x100)) 32) b=$(devmem $((DMA_PAGE + 0x104)) 32)
    [ $((a)) = $((0x5a17c0de)) ] && [ $((b)) = $((0x0ddba11)) ] && echo ok || echo "readback_${a}_${b}"
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
    # bus mastering for the DMA check (enable turns on decoding only); STATUS is written as 0 (its bits clear on 1)
    [ "$(param no_bme)" = 1 ] || cfg_write32 4 $(( ($(hexdump -s 4 -n 4 -e '1/4 "%u"' "$cfg") & 0xffff) | 0x6 ))
    result "command=$(hexdump -s 4 -n 2 -e '1/2 "0x%04x"' "$cfg")"
    sleep 1; result "after_bme=alive"
    result "id_probe=$(devmem $s 32)"
    result "status_probe=$(devmem $((s + 0x20)) 32)"
    old_lo=$(bar_lo) old=$((s))
    result "bar_old=$old_lo"
    set -- $(edu_check $old)
    result "$1"; result "$2"; result "$3"
    result "dma=$(dma_check $old)"

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
    result "moved_dma=$(dma_check $new)"
    result "old_address_after_move=$(devmem $old 32)"
    end=${end:-poweroff}
}
