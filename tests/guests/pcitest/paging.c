/* PAE paging with 2 MiB pages: identity map of the low 4 GiB plus one movable window for high addresses. */
#include "guest.h"

static unsigned long long pdpt[4] __attribute__((aligned(32)));
static unsigned long long pd[4][512] __attribute__((aligned(4096)));

#define PDE_LARGE 0x83ull /* present, writable, 2 MiB page */
#define WINDOW 0x80000000u

void paging_init(void)
{
    /* Only the GiBs the guest touches are filled: RAM (0) and the PCI hole/LAPIC (3); PD 2 holds the window. */
    for (unsigned i = 0; i < 512; i++) {
        pd[0][i] = ((unsigned long long)i << 21) | PDE_LARGE;
        pd[3][i] = (0xc0000000ull + ((unsigned long long)i << 21)) | PDE_LARGE;
    }
    for (unsigned i = 0; i < 4; i++) pdpt[i] = (unsigned)(unsigned long)pd[i] | 1u;
    __asm__ volatile(
        "mov %%cr4, %%eax\n\tor $0x20, %%eax\n\tmov %%eax, %%cr4\n\t"  /* CR4.PAE */
        "mov %0, %%cr3\n\t"
        "mov %%cr0, %%eax\n\tor $0x80000000, %%eax\n\tmov %%eax, %%cr0" /* CR0.PG */
        :: "r"(pdpt) : "eax", "memory");
}

volatile void *high_ptr(unsigned long long phys)
{
    if (phys < 0x40000000ull || (phys >= 0xc0000000ull && phys < 0x100000000ull))
        return (volatile void *)(unsigned long)phys;
    pd[2][0] = (phys & ~0x1fffffull) | PDE_LARGE;
    __asm__ volatile("invlpg (%0)" :: "r"(WINDOW) : "memory");
    return (volatile void *)(unsigned long)(WINDOW + (unsigned)(phys & 0x1fffff));
}
