# vfio scenario, L1 side: sourced by driver.sh. L0 gives L1 an emulated IOMMU (intel-iommu) and QEMU's "edu" PCI
# device when the scenario list holds vfio (run.sh); vfio_setup binds edu to vfio-pci and adds it to S_ARGS,
# vfio_verdict judges the guest's RESULT lines (REPLY = "" or the failure reasons). The guest side is l2/vfio.sh.

EDU_ID=0x1234:0x11e8

# vfio_setup: the edu function bound to vfio-pci (driver_override + drivers_probe), its group node present
vfio_setup() {
    local d bdf="" group
    for d in /sys/bus/pci/devices/*; do
        [ "$(cat "$d/vendor"):$(cat "$d/device")" = $EDU_ID ] && bdf=$(basename "$d")
    done
    if [ -z "$bdf" ]; then echo "L1: no edu device ($EDU_ID): was L1 booted with -device edu?"; result "vfio_host=none"; return 1; fi
    group=$(basename "$(readlink -f /sys/bus/pci/devices/$bdf/iommu_group 2>/dev/null)")
    result "vfio_host=$bdf"
    result "vfio_iommu_group=${group:-none}"
    if [ "$(basename "$(readlink -f /sys/bus/pci/devices/$bdf/driver 2>/dev/null)")" != vfio-pci ]; then
        [ -e /sys/bus/pci/devices/$bdf/driver ] && echo "$bdf" > /sys/bus/pci/devices/$bdf/driver/unbind
        echo vfio-pci > /sys/bus/pci/devices/$bdf/driver_override
        echo "$bdf" > /sys/bus/pci/drivers_probe
    fi
    result "vfio_driver=$(basename "$(readlink -f /sys/bus/pci/devices/$bdf/driver 2>/dev/null)")"
    [ -n "$group" ] && [ -c /dev/vfio/$group ] || echo "L1: /dev/vfio/${group:-?} missing (IOMMU off?)"
    S_ARGS+=(--device "vfio,host=$bdf")
    # PluginVmm refuses out-of-range BAR addresses; QEMU keeps what the guest wrote (the guest puts it back)
    S_CMDLINE_EXTRA=""
    [ "${S_ADAPTER:-$ADAPTER}" != /sandbox/vmm-qemu.sh ] && S_CMDLINE_EXTRA=" sandbox.expect_rollback=1"
    return 0
}

# lower-case hex (busybox devmem prints upper case)
lc() { echo "$1" | tr 'A-F' 'a-f'; }

vfio_verdict() { # CONSOLE
    local c=$1 old v expect
    VERDICT_CONSOLE=$c
    for v in id:0x010000ed live:0xedcba987 fact:0x00375f00 moved_id:0x010000ed moved_live:0xedcba987 moved_fact:0x00375f00; do
        [ "$(lc "$(guest_value "$c" ${v%%:*})")" = ${v#*:} ] || REPLY="${REPLY}${v%%:*}=$(guest_value "$c" ${v%%:*})_expected_${v#*:},"
    done
    for v in dma moved_dma; do [ "$(guest_value "$c" $v)" = ok ] || REPLY="${REPLY}$v=$(guest_value "$c" $v)_expected_ok,"; done
    old=$(guest_value "$c" bar_old)
    [ -n "$old" ] || REPLY="${REPLY}no_bar_old,"
    if [ -n "${S_CMDLINE_EXTRA:-}" ]; then
        [ "$(guest_value "$c" rollback)" = yes ] || REPLY="${REPLY}no_rollback,"
        for v in lapic ram top; do [ "$(guest_value "$c" bar_after_$v)" = "$old" ] || REPLY="${REPLY}bar_after_${v}_not_old,"; done
    fi
    [ "$(lc "$(guest_value "$c" id_after_hostile)")" = 0x010000ed ] || REPLY="${REPLY}id_after_hostile_wrong,"
    v=$(guest_value "$c" bar_target)
    [ -n "$v" ] && [ "$v" != none ] || REPLY="${REPLY}no_free_target,"
    [ -n "$v" ] && [ "$v" != none ] && expect=$(printf '0x%08x' $(( v | (old & 0xf) ))) &&
        { [ "$(guest_value "$c" bar_moved)" = "$expect" ] || REPLY="${REPLY}bar_not_moved_to_target,"; }
    [ "$(lc "$(guest_value "$c" old_address_after_move)")" != 0x010000ed ] || REPLY="${REPLY}device_still_at_old_address,"
    REPLY=${REPLY%,}
    [ -n "$REPLY" ] || [ "$RUN_RC" = 0 ] || REPLY="rc=${RUN_RC}_expected_0"
}
