/* SPDX-License-Identifier: MIT */
/* Source of the matching byte array in ../test_vm_smoke.c: as --32 irq.S && ld -m elf_i386 -Ttext=0x1000 --oformat binary */
/* FIFO left disabled (enabling it would clear bytes received before). Interrupt-driven UART echo in real mode: IRQ 4 through the 8259 (vector 0x0c). Received bytes go
 * to a ring at 0x600 (head 0x700, tail 0x702); THRE interrupts send them back upper-cased; after
 * sending 'Q' the guest exits with status 'Q'. */
.code16
start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	movw $handler, 0x30
	movw $0, 0x32
	movw $0, 0x700
	movw $0, 0x702
	movb $0, 0x704
	mov $0x11, %al
	out %al, $0x20
	mov $0x08, %al
	out %al, $0x21
	mov $0x04, %al
	out %al, $0x21
	mov $0x01, %al
	out %al, $0x21
	mov $0xef, %al
	out %al, $0x21
	mov $0x3fc, %dx
	mov $0x0b, %al
	out %al, (%dx)
	mov $0x3f9, %dx
	mov $0x01, %al
	out %al, (%dx)
	sti
idle:
	hlt
	cmpb $0, 0x704
	je idle
	mov $0x501, %dx
	mov $'Q', %al
	out %al, (%dx)
	hlt

handler:
	push %ax
	push %bx
	push %dx
next:
	mov $0x3fa, %dx
	in (%dx), %al
	test $1, %al
	jnz eoi
	and $0x0f, %al
	cmp $0x02, %al
	je tx
	cmp $0x04, %al
	je rx
	cmp $0x0c, %al
	je rx
	mov $0x3fd, %dx
	in (%dx), %al
	jmp next
rx:
	mov $0x3f8, %dx
	in (%dx), %al
	mov 0x700, %bx
	and $0xff, %bx
	mov %al, 0x600(%bx)
	incw 0x700
	mov $0x3f9, %dx
	mov $0x03, %al
	out %al, (%dx)
	jmp next
tx:
	mov 0x702, %bx
	cmp 0x700, %bx
	je txoff
	and $0xff, %bx
	mov 0x600(%bx), %al
	and $0xdf, %al
	mov $0x3f8, %dx
	out %al, (%dx)
	incw 0x702
	cmp $'Q', %al
	jne next
	movb $1, 0x704
	jmp next
txoff:
	mov $0x3f9, %dx
	mov $0x01, %al
	out %al, (%dx)
	jmp next
eoi:
	mov $0x20, %al
	out %al, $0x20
	pop %dx
	pop %bx
	pop %ax
	iret
