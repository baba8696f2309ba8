#!/bin/bash
# fetch.sh - make this Debian 12 host ready to run the sandbox.
#
#  1. installs the host tools when a command is missing (apt-get update runs at
#     most once, and only when something has to be installed or looked up):
#       qemu-system-x86_64 (qemu-system-x86), busybox (busybox-static), cpio,
#       iperf3, strings (binutils)
#  2. resolves linux-image-cloud-amd64 to its versioned image package
#     (e.g. linux-image-6.1.0-56-cloud-amd64), downloads that .deb with
#     `apt-get download` and extracts it with `dpkg-deb -x` to
#     $CACHE/<kernel version>/kernel/. The same kernel boots L1 and L2.
#
# Cache: $PLUGINVMM_SANDBOX_CACHE or ~/.cache/pluginvmm-sandbox. A second run
# does no network access and takes a few seconds (apt-cache look-ups).
# Prints the kernel version on stdout.
source "$(dirname "$0")/lib.sh"

# run.sh fetched a moment ago and says so; the builds it calls need not repeat it
if [ -n "${SANDBOX_FETCHED:-}" ] && [ "$SANDBOX_FETCHED" = "$(cat "$CACHE/current-kver" 2>/dev/null)" ]; then
    echo "$SANDBOX_FETCHED"; exit 0
fi

export DEBIAN_FRONTEND=noninteractive
updated=no
apt_update_once() {
    [ $updated = yes ] && return 0
    say "apt-get update"
    apt-get update -qq >&2 || fail "apt-get update failed"
    updated=yes
}

# --- 1. host tools (command -> Debian package) --------------------------------
missing=()
declare -A pkg_of=([qemu-system-x86_64]=qemu-system-x86 [busybox]=busybox-static
                   [cpio]=cpio [iperf3]=iperf3 [strings]=binutils)
for cmd in "${!pkg_of[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg_of[$cmd]}")
done
# the initramfs trees need a *static* busybox (the dynamic "busybox" package
# would need its libc in both initramfs images)
if command -v busybox >/dev/null 2>&1 && ldd "$(command -v busybox)" >/dev/null 2>&1; then
    missing+=(busybox-static)
fi
if [ ${#missing[@]} -gt 0 ]; then
    apt_update_once
    say "installing ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
        || fail "apt-get install ${missing[*]} failed"
fi

# --- 2. kernel ------------------------------------------------------------------
# meta package -> versioned image package name (linux-image-<kver>)
resolve_image_pkg() {
    apt-cache depends "$KERNEL_META" 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
pkg=$(resolve_image_pkg || true)
if [ -z "$pkg" ]; then
    if [ -s "$CACHE/current-kver" ] && [ -d "$CACHE/$(cat "$CACHE/current-kver")/kernel/boot" ]; then
        # no apt lists (fresh container) but a cached kernel: use it offline
        kver=$(cat "$CACHE/current-kver")
        say "apt cannot resolve $KERNEL_META; using cached kernel $kver"
        echo "$kver"; exit 0
    fi
    apt_update_once
    pkg=$(resolve_image_pkg || true)
    [ -n "$pkg" ] || fail "cannot resolve $KERNEL_META to an image package"
fi
kver=${pkg#linux-image-}
debver=$(apt-cache policy "$pkg" | awk '$1 == "Candidate:" { print $2 }')
kroot=$CACHE/$kver/kernel
stamp=$kroot/.package

if [ "$(cat "$stamp" 2>/dev/null)" != "$pkg $debver" ]; then
    mkdir -p "$CACHE/debs"
    deb=$(ls "$CACHE/debs/${pkg}_${debver//:/%3a}"_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        say "downloading $pkg $debver"
        (cd "$CACHE/debs" && apt-get download -qq -o APT::Sandbox::User=root "$pkg=$debver" >&2) || {
            apt_update_once
            (cd "$CACHE/debs" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >&2) || fail "apt-get download $pkg failed"
        }
        deb=$(ls -t "$CACHE/debs/${pkg}"_*.deb | head -n1)
    fi
    say "extracting $(basename "$deb")"
    rm -rf "$kroot"; mkdir -p "$kroot"
    dpkg-deb -x "$deb" "$kroot"
    [ -f "$kroot/boot/vmlinuz-$kver" ] || fail "$deb has no boot/vmlinuz-$kver"
    echo "$pkg $debver" > "$stamp"
fi
echo "$kver" > "$CACHE/current-kver"
say "kernel $kver ready in $kroot"
echo "$kver"
