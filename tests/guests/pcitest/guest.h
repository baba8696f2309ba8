/* Freestanding helpers for the pcitest guest: port I/O, COM1, PCI conf1, MMIO, PAE paging for >4 GiB. */
#ifndef PCITEST_GUEST_H
#define PCITEST_GUEST_H

static inline void outb(unsigned short p, unsigned char v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outw(unsigned short p, unsigned short v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outl(unsigned short p, unsigned v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(p)); }
static inline unsigned inl(unsigned short p) { unsigned v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline void cpuid(unsigned leaf, unsigned *a, unsigned *b, unsigned *c, unsigned *d)
{ __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0)); }

static inline void putc_(char c) { outb(0x3f8, (unsigned char)c); }
static inline void puts(const char *s) { while (*s) putc_(*s++); }
static inline void puthex(unsigned v, int digits)
{ for (int i = digits - 1; i >= 0; i--) putc_("0123456789abcdef"[(v >> (i * 4)) & 0xf]); }
static inline void puthex64(unsigned long long v) { puts("0x"); puthex((unsigned)(v >> 32), 8); puthex((unsigned)v, 8); }

static inline void debug_exit(unsigned char code) { outb(0xf4, code); for (;;) __asm__ volatile("hlt"); }
static inline void i8042_reset(void) { outb(0x64, 0xfe); for (;;) __asm__ volatile("hlt"); }

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

/* PCI configuration mechanism #1, bus 0, function 0. */
static inline void pci_select(unsigned dev, unsigned reg) { outl(0xcf8, 0x80000000u | (dev << 11) | (reg & 0xfc)); }
static inline unsigned pci_read32(unsigned dev, unsigned reg) { pci_select(dev, reg); return inl(0xcfc); }
static inline void pci_write32(unsigned dev, unsigned reg, unsigned v) { pci_select(dev, reg); outl(0xcfc, v); }
static inline void pci_write16(unsigned dev, unsigned reg, unsigned short v) { pci_select(dev, reg); outw((unsigned short)(0xcfc + (reg & 2)), v); }

/* Physical addresses below 4 GiB are identity mapped (PDPT entries 0..3, 2 MiB pages), except the window
   0x80000000..0x801fffff (PD 2, entry 0), which high_ptr points at any physical 2 MiB page. */
void paging_init(void);
volatile void *high_ptr(unsigned long long phys);
static inline unsigned char mmio_read8(unsigned long long a) { return *(volatile unsigned char *)high_ptr(a); }
static inline void mmio_write8(unsigned long long a, unsigned char v) { *(volatile unsigned char *)high_ptr(a) = v; }
static inline unsigned high_read32(unsigned long long a) { return *(volatile unsigned *)high_ptr(a); }
static inline void high_write32(unsigned long long a, unsigned v) { *(volatile unsigned *)high_ptr(a) = v; }

#endif
