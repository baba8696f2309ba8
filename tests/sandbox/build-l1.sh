#!/bin/bash
# build-l1.sh - the L1 initramfs (everything L1 needs; L1 has no disk):
#
#   /init, /sandbox/driver.sh          l1/init + the scenario driver
#   /sandbox/vmm-*.sh                  L2 VMM adapters + their contract
#   /sandbox/l2/{vmlinuz,initramfs.cpio}   the L2 guest (build-l2.sh)
#   /lib/sandbox-modules/              kvm, kvm-amd, irqbypass, tun, vhost_net,
#                                      vfio, vfio_iommu_type1, vfio-pci (+ deps)
#   bash, qemu-system-x86_64 + libs    the reference L2 VMM
#   /usr/share/seabios, /usr/share/qemu/{bios-microvm.bin,qboot.rom,
#     linuxboot*.bin,kvmvapic.bin,pvh.bin,multiboot*.bin}, efi-virtio.rom
#                                      firmware for -M q35 / -M microvm
# With --vmm-dir DIR also (for the pluginvmm adapter):
#   /opt/vmm/                          the published VMM (DIR/vmm.dll or DIR/vmm)
#   /usr/share/dotnet/{dotnet,host/fxr/V,shared/Microsoft.NETCore.App/V}
#                                      the .NET runtime (no SDK), the libraries
#                                      ldd names for it, libssl/libcrypto
#                                      (dlopen()ed, so ldd does not see them)
#
# Output: $CACHE/<kver>/l1/initramfs.cpio, or initramfs-vmm.cpio with
# --vmm-dir. Skips the work when the image was built from the same inputs
# (--force rebuilds). Prints the image path on stdout.
source "$(dirname "$0")/lib.sh"

vmm_dir="" force=no
while [ $# -gt 0 ]; do
    case "$1" in
    --vmm-dir) [ $# -ge 2 ] || { echo "--vmm-dir needs a folder" >&2; exit 2; }
               vmm_dir=$(cd "$2" && pwd) || exit 2; shift ;;
    --force) force=yes ;;
    *) echo "usage: $0 [--vmm-dir PUBLISHED_VMM_DIR] [--force]" >&2; exit 2 ;;
    esac
    shift
done
if [ -n "$vmm_dir" ] && [ ! -f "$vmm_dir/vmm.dll" ] && [ ! -x "$vmm_dir/vmm" ]; then
    echo "$vmm_dir has neither vmm.dll nor an executable vmm" >&2; exit 2
fi

"$SANDBOX_DIR/fetch.sh" > /dev/null
l2=$(build_dir)/l2/initramfs.cpio
l2_inputs=("$SANDBOX_DIR/l2" "$SANDBOX_DIR/build-l2.sh" "$SANDBOX_DIR/lib.sh")
if [ $force = yes ] || is_stale "$l2" "${l2_inputs[@]}"; then
    "$SANDBOX_DIR/build-l2.sh" > /dev/null
    built_from "$l2" "${l2_inputs[@]}"
fi

out=$(build_dir)/l1/initramfs.cpio
[ -n "$vmm_dir" ] && out=$(build_dir)/l1/initramfs-vmm.cpio
inputs=("$SANDBOX_DIR/l1" "$SANDBOX_DIR/build-l1.sh" "$SANDBOX_DIR/lib.sh" "$l2")
# the image also depends on the VMM folder's content (a publish may keep
# old file times), so its checksum is kept beside the image
vmm_sig=""
if [ -n "$vmm_dir" ]; then
    vmm_sig="$vmm_dir $(cd "$vmm_dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum | md5sum | cut -d' ' -f1)"
fi
if [ $force = no ] && ! is_stale "$out" "${inputs[@]}" &&
   [ "$(cat "$out.vmm-dir" 2>/dev/null)" = "$vmm_sig" ]; then
    say "up to date: $out"
    echo "$out"; exit 0
fi

root=$(build_dir)/l1/root
new_root "$root"
install -m 755 "$SANDBOX_DIR/l1/init" "$root/init"
mkdir -p "$root/sandbox/l2"
install -m 755 "$SANDBOX_DIR"/l1/driver.sh "$SANDBOX_DIR"/l1/virtio.sh "$SANDBOX_DIR"/l1/vfio.sh "$SANDBOX_DIR"/l1/ivshmem.sh "$SANDBOX_DIR"/l1/vmm-*.sh "$root/sandbox/"
cp "$SANDBOX_DIR/l1/vmm-adapter-contract.txt" "$root/sandbox/"
cp "$(kernel_image)" "$root/sandbox/l2/vmlinuz"
cp "$l2" "$root/sandbox/l2/initramfs.cpio"

add_modules "$root" irqbypass kvm kvm-amd tun vhost_net vfio vfio_iommu_type1 vfio-pci
say "L1 modules: $(tr '\n' ' ' < "$root/lib/sandbox-modules/order")"

add_program "$root" /usr/bin/bash "$(command -v qemu-system-x86_64)"
# iperf3: the server side of the net scenarios (the guest is the client)
command -v iperf3 >/dev/null && add_program "$root" "$(command -v iperf3)"
ln -s /usr/bin/bash "$root/bin/bash"

# firmware QEMU loads for q35 (SeaBIOS + linuxboot option ROMs for -kernel)
# and microvm (qboot / bios-microvm.bin); efi-virtio.rom in case a
# virtio-net-pci is created without romfile=
mkdir -p "$root/usr/share/qemu" "$root/usr/lib/ipxe/qemu"
cp -a /usr/share/seabios "$root/usr/share/"
for f in bios-microvm.bin qboot.rom linuxboot.bin linuxboot_dma.bin kvmvapic.bin \
         pvh.bin multiboot.bin multiboot_dma.bin; do
    cp -a "/usr/share/qemu/$f" "$root/usr/share/qemu/"
done
cp /usr/lib/ipxe/qemu/efi-virtio.rom "$root/usr/lib/ipxe/qemu/" 2>/dev/null || true

if [ -n "$vmm_dir" ]; then
    if [ -f "$vmm_dir/libcoreclr.so" ]; then
        # a self-contained publish brings its own runtime: no shared one, no muxer
        say_what="self-contained VMM from $vmm_dir"
    else
        dn=/usr/share/dotnet
        runtime=$(ls -d $dn/shared/Microsoft.NETCore.App/* | sort -V | tail -n1)
        fxr=$(ls -d $dn/host/fxr/* | sort -V | tail -n1)
        mkdir -p "$root$dn/shared/Microsoft.NETCore.App" "$root$dn/host/fxr"
        cp -a "$runtime" "$root$dn/shared/Microsoft.NETCore.App/"
        cp -a "$fxr" "$root$dn/host/fxr/"
        add_program "$root" $dn/dotnet $(ls "$runtime"/*.so "$fxr"/*.so | grep -v traceptprovider)
        rm -f "$root$runtime/libcoreclrtraceptprovider.so"
        ln -sf $dn/dotnet "$root/usr/bin/dotnet"
        say_what=".NET runtime $(basename "$runtime") + VMM from $vmm_dir"
    fi
    for lib in libssl.so.3 libcrypto.so.3; do   # dlopen()ed, so ldd does not name them
        add_program "$root" "/usr/lib/x86_64-linux-gnu/$lib"
    done
    mkdir -p "$root/opt/vmm"
    cp -a "$vmm_dir/." "$root/opt/vmm/"
    # libcoreclrtraceptprovider.so wants liblttng-ust (not installed); coreclr does without it (DOTNET_LTTng=0)
    rm -f "$root/opt/vmm/libcoreclrtraceptprovider.so"
    # native ELF files of the VMM (apphost, runtime, native libraries): their libraries
    while read -r f; do
        [ "$(head -c4 "$f" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || continue
        ldd "$f" 2>/dev/null | grep -oE '/[^ ]+' | grep -v "^$vmm_dir" | while read -r lib; do
            [ -e "$root$lib" ] || add_program "$root" "$lib"
        done
    done < <(find "$vmm_dir" -type f ! -name libcoreclrtraceptprovider.so)
    say "$say_what"
fi

write_cpio "$root" "$out"
echo "$vmm_sig" > "$out.vmm-dir"
built_from "$out" "${inputs[@]}"
rm -rf "$root"
echo "$out"
