#!/bin/bash
# run.sh - boot L1 under QEMU TCG on this host and run sandbox scenarios in it.
#
# usage: run.sh [options]
#   --vmm qemu|pluginvmm    L2 VMM (adapter /sandbox/vmm-NAME.sh in L1); default qemu
#   --scenarios a,b,c       from: boot smp pci panic bar blk net virtio-bar ivshmem vfio custom (default
#                           boot,smp,pci,panic,bar,blk,net,virtio-bar,ivshmem,vfio; "custom" when --guest-kernel
#                           is given); vfio boots L1 with an emulated IOMMU and QEMU's edu device
#   --machine q35|microvm   machine type for the qemu adapter (default q35)
#   --vmm-dir DIR           published PluginVmm (DIR/vmm.dll or DIR/vmm) for
#                           --vmm pluginvmm; default: `dotnet publish` of
#                           core/PluginVmm into $CACHE/vmm-publish
#   --panic-rc N            VMM exit status expected after a guest panic
#                           (default 1 for qemu, 3 for pluginvmm)
#   --l2-timeout S          watchdog per L2 run inside L1 (default 90; a healthy
#                           run takes 5-15 s on an idle host, up to ~55 s on a
#                           host loaded with builds)
#   --l2-memory MIB         L2 RAM (default 256)
#   --idle S                L1 silent for S s = frozen (default 45; L1 prints a
#                           heartbeat every 10 s while an L2 runs)
#   --l1-retries N          fresh L1s for scenarios a frozen L1 left (default 1)
#   --budget S              wall-time budget for all L1 boots (default 780)
#   --l1-memory MIB / --l1-cpus N   L1 size (default 4096 / 2)
#   --log FILE              full log (default $CACHE/logs/run-DATE.log)
#   --verbose               also print the L1/L2 consoles (they are always in the log)
#   benchmark mode (the `boot` scenario under several L2 VMMs in one L1):
#   --bench                 runs boot with each of --bench-configs, round robin,
#                           --reps rounds; RESULT bench_* lines, which
#                           benchmarks/sandbox_table.py turns into a table
#   --bench-configs LIST    ADAPTER:MACHINE,... (default pluginvmm:default,
#                           qemu:microvm-nortc,qemu:microvm,qemu:q35; qemu's
#                           "microvm" is microvm,rtc=on)
#   --reps N                rounds (default 3)
#   --l2-dmesg              the L2 guest prints its dmesg (DMESG lines in the log)
#   --vmm-trace             PluginVmm prints its start-up trace (PLUGINVMM_STARTUP_TRACE=1:
#                           "startup +N ms what" lines in the log)
#   --perf                  profile L1 during each phase a guest marks (netbench: tx, rx) with this
#                           host's perf (Debian's linux-perf), copied into L1: "L1-PERF" lines in the log
#   --syscalls              instead of --perf's profile: the VMM's system calls per thread during each phase
#                           (perf trace -s): "L1-SYSCALLS" lines in the log
#   custom guest (scenario "custom"):
#   --guest-kernel F --guest-initrd F [--guest-cmdline S] [--guest-vcpus N]
#   [--guest-memory MIB] [--guest-timeout S]
#
# Prints every RESULT line (a scenario's lines when it finishes), then
# "sandbox: N passed, M failed". Exit status: 0 all scenarios passed,
# 1 a scenario failed or did not finish, 2 bad usage.
source "$(dirname "$0")/lib.sh"
set +e    # from here on failures are results, not reasons to stop

usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2; }
VMM=qemu SCENARIOS="" MACHINE=q35 VMM_DIR="" PANIC_RC="" L2_TIMEOUT=90 L2_MEMORY=256
IDLE=45 L1_RETRIES=1 BUDGET="" L1_MEMORY=4096 L1_CPUS=2 LOG="" VERBOSE=no
BENCH=no BENCH_CONFIGS=pluginvmm:default,qemu:microvm-nortc,qemu:microvm,qemu:q35 REPS=3 L2_DMESG=no VMM_TRACE=no PERF=no
G_KERNEL="" G_INITRD="" G_CMDLINE="console=ttyS0 reboot=t panic=-1" G_VCPUS=1 G_MEMORY=256 G_TIMEOUT=60
while [ $# -gt 0 ]; do
    case "$1" in
    --verbose) VERBOSE=yes; shift; continue ;;
    --bench) BENCH=yes; shift; continue ;;
    --l2-dmesg) L2_DMESG=yes; shift; continue ;;
    --vmm-trace) VMM_TRACE=yes; shift; continue ;;
    --perf) PERF=yes; shift; continue ;;
    --syscalls) PERF=syscalls; shift; continue ;;
    -h|--help) usage ;;
    esac
    [ $# -ge 2 ] || { echo "run.sh: $1 needs a value" >&2; usage; }
    case "$1" in
    --vmm) VMM=$2 ;;
    --scenarios) SCENARIOS=$2 ;;
    --machine) MACHINE=$2 ;;
    --vmm-dir) VMM_DIR=$2 ;;
    --panic-rc) PANIC_RC=$2 ;;
    --l2-timeout) L2_TIMEOUT=$2 ;;
    --l2-memory) L2_MEMORY=$2 ;;
    --idle) IDLE=$2 ;;
    --l1-retries) L1_RETRIES=$2 ;;
    --budget) BUDGET=$2 ;;
    --l1-memory) L1_MEMORY=$2 ;;
    --l1-cpus) L1_CPUS=$2 ;;
    --log) LOG=$2 ;;
    --bench-configs) BENCH_CONFIGS=$2 ;;
    --reps) REPS=$2 ;;
    --guest-kernel) G_KERNEL=$2 ;;
    --guest-initrd) G_INITRD=$2 ;;
    --guest-cmdline) G_CMDLINE=$2 ;;
    --guest-vcpus) G_VCPUS=$2 ;;
    --guest-memory) G_MEMORY=$2 ;;
    --guest-timeout) G_TIMEOUT=$2 ;;
    *) echo "run.sh: unknown option $1" >&2; usage ;;
    esac
    shift 2
done
case "$VMM" in qemu|pluginvmm) ;; *) echo "run.sh: --vmm must be qemu or pluginvmm" >&2; exit 2 ;; esac
case "$MACHINE" in q35|microvm) ;; *) echo "run.sh: --machine must be q35 or microvm" >&2; exit 2 ;; esac
if [ $BENCH = yes ]; then
    # one "scenario" holding every benchmark run; the VMM image must hold PluginVmm
    # if a config uses it (QEMU is always in L1)
    for c in ${BENCH_CONFIGS//,/ }; do
        case "$c" in pluginvmm:*) VMM=pluginvmm ;; qemu:q35|qemu:microvm|qemu:microvm-nortc) ;;
        *) echo "run.sh: bad --bench-configs entry $c" >&2; exit 2 ;; esac
    done
    n_bench=$(tr ',' '\n' <<< "$BENCH_CONFIGS" | wc -l)
fi
# the default budget fits the scenarios (780 s), or every benchmark run at its watchdog
[ -z "$BUDGET" ] && BUDGET=780
[ $BENCH = yes ] && [ "$BUDGET" = 780 ] && BUDGET=$((180 + REPS * n_bench * (L2_TIMEOUT + 10)))
for n in "$L2_TIMEOUT" "$L2_MEMORY" "$IDLE" "$L1_RETRIES" "$BUDGET" "$L1_MEMORY" "$L1_CPUS" \
         "$G_VCPUS" "$G_MEMORY" "$G_TIMEOUT" "$REPS" ${PANIC_RC:+"$PANIC_RC"}; do
    case "$n" in ''|*[!0-9]*) echo "run.sh: '$n' is not a number" >&2; exit 2 ;; esac
done
[ $BENCH = yes ] && SCENARIOS=boot   # replaced by "bench" below
if [ -z "$SCENARIOS" ]; then
    SCENARIOS=boot,smp,pci,panic,bar,blk,net,virtio-bar,ivshmem,vfio
    [ -n "$G_KERNEL" ] && SCENARIOS=custom
fi
for s in ${SCENARIOS//,/ }; do
    case "$s" in boot|smp|pci|panic|bar|custom|blk|net|virtio-bar|blkbench|netbench|netbench_nomrg|ivshmem|vfio|rxbench) ;;
    blk_qemu|net_qemu|virtio-bar_qemu|blkbench_qemu|netbench_qemu|ivshmem_qemu|vfio_qemu) ;;   # NAME with the qemu adapter
    *) echo "run.sh: unknown scenario $s" >&2; exit 2 ;; esac
done
[ $BENCH = yes ] && SCENARIOS=bench
if [[ ",$SCENARIOS," == *,custom,* ]]; then
    [ -f "$G_KERNEL" ] && [ -f "$G_INITRD" ] ||
        { echo "run.sh: scenario custom needs --guest-kernel and --guest-initrd files" >&2; exit 2; }
fi

mkdir -p "$CACHE/logs"
# One sandbox at a time per cache: runs share the published VMM, the images and the machine's two cores.
exec 8>"$CACHE/.run.lock"
if ! flock -n 8; then
    echo "sandbox: another run holds $CACHE/.run.lock; waiting for it" >&2
    flock 8
fi
T_START=${EPOCHREALTIME/./}
LOG=${LOG:-$CACHE/logs/run-$(date +%Y%m%d-%H%M%S).log}
: > "$LOG" || exit 2
note() { echo "sandbox: $*" | tee -a "$LOG"; }

# --- images ------------------------------------------------------------------------
SANDBOX_FETCHED=$("$SANDBOX_DIR/fetch.sh" 2>>"$LOG") || { note "fetch.sh failed (see $LOG)"; exit 1; }
export SANDBOX_FETCHED
build_args=()
if [ "$VMM" = pluginvmm ]; then
    repo=$(cd "$SANDBOX_DIR/../.." && pwd)
    # republish only when the sources' content or the flags changed since the last publish (by content: the
    # cache may have been filled from another checkout, whose files are newer than an earlier edit here)
    publish_flags="-c Release -r linux-x64 --self-contained true -p:UseAppHost=true -p:PublishReadyToRun=true"
    publish_flags+=" -p:PublishReadyToRunComposite=true -p:TieredCompilation=false"
    # taken before the copy below: a source edited while the publish runs makes the next run publish again
    digest=$(cd "$repo" && inputs_digest core sdk plugins Directory.Build.props Directory.Packages.props)
    vmm_sources_changed() {
        [ "$(cat "$CACHE/vmm-publish/.published" 2>/dev/null)" != "$publish_flags $digest" ]
    }
    if [ -z "$VMM_DIR" ] && ! vmm_sources_changed; then
        VMM_DIR=$CACHE/vmm-publish
        note "core/PluginVmm unchanged since the last publish: using $VMM_DIR"
    elif [ -z "$VMM_DIR" ]; then
        VMM_DIR=$CACHE/vmm-publish
        note "publishing core/PluginVmm to $VMM_DIR"
        # from a copy of the work tree, so that our bin/obj never collide
        # with a build someone runs in the tree at the same time
        src=$CACHE/vmm-src
        rm -rf "$VMM_DIR" "$src"; mkdir -p "$src"
        tar -C "$repo" --exclude=./.git --exclude=bin --exclude=obj --exclude=TestResults -cf - . | tar -C "$src" -xf -
        # Self-contained and ReadyToRun-composite: the runtime, the framework and the VMM precompiled as one
        # version bubble. Under L1's emulated CPU every method the JIT compiles costs ~100x more than on the host;
        # a framework-dependent ReadyToRun publish still JIT-compiles ~220 methods before the guest starts
        # (generic instantiations across assemblies: List<OurStruct>, System.CommandLine's Option<int>, ...),
        # the composite ~50. It also starts without the `dotnet` muxer's framework resolution. Tiered compilation
        # off: the precompiled code is final, instead of ~140 hot methods being recompiled (tier 1) on L1's
        # emulated CPUs while the guest boots, which slowed the L2 kernel itself (uptime at /init 7-8 s vs 5.7 s).
        # shellcheck disable=SC2086
        dotnet publish "$src/core/PluginVmm/PluginVmm.csproj" $publish_flags -o "$VMM_DIR" \
            --nologo -v quiet >> "$LOG" 2>&1 || { note "dotnet publish failed (see $LOG)"; exit 1; }
        echo "$publish_flags $digest" > "$VMM_DIR/.published"
    fi
    # scenario rxbench: the receive-path microbenchmark beside the VMM, published the same way
    if [[ ",$SCENARIOS," == *,rxbench,* ]] && [ ! -x "$VMM_DIR/rxbench/RxPathBench" ]; then
        note "publishing benchmarks/RxPathBench to $VMM_DIR/rxbench"
        # shellcheck disable=SC2086
        dotnet publish "$repo/benchmarks/RxPathBench/RxPathBench.csproj" $publish_flags -o "$VMM_DIR/rxbench" \
            --nologo -v quiet >> "$LOG" 2>&1 || { note "dotnet publish of RxPathBench failed (see $LOG)"; exit 1; }
    fi
    build_args=(--vmm-dir "$VMM_DIR")
fi
IMAGE=$("$SANDBOX_DIR/build-l1.sh" "${build_args[@]}" 2>>"$LOG") || { note "build-l1.sh failed (see $LOG)"; exit 1; }
KERNEL=$(kernel_image)

if [[ ",$SCENARIOS," == *,custom,* ]]; then
    # the user's guest goes into a second cpio appended to the L1 image (the
    # kernel unpacks concatenated archives), so the big image is not rebuilt
    extra=$(mktemp -d)
    mkdir -p "$extra/sandbox/guest"
    cp "$G_KERNEL" "$extra/sandbox/guest/kernel"
    cp "$G_INITRD" "$extra/sandbox/guest/initrd"
    echo "$G_CMDLINE" > "$extra/sandbox/guest/cmdline"
    echo "$G_VCPUS" > "$extra/sandbox/guest/vcpus"
    echo "$G_MEMORY" > "$extra/sandbox/guest/memory"
    echo "$G_TIMEOUT" > "$extra/sandbox/guest/timeout"
    (cd "$extra" && find sandbox | cpio -o -H newc --quiet) > "$extra/guest.cpio"
    cat "$IMAGE" "$extra/guest.cpio" > "$(build_dir)/l1/initramfs-guest.cpio"
    rm -rf "$extra"
    IMAGE=$(build_dir)/l1/initramfs-guest.cpio
fi

if [ $PERF != no ]; then
    command -v perf > /dev/null || { note "--perf/--syscalls need perf on this host (apt-get install linux-perf)"; exit 2; }
    # perf and the libraries it links go into another appended cpio (merged-/usr like the image, so the
    # archive's /lib is the image's symlink, not a directory)
    extra=$(mktemp -d)
    mkdir -p "$extra/root/usr/lib" "$extra/root/usr/lib64" "$extra/root/usr/bin"
    ln -s usr/lib "$extra/root/lib"; ln -s usr/lib64 "$extra/root/lib64"
    add_program "$extra/root" "$(command -v perf)"
    (cd "$extra/root" && find usr | cpio -o -H newc --quiet) > "$extra/perf.cpio"
    cat "$IMAGE" "$extra/perf.cpio" > "$(build_dir)/l1/initramfs-perf.cpio"
    rm -rf "$extra"
    IMAGE=$(build_dir)/l1/initramfs-perf.cpio
fi

# --- one L1 boot ---------------------------------------------------------------
# boot_l1 SCENARIOS ATTEMPT TIMEOUT: runs L0 QEMU, reads L1's console with a
# silence detector. Sets FROZEN=yes|no and DONE_LIST (finished scenarios).
# RESULT lines of a scenario are held back until L1 reports it finished, so
# a scenario cut short by a frozen L1 leaves its partial results in the log only.
declare -A HELD=() WALL=()
STATUSES=()   # NAME=STATUS per finished run, in order
ALL_RESULTS=()
emit() { ALL_RESULTS+=("$1"); echo "$1"; echo "$1" >> "$LOG.results"; }
: > "$LOG.results"
qemu_pid=""
trap '[ -n "$qemu_pid" ] && kill -KILL $qemu_pid 2>/dev/null; exit 130' INT TERM

boot_l1() {
    local scenarios=$1 attempt=$2 timeout=$3
    local append fifo line rc now t0 ts cur="" cur_t0=0 tag="" panic=""
    [ "$attempt" -gt 1 ] && tag="_attempt$attempt"
    append="console=ttyS0 quiet panic=-1 nokaslr sandbox.scenarios=$scenarios sandbox.vmm=$VMM"
    append+=" sandbox.machine=$MACHINE sandbox.l2_timeout=$L2_TIMEOUT sandbox.l2_memory=$L2_MEMORY"
    [ -n "$PANIC_RC" ] && append+=" sandbox.panic_rc=$PANIC_RC"
    [ $BENCH = yes ] && append+=" sandbox.bench=$BENCH_CONFIGS sandbox.reps=$REPS"
    [ $L2_DMESG = yes ] && append+=" sandbox.l2_dmesg=1"
    [ $VMM_TRACE = yes ] && append+=" sandbox.vmm_trace=1"
    [ $PERF = yes ] && append+=" sandbox.perf=1"
    [ $PERF = syscalls ] && append+=" sandbox.perf=syscalls"
    # vfio: an emulated IOMMU (intremap: interrupt remapping, which vfio needs for MSI) and QEMU's "edu" PCI
    # device for L1 to pass through; only in an L1 that runs the scenario, so the others boot as they always did
    local vfio_dev=()
    if [[ ",$scenarios," == *,vfio,* || ",$scenarios," == *,vfio_qemu,* ]]; then
        vfio_dev=(-device intel-iommu,intremap=on -device edu)
        append+=" intel_iommu=on"
    fi
    local cmd=(qemu-system-x86_64 -accel tcg -M q35 -cpu EPYC,+svm -m "$L1_MEMORY" -smp "$L1_CPUS"
               -nodefaults -no-user-config -display none -no-reboot -serial stdio "${vfio_dev[@]}"
               -kernel "$KERNEL" -initrd "$IMAGE" -append "$append")
    { echo "L0-ATTEMPT $attempt scenarios=$scenarios timeout=${timeout}s"
      printf 'L0-CMD:'; printf ' %q' "${cmd[@]}"; echo; } >> "$LOG"
    fifo=$(mktemp -u /tmp/sandbox-l1.XXXXXX); mkfifo "$fifo"
    t0=${EPOCHREALTIME/./}
    local deadline=$((t0 + timeout * 1000000)) wait_s
    "${cmd[@]}" < /dev/null > "$fifo" 2>&1 &
    qemu_pid=$!
    FROZEN=no DONE_LIST=""
    exec {fd}< "$fifo"
    rm -f "$fifo"
    while true; do
        # wait for the next console line at most IDLE s, and never past the
        # hard limit of this L1 boot
        wait_s=$(( (deadline - ${EPOCHREALTIME/./}) / 1000000 ))
        [ $wait_s -gt "$IDLE" ] && wait_s=$IDLE
        [ $wait_s -lt 1 ] && wait_s=1
        IFS= read -r -t "$wait_s" -u $fd line; rc=$?
        if [ $rc -gt 128 ]; then
            if [ ${EPOCHREALTIME/./} -ge $deadline ]; then
                line="L0-FROZEN L1 still running after its limit of $timeout s"
            else
                line="L0-FROZEN no L1 console output for $IDLE s"
            fi
        elif [ $rc -ne 0 ]; then
            break
        fi
        now=${EPOCHREALTIME/./}
        secs_since $t0 $now; ts=$REPLY
        line=${line%$'\r'}
        printf '[%8s] %s\n' "$ts" "$line" >> "$LOG"
        [ $VERBOSE = yes ] && printf '[%8s] %s\n' "$ts" "$line"
        case "$line" in
        L1-MARK-INIT*) emit "RESULT l1_boot${tag}_s=$ts" ;;
        L1-SCENARIO-START\ *) cur=${line#L1-SCENARIO-START }; cur_t0=$now; HELD[$cur]="" ;;
        L1-SCENARIO-DONE\ *)
            cur=${line#L1-SCENARIO-DONE }
            secs_since $cur_t0 $now; WALL[$cur]=$REPLY
            [ "$attempt" -gt 1 ] && emit "RESULT ${cur}_l1_rerun=yes"
            while IFS= read -r l; do
                [ -n "$l" ] || continue
                emit "$l"
                # one status per finished run: a scenario listed twice (A-B-B-A benchmarks) has two
                case "$l" in RESULT\ "${cur}"_status=*) STATUSES+=("$cur=${l#RESULT "${cur}"_status=}") ;; esac
            done <<< "${HELD[$cur]}"
            emit "RESULT ${cur}_wall_s=${WALL[$cur]}"
            DONE_LIST+=" $cur" cur="" ;;
        RESULT\ *)
            if [ -n "$cur" ]; then HELD[$cur]+="$line"$'\n'; else emit "$line"; fi ;;
        L2\|*) ;;   # the L2 guest's own stalls are the L1 watchdog's business
        *"soft lockup"*|*"self-detected stall"*|*"detected stalls on CPUs"*|L0-FROZEN*)
            FROZEN=yes ;;   # L1's kernel reports its own lockup, or L1 is silent
        # L1's kernel dying under the L2 VMM (seen: "TASK stack guard page was hit" in the VMM's vCPU thread inside
        # KVM_RUN, under QEMU and PluginVmm alike): its first words are kept for the report. After the lockup case:
        # "BUG: soft lockup" is a frozen L1.
        *"BUG: "*|*"Kernel panic - not syncing"*)
            [ -n "$panic" ] || panic=${line#*\] } ;;
        esac
        if [ $FROZEN = yes ]; then
            note "L1 looks frozen (attempt $attempt): $line"
            stop_l0
            break
        fi
    done
    exec {fd}<&-
    wait "$qemu_pid" 2>/dev/null; rc=$?
    qemu_pid=""
    now=${EPOCHREALTIME/./}; secs_since $t0 $now
    emit "RESULT l1_total${tag}_s=$REPLY"
    if [ -n "$panic" ]; then
        emit "RESULT l1_panic${tag}=$(tr -c 'A-Za-z0-9:._-' _ <<< "${panic:0:80}" | sed 's/_*$//')"
        note "L1's kernel died (attempt $attempt): $panic"
    fi
    echo "L0-QEMU-EXIT rc=$rc" >> "$LOG"
}
# stop_l0: SIGTERM the L0 QEMU, SIGKILL if it is still there after 10 s
# (a stopped or wedged process does not act on SIGTERM)
stop_l0() {
    local i
    kill -TERM "$qemu_pid" 2>/dev/null
    for i in $(seq 20); do kill -0 "$qemu_pid" 2>/dev/null || return 0; sleep 0.5; done
    kill -KILL "$qemu_pid" 2>/dev/null
}
secs_since() { local d=$(($2 - $1)); printf -v REPLY '%d.%03d' $((d / 1000000)) $((d % 1000000 / 1000)); }

# --- attempts: a frozen L1 gets one fresh L1 for what it did not finish --------
note "vmm=$VMM machine=$MACHINE scenarios=$SCENARIOS image=$(basename "$IMAGE") log=$LOG"
# TCG speed follows the host's load; keep it next to the timings
emit "RESULT host_loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)"
remaining=$SCENARIOS attempt=1
while [ -n "$remaining" ]; do
    n=$(tr ',' '\n' <<< "$remaining" | wc -l)
    # a healthy scenario takes < 15 s; a hung one 2 watchdog periods + kills
    limit=$((90 + n * (2 * L2_TIMEOUT + 30)))
    [ $BENCH = yes ] && limit=$((90 + REPS * n_bench * (L2_TIMEOUT + 10)))
    [[ ",$remaining," == *,custom,* ]] && limit=$((limit + 2 * G_TIMEOUT))
    elapsed=$(( (${EPOCHREALTIME/./} - T_START) / 1000000 ))
    left=$((BUDGET - elapsed))
    [ $left -lt $limit ] && limit=$left
    if [ $limit -lt 60 ]; then note "budget of $BUDGET s used up"; break; fi
    boot_l1 "$remaining" $attempt $limit
    # what is left: each finished run takes one occurrence of its name off the list
    next="" done_left=" $DONE_LIST "
    for s in ${remaining//,/ }; do
        if [[ $done_left == *" $s "* ]]; then done_left=${done_left/ $s / }; else next+="${next:+,}$s"; fi
    done
    remaining=$next
    [ -z "$remaining" ] && break
    if [ $attempt -gt "$L1_RETRIES" ]; then note "giving up on: $remaining"; break; fi
    note "re-running [$remaining] in a fresh L1"
    attempt=$((attempt + 1))
done

# --- verdict -------------------------------------------------------------------------
passed=0 failed=0
emit "RESULT l1_attempts=$attempt"
for s in ${SCENARIOS//,/ }; do
    st=""
    for i in "${!STATUSES[@]}"; do
        if [ "${STATUSES[$i]%%=*}" = "$s" ]; then st=${STATUSES[$i]#*=}; unset 'STATUSES[i]'; break; fi
    done
    if [ -z "$st" ]; then emit "RESULT ${s}_status=fail:not_finished"; st=fail; fi
    if [ "$st" = pass ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
emit "RESULT host_loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)"
secs_since $T_START ${EPOCHREALTIME/./}
emit "RESULT total_s=$REPLY"
echo "log: $LOG (RESULT lines only: $LOG.results)"
echo "sandbox: $passed passed, $failed failed" | tee -a "$LOG"
[ $failed = 0 ]
