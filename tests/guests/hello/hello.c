/* Prints a line on COM1 and ends the VM with debug-exit value 0x10 (exit code 0x21). */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
    if (si->magic != 0x336ec578) guest_exit(0x7f);
    puts("hello from PluginVmm tiny guest\n");
    guest_exit(0x10);
}
