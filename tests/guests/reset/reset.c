/* Asks for a reset through the i8042 command port (0x64 <- 0xFE). */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
    (void)si;
    guest_reset();
}
