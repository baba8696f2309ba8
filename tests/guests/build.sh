#!/bin/sh
# Builds tiny guest NAME (tests/guests/NAME/*.c and *.S, plus lib/) into OUTDIR/NAME.elf, a PVH ELF.
# Used by the tests (TinyGuestBuilder) and by ./vmm for the demo guest. 32-bit, freestanding, no libc.
# Usage: build.sh NAME OUTDIR
set -eu
name=$1; out=$2
here=$(cd "$(dirname "$0")" && pwd)
src="$here/$name"; lib="$here/lib"
[ -d "$src" ] || { echo "build.sh: no tiny guest sources at $src" >&2; exit 2; }
mkdir -p "$out"
# shellcheck disable=SC2046
gcc -m32 -O2 -ffreestanding -fno-pic -fno-stack-protector -mgeneral-regs-only -nostdlib \
    -fno-asynchronous-unwind-tables -static -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
    -Wl,-T,"$lib/guest.ld" -I "$lib" -o "$out/$name.elf" "$lib/start.S" \
    $(find "$src" -maxdepth 1 \( -name '*.c' -o -name '*.S' \) | LC_ALL=C sort)
