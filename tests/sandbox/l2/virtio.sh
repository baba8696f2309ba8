# virtio scenarios of the L2 guest, sourced by /init (busybox sh). Each prints RESULT lines; the L1 driver
# (l1/virtio.sh) prepares the disks / TAP and judges, partly by looking at the disk images after the VMM exited.
#
#   blk         two disks: 64 MiB read-write (vda, host pattern at 1 MiB, guest writes at 8 MiB), 32 MiB read-only
#   net         eth0 10.0.2.2/24 <-> L1's sbtap0 10.0.2.1: ping, iperf3 both ways (short)
#   virtio-bar  hostile and legal moves of the virtio-block 64-bit BAR while / after the disk is in use
#   blkbench    dd sequential read (iflag=direct) and write (oflag=direct conv=fsync) of a 256 MiB disk
#   netbench    iperf3 L2->L1 and L1->L2, longer runs
#
# Patterns: 64 KiB of repeated text lines, the same the L1 side generates (pattern NAME).

pattern() { yes "PLUGINVMM-$1-PATTERN-0123456789abcdef" | head -c 65536; }
md5() { md5sum | cut -d' ' -f1; }

# wait_for PATH [TENTHS]: until PATH exists (devices appear asynchronously after insmod)
wait_for() {
    local n=0
    while [ ! -e "$1" ] && [ $n -lt "${2:-100}" ]; do sleep 0.1; n=$((n + 1)); done
    [ -e "$1" ]
}

# disk_by_size SECTORS -> /dev/vdX with that capacity
disk_by_size() {
    local b
    for b in /sys/block/vd*; do
        [ "$(cat "$b/size" 2>/dev/null)" = "$1" ] && { echo "/dev/${b##*/}"; return; }
    done
    echo none
}

# read_md5 DEV OFFSET_MIB: md5 of 64 KiB at OFFSET_MIB, uncached
read_md5() { dd if="$1" bs=64k skip=$(($2 * 16)) count=1 iflag=direct 2>/dev/null | md5; }
# write_pattern DEV OFFSET_MIB NAME: 64 KiB pattern, O_DIRECT + fsync (a FLUSH); prints dd's error if any
write_pattern() { pattern "$3" | dd of="$1" bs=64k seek=$(($2 * 16)) count=1 iflag=fullblock oflag=direct conv=fsync,notrunc 2>&1 >/dev/null | grep -v 'records\|copied'; }

# io_check DEV OFFSET_MIB NAME -> "ok" when a pattern written through the device reads back, else what failed
io_check() {
    local err
    err=$(write_pattern "$1" "$2" "$3")
    [ -z "$err" ] || { echo "write_failed:$(echo "$err" | tr ' \n' '_')"; return; }
    [ "$(read_md5 "$1" "$2")" = "$(pattern "$3" | md5)" ] && echo ok || echo read_mismatch
}

# irq_count PATTERN: sum of /proc/interrupts counts on lines matching PATTERN (all CPUs)
irq_count() {
    awk -v p="$1" '$0 ~ p { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }' /proc/interrupts
}

# irq_snapshot FILE: /proc/interrupts as "name count" lines, all CPUs summed; the name is the handler's (a
# queue such as virtio1-output.0) for a numbered line, the row's own (LOC, RES, CAL ...) otherwise
irq_snapshot() {
    awk '{ s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i
           n = $1; sub(/:$/, "", n); if (n ~ /^[0-9]+$/) n = $NF; if (i > 2) print n, s }' /proc/interrupts > "$1"
}

# delta BEFORE AFTER [MIN]: name=change for every "name count" line of two snapshots that moved by MIN or more
delta() {
    awk -v min="${3:-0}" 'NR == FNR { a[$1] = $2; next }
        { d = $2 - a[$1]; if (d >= min) o = o (o == "" ? "" : ",") $1 "=" d } END { print o }' "$1" "$2"
}

# eth_snapshot FILE: eth0's packet and byte counters as "name count" lines (a GSO frame counts as one packet, so
# bytes / packets is the average frame the stack handed the driver or got from it)
eth_snapshot() {
    local k
    for k in tx_packets tx_bytes rx_packets rx_bytes; do echo "$k $(cat /sys/class/net/eth0/statistics/$k)"; done > "$1"
}

# dd_rate DD-ARGS... -> MiB/s by our own clock; DD-ARGS must use bs=1M (this busybox prints no byte count,
# only "N+M records out")
dd_rate() {
    local t0 t1 mib
    t0=$(cut -d' ' -f1 /proc/uptime)
    mib=$(dd "$@" 2>&1 | sed -n 's/^\([0-9]*\)+[0-9]* records out.*/\1/p')
    t1=$(cut -d' ' -f1 /proc/uptime)
    awk -v m="${mib:-0}" -v t0="$t0" -v t1="$t1" 'BEGIN { d = t1 - t0; if (d <= 0) d = 0.01; printf "%.1f", m / d }'
}

scenario_blk() {
    load_modules
    wait_for /sys/block/vdb || wait_for /sys/block/vda
    result "disks=$(ls /sys/block | grep '^vd' | tr '\n' ',')"
    local rw ro err
    rw=$(disk_by_size 131072) ro=$(disk_by_size 65536)
    result "rw_disk=$rw"
    result "ro_disk=$ro"
    [ "$rw" != none ] && {
        result "host_pattern_md5=$(read_md5 "$rw" 1)"
        err=$(write_pattern "$rw" 8 GUEST)
        result "guest_write=${err:-ok}"
        result "guest_readback_md5=$(read_md5 "$rw" 8)"
        result "rw_ro_flag=$(cat /sys/block/${rw#/dev/}/ro)"
        result "irqs=$(irq_count virtio)"
    }
    [ "$ro" != none ] && {
        result "ro_flag=$(cat /sys/block/${ro#/dev/}/ro)"
        result "ro_host_md5=$(read_md5 "$ro" 1)"
        # Linux 6.1 refuses writes to a disk whose device offered VIRTIO_BLK_F_RO (EPERM, even after
        # blockdev --setrw: the disk itself is read-only), so the write is expected to fail without reaching
        # the device; the L1 side checks that the image did not change either way
        err=$(write_pattern "$ro" 1 GUEST)
        case "$err" in
        *"I/O error"*|*"Input/output error"*) result "ro_write=eio" ;;
        *"not permitted"*) result "ro_write=eperm" ;;
        *"Read-only"*) result "ro_write=erofs" ;;
        "") result "ro_write=accepted" ;;
        *) result "ro_write=other:$(echo "$err" | tr ' \n' '_')" ;;
        esac
        result "ro_after_md5=$(read_md5 "$ro" 1)"
    }
    dmesg | grep -i 'virtio\|vd[ab]' | tail -n 20 | sed 's/^/L2-DMESG: /'
    end=${end:-poweroff}
}

# cpu_delta "FIELDS-BEFORE" "FIELDS-AFTER" (the /proc/stat cpu line without "cpu") -> user=,sys=,idle=,iowait=,
# irq=,softirq=,steal= in ms (user includes nice; steal: this vCPU was ready but its thread in L1 was not running)
cpu_delta() {
    echo "$1 $2" | awk '{ n = NF / 2; d = "";
        split("user sys idle iowait irq softirq steal", k, " "); split("1 3 4 5 6 7 8", f, " ")
        for (i = 1; i <= 7; i++) { v = ($(n + f[i]) - $(f[i])) * 10; if (i == 1) v += ($(n + 2) - $2) * 10; d = d (i > 1 ? "," : "") k[i] "=" v }
        print d }'
}

scenario_net() {
    local got rx tx
    load_modules
    wait_for /sys/class/net/eth0
    result "mac=$(cat /sys/class/net/eth0/address 2>/dev/null)"
    ip link set eth0 up
    ip addr add 10.0.2.2/24 dev eth0
    got=$(ping -c 5 -W 3 10.0.2.1 2>&1 | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
    result "ping_received=${got:-0}"
    result "irqs=$(irq_count virtio)"
    if [ "${got:-0}" -gt 0 ] && command -v iperf3 >/dev/null; then
        # iperf3's own lines go to the console (L2-IPERF) for the retransmissions and the per-second rates
        # L2-PHASE lines let L1 split its CPU and the VMM's by direction (l1/driver.sh); this guest's own CPU
        # per direction goes with them (l2cpu_tx / l2cpu_rx), and so do its interrupts by source and
        # eth0 counters (l2irq_*, l2eth_*)
        echo "L2-PHASE tx"; read -r _ c0 < /proc/stat; irq_snapshot /tmp/irq0; eth_snapshot /tmp/eth0
        iperf3 -c 10.0.2.1 -t "${1:-3}" -f m > /tmp/iperf-tx 2>&1
        echo "L2-PHASE rx"; read -r _ c1 < /proc/stat; irq_snapshot /tmp/irq1; eth_snapshot /tmp/eth1
        iperf3 -c 10.0.2.1 -t "${1:-3}" -f m -R > /tmp/iperf-rx 2>&1
        echo "L2-PHASE end"; read -r _ c2 < /proc/stat; irq_snapshot /tmp/irq2; eth_snapshot /tmp/eth2
        result "l2cpu_tx=$(cpu_delta "$c0" "$c1")"
        result "l2cpu_rx=$(cpu_delta "$c1" "$c2")"
        result "l2irq_tx=$(delta /tmp/irq0 /tmp/irq1 10)"
        result "l2irq_rx=$(delta /tmp/irq1 /tmp/irq2 10)"
        result "l2eth_tx=$(delta /tmp/eth0 /tmp/eth1)"
        result "l2eth_rx=$(delta /tmp/eth1 /tmp/eth2)"
        sed 's/^/L2-IPERF tx: /' /tmp/iperf-tx; sed 's/^/L2-IPERF rx: /' /tmp/iperf-rx
        tx=$(awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") print $i }' /tmp/iperf-tx)
        rx=$(awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") print $i }' /tmp/iperf-rx)
        grep '^Tcp:' /proc/net/snmp | sed 's/^/L2-SNMP: /'
        # where received segments went missing or arrived out of order (TcpExt), and what the driver dropped
        grep '^TcpExt:' /proc/net/netstat | sed 's/^/L2-NETSTAT: /'
        result "eth0_rx_dropped=$(cat /sys/class/net/eth0/statistics/rx_dropped)"
        result "eth0_rx_errors=$(cat /sys/class/net/eth0/statistics/rx_errors)/$(cat /sys/class/net/eth0/statistics/rx_length_errors)"
        result "iperf_tx_Mbps=${tx:-none}"
        result "iperf_rx_Mbps=${rx:-none}"
    fi
    result "stats=$(cat /sys/class/net/eth0/statistics/rx_packets 2>/dev/null)rx/$(cat /sys/class/net/eth0/statistics/tx_packets 2>/dev/null)tx"
    dmesg | grep -i 'virtio\|eth0' | tail -n 20 | sed 's/^/L2-DMESG: /'
    end=${end:-poweroff}
}

# --- virtio-bar -------------------------------------------------------------------------------------------
# The BAR-rollback scenario for a virtio device with a real driver. The 64-bit memory BAR of the disk's PCI
# function (PluginVmm: BAR0; QEMU: BAR4) gets, with the disk bound and busy, out-of-range addresses (both
# dwords); each must read back as the old address and the disk must keep working (a VMM that accepts them -
# QEMU has no such policy - is put back so the rest of the scenario still runs). Then a legal move to a free
# aligned address in the same host-bridge window with the driver unbound, checked through /dev/mem; then remove +
# rescan: Linux assigns the hot-added function's BAR itself (first fit in the window, written with decoding
# off - the deferred-move path), the driver binds there, and I/O completing shows that the doorbells
# (ioeventfds) and MSI-X followed every move.
bar_lo() { hexdump -s $((16 + 4 * bar)) -n 4 -e '1/4 "0x%08x"' "$cfg"; }
bar_hi() { hexdump -s $((20 + 4 * bar)) -n 4 -e '1/4 "0x%08x"' "$cfg"; }
# le32 VALUE -> the 4 bytes as printf octal escapes
le32() { printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
cfg_write32() { printf "$(le32 "$2")" | dd of="$cfg" bs=4 seek=$(($1 / 4)) count=1 conv=notrunc 2>/dev/null; }
# bar_set LOW HIGH: low dword then high dword (the order Linux uses)
bar_set() { cfg_write32 $((16 + 4 * bar)) "$1"; cfg_write32 $((20 + 4 * bar)) "$2"; }
bar_addr() { echo $(( ($(bar_hi) << 32) | ($(bar_lo) & ~0xf) )); }

# free_slot ADDR SIZE: a naturally aligned SIZE-byte range in the host-bridge window that holds ADDR and no
# other resource of /proc/iomem (lines that contain both ADDR and the candidate are its windows)
free_slot() {
    local addr=$1 size=$2 delta cand line s e ok
    for delta in 0x10000000 -0x10000000 0x1000000 -0x1000000 0x100000 -0x100000 $((size * 4)) $((-size * 4)); do
        cand=$(( (addr + delta) & ~(size - 1) ))
        [ $cand -gt 0 ] || continue
        ok=no
        while IFS= read -r line; do
            line=${line#"${line%%[! ]*}"}
            s=$((0x${line%%-*})); e=${line#*-}; e=$((0x${e%% *}))
            if [ $s -le $cand ] && [ $e -ge $((cand + size - 1)) ] && [ $s -le $addr ] && [ $e -ge $addr ]; then
                case "$line" in *"PCI Bus"*) ok=yes ;; esac
                continue
            fi
            [ $e -lt $cand ] || [ $s -gt $((cand + size - 1)) ] || { ok=conflict; break; }
        done < /proc/iomem
        [ $ok = yes ] && { printf '0x%x' $cand; return; }
    done
    echo none
}

scenario_virtio_bar() {
    local disk blk dev i s e flags size old_lo old_hi old new t rollback bg vname
    load_modules
    wait_for /sys/block/vdb
    # the disk under test is the second one (32 MiB): when it is hot-added again, first fit puts its BAR in the
    # hole the anchor disk (64 MiB, first BAR of the window) leaves after it - an address it never had
    disk=$(disk_by_size 65536)
    result "disk=$disk"
    [ "$disk" = none ] && return
    blk=$(readlink -f /sys/block/${disk#/dev/}/device)        # .../0000:00:0N.0/virtioK
    dev=$(basename "$(dirname "$blk")")
    cfg=/sys/bus/pci/devices/$dev/config
    result "device=$dev"
    # the 64-bit memory BAR: flags IORESOURCE_MEM (0x200) | IORESOURCE_MEM_64 (0x100000)
    bar=none i=0
    while read -r s e flags; do
        [ $i -lt 6 ] && [ $((flags & 0x100200)) = $((0x100200)) ] && [ $((e)) -gt $((s)) ] && [ $bar = none ] && {
            bar=$i size=$((e - s + 1)); }
        i=$((i + 1))
    done < /sys/bus/pci/devices/$dev/resource
    result "bar=$bar"
    [ "$bar" = none ] && return
    old_lo=$(bar_lo) old_hi=$(bar_hi) old=$(bar_addr)
    result "bar_old=$old_hi:$old_lo"
    result "bar_size=$(printf '0x%x' $size)"
    result "io_before=$(io_check "$disk" 4 BEFORE)"

    # A size probe of the high dword (all ones) is not a move: it reads back the size mask (0xffffffff for a
    # BAR under 4 GiB), the device keeps decoding, and writing the address back ends the probe.
    cfg_write32 $((20 + 4 * bar)) 0xffffffff
    result "probe_high=$(bar_hi)"
    cfg_write32 $((20 + 4 * bar)) $old_hi
    result "after_probe=$(bar_hi):$(bar_lo)"

    # hostile writes with the disk bound; with rollback expected, also while a reader keeps it busy:
    # high dword only (0xfffffffe_xxxxxxxx), the LAPIC, RAM, beyond any physical address (2^55)
    bg=""
    if [ "$(param expect_rollback)" = 1 ]; then
        dd if="$disk" of=/dev/null bs=64k count=256 iflag=direct 2>/dev/null & bg=$!
    fi
    rollback=yes
    for t in high:$old_lo:0xfffffffe lapic:0xfee00000:0 ram:0x00100000:0 huge:0:0x00800000; do
        set -- $(echo "$t" | tr ':' ' ')
        bar_set $(($2 | (old_lo & 0xf))) $3
        result "bar_after_$1=$(bar_hi):$(bar_lo)"
        if [ "$(bar_hi):$(bar_lo)" != "$old_hi:$old_lo" ]; then
            rollback=no
            bar_set $old_lo $old_hi
        fi
    done
    result "rollback=$rollback"
    if [ -n "$bg" ]; then wait $bg && result "busy_reader=ok" || result "busy_reader=failed"; fi
    result "io_after_hostile=$(io_check "$disk" 5 HOSTILE)"

    # legal move with the driver unbound, checked through /dev/mem (the region is not busy then)
    new=$(free_slot $old $size)
    result "bar_target=$new"
    [ "$new" = none ] && return
    echo "$dev" > /sys/bus/pci/devices/$dev/driver/unbind
    # num_queues (common config + 0x12, at BAR offset 0 in PluginVmm and QEMU): at the old address, then only at
    # the new one
    result "nq_old_before=$(devmem $((old + 0x12)) 16 2>&1)"
    bar_set $(( (new & 0xffffffff) | (old_lo & 0xf) )) $((new >> 32))
    result "bar_moved=$(bar_hi):$(bar_lo)"
    result "nq_new_after=$(devmem $((new + 0x12)) 16 2>&1)"
    result "nq_old_after=$(devmem $((old + 0x12)) 16 2>&1)"
    # remove + rescan: Linux assigns the hot-added function's BAR itself (first fit, written with decoding off:
    # the deferred-move path) and the driver binds there
    echo 1 > /sys/bus/pci/devices/$dev/remove
    echo 1 > /sys/bus/pci/rescan
    wait_for /sys/bus/pci/devices/$dev/driver 50
    blk=none vname=none
    for b in /sys/bus/pci/devices/$dev/virtio*/block/*; do
        [ -e "$b" ] && blk=/dev/${b##*/} && vname=$(basename "$(dirname "$(dirname "$b")")")
    done
    wait_for "$blk" 50
    result "rebound_disk=$blk"
    result "resource_after=$(head -n $((bar + 1)) /sys/bus/pci/devices/$dev/resource | tail -n1 | cut -d' ' -f1)"
    result "bar_after_rescan=$(bar_hi):$(bar_lo)"
    [ "$blk" = none ] && return
    i=$(irq_count "$vname-")
    result "data_kept=$([ "$(read_md5 "$blk" 4)" = "$(pattern BEFORE | md5)" ] && echo yes || echo no)"
    result "io_after_move=$(io_check "$blk" 6 MOVED)"
    # the doorbells (ioeventfds) and MSI-X followed both moves: requests complete, with interrupts
    result "irqs_after_move=$(( $(irq_count "$vname-") - i ))"
    dmesg | grep -i 'virtio\|vd[ab]\|BAR' | tail -n 25 | sed 's/^/L2-DMESG: /'
    end=${end:-poweroff}
}

scenario_blkbench() {
    local d
    load_modules
    wait_for /sys/block/vda
    d=$(disk_by_size 524288)
    result "disk=$d"
    [ "$d" = none ] && return
    result "read_MiBs=$(dd_rate if="$d" of=/dev/null bs=1M iflag=direct)"
    result "write_MiBs=$(dd_rate if=/dev/zero of="$d" bs=1M count=256 oflag=direct conv=fsync)"
    result "read2_MiBs=$(dd_rate if="$d" of=/dev/null bs=1M iflag=direct)"
    end=${end:-poweroff}
}

virtio_scenario() {
    case "$1" in
    blk) scenario_blk ;;
    net) scenario_net 3 ;;
    netbench) scenario_net 10 ;;
    virtio-bar) scenario_virtio_bar ;;
    blkbench) scenario_blkbench ;;
    esac
}
