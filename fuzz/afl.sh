#!/usr/bin/env bash
# Coverage-guided fuzzing of one guest-input target with AFL++ and SharpFuzz (fuzz/README.md).
#   fuzz/afl.sh TARGET [SECONDS]     TARGET: pci | virtio | config; SECONDS: run time (default 300)
# Installs what is missing (afl++ from Debian, the SharpFuzz.CommandLine 2.3.0 tool into fuzz/.tools), builds the
# harness into fuzz/.work/TARGET/bin, instruments the assemblies the target exercises, runs afl-fuzz from the seed
# corpus fuzz/corpus/TARGET/ into fuzz/.work/TARGET/out, then prints AFL's totals and replays every crash and hang
# through an uninstrumented copy of the harness (fuzz/.work/TARGET/replay), which prints the broken invariant.
# Run one target at a time: AFL takes a whole core.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-}"; seconds="${2:-300}"
case "$target" in
  pci) assemblies="PluginVmm.Sdk.dll PluginVmm.Core.dll PvPanic.dll PvMemControl.dll Ivshmem.dll VirtioBlock.dll VirtioNet.dll" ;;
  virtio) assemblies="PluginVmm.Sdk.dll VirtioBlock.dll VirtioNet.dll" ;;
  config) assemblies="PluginVmm.Core.dll Tomlyn.dll" ;;
  *) echo "usage: fuzz/afl.sh pci|virtio|config [SECONDS]" >&2; exit 2 ;;
esac

if ! command -v afl-fuzz >/dev/null; then
  echo "afl: installing afl++"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++ >/dev/null
fi
tools="$PWD/fuzz/.tools"
if [ ! -x "$tools/sharpfuzz" ]; then
  echo "afl: installing SharpFuzz.CommandLine 2.3.0 into fuzz/.tools"
  dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$tools" >/dev/null
fi

work="fuzz/.work/$target"
rm -rf "$work/bin"
mkdir -p "$work"
echo "afl: building the harness"
dotnet build fuzz/PluginVmm.Fuzz -c Release -o "$work/bin" -v quiet -nologo >/dev/null
# Instrumented assemblies only run under afl-fuzz (they write AFL's shared coverage map): replays use a plain copy.
rm -rf "$work/replay"
cp -r "$work/bin" "$work/replay"
for a in $assemblies; do
  "$tools/sharpfuzz" "$work/bin/$a" >/dev/null
done
echo "afl: instrumented $assemblies"

# The harness is a .NET program, not an AFL-compiled binary: SharpFuzz speaks AFL's fork-server protocol itself.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
export DOTNET_TieredPGO=0
rm -rf "$work/out"
status=0
afl-fuzz -V "$seconds" -i "fuzz/corpus/$target" -o "$work/out" -t 10000 -m none -- dotnet "$work/bin/PluginVmm.Fuzz.dll" "$target" \
  >"$work/afl.log" 2>&1 || status=$?
stats="$work/out/default/fuzzer_stats"
if [ ! -f "$stats" ]; then
  echo "afl: afl-fuzz did not start (exit $status); last lines of $work/afl.log:"; tail -n 30 "$work/afl.log"; exit 1
fi
awk -F' *: ' '$1 ~ /^(run_time|execs_done|execs_per_sec|corpus_count|corpus_found|bitmap_cvg|edges_found|saved_crashes|saved_hangs|stability)$/ {printf "afl: %s %s\n", $1, $2}' "$stats"
found=$(find "$work/out/default/crashes" "$work/out/default/hangs" -type f ! -name README.txt 2>/dev/null | sort || true)
if [ -n "$found" ]; then
  echo "afl: replaying crashes and hangs:"
  # shellcheck disable=SC2086
  dotnet "$work/replay/PluginVmm.Fuzz.dll" "$target" $found || true
  exit 1
fi
echo "afl: no crashes"
