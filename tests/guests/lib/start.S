/* PVH entry for tiny guests: 32-bit protected mode, paging off, %ebx = hvm_start_info.
   Sets a stack and calls guest_main(start_info); exits with debug code 0xff if it returns. */
    .section .note.Xen, "a"
    .align 4
    .long 4, 4, 18            /* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long _start
    .text
    .code32
    .globl _start
_start:
    cli
    mov $stack_top, %esp
    push %ebx
    call guest_main
    mov $0xff, %al
    out %al, $0xf4
1:  hlt
    jmp 1b
    .bss
    .align 16
    .space 8192
stack_top:
    .section .note.GNU-stack,"",@progbits
