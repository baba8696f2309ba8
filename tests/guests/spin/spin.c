/* Says it is about to spin, then halts forever with interrupts off: only the host can stop this VM. The line lets a
   test know the guest runs before it stops the VMM. */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
    (void)si;
    puts("spinning\n");
    for (;;) __asm__ volatile("cli; hlt");
}
