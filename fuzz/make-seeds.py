#!/usr/bin/env python3
"""Writes the seed corpus fuzz/corpus/{pci,virtio,config}/ in the harness's input encoding (fuzz/PluginVmm.Fuzz:
PciTarget.Decode, VirtioTarget.Decode; config seeds are plain vmm.toml files). Run once; the output is committed."""
import os, struct

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

def write(target, name, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data)

u8 = lambda v: struct.pack("<B", v)
u16 = lambda v: struct.pack("<H", v)
u32 = lambda v: struct.pack("<I", v)
u64 = lambda v: struct.pack("<Q", v)

# ---- pci: tag%8 0..2 config access (bit 5: read, bit 4: ports), 3..4 bus access, 5 port, 6 reprogram, 7 host fence
def cfg(dev, reg, value_pick=None, literal=None, read=False, ports=False, size_place=0):
    tag = (0x20 if read else 0) | (0x10 if ports else 0)
    out = u8(tag) + u8(dev) + u8(reg) + u8(size_place)
    if literal is not None:
        out += u8(1) + u32(literal)
    else:
        out += u8(0) + u8(value_pick or 0)
    return out

def reprogram(dev, low, window, fraction, command_pick=0):
    return u8(6) + u8(dev - 1) + u8(low - 4) + u8(2) + u8(window) + u32(fraction) + u8(command_pick)

write("pci", "probe-and-move", cfg(1, 4, value_pick=3) + cfg(1, 4, read=True) + reprogram(3, 6, 2, 0x4000_0000))
write("pci", "reprogram-virtio", reprogram(4, 4, 2, 0x1000_0000) + reprogram(5, 4, 1, 0x2000_0000) + u8(3) + u8(0) + u8(3) + u8(0) + u8(2) + u64(0))
write("pci", "command-and-rom", cfg(2, 1, literal=0) + cfg(2, 12, literal=0xC000_0000) + cfg(2, 1, literal=7) + cfg(6, 1, literal=0x0010_0007, ports=True))
write("pci", "msix-capability", cfg(4, 0xC0, literal=0x8000_0000) + cfg(6, 0xC0, literal=0xC000_0000) + u8(7) + u8(3))

# ---- virtio: header (device/ro/raw/enable bits, feature mask, two queue sizes), then operations
def header(net=False, ro=False, features=0xFFFF_FFFF_FFFF_FFFF, sizes=(4, 4)):
    return u8((1 if net else 0) | (2 if ro else 0)) + u64(features) + u8(sizes[0]) + u8(sizes[1])

def desc(offset, length_pick, writable=False):
    return u8(0x20 if writable else 0) + u16(offset) + u8(length_pick)

def chain(queue, descs, readable=b"", indirect_slot=None):
    mode = 0 if indirect_slot is None else 1 | (indirect_slot << 4)
    return u8(queue << 3) + u8(len(descs) - 1) + b"".join(descs) + u8(mode) + u8(len(readable)) + readable

def kick(queue):
    return u8(2 | (queue << 3))

def blk(kind, sector):
    return u32(kind) + u32(0) + u64(sector)

# Lengths (VirtioTarget.Lengths): 0 -> 16, 1 -> 1, 2 -> 512, 3 -> 1024, 5 -> 12, 7 -> 64, 8 -> 1514, 9 -> 20
read = chain(0, [desc(0x0000, 0), desc(0x1000, 2, True), desc(0x2000, 1, True)], blk(0, 1))
write_ = chain(0, [desc(0x0100, 0), desc(0x1200, 2), desc(0x2100, 1, True)], blk(1, 3) + bytes(range(40)))
zeroes = chain(0, [desc(0x0200, 0), desc(0x0300, 0), desc(0x2200, 1, True)], blk(13, 0) + u64(2) + u32(3) + u32(0))
get_id = chain(0, [desc(0x0400, 0), desc(0x1400, 9, True), desc(0x2400, 1, True)], blk(8, 0), indirect_slot=2)
write("virtio", "block-read-write", header() + read + write_ + kick(0))
write("virtio", "block-zeroes-id", header() + zeroes + get_id + kick(0) + kick(1))
write("virtio", "block-read-only", header(ro=True) + write_ + read + kick(0))
tx = chain(1, [desc(0x0000, 5), desc(0x0100, 7)], bytes(12) + bytes(range(64)))
rx = chain(0, [desc(0x1000, 8, True)])
write("virtio", "net-tx-rx", header(net=True) + tx + kick(1) + rx + kick(0) + u8(5) + u8(0) + u8(60) + u8(7))
write("virtio", "net-indirect", header(net=True) + chain(1, [desc(0x0000, 5), desc(0x0100, 8)], bytes(12) + b"\xff" * 20, indirect_slot=1) + kick(1))

# ---- config: valid files the mutations start from
configs = {
    "vm-only.toml": '[vm]\nmemory_mib = 256\nvcpus = 2\nkernel = "bzImage"\ninitramfs = "initrd.img"\ncmdline = "console=ttyS0 quiet"\n',
    "devices.toml": '# comment\n[vm]\nkernel = \'bzImage\'\n\n[[device]]\nkind = "pvpanic"\n\n[[device]]\nkind = "disk"\npath = "disk.img"\nreadonly = true\n',
    "gadget.toml": '[vm]\nkernel = "bzImage"\nvcpus = 1\n[[device]]\nkind = "gadget"\nqueues = 4\nslot = 7\nbase = 0x1000\nratio = 0.5\nmode = "fast-path"\ntags = ["a", "b"]\nports = [1, 2, 3]\nname = "g0"\n',
    "errors.toml": '[vm]\nkernel = "missing"\nmemory_mib = -1\n[[device]]\nkind = "nosuch"\nx = { a = [1, "b"] }\n',
}
for name, text in configs.items():
    write("config", name, text.encode())
