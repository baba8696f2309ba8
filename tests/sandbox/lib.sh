# lib.sh - settings and helpers shared by the sandbox scripts on the host.
# Sourced, never executed. Everything large lives in the cache directory, not
# in the work tree:
#
#   $CACHE/debs/                       downloaded kernel .deb files
#   $CACHE/<kver>/kernel/              dpkg-deb -x of the kernel package
#   $CACHE/<kver>/l2/initramfs.cpio    build-l2.sh
#   $CACHE/<kver>/l1/initramfs*.cpio   build-l1.sh
#   $CACHE/logs/                       run.sh logs
#   $CACHE/current-kver                the kernel version fetch.sh settled on

set -euo pipefail

SANDBOX_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${PLUGINVMM_SANDBOX_CACHE:-$HOME/.cache/pluginvmm-sandbox}
# Debian meta package whose dependency names the versioned image package
KERNEL_META=${PLUGINVMM_SANDBOX_KERNEL_META:-linux-image-cloud-amd64}

say() { printf '[sandbox %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
fail() { say "ERROR: $*"; exit 1; }

# The kernel version fetch.sh extracted last (e.g. 6.1.0-56-cloud-amd64).
current_kver() {
    [ -s "$CACHE/current-kver" ] || fail "no kernel in $CACHE yet - run fetch.sh"
    cat "$CACHE/current-kver"
}
kernel_root() { echo "$CACHE/$(current_kver)/kernel"; }
kernel_image() { echo "$(kernel_root)/boot/vmlinuz-$(current_kver)"; }
build_dir() { echo "$CACHE/$(current_kver)"; }

# --- kernel modules ----------------------------------------------------------
# Debian's image package ships uncompressed .ko files without modules.dep, and
# the host need not have kmod. Each module names its dependencies in the
# "depends=a,b" string of its .modinfo section; we follow those ourselves.

# find_module NAME -> absolute path of NAME.ko ('-' and '_' are equivalent)
find_module() {
    local name=$1 dir hit
    dir="$(kernel_root)/lib/modules/$(current_kver)/kernel"
    hit=$(find "$dir" \( -name "${name//-/_}.ko" -o -name "${name//_/-}.ko" \) -print -quit)
    [ -n "$hit" ] || fail "kernel module '$name' not in $(current_kver)"
    echo "$hit"
}

# module_deps FILE -> dependency names, one per line
module_deps() {
    strings -a "$1" | sed -n 's/^depends=//p' | head -n1 | tr ',' '\n' | sed '/^$/d'
}

# module_closure NAME... -> .ko paths in load order (dependencies first)
module_closure() {
    local -A done_=()
    local -a order=()
    visit() {
        local path dep
        path=$(find_module "$1")
        [ -z "${done_[$path]:-}" ] || return 0
        done_[$path]=1
        for dep in $(module_deps "$path"); do visit "$dep"; done
        order+=("$path")
    }
    local name
    for name in "$@"; do visit "$name"; done
    printf '%s\n' "${order[@]}"
}

# add_modules ROOT NAME... : copy the closure to ROOT/lib/sandbox-modules/ and
# list the file names in load order in ROOT/lib/sandbox-modules/order
add_modules() {
    local root=$1; shift
    local dest=$root/lib/sandbox-modules ko
    mkdir -p "$dest"
    : > "$dest/order"
    while read -r ko; do
        cp "$ko" "$dest/"
        basename "$ko" >> "$dest/order"
    done < <(module_closure "$@")
}

# --- file system trees ---------------------------------------------------------
# add_program ROOT FILE... : copy FILE and every shared library ldd names (and
# the ELF interpreter) to the same absolute paths below ROOT
add_program() {
    local root=$1; shift
    local f lib
    for f in "$@"; do
        [ -e "$f" ] || fail "add_program: $f does not exist"
        mkdir -p "$root$(dirname "$f")"
        [ -e "$root$f" ] || cp -L "$f" "$root$f"
        while read -r lib; do
            [ -e "$root$lib" ] && continue
            mkdir -p "$root$(dirname "$lib")"
            cp -L "$lib" "$root$lib"
        done < <(ldd "$f" 2>/dev/null | grep -oE '/[^ ]+' | sort -u)
    done
}

# new_root ROOT : empty tree with static busybox and a Debian-like merged-/usr
# layout (/lib -> usr/lib, /lib64 -> usr/lib64), so glibc programs copied with
# add_program find their interpreter and libraries at the usual paths.
new_root() {
    local root=$1
    rm -rf "$root"
    mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,root,run} "$root"/usr/{bin,sbin,lib,lib64}
    ln -s usr/lib "$root/lib"
    ln -s usr/lib64 "$root/lib64"
    cp /bin/busybox "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    # the kernel opens /dev/console for init before devtmpfs is mounted
    mknod -m 600 "$root/dev/console" c 5 1
    mknod -m 666 "$root/dev/null" c 1 3
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
    printf 'root:x:0:\n' > "$root/etc/group"
}

# write_cpio ROOT OUT : newc archive, *not* compressed - under TCG the guest
# kernel would spend seconds inflating it, copying is nearly free
write_cpio() {
    local root=$1 out=$2
    mkdir -p "$(dirname "$out")"
    (cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) > "$out.part"
    mv "$out.part" "$out"
    say "wrote $out ($(du -h "$out" | cut -f1))"
}

# is_stale OUT INPUT... : true when OUT is missing or was built from other
# inputs than these (inputs may be directories; every file below them counts).
# By content, not file times: a cache filled from another checkout (CI's clean
# clone) is newer than an edit made before it, and must still be rebuilt.
is_stale() {
    local out=$1; shift
    [ -e "$out" ] || return 0
    [ "$(cat "$out.inputs" 2>/dev/null)" != "$(inputs_digest "$@")" ]
}
# built_from OUT INPUT... : records what OUT was built from (for is_stale)
built_from() {
    local out=$1; shift
    inputs_digest "$@" > "$out.inputs"
}
# inputs_digest PATH... : one md5 over every file below PATH... (build output, bin/ and obj/, left out)
inputs_digest() {
    find "$@" \( -name bin -o -name obj \) -prune -o -type f -print0 2>/dev/null | LC_ALL=C sort -z |
        xargs -0 md5sum | md5sum | cut -d' ' -f1
}
