#!/bin/busybox sh
# PID 1 of the nested helper (L1). Loads KVM with nested SVM, mounts the host's root over virtio-fs at /host, puts
# L1's own /dev, /proc and /sys over the host's there, and runs the host's `vmm nested-agent` chrooted into it, so
# every path a vmm.toml names means the same file as on the host. The agent's end powers L1 off, which ends QEMU.
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
say() { echo "helper: $*"; }
halt() { say "$*"; sync; poweroff -f; }
arg() { for w in $(cat /proc/cmdline); do case $w in "pluginvmm.$1="*) echo "${w#*=}" ;; esac; done; }

say "init uptime=$(cut -d' ' -f1 /proc/uptime)"
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o size=50% tmpfs /dev/shm
for ko in $(cat /lib/modules/order); do
    case $ko in
    kvm-amd.ko|kvm_amd.ko) insmod /lib/modules/$ko nested=1 ;;
    *) insmod /lib/modules/$ko ;;
    esac || say "insmod $ko failed"
done
[ -e /dev/kvm ] || halt "no /dev/kvm in the helper (kvm-amd did not load: does QEMU offer +svm?)"

# QEMU's edu function (1234:11e8) bound to vfio-pci, for what needs a real VFIO function (the conformance tests)
vfio=""
for d in /sys/bus/pci/devices/*; do
    [ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1234:0x11e8 ] || continue
    vfio=$(basename "$d")
    echo vfio-pci > "$d/driver_override"
    echo "$vfio" > /sys/bus/pci/drivers_probe
done

ip link set lo up
ip link set eth0 up && ip addr add "$(arg ip)/24" dev eth0 || halt "no network to the host"

mount -t virtiofs hostroot /host || halt "cannot mount the host's root (virtio-fs)"
mount -o rbind /dev /host/dev || halt "cannot bind /dev"
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
say "ready uptime=$(cut -d' ' -f1 /proc/uptime)"

chroot /host /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    DOTNET_EnableDiagnostics=0 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 PLUGINVMM_IN_HELPER=1 PLUGINVMM_HELPER_VFIO="$vfio" \
    "$(arg dotnet)" "$(arg agent)" nested-agent --state "$(arg state)" --idle "$(arg idle)"
halt "agent ended ($?)"
