/* SPDX-License-Identifier: MIT */
/* Source of the irqfd byte array in ../test_vm_smoke.c: as --32 irqfd.S && ld -m elf_i386 -Ttext=0x1000 --oformat binary */
/* irqfd and ioeventfd: unmask IRQ 5 on the 8259 (vector 0x0d), announce readiness with a write to
 * port 0x510 (an ioeventfd: no exit to kite), wait; the handler exits with status 0x55. */
.code16
start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	movw $handler, 0x34
	movw $0, 0x36
	mov $0x11, %al
	out %al, $0x20
	mov $0x08, %al
	out %al, $0x21
	mov $0x04, %al
	out %al, $0x21
	mov $0x01, %al
	out %al, $0x21
	mov $0xdf, %al
	out %al, $0x21
	sti
	mov $0x510, %dx
	mov $1, %al
	out %al, (%dx)
idle:
	hlt
	jmp idle
handler:
	mov $0x20, %al
	out %al, $0x20
	mov $0x501, %dx
	mov $0x55, %al
	out %al, (%dx)
	hlt
