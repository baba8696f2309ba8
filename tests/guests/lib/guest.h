/* Reusable helpers for PluginVmm tiny guests: 32-bit protected mode, paging off, no libc.
   Entered from lib/start.S as guest_main(const struct hvm_start_info *si). Keep guests tiny: the test
   machine's KVM emulates instructions (~2M/s). */
#ifndef PLUGINVMM_GUEST_H
#define PLUGINVMM_GUEST_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

struct hvm_start_info {
    u32 magic, version, flags, nr_modules;
    u64 modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
    u32 memmap_entries, reserved;
};

/* Port I/O. */
static inline void outb(u16 p, u8 v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outw(u16 p, u16 v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outl(u16 p, u32 v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(p)); }
static inline u8 inb(u16 p) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline u16 inw(u16 p) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline u32 inl(u16 p) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }

/* MMIO below 4 GiB (paging is off, so physical = linear). */
static inline u32 mmio_read32(u32 a) { return *(volatile u32 *)a; }
static inline void mmio_write32(u32 a, u32 v) { *(volatile u32 *)a = v; }
/* 64-bit MMIO as one 8-byte access through the x87 (SSE is off: CR4.OSFXSR is clear at PVH entry). */
static inline u64 mmio_read64(u32 a) { u64 v; __asm__ volatile("fildq (%1); fistpq %0" : "=m"(v) : "r"(a) : "memory"); return v; }
static inline void mmio_write64(u32 a, u64 v) { __asm__ volatile("fildq %0; fistpq (%1)" :: "m"(v), "r"(a) : "memory"); }

/* COM1, polled: the VMM's UART reports the transmitter always empty. */
#define COM1 0x3f8
static inline void putc_(char c) { while (!(inb(COM1 + 5) & 0x20)) { } outb(COM1, (u8)c); }
static inline void puts(const char *s) { while (*s) putc_(*s++); }
static inline void puthex(u32 v, int digits) { for (int i = digits - 1; i >= 0; i--) putc_("0123456789abcdef"[(v >> (i * 4)) & 0xf]); }
static inline void puthex32(u32 v) { puts("0x"); puthex(v, 8); }

/* PCI configuration mechanism #1 (ports 0xCF8/0xCFC), bus/device/function/register. */
static inline u32 pci_addr(u32 bus, u32 dev, u32 fn, u32 reg) { return 0x80000000u | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xfc); }
static inline u32 pci_read32(u32 bus, u32 dev, u32 fn, u32 reg) { outl(0xcf8, pci_addr(bus, dev, fn, reg)); return inl(0xcfc); }
static inline void pci_write32(u32 bus, u32 dev, u32 fn, u32 reg, u32 v) { outl(0xcf8, pci_addr(bus, dev, fn, reg)); outl(0xcfc, v); }
static inline u16 pci_read16(u32 bus, u32 dev, u32 fn, u32 reg) { outl(0xcf8, pci_addr(bus, dev, fn, reg)); return inw((u16)(0xcfc + (reg & 2))); }
static inline void pci_write16(u32 bus, u32 dev, u32 fn, u32 reg, u16 v) { outl(0xcf8, pci_addr(bus, dev, fn, reg)); outw((u16)(0xcfc + (reg & 2)), v); }

/* Ends the VM through the debug-exit port: the VMM exits with (code << 1) | 1. */
static inline __attribute__((noreturn)) void guest_exit(u8 code) { outb(0xf4, code); for (;;) __asm__ volatile("cli; hlt"); }
/* Asks for a reset through the i8042 (VmExitReason.Reset, exit code 0). */
static inline __attribute__((noreturn)) void guest_reset(void) { outb(0x64, 0xfe); for (;;) __asm__ volatile("cli; hlt"); }

void guest_main(const struct hvm_start_info *si);

#endif
