/*
 * pvmemtest: drives PluginVmm's pvmemcontrol device (1ae0:0087) from a tiny PVH guest, as a guest driver would:
 * finds it by conf1 enumeration, Reset, Register one request buffer, Ready, then requests through the buffer:
 * Info (page size, version), DONTNEED on a page filled with a pattern (it must read back zero afterwards), and
 * requests the device must refuse (outside RAM, unaligned, unknown function, mprotect none).
 * Lines on COM1: "PVMEM ..." facts and "OK/FAIL what" checks; exit 0x10 (all OK) or 0x11 through port 0xf4.
 * 32-bit protected mode, paging off: keep it to a few thousand instructions.
 */
#include "../pcitest/pcitest.h"

#define CMD_RESET 0x060fe6d2u
#define CMD_REGISTER 0x0e359539u
#define CMD_READY 0x0ca8d227u
#define CMD_ACK 0x03cf5196u

#define TEST_PAGE 0x00400000u   /* 4 MiB: inside the VM's RAM, away from this image at 1 MiB */
#define OUTSIDE_RAM 0x20000000u /* 512 MiB: beyond the test VM's 64 MiB */

/* The registered buffer: the request {func, addr, length, arg} goes in, the response comes back over it. */
static volatile u64 buf[4] __attribute__((aligned(32)));
static u32 bar, conn;
static unsigned failures;

static void check(const char *what, int ok)
{
    puts(ok ? "OK " : "FAIL "); puts(what); puts("\n");
    if (!ok) failures++;
}

static u32 command(u32 cmd) { mmio_write32(bar + 8, cmd); return mmio_read32(bar + 8); }

/* Sends one request; returns ret_errno, leaves the response in buf. */
static u32 request(u32 func, u32 addr, u32 length, u32 arg)
{
    buf[0] = func; buf[1] = addr; buf[2] = length; buf[3] = arg;
    mmio_write32(bar + 8, conn);
    return (u32)buf[0];
}

static u32 find_device(void)
{
    for (u32 d = 0; d < 32; d++)
        if (cfg_read(d, 0) == 0x00871ae0u) {
            cfg_write(d, 0x04, cfg_read(d, 0x04) | 0x2); /* memory decoding on */
            puts("PVMEM found dev "); puthex(d, 2); puts(" bar0 "); puthex32(cfg_read(d, 0x10) & ~0xfu); puts("\n");
            return cfg_read(d, 0x10) & ~0xfu;
        }
    return 0;
}

void guest_main(const struct hvm_start_info *si)
{
    (void)si;
    bar = find_device();
    if (!bar) { puts("PVMEM no device\n"); guest_exit(0x12); }

    check("reset acked", command(CMD_RESET) == CMD_ACK);
    mmio_write32(bar, (u32)buf);       /* payload: the buffer's GPA, as two 4-byte writes */
    mmio_write32(bar + 4, 0);
    check("register acked", command(CMD_REGISTER) == CMD_ACK);
    conn = mmio_read32(bar);
    puts("PVMEM connection "); puthex32(conn); puts("\n");
    check("connection id is 0x80000000", conn == 0x80000000u);
    check("ready acked", command(CMD_READY) == CMD_ACK);

    u32 e = request(0, 0, 0, 0);
    puts("PVMEM info errno "); puthex(e, 2); puts(" page-size "); puthex32((u32)buf[1]);
    puts(" version "); puthex((u32)buf[2], 1); puts("."); puthex((u32)buf[3], 1); puts("\n");
    check("info", e == 0 && buf[1] == 4096 && buf[2] == 1 && buf[3] == 0);

    volatile u32 *page = (volatile u32 *)TEST_PAGE;
    for (u32 i = 0; i < 1024; i++) page[i] = 0xa5a50000u | i;
    check("pattern written", page[0] == 0xa5a50000u && page[1023] == 0xa5a503ffu);
    e = request(1, TEST_PAGE, 4096, 0);
    u32 nonzero = 0;
    for (u32 i = 0; i < 1024; i++) if (page[i]) nonzero++;
    puts("PVMEM dontneed errno "); puthex(e, 2); puts(" nonzero-dwords "); puthex32(nonzero); puts("\n");
    check("dontneed page reads zero", e == 0 && nonzero == 0);

    e = request(1, OUTSIDE_RAM, 4096, 0);
    puts("PVMEM outside-ram errno "); puthex(e, 2); puts(" code "); puthex32((u32)(buf[0] >> 32)); puts("\n");
    check("outside ram refused with EINVAL", e == 22 && (u32)(buf[0] >> 32) == 1);
    check("unaligned refused with EINVAL", request(1, TEST_PAGE + 8, 4096, 0) == 22);
    check("unknown function refused with EOPNOTSUPP", request(99, TEST_PAGE, 4096, 0) == 95);
    check("mprotect none refused with EPERM", request(9, TEST_PAGE, 4096, 0) == 1);
    page[0] = 0x12345678u;
    check("page still usable", page[0] == 0x12345678u);

    puts("PVMEM-END failures "); puthex(failures, 2); puts("\n");
    guest_exit(failures ? 0x11 : 0x10);
}
