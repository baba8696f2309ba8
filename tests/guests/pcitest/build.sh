#!/bin/sh
# Builds pcitest.elf into $1 (default: this folder). 32-bit, freestanding, no libc.
set -e
src=$(cd "$(dirname "$0")" && pwd); out=${1:-$src}
mkdir -p "$out"
flags="-m32 -O2 -ffreestanding -fno-pic -fno-stack-protector -mgeneral-regs-only -nostdlib -fno-asynchronous-unwind-tables"
gcc $flags -c "$src/start.S" -o "$out/start.o"
gcc $flags -c "$src/pcitest.c" -o "$out/pcitest.o"
gcc $flags -c "$src/paging.c" -o "$out/paging.o"
ld -m elf_i386 -T "$src/guest.ld" -o "$out/pcitest.elf" "$out/start.o" "$out/pcitest.o" "$out/paging.o"
