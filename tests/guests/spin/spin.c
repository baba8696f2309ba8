/* Halts forever with interrupts off: only the host can stop this VM. */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
    (void)si;
    for (;;) __asm__ volatile("cli; hlt");
}
