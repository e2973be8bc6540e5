/* SPDX-License-Identifier: MIT */
/* Source of the matching byte array in ../test_vm_smoke.c: as --32 poll.S && ld -m elf_i386 -Ttext=0x1000 --oformat binary */
.code16
start:
	mov $0x3fd, %dx
1:	in (%dx), %al
	test $1, %al
	jz 1b
	mov $0x3f8, %dx
	in (%dx), %al
	out %al, (%dx)
	cmp $'q', %al
	jne start
	mov $0x501, %dx
	out %al, (%dx)
	hlt
