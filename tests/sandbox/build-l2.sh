#!/bin/bash
# build-l2.sh - the L2 guest's initramfs: $CACHE/<kver>/l2/initramfs.cpio
#
#   /init                       l2/init (scenarios, RESULT lines)
#   /bin/busybox                static busybox; applet links made at boot
#   /lib/sandbox-modules/*.ko   virtio_pci, virtio_mmio, virtio_blk, virtio_net,
#                               pvpanic-pci and everything they depend on;
#                               "order" lists them in load order
#   /usr/bin/iperf3 + libs      unless --no-iperf3 (for later network scenarios)
#
# The L2 kernel is the same Debian cloud vmlinuz as L1's (build-l1.sh copies
# it into the L1 image). Prints the path of the archive on stdout.
source "$(dirname "$0")/lib.sh"

with_iperf3=yes
while [ $# -gt 0 ]; do
    case "$1" in
    --no-iperf3) with_iperf3=no ;;
    *) echo "usage: $0 [--no-iperf3]" >&2; exit 2 ;;
    esac
    shift
done

"$SANDBOX_DIR/fetch.sh" > /dev/null
out=$(build_dir)/l2/initramfs.cpio
root=$(build_dir)/l2/root

new_root "$root"
install -m 755 "$SANDBOX_DIR/l2/init" "$root/init"
install -m 644 "$SANDBOX_DIR/l2/virtio.sh" "$root/virtio.sh"
install -m 644 "$SANDBOX_DIR/l2/vfio.sh" "$root/vfio.sh"
install -m 644 "$SANDBOX_DIR/l2/ivshmem.sh" "$root/ivshmem.sh"
add_modules "$root" virtio_pci virtio_mmio virtio_blk virtio_net pvpanic-pci
say "L2 modules: $(tr '\n' ' ' < "$root/lib/sandbox-modules/order")"
if [ $with_iperf3 = yes ]; then
    add_program "$root" "$(command -v iperf3)"
fi
write_cpio "$root" "$out"
rm -rf "$root"
echo "$out"
