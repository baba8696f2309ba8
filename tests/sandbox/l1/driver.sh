#!/bin/bash
# driver.sh - the scenario driver inside L1 (started by /init, runs as root).
#
# Parameters come from the L1 kernel command line (run.sh sets them):
#   sandbox.scenarios=a,b,c   run in this order: boot smp pci panic bar custom
#   sandbox.vmm=NAME          adapter /sandbox/vmm-NAME.sh (qemu, pluginvmm)
#   sandbox.machine=M         --machine for the adapter (q35, microvm)
#   sandbox.panic_rc=N        VMM exit status that means "guest panicked"
#                             (default: 1 for qemu, 3 otherwise)
#   sandbox.l2_timeout=S      watchdog per L2 run (default 90)
#   sandbox.l2_memory=MIB     L2 RAM (default 256)
#   sandbox.bench=A:M,A:M...  benchmark mode: instead of the scenarios, run
#                             `boot` with each ADAPTER:MACHINE in turn (e.g.
#                             pluginvmm:default,qemu:microvm), round robin
#   sandbox.reps=N            rounds in benchmark mode (default 3)
#   sandbox.l2_dmesg=1        the L2 guest prints its dmesg before leaving (in
#                             benchmark mode: in the first round only)
#   sandbox.vmm_trace=1       PluginVmm prints its start-up trace to stderr
#   sandbox.perf=1            profile each phase the guest marks (L2-PHASE) with
#                             perf in L1 (run.sh --perf adds it to the image):
#                             "L1-PERF <label> <phase>:" lines, where L1's CPUs went
#   sandbox.perf=syscalls     instead: the VMM's system calls per thread in each
#                             phase (perf trace -s): "L1-SYSCALLS <label> <phase>:"
#
# For every scenario it launches the adapter with the scenario's vCPUs and
# devices, echoes the L2 console ("L2| [label +seconds] line"), and prints
#   RESULT <s>_marker_s=     VMM launch -> "L2-MARK-INIT" on the console
#   RESULT <s>_exit_s=       VMM launch -> VMM process exit
#   RESULT <s>_rc=           VMM exit status
#   RESULT <s>_vmm_peak_rss_kB=   VmHWM of the VMM, sampled every 0.5 s
#   RESULT <s>_vmm_nonguest_rss_kB=   peak of the VMM's RSS outside the guest
#                            RAM mapping (smaps: mappings of guest size..+8 MiB)
#   RESULT <s>_<key>=...     each "RESULT key=value" the guest printed
#   RESULT <s>_retried=yes   the first run hit the watchdog, or the guest was
#                            reset silently (silent_reset), and was repeated
#   RESULT <s>_attempt1=timeout|silent_reset   why; a silent reset also prints
#                            "L1-TRACE <s>| ..." (L1's KVM tracepoints: the
#                            shutdown exit with the guest's rip, injected
#                            exceptions) and <s>_trace_events
#   RESULT <s>_l1_shutdown_exits=   L2 triple faults L1's KVM saw in the first
#                            run (reboot=t makes `reboot -f` one on purpose)
#   RESULT <s>_cpu_<phase>=  L1 and VMM-thread CPU per phase the guest marks
#                            with "L2-PHASE name" (phase_report), and
#   RESULT <s>_kvm_<phase>=  L1 KVM's counters (exits, injections) for it
#   RESULT <s>_status=pass | fail:<reason>
# then "L1-SCENARIO-DONE <s>" (run.sh re-runs scenarios without it in a fresh
# L1 if this one freezes). While an L2 runs, "L1-ALIVE" is printed every 10 s
# so that L0 can tell a frozen L1 from a slow guest.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

param() { # NAME DEFAULT
    local v
    v=$(echo " $(cat /proc/cmdline)" | sed -n "s/.*[[:space:]]sandbox\.$1=\([^[:space:]]*\).*/\1/p")
    echo "${v:-$2}"
}
SCENARIOS=$(param scenarios boot)
VMM_NAME=$(param vmm qemu)
ADAPTER=/sandbox/vmm-$VMM_NAME.sh
MACHINE=$(param machine q35)
default_panic_rc=4; [ "$VMM_NAME" = qemu ] && default_panic_rc=1
PANIC_RC=$(param panic_rc $default_panic_rc)
L2_TIMEOUT=$(param l2_timeout 90)
L2_MEMORY=$(param l2_memory 256)
L2_KERNEL=/sandbox/l2/vmlinuz
L2_INITRD=/sandbox/l2/initramfs.cpio
L2_CMDLINE="console=ttyS0 reboot=t panic=-1 nokaslr quiet"
BENCH=$(param bench "")
REPS=$(param reps 3)
DMESG=$(param l2_dmesg 0)
EXTRA_CMDLINE=""   # added to the L2 command line (sandbox.dmesg=1)
[ "$DMESG" = 1 ] && EXTRA_CMDLINE=" sandbox.dmesg=1"
[ "$(param vmm_trace 0)" = 1 ] && export PLUGINVMM_STARTUP_TRACE=1   # inherited by the adapter
PERF=$(param perf 0)
if [ "$PERF" != 0 ]; then
    command -v perf >/dev/null || { echo "L1: sandbox.perf=$PERF but this image has no perf"; PERF=0; }
    # .NET writes /tmp/perf-PID.map, perf's names for JIT-compiled code (ReadyToRun code shows as its image); with
    # W^X the code runs from a memfd mapping whose addresses perf does not look up in the map
    [ "$PERF" = 1 ] && export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
fi

result() { echo "RESULT $*"; }
now_us() { REPLY=${EPOCHREALTIME/./}; }
secs() { printf -v REPLY '%d.%03d' $(($1 / 1000000)) $(($1 % 1000000 / 1000)); }

echo "L1: driver start, uptime $(cut -d' ' -f1 /proc/uptime) s, $(nproc) vCPUs"
echo "L1: vmm=$VMM_NAME adapter=$ADAPTER machine=$MACHINE scenarios=$SCENARIOS panic_rc=$PANIC_RC"

# --- L1 kernel modules (kvm, kvm-amd, irqbypass, tun, vhost, vfio) -------------
for ko in $(cat /lib/sandbox-modules/order); do
    insmod /lib/sandbox-modules/$ko 2>/tmp/insmod.err || echo "L1: insmod $ko: $(cat /tmp/insmod.err)"
done
[ -c /dev/kvm ] && result "l1_dev_kvm=yes" || result "l1_dev_kvm=no"
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null   # KVM's exit counters (phase_snapshot)
result "l1_kvm_amd_nested=$(cat /sys/module/kvm_amd/parameters/nested 2>/dev/null || echo none)"
[ -x "$ADAPTER" ] || echo "L1: no adapter $ADAPTER in this image"

# --- one VMM run -------------------------------------------------------------------
# run_vmm LABEL TIMEOUT ADAPTER-ARGS...
# Sets RUN_RC RUN_TIMEOUT(yes/no) RUN_MARK_US RUN_EXIT_US RUN_RSS; the console
# (stdout+stderr of the VMM) is kept in /tmp/console.LABEL.
# thread_dump PID LABEL: before the watchdog kills a VMM, each thread's name, state, kernel wait channel and CPU
# ticks, twice 2 s apart: a vCPU thread that still burns CPU in KVM_RUN (the nested stall) reads differently from a
# device thread stuck in a wait (a lost wake-up in the VMM), which is what tells the two apart afterwards.
thread_dump() {
    local pid=$1 label=$2 t round stat
    for round in 1 2; do
        for t in /proc/$pid/task/*; do
            read -r stat < "$t/stat" 2>/dev/null || continue
            stat=${stat##*) }
            set -- $stat
            echo "L1: watchdog $label thread $(cat "$t/comm" 2>/dev/null) state=$1 ticks=$((${12} + ${13})) wchan=$(cat "$t/wchan" 2>/dev/null) (sample $round)"
        done
        [ $round = 1 ] && sleep 2
    done
}

run_vmm() {
    local label=$1 timeout=$2; shift 2
    local fifo=/tmp/vmm.fifo console=/tmp/console.$label flag=/tmp/watchdog.$label
    local t0 now line vpid guard
    rm -f "$fifo" "$console" "$flag" "/tmp/rss.$label" "/tmp/nonguest.$label" /tmp/phase."$label".* "/tmp/phases.$label" "/tmp/perfphases.$label"
    mkfifo "$fifo"
    RUN_MARK_US=""
    now_us; t0=$REPLY
    "${S_ADAPTER:-$ADAPTER}" "$@" < /dev/null > "$fifo" 2>&1 &
    vpid=$!
    # guard: samples VmHWM, prints a heartbeat, enforces the timeout (by the
    # clock: under TCG a "sleep 0.5" loop turn takes noticeably longer).
    # It waits with bash's read timeout on a fifo nobody writes, not sleep(1):
    # a process per turn costs L1 CPU that the VMM under test would miss.
    (
        beat=$((t0 + 10000000)) deadline=$((t0 + timeout * 1000000)) nonguest=0 turn=0
        mkfifo "/tmp/guard.$label"; exec {tick}<>"/tmp/guard.$label"; rm -f "/tmp/guard.$label"
        while [ -e /proc/$vpid/status ]; do
            while read -r k v _; do
                [ "$k" = VmHWM: ] && echo "$v" > "/tmp/rss.$label"
            done < /proc/$vpid/status 2>/dev/null
            # RSS outside the guest RAM: every mapping's Rss minus those of a
            # mapping sized like the guest RAM (up to 8 MiB of alignment slack).
            # Once the guest marks a measured phase (L2-PHASE), only every 10th
            # turn: an awk over a .NET process's smaps every 0.5 s took ~10 % of
            # L1's CPU in a profile (more for PluginVmm than for QEMU, whose
            # smaps is shorter)
            if [ ! -e "/tmp/phases.$label" ] || [ $((turn % 10)) = 0 ]; then
                n=$(awk -v g=$((L2_MEMORY * 1024)) '$1 == "Size:" { m = ($2 >= g && $2 <= g + 8192) }
                    $1 == "Rss:" { t += $2; if (m) r += $2 } END { print t - r + 0 }' /proc/$vpid/smaps 2>/dev/null)
                if [ -n "$n" ] && [ "$n" -gt "$nonguest" ]; then nonguest=$n; echo "$n" > "/tmp/nonguest.$label"; fi
            fi
            turn=$((turn + 1))
            read -r -t 0.5 -u $tick _
            now_us
            if [ $REPLY -ge $beat ]; then
                echo "L1-ALIVE $label +$(((REPLY - t0) / 1000000)) s"
                beat=$((beat + 10000000))
            fi
            if [ $REPLY -ge $deadline ]; then
                touch "$flag"
                echo "L1: watchdog - $label still running after $timeout s, killing the VMM"
                thread_dump $vpid "$label"
                kill -TERM $vpid 2>/dev/null
                for _ in 1 2 3 4 5 6 7 8 9 10; do [ -e /proc/$vpid/status ] || break; sleep 0.5; done
                kill -KILL $vpid 2>/dev/null
                break
            fi
        done
    ) &
    guard=$!
    while IFS= read -r line; do
        now_us; now=$REPLY
        line=${line%$'\r'}
        [ -z "$RUN_MARK_US" ] && [[ $line == *L2-MARK-INIT* ]] && RUN_MARK_US=$((now - t0))
        # the phase name becomes part of a file name: only a plain word from the guest is taken
        if [[ $line =~ ^L2-PHASE\ ([a-z0-9_]{1,16})$ ]]; then
            phase_snapshot $vpid "$label" "${BASH_REMATCH[1]}"
            [ "$PERF" != 0 ] && perf_phase "$label" "${BASH_REMATCH[1]}" $vpid
        fi
        secs $((now - t0)); echo "L2| [$label +$REPLY] $line"
        printf '%s\n' "$line" >> "$console"
    done < "$fifo"
    wait $vpid; RUN_RC=$?
    [ "$PERF" != 0 ] && perf_phase "$label" end && perf_report "$label"
    now_us; RUN_EXIT_US=$((REPLY - t0))
    wait $guard 2>/dev/null
    RUN_TIMEOUT=no; [ -e "$flag" ] && RUN_TIMEOUT=yes
    RUN_RSS=$(cat "/tmp/rss.$label" 2>/dev/null)
    RUN_NONGUEST=$(cat "/tmp/nonguest.$label" 2>/dev/null)
    touch "$console"
}

# phase_snapshot PID LABEL PHASE: when the guest prints "L2-PHASE name" (l2/virtio.sh), the CPU ticks of each of
# the VMM's threads (utime + stime, by thread name) and L1's /proc/stat cpu line; phase_report turns them into
# where each phase's CPU went, for PluginVmm and QEMU alike. Plain bash: a process per thread costs too much in L1.
phase_snapshot() {
    local t comm rest a
    {
        read -r rest < /proc/stat; echo "L1 $rest"
        # L1 KVM's counters of the (only) running VM: exits by kind, injections, emulated instructions
        for t in /sys/kernel/debug/kvm/*; do
            [ -f "$t" ] && read -r rest < "$t" 2>/dev/null && echo "K ${t##*/} $rest"
        done
        for t in /proc/$1/task/*; do
            read -r comm < "$t/comm" 2>/dev/null || continue
            read -r rest < "$t/stat" 2>/dev/null || continue
            read -ra a <<< "${rest##*) }"
            echo "T ${comm// /_} $((a[11] + a[12]))"
        done
    } > "/tmp/phase.$2.$3"
    echo "$3" >> "/tmp/phases.$2"
}

# perf_phase LABEL PHASE VMMPID: stops the profile of the phase before and, unless PHASE is "end", starts one of
# PHASE (system-wide: the VMM, L1's kernel on its behalf, the TAP's peer and QEMU alike; cpu-clock, as TCG has no
# PMU); with sandbox.perf=syscalls a count of the VMM's system calls per thread instead (what each VMM asks of L1's
# kernel for the same work: calls per packet, not their times, which tracing inflates)
PERF_PID=""
perf_phase() {
    if [ -n "$PERF_PID" ]; then
        kill -INT "$PERF_PID" 2>/dev/null; wait "$PERF_PID" 2>/dev/null; PERF_PID=""
    fi
    [ "$2" = end ] && return 0
    echo "$2" >> "/tmp/perfphases.$1"
    if [ "$PERF" = syscalls ]; then
        perf trace -s -p "$3" -o "/tmp/perf.$1.$2.trace" > /dev/null 2>&1 &
    else
        perf record -q -a -e cpu-clock -F 250 -o "/tmp/perf.$1.$2.data" > /dev/null 2>&1 &
    fi
    PERF_PID=$!
}

# perf_report LABEL: the profiles' top entries as L1-PERF lines: the share of samples by process name, by shared
# object, and then the symbols of the three busiest names other than the idle task (the VMM's I/O thread, its vCPU,
# the TAP's peer), each as a share of all samples; then the data is removed
perf_report() {
    local p f c
    [ -f "/tmp/perfphases.$1" ] || return 0
    while read -r p; do
        f=/tmp/perf.$1.$p.trace
        if [ -f "$f" ]; then
            # per thread: a "name (tid), N events" line, then a row per system call (calls errors total ...)
            grep -v '^ *$' "$f" | grep -v -- '-----' | head -150 | sed "s/^/L1-SYSCALLS $1 $p: /"
            rm -f "$f"
            continue
        fi
        f=/tmp/perf.$1.$p.data
        [ -f "$f" ] || continue
        for sort in comm dso; do
            perf report -i "$f" --stdio --sort "$sort" --percent-limit 0.5 2>/dev/null |
                grep -v '^#' | grep -v '^ *$' | head -25 | sed "s/^/L1-PERF $1 $p $sort: /"
        done
        perf report -i "$f" --stdio --sort comm 2>/dev/null | grep -v '^#' | grep -v '^ *$' |
            sed 's/^ *[0-9.]*% *//; s/ *$//' | grep -vx swapper | head -3 > /tmp/perfcomms
        while IFS= read -r c; do
            perf report -i "$f" --stdio --comm "$c" --sort dso,sym --percent-limit 0.2 2>/dev/null |
                grep -v '^#' | grep -v '^ *$' | head -40 | sed "s/^/L1-PERF $1 $p ${c// /_}: /"
        done < /tmp/perfcomms
        rm -f "$f" /tmp/perfcomms
    done < "/tmp/perfphases.$1"
    rm -f "/tmp/perfphases.$1"
}

# phase_report LABEL: RESULT LABEL_cpu_PHASE=l1_user=,l1_sys=,l1_softirq=,l1_idle=,vmm=,THREAD=... (ms, both L1
# CPUs together; threads under 50 ms left out) and RESULT LABEL_kvm_PHASE=COUNTER=... (KVM counters that moved by
# 100 or more) for each phase up to the next one
phase_report() {
    local p prev=""
    [ -f "/tmp/phases.$1" ] || return 0
    while read -r p; do
        [ -n "$prev" ] && awk -v out="$1_cpu_$prev" '
            FNR == NR { if ($1 == "T") s[$2] += $3; else if ($1 == "K") ks[$2] = $3; else for (i = 3; i <= NF; i++) l[i] = $i; next }
            $1 == "T" { e[$2] += $3; next }
            $1 == "K" { ke[$2] = $3; next }
            { for (i = 3; i <= NF; i++) m[i] = $i }
            END {
                tot = 0; list = ""
                for (k in e) { d = (e[k] - s[k]) * 10; tot += d; if (d >= 50) list = list sprintf(",%s=%d", k, d) }
                printf "RESULT %s=l1_user=%d,l1_sys=%d,l1_softirq=%d,l1_idle=%d,vmm=%d%s\n", out,
                    (m[3] + m[4] - l[3] - l[4]) * 10, (m[5] - l[5]) * 10, (m[9] - l[9]) * 10, (m[6] - l[6]) * 10, tot, list
                list = ""
                # %.0f, not %d: busybox awk prints %d as a 32-bit int (halt_wait_ns overflowed to -2147483648)
                for (k in ke) if (ke[k] - ks[k] >= 100) list = list sprintf(",%s=%.0f", k, ke[k] - ks[k])
                if (list != "") { sub(/_cpu_/, "_kvm_", out); printf "RESULT %s=%s\n", out, substr(list, 2) }
            }' "/tmp/phase.$1.$prev" "/tmp/phase.$1.$p"
        prev=$p
    done < "/tmp/phases.$1"
}

# trace_arm / trace_dump LABEL: how an L2 guest ended, from L1's KVM tracepoints: the exceptions KVM injected
# and the shutdown exit (SVM exit code 0x7f, a triple fault) with the guest's rip and the exit's info fields as
# the VMCB held them. Only those two (filtered) events, so the tracing does not slow a run; a silent reset
# prints the last of them as "L1-TRACE LABEL| ..." lines (the L2 kernel runs with nokaslr: rip maps onto its
# System.map).
T=/sys/kernel/tracing
trace_arm() {
    [ -d $T/events/kvm ] || mount -t tracefs tracefs $T 2>/dev/null
    [ -d $T/events/kvm ] || return 0
    echo 0 > $T/tracing_on; echo > $T/trace; echo 512 > $T/buffer_size_kb
    echo 1 > $T/events/kvm/kvm_inj_exception/enable
    echo 'exit_reason == 127' > $T/events/kvm/kvm_exit/filter && echo 1 > $T/events/kvm/kvm_exit/enable
    echo 1 > $T/tracing_on
}
trace_dump() {
    [ -f $T/trace ] || return 0
    echo 0 > $T/tracing_on
    local n; n=$(grep -vc '^#' $T/trace)
    result "${1}_trace_events=$n"
    grep -v '^#' $T/trace | tail -n 20 | sed "s/^/L1-TRACE $1| /"
}

# silent_reset FILE: the L2 guest started, then ended without its done
# marker and without a word of panic, and the VMM exited 0 (a triple fault or
# reset ends PluginVmm with 0, and QEMU with 0 under -no-reboot). Nested SVM
# under TCG does this now and then during heavy guest I/O, under QEMU as the
# L2 VMM as well as under PluginVmm (tests/sandbox/README.md).
silent_reset() {
    [ "$RUN_TIMEOUT" = no ] && [ "$RUN_RC" = 0 ] && [ -n "$RUN_MARK_US" ] &&
        ! grep -q 'L2-MARK-DONE' "$1" &&
        ! grep -qE 'Kernel panic|Oops|BUG:|general protection|double fault' "$1"
}

# guest_results FILE SCENARIO -> the guest's RESULT lines, keys prefixed with
# the scenario name (unless the key already is it or starts with "NAME_")
guest_results() {
    local line kv key
    while IFS= read -r line; do
        [[ $line == RESULT\ * ]] || continue
        kv=${line#RESULT }; key=${kv%%=*}
        if [ "$key" = "$2" ] || [[ $key == "$2"_* ]]; then result "$kv"; else result "$2_$kv"; fi
    done < "$1"
}
# guest_value FILE KEY -> value of the guest's "RESULT KEY=value"
guest_value() { sed -n "s/^RESULT $2=//p" "$1" | head -n1; }

source /sandbox/virtio.sh   # the virtio scenarios: virtio_setup, virtio_verdict
source /sandbox/vfio.sh     # the vfio scenario: vfio_setup, vfio_verdict
source /sandbox/ivshmem.sh  # the ivshmem scenario: ivshmem_setup, ivshmem_verdict

# --- scenarios --------------------------------------------------------------------
# scenario_setup NAME -> S_ARGS (adapter arguments), S_TIMEOUT
scenario_setup() {
    local vcpus=1 kernel=$L2_KERNEL initrd=$L2_INITRD memory=$L2_MEMORY
    local cmdline="$L2_CMDLINE sandbox.scenario=$1$EXTRA_CMDLINE"
    S_ARGS=() S_TIMEOUT=$L2_TIMEOUT S_ADAPTER=""   # S_ADAPTER: a scenario that picks its adapter (l1/virtio.sh)
    case "$1" in
    boot) ;;
    smp) vcpus=2 ;;
    pci) S_ARGS+=(--device pvpanic) ;;
    panic|bar) S_ARGS+=(--device pvpanic) ;;
    blk|net|virtio-bar|blkbench|netbench|netbench_nomrg|blk_qemu|net_qemu|virtio-bar_qemu|blkbench_qemu|netbench_qemu)   # l1/virtio.sh
        virtio_setup "$1" || return 1
        cmdline="$L2_CMDLINE sandbox.scenario=$(virtio_base "$1")$EXTRA_CMDLINE$S_CMDLINE_EXTRA" ;;
    ivshmem|ivshmem_qemu)   # l1/ivshmem.sh; ivshmem_qemu: with the qemu adapter whatever --vmm is
        [ "$1" = ivshmem_qemu ] && S_ADAPTER=/sandbox/vmm-qemu.sh
        ivshmem_setup || return 1
        cmdline="$L2_CMDLINE sandbox.scenario=ivshmem$EXTRA_CMDLINE$S_CMDLINE_EXTRA" ;;
    vfio|vfio_qemu)   # l1/vfio.sh; vfio_qemu: with the qemu adapter whatever --vmm is
        [ "$1" = vfio_qemu ] && S_ADAPTER=/sandbox/vmm-qemu.sh
        vfio_setup || return 1
        # 64 KiB of L2 RAM the guest kernel leaves alone, for the device's DMA (l2/vfio.sh)
        cmdline="$L2_CMDLINE memmap=64K\$0x07000000 sandbox.scenario=vfio$EXTRA_CMDLINE$S_CMDLINE_EXTRA" ;;
    custom)  # run.sh --guest-*: files appended to the L1 initramfs
        kernel=/sandbox/guest/kernel initrd=/sandbox/guest/initrd
        cmdline=$(cat /sandbox/guest/cmdline)
        vcpus=$(cat /sandbox/guest/vcpus) memory=$(cat /sandbox/guest/memory)
        S_TIMEOUT=$(cat /sandbox/guest/timeout) ;;
    *) return 1 ;;
    esac
    S_ARGS=(--kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline"
            --memory "$memory" --vcpus "$vcpus" --machine "$MACHINE" "${S_ARGS[@]}")
}

# scenario_verdict NAME CONSOLE -> REPLY = "" (pass) or the failure reason
scenario_verdict() {
    local s=$1 c=$2 n
    REPLY=""
    if [ $RUN_TIMEOUT = yes ]; then REPLY=timeout; return; fi
    if [ "$s" != custom ] && [ -z "$RUN_MARK_US" ]; then REPLY=no_L2-MARK-INIT; return; fi
    case "$s" in
    boot)
        [ "$(guest_value "$c" boot)" = ok ] || REPLY=no_boot_ok
        # KVM emulates the TSC-deadline timer but leaves it out of its supported CPUID: the VMM must add it
        case ",$(guest_value "$c" cpu_flags)," in *,tsc_deadline_timer,*) ;; *) REPLY="${REPLY:+$REPLY,}no_tsc_deadline_timer" ;; esac ;;
    smp)
        n=$(guest_value "$c" cpus)
        [ "$n" = 2 ] || REPLY="cpus=${n:-none}_expected_2" ;;
    pci)
        n=$(guest_value "$c" devices)
        if [ "${n:-0}" -lt 1 ]; then REPLY=no_pci_devices
        elif ! grep -q '^RESULT dev_.*=vendor=0x1b36 device=0x0011' "$c"; then REPLY=no_pvpanic_1b36:0011
        fi ;;
    bar)
        n=$(guest_value "$c" bar_old)
        for t in lapic ram top; do
            [ "$(guest_value "$c" bar_after_$t)" = "$n" ] || REPLY="${REPLY}bar_after_${t}_not_old,"
        done
        [ "$(guest_value "$c" bar_events)" = 0x03 ] || REPLY="${REPLY}events_not_0x03,"
        [ "$(guest_value "$c" pvpanic_driver)" = bound ] || REPLY="${REPLY}driver_not_bound,"
        [ "$RUN_RC" = "$PANIC_RC" ] || REPLY="${REPLY}rc=${RUN_RC}_expected_$PANIC_RC"
        return ;;
    ivshmem|ivshmem_qemu)
        ivshmem_verdict "$c"
        return ;;
    vfio|vfio_qemu)
        vfio_verdict "$c"
        return ;;
    blk|net|virtio-bar|blkbench|netbench|netbench_nomrg|*_qemu)
        virtio_verdict "$s" "$c"
        return ;;
    panic)
        [ "$RUN_RC" = "$PANIC_RC" ] || REPLY="rc=${RUN_RC}_expected_$PANIC_RC"
        [ -z "$REPLY" ] && [ "$(guest_value "$c" pvpanic_device)" = none ] && REPLY=no_pvpanic_device
        return ;;
    esac
    [ -n "$REPLY" ] || [ "$RUN_RC" = 0 ] || REPLY="rc=${RUN_RC}_expected_0"
}

report_run() { # SCENARIO
    local s=$1
    if [ -n "$RUN_MARK_US" ]; then secs $RUN_MARK_US; result "${s}_marker_s=$REPLY"
    else result "${s}_marker_s=none"; fi
    secs $RUN_EXIT_US; result "${s}_exit_s=$REPLY"
    result "${s}_rc=$RUN_RC"
    [ -n "$RUN_RSS" ] && result "${s}_vmm_peak_rss_kB=$RUN_RSS"
    [ -n "$RUN_NONGUEST" ] && result "${s}_vmm_nonguest_rss_kB=$RUN_NONGUEST"
    return 0
}

# --- benchmark mode: `boot` under several VMMs/machines, round robin ------------
# Prints per run RESULT bench_<label>_r<N>_{marker_s,exit_s,rc,vmm_peak_rss_kB,
# vmm_nonguest_rss_kB,uptime_at_init_s,verdict}, label = ADAPTER-MACHINE, then
# bench_status=pass when every run passed. benchmarks/sandbox_table.py turns
# them into a table.
run_bench() {
    local rep cfg label failed=0 console
    echo "L1-SCENARIO-START bench"
    result "bench_configs=$BENCH"
    result "bench_reps=$REPS"
    for rep in $(seq "$REPS"); do
        # the dmesg print-out (slow over the emulated UART) only in the first round; markers are not affected
        EXTRA_CMDLINE=""; [ "$DMESG" = 1 ] && [ "$rep" = 1 ] && EXTRA_CMDLINE=" sandbox.dmesg=1"
        for cfg in ${BENCH//,/ }; do
            ADAPTER=/sandbox/vmm-${cfg%%:*}.sh MACHINE=${cfg#*:}
            label=${cfg%%:*}-$MACHINE
            scenario_setup boot
            run_vmm "$label" "$S_TIMEOUT" "${S_ARGS[@]}"
            console=/tmp/console.$label
            report_run "bench_${label}_r$rep"
            result "bench_${label}_r${rep}_uptime_at_init_s=$(guest_value "$console" uptime_at_init_s)"
            scenario_verdict boot "$console"
            result "bench_${label}_r${rep}_verdict=${REPLY:-pass}"
            [ -z "$REPLY" ] || failed=$((failed + 1))
            if [ -n "$EXTRA_CMDLINE" ]; then
                sed -n "s/^DMESG| /DMESG $label r$rep| /p" "$console"
            fi
        done
    done
    if [ $failed = 0 ]; then result "bench_status=pass"; else result "bench_status=fail:${failed}_runs_failed"; fi
    echo "L1-SCENARIO-DONE bench"
}

if [ -n "$BENCH" ]; then
    run_bench
    SCENARIOS=""
fi
for s in ${SCENARIOS//,/ }; do
    echo "L1-SCENARIO-START $s"
    if [ "$s" = rxbench ]; then
        # no L2: the receive-path microbenchmark (benchmarks/RxPathBench) on L1's emulated CPU, to see how much TCG
        # multiplies the managed work (run.sh publishes it into the VMM folder for this scenario only)
        if [ -x /opt/vmm/rxbench/RxPathBench ]; then
            /opt/vmm/rxbench/RxPathBench 20000 2>&1 | sed 's/^/RXBENCH| /'
            rc=${PIPESTATUS[0]}
            if [ "$rc" = 0 ]; then result "rxbench_status=pass"; else result "rxbench_status=fail:rc=$rc"; fi
        else
            result "rxbench_status=fail:no_/opt/vmm/rxbench"
        fi
        echo "L1-SCENARIO-DONE $s"; continue
    fi
    if ! scenario_setup "$s"; then
        result "${s}_status=fail:unknown_scenario"
        echo "L1-SCENARIO-DONE $s"; continue
    fi
    trace_arm
    run_vmm "$s" "$S_TIMEOUT" "${S_ARGS[@]}"
    # the nested setup stalls now and then, and now and then resets an L2
    # guest in the middle of heavy I/O (see README); one more try, and say so
    attempt1=""
    if [ $RUN_TIMEOUT = yes ]; then attempt1=timeout
    elif [ "$s" != custom ] && silent_reset "/tmp/console.$s"; then attempt1=silent_reset; trace_dump "$s"
    fi
    [ -f $T/trace ] && result "${s}_l1_shutdown_exits=$(grep -c 'reason shutdown' $T/trace)"
    if [ -n "$attempt1" ]; then
        result "${s}_attempt1=$attempt1"
        result "${s}_retried=yes"
        # from a fresh set-up: the first run's leftovers (an iperf3 server still busy with the connection of a
        # guest that was reset, half-written images) must not fail the second
        scenario_setup "$s"
        run_vmm "$s" "$S_TIMEOUT" "${S_ARGS[@]}"
    fi
    report_run "$s"
    phase_report "$s"
    guest_results "/tmp/console.$s" "$s"
    scenario_verdict "$s" "/tmp/console.$s"
    if [ -z "$REPLY" ]; then result "${s}_status=pass"; else result "${s}_status=fail:$REPLY"; fi
    echo "L1-SCENARIO-DONE $s"
done
echo "L1: driver done, uptime $(cut -d' ' -f1 /proc/uptime) s"
