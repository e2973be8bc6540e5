/* SPDX-License-Identifier: MIT */
/*
 * Real-mode setup sectors of the test guest's bzImage: the boot sector (unused), the Linux setup
 * header (protocol 2.15) and a small stub run by loaders that enter at setup + 0x200 in real mode
 * (QEMU -kernel, GRUB16): it builds a fresh zero page, copies the header into it, fills the e820
 * table with BIOS int 0x15/E820, enables A20, enters 32-bit protected mode and jumps to
 * code32_start with ESI = zero page. mkbzimage.py patches setup_sects, syssize and init_size.
 */
#define ZP_OFF		0x5000	/* our zero page, inside the 0x8000 bytes every loader gives us */
#define STACK_TOP	0x8000
#define E820_MAX	128
#define SMAP		0x534d4150

	.code16
	.section .setup, "ax"
	.globl _start
_start:
	.org	0x1f1
hdr:
setup_sects:	.byte	0		/* patched */
root_flags:	.word	0
syssize:	.long	0		/* patched: 16-byte units of the protected-mode image */
ram_size:	.word	0
vid_mode:	.word	0xffff
root_dev:	.word	0
boot_flag:	.word	0xaa55
	/* 0x200: real-mode entry */
	.byte	0xeb, start_of_setup - 1f
1:
	.ascii	"HdrS"
version:	.word	0x020f
realmode_swtch:	.long	0
start_sys_seg:	.word	0x1000
kernel_version:	.word	kernel_version_str - 0x200
type_of_loader:	.byte	0
loadflags:	.byte	0x01		/* LOADED_HIGH */
setup_move_size: .word	0x8000
code32_start:	.long	0x100000
ramdisk_image:	.long	0
ramdisk_size:	.long	0
bootsect_kludge: .long	0
heap_end_ptr:	.word	0
ext_loader_ver:	.byte	0
ext_loader_type: .byte	0
cmd_line_ptr:	.long	0
initrd_addr_max: .long	0x37ffffff
kernel_alignment: .long	0x1000
relocatable_kernel: .byte 0
min_alignment:	.byte	12
xloadflags:	.word	0x0001		/* XLF_KERNEL_64: 64-bit entry at +0x200 */
cmdline_size:	.long	2047
hardware_subarch: .long	0
hardware_subarch_data: .quad 0
payload_offset:	.long	0
payload_length:	.long	0
setup_data:	.quad	0
pref_address:	.quad	0x100000
init_size:	.long	0		/* patched */
handover_offset: .long	0
kernel_info_offset: .long 0x10		/* kernel_info at image + 0x10 (head.S) */
hdr_end:
	.org	0x26c	/* fails to assemble if the header grew past its 2.15 size */

start_of_setup:
	cli
	cld
	/* The loader sets DS = ES = SS = our segment and CS = segment + 0x20; make CS = DS. */
	movw	%cs, %ax
	subw	$0x20, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	$STACK_TOP, %sp
	pushw	%ax
	pushw	$normalized
	lretw
normalized:
	/* fresh zero page with the (loader-updated) setup header */
	movw	$ZP_OFF, %di
	xorw	%ax, %ax
	movw	$2048, %cx
	rep stosw
	movw	$hdr, %si
	movw	$(ZP_OFF + 0x1f1), %di
	movw	$(hdr_end - hdr), %cx
	rep movsb

	/* e820 */
	movw	$(ZP_OFF + 0x2d0), %di
	xorl	%ebx, %ebx
	xorw	%bp, %bp
e820_next:
	movl	$0xe820, %eax
	movl	$SMAP, %edx
	movl	$20, %ecx
	int	$0x15
	jc	e820_done
	cmpl	$SMAP, %eax
	jne	e820_done
	cmpl	$20, %ecx
	jb	e820_skip
	movl	8(%di), %eax
	orl	12(%di), %eax
	jz	e820_skip		/* empty range */
	addw	$20, %di
	incw	%bp
	cmpw	$E820_MAX, %bp
	jae	e820_done
e820_skip:
	testl	%ebx, %ebx
	jnz	e820_next
e820_done:
	movw	%bp, %ax
	movb	%al, (ZP_OFF + 0x1e8)
	cli

	/* A20 through the fast gate */
	inb	$0x92, %al
	orb	$0x02, %al
	andb	$0xfe, %al
	outb	%al, $0x92

	/* linear addresses: ebx = segment base */
	xorl	%ebx, %ebx
	movw	%ds, %bx
	shll	$4, %ebx
	leal	gdt(%ebx), %eax
	movl	%eax, gdt_ptr + 2
	leal	ZP_OFF(%ebx), %esi
	movl	code32_start, %eax
	movl	%eax, pm_jump
	lgdtl	gdt_ptr

	movl	%cr0, %eax
	orl	$1, %eax
	movl	%eax, %cr0
	movw	$0x18, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	xorl	%ebx, %ebx
	xorl	%ebp, %ebp
	xorl	%edi, %edi
	ljmpl	*%cs:pm_jump

	.balign	8
gdt:
	.quad	0
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x10 __BOOT_CS */
	.quad	0x00cf92000000ffff	/* 0x18 __BOOT_DS */
gdt_end:
gdt_ptr:
	.word	gdt_end - gdt - 1
	.long	0
pm_jump:
	.long	0
	.word	0x10

kernel_version_str:
	.asciz	"kite-guest 0.1"
