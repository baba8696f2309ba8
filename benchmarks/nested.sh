#!/usr/bin/env bash
# The nested backend's wall times (BENCHMARKS.md §D): `./vmm run vmm.toml` from the command to its exit.
#   benchmarks/nested.sh [--fresh] [--runs N] [--gap S]
#   --fresh   first: stop the helper and delete ~/.cache/pluginvmm and .build, so the first run publishes, builds
#             the helper image and boots it (apt packages already installed stay installed)
#   --runs N  later runs per pattern (default 5); --gap S: the pause of the spaced pattern (default 30)
# Prints one line per run: pattern, wall seconds, exit code. Then the same demo guest under QEMU in TCG mode on the
# host, alternated with warm PluginVmm runs (A-B-B-A), and the idle helper's memory.
set -uo pipefail
cd "$(dirname "$0")/.."
fresh=no runs=5 gap=30
while [ $# -gt 0 ]; do
    case $1 in
    --fresh) fresh=yes ;;
    --runs) runs=$2; shift ;;
    --gap) gap=$2; shift ;;
    *) echo "usage: $0 [--fresh] [--runs N] [--gap S]" >&2; exit 2 ;;
    esac
    shift
done
export PLUGINVMM_BACKEND=nested
cache=${PLUGINVMM_NESTED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pluginvmm}

timed() {  # timed LABEL CMD... : one line "LABEL wall_s=... rc=..."
    local label=$1; shift
    local s e rc
    s=$(date +%s.%N); "$@" >/dev/null 2>/tmp/nested-bench.err; rc=$?; e=$(date +%s.%N)
    printf '%-12s wall_s=%.2f rc=%d\n' "$label" "$(echo "$e - $s" | bc)" "$rc"
}
qemu_demo() {
    truncate -s 1M /tmp/nested-bench.img
    qemu-system-x86_64 -accel tcg -M q35 -m 256 -cpu max -display none -serial stdio -no-reboot \
        -kernel .build/guests/pcitest/pcitest.elf -append demo -device pvpanic-pci \
        -object memory-backend-file,id=shm,mem-path=/tmp/nested-bench.shm,size=1M,share=on -device ivshmem-plain,memdev=shm \
        -drive file=/tmp/nested-bench.img,format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d0
}

if [ $fresh = yes ]; then
    [ -f .build/vmm/vmm.dll ] && dotnet .build/vmm/vmm.dll doctor --stop-helper >/dev/null 2>&1
    rm -rf "$cache" .build
    timed first ./vmm run vmm.toml
    grep '^vmm:' /tmp/nested-bench.err | sed 's/^/  /'
else
    timed warm-up ./vmm run vmm.toml
fi
for i in $(seq "$runs"); do timed back-to-back ./vmm run vmm.toml; done
for i in $(seq "$runs"); do sleep "$gap"; timed spaced ./vmm run vmm.toml; done
for i in $(seq "$runs"); do
    sleep "$gap"; timed pluginvmm ./vmm run vmm.toml; timed qemu-tcg qemu_demo
    timed qemu-tcg qemu_demo; sleep "$gap"; timed pluginvmm ./vmm run vmm.toml
done
sleep "$gap"
pid=$(cat "$cache/helper/qemu.pid")
echo "idle helper: QEMU $(grep VmRSS /proc/"$pid"/status | tr -s ' '), virtiofsd" \
     "$(for p in $(pgrep -f virtiofsd); do grep VmRSS /proc/"$p"/status | tr -s ' '; done | tr '\n' ' ')"
a=$(awk '{print $14 + $15}' /proc/"$pid"/stat); sleep 10; b=$(awk '{print $14 + $15}' /proc/"$pid"/stat)
echo "idle helper CPU: $(( (b - a) * 100 / $(getconf CLK_TCK) / 10 )) % of one core over 10 s"
