#!/usr/bin/env bash
# Runs the guest-input property tests (tests/PluginVmm.Tests/Fuzz) with their case counts multiplied, and prints
# cases/s per target. Same fixed seeds as ./test, scaled: case i of a target is the same input in every run.
#   fuzz/run-properties.sh            10x the default counts (>= 10^6 cases per target)
#   SCALE=50 fuzz/run-properties.sh   50x
# A failure prints the shrunk input and a CsCheck seed that reproduces it.
set -uo pipefail
cd "$(dirname "$0")/.."
scale="${SCALE:-10}"
log=$(mktemp)
echo "fuzz: PLUGINVMM_FUZZ_SCALE=$scale"
PLUGINVMM_FUZZ_SCALE="$scale" dotnet test tests/PluginVmm.Tests/PluginVmm.Tests.csproj -c Release \
  --filter "FullyQualifiedName~PluginVmm.Tests.Fuzz" --logger "console;verbosity=detailed" >"$log" 2>&1
status=$?
grep -E '^ *fuzz: ' "$log" | sed -E 's/^ +//' | sort -u
grep -E '^ *(Passed|Failed) PluginVmm' "$log"
if [ $status -ne 0 ]; then
  echo "fuzz: FAILED (full log: $log)"
  grep -A40 'Error Message' "$log" | head -80
  exit 1
fi
rm -f "$log"
