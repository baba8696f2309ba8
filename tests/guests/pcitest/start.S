/* PVH entry: 32-bit protected mode, paging off, %ebx = hvm_start_info. Calls guest_main(cmdline). */
    .section .note.Xen, "a"
    .align 4
    .long 4, 4, 18            /* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long _start
    .text
    .code32
    .globl _start
_start:
    mov $stack_top, %esp
    mov 24(%ebx), %eax        /* hvm_start_info.cmdline_paddr (low half; below 4 GiB) */
    push %eax
    call guest_main
1:  hlt
    jmp 1b
    .bss
    .align 16
    .space 8192
stack_top:
    .section .note.GNU-stack,"",@progbits
