# virtio scenarios, L1 side: sourced by driver.sh. virtio_setup NAME adds to S_ARGS (devices) and prepares disk
# images / the TAP; virtio_verdict NAME CONSOLE judges (REPLY = "" or the failure reasons) and prints the L1-side
# RESULT lines (what the images hold after the VMM exited). The guest side is l2/virtio.sh.
#
# Names: blk net virtio-bar blkbench netbench; NAME_qemu runs NAME with the qemu adapter whatever --vmm is
# (benchmarks: PluginVmm and QEMU in the same L1); netbench_nomrg is netbench with mergeable receive buffers
# turned off (mrg_rxbuf=false), to measure what they bring in the same L1.

VIRTIO_SCENARIOS="blk net virtio-bar blkbench netbench"
IMG_DIR=/tmp/virtio-images

pattern() { yes "PLUGINVMM-$1-PATTERN-0123456789abcdef" | head -c 65536; }
md5() { md5sum | cut -d' ' -f1; }
# img_md5 FILE OFFSET_MIB: md5 of the 64 KiB at OFFSET_MIB
img_md5() { dd if="$1" bs=64k skip=$(($2 * 16)) count=1 2>/dev/null | md5; }
# new_image FILE MIB: zero-filled raw image with the HOST pattern at 1 MiB
new_image() {
    rm -f "$1"; truncate -s "${2}M" "$1"
    pattern HOST | dd of="$1" bs=64k seek=16 iflag=fullblock conv=notrunc 2>/dev/null
}

virtio_base() { local b=${1%_qemu}; echo "${b%_nomrg}"; }

# the TAP the guest's virtio-net is bound to, 10.0.2.1/24, plus an iperf3 server
tap_up() {
    ip link show sbtap0 >/dev/null 2>&1 || tunctl -t sbtap0 >/dev/null || echo "L1: tunctl -t sbtap0 failed"
    ip addr flush dev sbtap0 2>/dev/null
    ip addr add 10.0.2.1/24 dev sbtap0
    ip link set sbtap0 up
    if command -v iperf3 >/dev/null; then
        [ -f /tmp/iperf3.pid ] && kill "$(cat /tmp/iperf3.pid)" 2>/dev/null
        iperf3 -s -D -B 10.0.2.1 -I /tmp/iperf3.pid >/dev/null 2>&1 || echo "L1: iperf3 server did not start"
    else
        echo "L1: no iperf3 in this image"
    fi
}
tap_down() {
    [ -f /tmp/iperf3.pid ] && kill "$(cat /tmp/iperf3.pid)" 2>/dev/null
    rm -f /tmp/iperf3.pid
}

virtio_setup() { # NAME
    local base
    base=$(virtio_base "$1")
    S_CMDLINE_EXTRA=""
    [ "${1%_qemu}" != "$1" ] && S_ADAPTER=/sandbox/vmm-qemu.sh
    case "$base" in blkbench|netbench) S_TIMEOUT=$((S_TIMEOUT * 2)) ;; esac
    mkdir -p "$IMG_DIR"
    case "$base" in
    blk)
        new_image $IMG_DIR/rw.img 64
        new_image $IMG_DIR/ro.img 32
        S_ARGS+=(--device "virtio-block,path=$IMG_DIR/rw.img,readonly=false"
                 --device "virtio-block,path=$IMG_DIR/ro.img,readonly=true") ;;
    virtio-bar)
        new_image $IMG_DIR/anchor.img 64
        new_image $IMG_DIR/bar.img 32
        S_ARGS+=(--device "virtio-block,path=$IMG_DIR/anchor.img,readonly=false"
                 --device "virtio-block,path=$IMG_DIR/bar.img,readonly=false") ;;
    blkbench)
        new_image $IMG_DIR/bench.img 256
        S_ARGS+=(--device "virtio-block,path=$IMG_DIR/bench.img,readonly=false") ;;
    net|netbench)
        tap_up
        local mrg=""; [ "$1" = netbench_nomrg ] && mrg=",mrg_rxbuf=false"
        S_ARGS+=(--device "virtio-net,tap=sbtap0,mac=52:54:00:12:34:56$mrg") ;;
    *) return 1 ;;
    esac
    # PluginVmm refuses out-of-range BAR addresses; QEMU keeps what the guest wrote (the guest puts it back)
    [ "$base" = virtio-bar ] && [ "${S_ADAPTER:-$ADAPTER}" != /sandbox/vmm-qemu.sh ] && S_CMDLINE_EXTRA=" sandbox.expect_rollback=1"
    return 0
}

# need KEY EXPECTED: the guest's RESULT KEY must be EXPECTED
need() {
    local v
    v=$(guest_value "$VERDICT_CONSOLE" "$1")
    [ "$v" = "$2" ] || REPLY="${REPLY}$1=${v:-none}_expected_$2,"
}

virtio_verdict() { # NAME CONSOLE
    local base c=$2 v
    base=$(virtio_base "$1")
    VERDICT_CONSOLE=$c
    case "$base" in
    blk)
        [ "$(guest_value "$c" rw_disk)" != none ] || REPLY="${REPLY}no_64MiB_disk,"
        [ "$(guest_value "$c" ro_disk)" != none ] || REPLY="${REPLY}no_32MiB_disk,"
        need host_pattern_md5 "$(pattern HOST | md5)"
        need guest_write ok
        need guest_readback_md5 "$(pattern GUEST | md5)"
        need rw_ro_flag 0
        need ro_flag 1
        need ro_host_md5 "$(pattern HOST | md5)"
        need ro_after_md5 "$(pattern HOST | md5)"
        case "$(guest_value "$c" ro_write)" in eio|eperm|erofs) ;; *) REPLY="${REPLY}ro_write_not_refused," ;; esac
        # the images after the VMM exited: the guest's write is in the file, the read-only image is untouched
        v=$(img_md5 $IMG_DIR/rw.img 8); result "$1_l1_rw_at_8MiB=$([ "$v" = "$(pattern GUEST | md5)" ] && echo guest_pattern || echo "$v")"
        [ "$v" = "$(pattern GUEST | md5)" ] || REPLY="${REPLY}image_lacks_guest_write,"
        v=$(img_md5 $IMG_DIR/rw.img 1); [ "$v" = "$(pattern HOST | md5)" ] || REPLY="${REPLY}image_host_pattern_changed,"
        v=$(md5sum < $IMG_DIR/ro.img | cut -d' ' -f1)
        new_image /tmp/ro-expected.img 32
        [ "$v" = "$(md5sum < /tmp/ro-expected.img | cut -d' ' -f1)" ] && result "$1_l1_ro_image=unchanged" ||
            { result "$1_l1_ro_image=changed"; REPLY="${REPLY}ro_image_changed,"; }
        rm -f /tmp/ro-expected.img $IMG_DIR/ro.img ;;
    virtio-bar)
        v=$(guest_value "$c" bar_old)
        [ -n "$v" ] || REPLY="${REPLY}no_bar_old,"
        need io_before ok
        need probe_high 0xffffffff
        need after_probe "$v"
        if [ "${S_CMDLINE_EXTRA:-}" ]; then
            need rollback yes
            for t in high lapic ram huge; do need bar_after_$t "$v"; done
            need busy_reader ok
        fi
        need io_after_hostile ok
        v=$(guest_value "$c" bar_target)
        [ -n "$v" ] && [ "$v" != none ] || REPLY="${REPLY}no_free_target,"
        # bar_moved is HIGH:LOW with the flag bits in LOW
        [ "$(guest_value "$c" bar_moved)" = "$(printf '0x%08x:0x%08x' $((v >> 32)) $(( (v & 0xffffffff) | ($(guest_value "$c" bar_old | cut -d: -f2) & 0xf) )))" ] ||
            REPLY="${REPLY}bar_not_moved_to_target,"
        v=$(guest_value "$c" nq_old_before)
        case "$v" in 0x0001|0x0002|0x0003|0x0004) ;; *) REPLY="${REPLY}nq_old_before=$v," ;; esac
        [ "$(guest_value "$c" nq_new_after)" = "$v" ] || REPLY="${REPLY}device_not_at_target,"
        [ "$(guest_value "$c" nq_old_after)" != "$v" ] || REPLY="${REPLY}device_still_at_old_address,"
        # after the rescan the BAR is somewhere it has not been before (first fit, behind the anchor disk)
        v=$(guest_value "$c" resource_after)
        [ -n "$v" ] || REPLY="${REPLY}no_resource_after_rescan,"
        [ "$(guest_value "$c" bar_after_rescan)" = "$(guest_value "$c" bar_old)" ] && REPLY="${REPLY}rescan_kept_old_address,"
        [ "$(guest_value "$c" bar_after_rescan)" = "$(printf '0x%08x:0x%08x' $((v >> 32)) $(( (v & 0xffffffff) | ($(guest_value "$c" bar_old | cut -d: -f2) & 0xf) )))" ] ||
            REPLY="${REPLY}config_disagrees_with_linux_after_rescan,"
        need data_kept yes
        need io_after_move ok
        [ "$(guest_value "$c" irqs_after_move)" -gt 0 ] 2>/dev/null || REPLY="${REPLY}no_interrupts_after_move,"
        v=$(img_md5 $IMG_DIR/bar.img 6); [ "$v" = "$(pattern MOVED | md5)" ] || REPLY="${REPLY}image_lacks_write_after_move,"
        rm -f $IMG_DIR/bar.img $IMG_DIR/anchor.img ;;
    blkbench)
        for v in read_MiBs write_MiBs; do
            awk -v r="$(guest_value "$c" $v)" 'BEGIN { exit !(r + 0 > 0) }' || REPLY="${REPLY}no_$v,"
        done
        rm -f $IMG_DIR/bench.img ;;
    net|netbench)
        # frames the TAP dropped because its queue to the VMM was full (the VMM read too slowly)
        result "${1}_tap_tx_dropped=$(cat /sys/class/net/sbtap0/statistics/tx_dropped 2>/dev/null)"
        tap_down
        v=$(guest_value "$c" ping_received)
        [ "${v:-0}" -ge 4 ] 2>/dev/null || REPLY="${REPLY}ping_received=${v:-none},"
        if [ "$base" = netbench ] || command -v iperf3 >/dev/null; then
            for v in iperf_tx_Mbps iperf_rx_Mbps; do
                case "$(guest_value "$c" $v)" in ''|none) REPLY="${REPLY}no_$v," ;; esac
            done
        fi ;;
    esac
    REPLY=${REPLY%,}
    [ -n "$REPLY" ] || [ "$RUN_RC" = 0 ] || REPLY="rc=${RUN_RC}_expected_0"
}
