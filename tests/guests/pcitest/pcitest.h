/* pcitest's additions to lib/guest.h: 64-bit hex output, CPUID, command-line words, and byte MMIO. */
#ifndef PCITEST_H
#define PCITEST_H
#include "guest.h"

static inline void puthex64(u64 v) { puts("0x"); puthex((u32)(v >> 32), 8); puthex((u32)v, 8); }
static inline void cpuid(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d)
{ __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0)); }

/* Bus 0, function 0 shorthands. */
static inline u32 cfg_read(u32 dev, u32 reg) { return pci_read32(0, dev, 0, reg); }
static inline void cfg_write(u32 dev, u32 reg, u32 v) { pci_write32(0, dev, 0, reg, v); }

static inline int has_word(const char *s, const char *w)
{
    while (s && *s) {
        const char *a = s, *b = w;
        while (*b && *a == *b) { a++; b++; }
        if (!*b && (*a == 0 || *a == ' ')) return 1;
        while (*s && *s != ' ') s++;
        while (*s == ' ') s++;
    }
    return 0;
}

/* Paging stays off (this machine's paravirtual KVM refuses CR0.PG outside long mode), so the guest reaches only
   addresses below 4 GiB: 64-bit BARs are first moved into the 32-bit hole, which is legal for them. */
static inline u8 mmio_read8(u32 a) { return *(volatile u8 *)a; }
static inline u16 mmio_read16(u32 a) { return *(volatile u16 *)a; }
static inline void mmio_write8(u32 a, u8 v) { *(volatile u8 *)a = v; }

#endif
