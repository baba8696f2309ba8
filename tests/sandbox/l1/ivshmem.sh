# ivshmem scenario, L1 side: sourced by driver.sh. ivshmem_setup makes the shared file (1 MiB, "L1-HOST-PATTERN!" at
# 0x1000) and adds the device to S_ARGS; ivshmem_verdict judges the guest's RESULT lines and the file's bytes after
# the VM ended (REPLY = "" or the failure reasons). The guest side is l2/ivshmem.sh.

IVSHMEM_FILE=/tmp/sandbox-ivshmem.bin

ivshmem_setup() {
    rm -f $IVSHMEM_FILE
    dd if=/dev/zero of=$IVSHMEM_FILE bs=1M count=1 2>/dev/null
    printf 'L1-HOST-PATTERN!' | dd of=$IVSHMEM_FILE bs=1 seek=4096 conv=notrunc 2>/dev/null
    S_ARGS+=(--device "ivshmem,path=$IVSHMEM_FILE,size_mib=1")
    # PluginVmm refuses out-of-range BAR addresses; QEMU keeps what the guest wrote (the guest puts it back)
    S_CMDLINE_EXTRA=""
    [ "${S_ADAPTER:-$ADAPTER}" != /sandbox/vmm-qemu.sh ] && S_CMDLINE_EXTRA=" sandbox.expect_rollback=1"
    return 0
}

# file_dword OFFSET -> the little-endian dword of the shared file at OFFSET, as 0x%08x
file_dword() { hexdump -s "$1" -n 4 -e '1/4 "0x%08x"' $IVSHMEM_FILE; }

ivshmem_verdict() { # CONSOLE
    local c=$1 old v
    # "L1-H" as a little-endian dword; busybox devmem prints upper-case hex
    [ "$(guest_value "$c" host_pattern | tr 'A-F' 'a-f')" = 0x482d314c ] || REPLY="${REPLY}host_pattern_not_seen,"
    for v in 0:0x600dcafe 4:0x12345678 8:0x0badf00d 12:0xfeedf00d; do
        [ "$(file_dword ${v%%:*})" = ${v#*:} ] || REPLY="${REPLY}file+${v%%:*}=$(file_dword ${v%%:*})_expected_${v#*:},"
    done
    old=$(guest_value "$c" bar_old)
    [ -n "$old" ] || REPLY="${REPLY}no_bar_old,"
    if [ -n "${S_CMDLINE_EXTRA:-}" ]; then
        [ "$(guest_value "$c" rollback)" = yes ] || REPLY="${REPLY}no_rollback,"
        for v in lapic ram far; do [ "$(guest_value "$c" bar_after_$v)" = "$old" ] || REPLY="${REPLY}bar_after_${v}_not_old,"; done
    fi
    [ "$(guest_value "$c" after_hostile | tr 'A-F' 'a-f')" = 0x600dcafe ] || REPLY="${REPLY}data_lost_after_hostile,"
    v=$(guest_value "$c" bar_target)
    [ -n "$v" ] && [ "$v" != none ] || REPLY="${REPLY}no_free_target,"
    [ "$(guest_value "$c" moved_read | tr 'A-F' 'a-f')" = 0x600dcafe ] || REPLY="${REPLY}data_not_at_new_address,"
    REPLY=${REPLY%,}
    [ -n "$REPLY" ] || [ "$RUN_RC" = 0 ] || REPLY="rc=${RUN_RC}_expected_0"
}
