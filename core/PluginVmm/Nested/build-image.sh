#!/bin/bash
# Builds the nested helper's boot files: Debian's cloud kernel and a small initramfs (static busybox, the modules
# for virtio, virtio-fs, KVM with nested SVM, TAP and VFIO, and the helper's /init). Nothing of the .NET runtime or
# the VMM goes in: L1 mounts the host's root over virtio-fs and runs the host's own dotnet and vmm.dll there.
#
#   build-image.sh OUT DEBS INIT
#     OUT   folder to create (must not exist); written as OUT.partial and renamed at the end, so a half-finished
#           build is never taken for a finished one
#     DEBS  download cache for the kernel .deb (kept across builds)
#     INIT  the helper's /init script
# Progress goes to stderr as "step: ..." lines; the last stdout line is the kernel version.
set -euo pipefail
out=$1 debs=$2 init=$3
meta=${PLUGINVMM_NESTED_KERNEL_META:-linux-image-cloud-amd64}
step() { printf 'step: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
updated=no
apt_update_once() {
    [ $updated = yes ] && return 0
    step "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    updated=yes
}

# Host tools: the helper VM itself (QEMU, virtiofsd) and what the build uses.
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
[ -x /usr/lib/qemu/virtiofsd ] || [ -x /usr/libexec/virtiofsd ] || missing+=(qemu-system-common)
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
command -v strings >/dev/null || missing+=(binutils)
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}"
    apt_update_once
    step "installing ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
fi

# The kernel: the versioned package behind the meta package, downloaded once.
resolve() { apt-cache depends "$meta" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'; }
pkg=$(resolve || true)
if [ -z "$pkg" ]; then apt_update_once; pkg=$(resolve || true); fi
[ -n "$pkg" ] || die "apt cannot resolve $meta to a kernel package"
kver=${pkg#linux-image-}
mkdir -p "$debs"
deb=$(ls "$debs/${pkg}"_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
    step "downloading $pkg"
    tmp=$(mktemp -d "$debs/.download.XXXXXX")
    (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >&2) ||
        { apt_update_once; (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >&2); } ||
        { rm -rf "$tmp"; die "apt-get download $pkg failed"; }
    mv "$tmp"/*.deb "$debs/"
    rm -rf "$tmp"
    deb=$(ls "$debs/${pkg}"_*.deb | head -n1)
fi

rm -rf "$out.partial"
mkdir -p "$out.partial"
work=$out.partial/work
mkdir -p "$work/kernel"
step "extracting $(basename "$deb")"
dpkg-deb -x "$deb" "$work/kernel" || { rm -f "$deb"; die "$deb does not extract (deleted: the next run downloads it again)"; }
moddir=$work/kernel/lib/modules/$kver/kernel
[ -f "$work/kernel/boot/vmlinuz-$kver" ] || die "$deb has no boot/vmlinuz-$kver"

# Module closure from each module's depends= string (the package has no modules.dep and the host may lack kmod).
find_module() {
    local hit
    hit=$(find "$moddir" \( -name "${1//-/_}.ko" -o -name "${1//_/-}.ko" \) -print -quit)
    [ -n "$hit" ] || die "kernel module '$1' not in $kver"
    echo "$hit"
}
declare -A seen=()
order=()
visit() {
    local path dep
    path=$(find_module "$1")
    [ -z "${seen[$path]:-}" ] || return 0
    seen[$path]=1
    for dep in $(strings -a "$path" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '); do visit "$dep"; done
    order+=("$path")
}
for m in virtio_pci virtio_net virtiofs kvm kvm-amd tun vhost_net vfio vfio_iommu_type1 vfio-pci; do visit "$m"; done

step "building the initramfs (${#order[@]} modules)"
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,host,lib/modules}
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 755 "$init" "$root/init"
for ko in "${order[@]}"; do cp "$ko" "$root/lib/modules/"; basename "$ko" >> "$root/lib/modules/order"; done
# Uncompressed: under TCG the kernel would spend seconds inflating it.
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) > "$out.partial/initramfs.cpio"
cp "$work/kernel/boot/vmlinuz-$kver" "$out.partial/vmlinuz"
rm -rf "$work"
echo "$kver" > "$out.partial/kernel-version"
(cd "$out.partial" && sha256sum vmlinuz initramfs.cpio kernel-version > manifest.sha256)
rm -rf "$out"
mv "$out.partial" "$out"
echo "$kver"
