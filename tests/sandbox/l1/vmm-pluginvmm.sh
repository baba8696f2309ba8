#!/bin/bash
# vmm-pluginvmm.sh - L2 VMM adapter for PluginVmm (runs inside L1).
# Contract: /sandbox/vmm-adapter-contract.txt. Writes the VM description as a
# TOML file and execs `dotnet /opt/vmm/vmm.dll run FILE` (or /opt/vmm/vmm,
# the published launcher, when there is no vmm.dll). The TOML is echoed to
# stderr with a "TOML| " prefix so every run's input is in the log.
#
#   [vm]
#   memory_mib = 256
#   vcpus = 1
#   kernel = "/sandbox/l2/vmlinuz"
#   initramfs = "/sandbox/l2/initramfs.cpio"
#   cmdline = "console=ttyS0 ..."
#
#   [[device]]               one table per --device, in order
#   kind = "virtio-block"    the KIND word
#   path = "/tmp/disk.img"   KEY=VALUE pairs: digits -> integer,
#   readonly = true          true/false -> boolean, anything else -> string
set -u
unsupported() { echo "UNSUPPORTED $*" >&2; exit 2; }

export DOTNET_ROOT=${DOTNET_ROOT:-/usr/share/dotnet}
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1   # L1 has no libicu
export DOTNET_LTTng=0                            # nor liblttng-ust
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
VMM_DIR=${VMM_DIR:-/opt/vmm}
TOML=${SANDBOX_TOML:-/tmp/pluginvmm-$$.toml}

kernel="" initrd="" cmdline="" memory=256 vcpus=1
devices=()
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || unsupported "$1 (missing value)"
    case "$1" in
    --kernel) kernel=$2 ;;
    --initrd) initrd=$2 ;;
    --cmdline) cmdline=$2 ;;
    --memory) memory=$2 ;;
    --vcpus) vcpus=$2 ;;
    --machine) ;;   # PluginVmm has one machine type; the option is for QEMU
    --device) devices+=("$2") ;;
    *) unsupported "option $1" ;;
    esac
    shift 2
done
[ -n "$kernel" ] && [ -n "$initrd" ] || unsupported "run without --kernel/--initrd"

# TOML basic string: backslash and double quote escaped, control chars dropped
toml_string() {
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "${s//[[:cntrl:]]/}"
}
toml_value() {
    case "$1" in
    true|false) printf '%s' "$1" ;;
    ''|*[!0-9]*) toml_string "$1" ;;
    *) printf '%s' "$1" ;;
    esac
}
case "$memory$vcpus" in *[!0-9]*|'') unsupported "non-numeric --memory/--vcpus" ;; esac

{
    echo "[vm]"
    echo "memory_mib = $memory"
    echo "vcpus = $vcpus"
    echo "kernel = $(toml_string "$kernel")"
    echo "initramfs = $(toml_string "$initrd")"
    echo "cmdline = $(toml_string "$cmdline")"
    for spec in "${devices[@]}"; do
        kind=${spec%%,*}
        case "$kind" in
        pvpanic|virtio-block|virtio-net|vfio|ivshmem|pvmemcontrol) ;;
        *) unsupported "device $kind" ;;
        esac
        echo
        echo "[[device]]"
        echo "kind = $(toml_string "$kind")"
        if [ "$spec" != "$kind" ]; then
            IFS=, read -r -a pairs <<< "${spec#*,}"
            for kv in "${pairs[@]}"; do
                key=${kv%%=*}
                case "$key" in ''|*[!a-z0-9_]*) unsupported "device key '$key' in $spec" ;; esac
                echo "$key = $(toml_value "${kv#*=}")"
            done
        fi
    done
} > "$TOML" || unsupported "cannot write $TOML"
sed 's/^/TOML| /' "$TOML" >&2

if [ -x "$VMM_DIR/vmm" ] && [ -f "$VMM_DIR/libcoreclr.so" ]; then
    cmd=("$VMM_DIR/vmm" run "$TOML")              # self-contained: its own runtime, no muxer
elif [ -f "$VMM_DIR/vmm.dll" ]; then
    cmd=("$DOTNET_ROOT/dotnet" "$VMM_DIR/vmm.dll" run "$TOML")
elif [ -x "$VMM_DIR/vmm" ]; then
    cmd=("$VMM_DIR/vmm" run "$TOML")
else
    echo "vmm-pluginvmm.sh: no $VMM_DIR/vmm.dll or $VMM_DIR/vmm in this L1 image (build-l1.sh --vmm-dir)" >&2
    exit 2
fi
printf 'VMM-CMD:' >&2; printf ' %q' "${cmd[@]}" >&2; echo >&2
exec "${cmd[@]}"
