/*
 * pcitest: a tiny PVH guest that exercises PluginVmm's PCI root from the guest side.
 * The mode comes from the kernel command line (hvm_start_info.cmdline):
 *   enum      list every function: ids, class, and each BAR's kind, size and address (sized like Linux does)
 *   rollback  the BAR-rollback scenario: hostile BAR writes must read back the old address, devices keep working
 *   panic     write "panicked" to pvpanic (the VM must end with the panic exit code)
 *   touch     enum, then for every function read+write device-specific config 0x40 and read, then write 0 to, the
 *             first dword of every BAR below 4 GiB; move the Acme faulty sample's BAR0; enum again (a faulty plugin
 *             must not stop the VM: the fenced function disappears, the others still answer)
 *   demo      enum + read pvpanic's event register + power off through the i8042
 *   ivshmem-a, ivshmem-b   one peer of a shared ivshmem file: moves BAR2 into the 32-bit hole, reports how much of
 *             peer a's (0x0), peer b's (0x800) and the host's (0x1000) pattern it sees, then writes its own
 * Results are lines on COM1 that the test parses; the guest leaves through the debug-exit port (0x10 → 0x21).
 * Runs in 32-bit protected mode with paging off: only addresses below 4 GiB are reachable.
 */
#include "pcitest.h"

#define MAX_FUNCS 32
struct bar { unsigned kind; unsigned long long size, addr; }; /* kind: 0 none, 1 io, 2 mem32, 3 mem64, 4 rom */
struct func { unsigned dev; unsigned vendor, device, class_rev; struct bar bars[7]; };
static struct func funcs[MAX_FUNCS];
static unsigned nfuncs;
static unsigned failures;

static const char *kind_name[] = { "none", "io", "mem32", "mem64", "rom" };

static void size_bars(struct func *f)
{
    unsigned d = f->dev;
    unsigned cmd = cfg_read(d, 0x04);
    pci_write16(0, d, 0, 0x04, (u16)(cmd & ~3u)); /* no decoding while sizing, as Linux does */
    for (unsigned i = 0; i < 6; i++) {
        unsigned reg = 0x10 + i * 4, orig = cfg_read(d, reg);
        cfg_write(d, reg, 0xffffffffu);
        unsigned lo = cfg_read(d, reg);
        cfg_write(d, reg, orig);
        struct bar *b = &f->bars[i];
        if (lo == 0) continue;
        if (lo & 1) { b->kind = 1; b->size = (~(lo & ~3u) + 1) & 0xffff; b->addr = orig & ~3u; continue; }
        if ((lo & 6) == 4) {
            unsigned orig_hi = cfg_read(d, reg + 4);
            cfg_write(d, reg + 4, 0xffffffffu);
            unsigned hi = cfg_read(d, reg + 4);
            cfg_write(d, reg + 4, orig_hi);
            unsigned long long mask = ((unsigned long long)hi << 32) | (lo & ~0xfu);
            b->kind = 3; b->size = ~mask + 1; b->addr = ((unsigned long long)orig_hi << 32) | (orig & ~0xfu);
            i++;
            continue;
        }
        b->kind = 2; b->size = (unsigned)(~(lo & ~0xfu) + 1); b->addr = orig & ~0xfu;
    }
    unsigned orig = cfg_read(d, 0x30);
    cfg_write(d, 0x30, 0xfffff800u);
    unsigned rom = cfg_read(d, 0x30);
    cfg_write(d, 0x30, orig);
    if (rom & 0xfffff800u) { f->bars[6].kind = 4; f->bars[6].size = (unsigned)(~(rom & 0xfffff800u) + 1); f->bars[6].addr = orig & 0xfffff800u; }
    pci_write16(0, d, 0, 0x04, (u16)cmd);
}

static void enumerate(int print)
{
    nfuncs = 0;
    for (unsigned d = 0; d < 32 && nfuncs < MAX_FUNCS; d++) {
        unsigned id = cfg_read(d, 0);
        if ((id & 0xffff) == 0xffff) continue;
        struct func *f = &funcs[nfuncs++];
        f->dev = d; f->vendor = id & 0xffff; f->device = id >> 16; f->class_rev = cfg_read(d, 0x08);
        for (unsigned i = 0; i < 7; i++) f->bars[i].kind = 0;
        size_bars(f);
        if (!print) continue;
        puts("PCI "); puthex(d, 2); puts(" "); puthex(f->vendor, 4); puts(":"); puthex(f->device, 4);
        puts(" class "); puthex(f->class_rev >> 8, 6); puts("\n");
        for (unsigned i = 0; i < 7; i++) {
            struct bar *b = &f->bars[i];
            if (!b->kind) continue;
            puts("BAR "); puthex(d, 2); puts(" "); puthex(i, 1); puts(" "); puts(kind_name[b->kind]);
            puts(" size "); puthex64(b->size); puts(" addr "); puthex64(b->addr); puts("\n");
        }
    }
    puts("PCI-END "); puthex(nfuncs, 2); puts("\n");
}

static struct func *find(unsigned vendor, unsigned device)
{
    for (unsigned i = 0; i < nfuncs; i++)
        if (funcs[i].vendor == vendor && funcs[i].device == device) return &funcs[i];
    return 0;
}

static unsigned long long bar_addr(unsigned d, unsigned i, int is64)
{
    unsigned long long a = cfg_read(d, 0x10 + i * 4) & ~0xfu;
    if (is64) a |= (unsigned long long)cfg_read(d, 0x14 + i * 4) << 32;
    return a;
}

static void write_bar(unsigned d, unsigned i, int is64, unsigned long long a)
{
    cfg_write(d, 0x10 + i * 4, (unsigned)a);
    if (is64) cfg_write(d, 0x14 + i * 4, (unsigned)(a >> 32));
}

static void check(const char *what, int ok)
{
    puts(ok ? "OK " : "FAIL "); puts(what); puts("\n");
    if (!ok) failures++;
}

/* "a b" in one of two static buffers (a check's name is printed before the next one is made) */
static const char *cat(const char *a, const char *b)
{
    static char bufs[2][64];
    static unsigned which;
    char *out = bufs[which++ & 1], *p = out;
    while (*a && p < out + 62) *p++ = *a++;
    *p++ = ' ';
    while (*b && p < out + 63) *p++ = *b++;
    *p = 0;
    return out;
}

/* A hostile address must be refused: config reads the old address back and the device still answers there. */
static void refuse(const char *what, unsigned d, unsigned i, int is64, unsigned long long target,
                   unsigned long long old, int (*alive)(unsigned long long))
{
    write_bar(d, i, is64, target);
    unsigned long long now = bar_addr(d, i, is64);
    puts("TRY "); puts(what); puts(" target "); puthex64(target); puts(" readback "); puthex64(now); puts("\n");
    check(what, now == old && alive(old));
}

/* A legal move: config reads the new address and the device answers there. */
static void relocate(const char *what, unsigned d, unsigned i, int is64, unsigned long long target,
                     int (*alive)(unsigned long long))
{
    write_bar(d, i, is64, target);
    check(what, bar_addr(d, i, is64) == target && alive(target));
}

/* A 32-bit BAR: the hostile targets every device gets, then a legal move away and back. */
static void bar32_scenario(const char *name, unsigned d, unsigned long long legal, int (*alive)(unsigned long long))
{
    unsigned long long old = bar_addr(d, 0, 0);
    check(cat(name, "alive before"), alive(old));
    refuse(cat(name, "bar0 into RAM"), d, 0, 0, 0x00100000ull, old, alive);
    refuse(cat(name, "bar0 onto LAPIC"), d, 0, 0, 0xfee00000ull, old, alive);
    refuse(cat(name, "bar0 onto IOAPIC"), d, 0, 0, 0xfec00000ull, old, alive);
    relocate(cat(name, "bar0 moved"), d, 0, 0, legal, alive);
    relocate(cat(name, "bar0 moved back"), d, 0, 0, old, alive);
}

static int pvpanic_alive(unsigned long long a) { return mmio_read8((u32)a) == 0x03; }

#define IVSHMEM_PATTERN 0x5a5aa5a5u
static int ivshmem_alive(unsigned long long a) { return a < 0x100000000ull && mmio_read32((u32)a) == IVSHMEM_PATTERN; }

/* pvmemcontrol: Reset (command register at +8) is answered with Ack from any state. */
static int pvmem_alive(unsigned long long a)
{
    if (a >= 0x100000000ull) return 0;
    mmio_write32((u32)a + 8, 0x060fe6d2u);
    return mmio_read32((u32)a + 8) == 0x03cf5196u;
}

/* virtio-pci: the common configuration (BAR0 + 0) reports the queue count the device was enumerated with. */
static unsigned virtio_queues;
static int virtio_alive(unsigned long long a) { return a < 0x100000000ull && mmio_read16((u32)a + 0x12) == virtio_queues; }

static unsigned phys_bits(void)
{
    unsigned a, b, c, d;
    cpuid(0x80000000u, &a, &b, &c, &d);
    if (a < 0x80000008u) return 36;
    cpuid(0x80000008u, &a, &b, &c, &d);
    return a & 0xff;
}

static void rollback(void)
{
    enumerate(0);
    struct func *pp = find(0x1b36, 0x0011), *iv = find(0x1af4, 0x1110);
    unsigned long long top = (1ull << phys_bits()) - 0x10000ull - 0x100000ull; /* exclusive end of the 64-bit area */
    puts("PHYS-BITS "); puthex(phys_bits(), 2); puts("\n");
    if (pp) {
        bar32_scenario("pvpanic", pp->dev, 0xd4300000ull, pvpanic_alive);
        unsigned long long old = bar_addr(pp->dev, 0, 0);
        if (iv) refuse("pvpanic bar0 onto ivshmem bar0", pp->dev, 0, 0, bar_addr(iv->dev, 0, 0), old, pvpanic_alive);
    }
    if (iv) {
        /* BAR2 (64-bit, a memory slot over the shared file) starts above 4 GiB. A legal move into the 32-bit hole
           makes it reachable; the pattern written there must survive every refused and every legal move. */
        unsigned long long size = iv->bars[2].size, home = bar_addr(iv->dev, 2, 1), low = 0xd0000000ull;
        write_bar(iv->dev, 2, 1, low);
        check("ivshmem bar2 moved into the 32-bit hole", bar_addr(iv->dev, 2, 1) == low);
        mmio_write32((u32)low, IVSHMEM_PATTERN);
        check("ivshmem bar2 pattern before", ivshmem_alive(low));
        refuse("ivshmem bar2 into RAM", iv->dev, 2, 1, 0x00200000ull & ~(size - 1), low, ivshmem_alive);
        refuse("ivshmem bar2 onto LAPIC", iv->dev, 2, 1, 0xfee00000ull & ~(size - 1), low, ivshmem_alive);
        refuse("ivshmem bar2 beyond phys bits", iv->dev, 2, 1, 1ull << phys_bits(), low, ivshmem_alive);
        refuse("ivshmem bar2 at 0xfffffff000000000", iv->dev, 2, 1, 0xfffffff000000000ull, low, ivshmem_alive);
        unsigned long long bar0 = bar_addr(iv->dev, 0, 0);
        refuse("ivshmem bar2 onto its own bar0", iv->dev, 2, 1, bar0 & ~(size - 1), low, ivshmem_alive);
        check("ivshmem bar0 kept its address", bar_addr(iv->dev, 0, 0) == bar0);
        /* Highest naturally aligned address below the top reserved areas: must work (no alignment gap). */
        unsigned long long highest = (top - size) & ~(size - 1);
        write_bar(iv->dev, 2, 1, highest);
        puts("MOVE ivshmem bar2 to "); puthex64(highest); puts(" readback "); puthex64(bar_addr(iv->dev, 2, 1)); puts("\n");
        check("ivshmem bar2 moved to the highest aligned address", bar_addr(iv->dev, 2, 1) == highest);
        write_bar(iv->dev, 2, 1, low);
        check("ivshmem bar2 moved back with its data", bar_addr(iv->dev, 2, 1) == low && ivshmem_alive(low));
        write_bar(iv->dev, 2, 1, home);
        check("ivshmem bar2 moved home above 4 GiB", bar_addr(iv->dev, 2, 1) == home);
    }
    struct func *pm = find(0x1ae0, 0x0087);
    if (pm) {
        bar32_scenario("pvmemcontrol", pm->dev, 0xd4200000ull, pvmem_alive);
        unsigned long long old = bar_addr(pm->dev, 0, 0);
        if (pp) refuse("pvmemcontrol bar0 onto pvpanic bar0", pm->dev, 0, 0, bar_addr(pp->dev, 0, 0), old, pvmem_alive);
    }
    /* virtio-block and virtio-net: 64-bit BAR0 (common/notify/ISR/device config and the MSI-X table) starts above
       4 GiB; a legal move into the 32-bit hole makes it reachable, then the hostile writes, a second legal move and
       the way home. */
    static const struct { unsigned device; const char *name; unsigned long long low, other; } virtio[] = {
        { 0x1042, "virtio-block", 0xd4000000ull, 0xd4400000ull },
        { 0x1041, "virtio-net", 0xd4080000ull, 0xd4480000ull },
    };
    for (unsigned v = 0; v < 2; v++) {
        struct func *vf = find(0x1af4, virtio[v].device);
        if (!vf) continue;
        const char *n = virtio[v].name;
        unsigned long long home = bar_addr(vf->dev, 0, 1), low = virtio[v].low, size = vf->bars[0].size;
        write_bar(vf->dev, 0, 1, low);
        virtio_queues = mmio_read16((u32)low + 0x12);
        puts("VIRTIO "); puts(n); puts(" queues "); puthex(virtio_queues, 4); puts("\n");
        check(cat(n, "bar0 moved into the 32-bit hole"), bar_addr(vf->dev, 0, 1) == low && virtio_queues != 0 && virtio_queues != 0xffff);
        refuse(cat(n, "bar0 into RAM"), vf->dev, 0, 1, 0x00200000ull & ~(size - 1), low, virtio_alive);
        refuse(cat(n, "bar0 onto LAPIC"), vf->dev, 0, 1, 0xfee00000ull & ~(size - 1), low, virtio_alive);
        refuse(cat(n, "bar0 beyond phys bits"), vf->dev, 0, 1, 1ull << phys_bits(), low, virtio_alive);
        refuse(cat(n, "bar0 at 0xfffffff000000000"), vf->dev, 0, 1, 0xfffffff000000000ull, low, virtio_alive);
        if (pp) refuse(cat(n, "bar0 onto pvpanic bar0"), vf->dev, 0, 1, bar_addr(pp->dev, 0, 0) & ~(size - 1), low, virtio_alive);
        relocate(cat(n, "bar0 moved again, device answers"), vf->dev, 0, 1, virtio[v].other, virtio_alive);
        write_bar(vf->dev, 0, 1, home);
        check(cat(n, "bar0 moved home above 4 GiB"), bar_addr(vf->dev, 0, 1) == home);
    }
    struct func *w = find(0x1234, 0xabcd); /* the third-party sample plugin: 32-bit, 64-bit and ROM BARs */
    if (w) {
        unsigned long long bar0 = bar_addr(w->dev, 0, 0), bar2 = bar_addr(w->dev, 2, 1);
        unsigned rom = cfg_read(w->dev, 0x30) & 0xfffff800u;
        cfg_write(w->dev, 0x30, rom | 1);                       /* enable the ROM */
        check("widget id register", mmio_read32((u32)bar0) == 0x571d6e70u);
        check("widget rom readable", mmio_read8(rom) == 'w');
        cfg_write(w->dev, 0x30, 0xfee00000u | 1);               /* ROM onto the LAPIC */
        puts("TRY widget rom onto LAPIC readback "); puthex32(cfg_read(w->dev, 0x30)); puts("\n");
        check("widget rom onto LAPIC", cfg_read(w->dev, 0x30) == (rom | 1) && mmio_read8(rom) == 'w');
        cfg_write(w->dev, 0x30, (u32)bar0 | 1);                 /* ROM onto BAR0 */
        check("widget rom onto its own bar0", cfg_read(w->dev, 0x30) == (rom | 1) && mmio_read32((u32)bar0) == 0x571d6e70u);
        write_bar(w->dev, 2, 1, bar0 & ~0xfffffull);            /* 64-bit BAR2 onto BAR0 */
        check("widget bar2 onto bar0 refused, both keep their addresses",
              bar_addr(w->dev, 2, 1) == bar2 && bar_addr(w->dev, 0, 0) == bar0 && mmio_read32((u32)bar0) == 0x571d6e70u);
        write_bar(w->dev, 0, 0, rom & ~0xfffu);                 /* BAR0 onto the ROM */
        check("widget bar0 onto rom refused", bar_addr(w->dev, 0, 0) == bar0 && mmio_read8(rom) == 'w');
        cfg_write(w->dev, 0x30, 0xd8000000u | 1);               /* a legal ROM move */
        check("widget rom moved", cfg_read(w->dev, 0x30) == (0xd8000000u | 1) && mmio_read8(0xd8000000u) == 'w');
    }
    puts("ROLLBACK-END failures "); puthex(failures, 2); puts("\n");
}

/* Each writer of the shared file owns 64 dwords: peer a at 0x0, peer b at 0x800, the host (the test) at 0x1000. */
#define IVSHMEM_WORDS 64
static u32 share_pattern(unsigned who, unsigned i) { return (0xa0a00000u + who * 0x10100000u) | i; } /* a0a0, b0b0, c0c0 */

static void ivshmem_share(unsigned me)
{
    static const char *names[] = { "a", "b", "host" };
    enumerate(0);
    struct func *iv = find(0x1af4, 0x1110);
    if (!iv) { puts("IVSHMEM no device\n"); guest_exit(0x12); }
    cfg_write(iv->dev, 0x04, cfg_read(iv->dev, 0x04) | 0x2);
    unsigned long long low = 0xd0000000ull;
    write_bar(iv->dev, 2, 1, low);
    check("ivshmem bar2 moved into the 32-bit hole", bar_addr(iv->dev, 2, 1) == low);
    for (unsigned who = 0; who < 3; who++) {
        unsigned match = 0;
        for (unsigned i = 0; i < IVSHMEM_WORDS; i++)
            if (mmio_read32((u32)low + who * 0x800 + i * 4) == share_pattern(who, i)) match++;
        puts("IVSHMEM seen "); puts(names[who]); puts(" "); puthex(match, 2); puts("\n");
    }
    for (unsigned i = 0; i < IVSHMEM_WORDS; i++) mmio_write32((u32)low + me * 0x800 + i * 4, share_pattern(me, i));
    check("ivshmem own pattern reads back", mmio_read32((u32)low + me * 0x800 + 4 * (IVSHMEM_WORDS - 1)) == share_pattern(me, IVSHMEM_WORDS - 1));
}

static void touch(void)
{
    enumerate(1);
    unsigned n = nfuncs;
    for (unsigned i = 0; i < n; i++) {
        struct func *f = &funcs[i];
        unsigned d = f->dev;
        cfg_write(d, 0x40, cfg_read(d, 0x40));
        for (unsigned b = 0; b < 6; b++) {
            struct bar *bar = &f->bars[b];
            if ((bar->kind != 2 && bar->kind != 3) || bar->addr == 0 || bar->addr + 4 > 0x100000000ull) continue;
            unsigned v = mmio_read32((u32)bar->addr);
            puts("TOUCH "); puthex(d, 2); puts(" bar"); puthex(b, 1); puts(" "); puthex32(v); puts("\n");
            mmio_write32((u32)bar->addr, 0); /* 0: no pvpanic event, no widget scratch, feature select 0 */
        }
    }
    struct func *fa = find(0x1234, 0xfa17);
    if (fa && fa->bars[0].kind == 2) {
        write_bar(fa->dev, 0, 0, 0xdf000000ull);
        puts("MOVE faulty bar0 readback "); puthex64(bar_addr(fa->dev, 0, 0)); puts("\n");
    }
    enumerate(1);
    puts("TOUCH-END\n");
}

void guest_main(const struct hvm_start_info *si)
{
    const char *cmdline = (const char *)(u32)si->cmdline_paddr;
    if (has_word(cmdline, "rollback")) { rollback(); guest_exit(failures ? 0x11 : 0x10); }
    if (has_word(cmdline, "ivshmem-a") || has_word(cmdline, "ivshmem-b")) {
        ivshmem_share(has_word(cmdline, "ivshmem-a") ? 0 : 1);
        guest_exit(failures ? 0x11 : 0x10);
    }
    if (has_word(cmdline, "touch")) { touch(); guest_exit(0x10); }
    if (has_word(cmdline, "panic")) {
        enumerate(0);
        struct func *pp = find(0x1b36, 0x0011);
        if (pp) mmio_write8((u32)bar_addr(pp->dev, 0, 0), 0x01);
        puts("PANIC-NOT-TAKEN\n");
        guest_exit(0x12);
    }
    enumerate(1);
    if (has_word(cmdline, "demo")) {
        struct func *pp = find(0x1b36, 0x0011);
        if (pp) { puts("pvpanic events supported: "); puthex(mmio_read8((u32)bar_addr(pp->dev, 0, 0)), 2); puts("\n"); }
        puts("demo done, powering off\n");
        guest_reset();
    }
    guest_exit(0x10);
}
