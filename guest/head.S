/* SPDX-License-Identifier: MIT */
/*
 * Entry points of the test guest, all in the first bytes of the image loaded at 1 MiB:
 *   +0x000 startup_32: Linux boot protocol 32-bit entry (code32_start), reached from the bzImage
 *          real-mode setup: flat 32-bit protected mode, paging off, ESI = boot_params.
 *   +0x010 kernel_info (boot protocol 2.15).
 *   +0x200 startup_64: Linux boot protocol 64-bit entry (ELF e_entry too): long mode, identity
 *          paging set up by the loader, RSI = boot_params.
 * Both end in start64_common on our own GDT, page tables and stack, then kmain(boot_params, bits).
 * Also here: the AP entry (ap_entry64) and the real-mode AP trampoline copied to TRAMP_BASE.
 */
#include "layout.h"

/* 32-bit protected mode -> long mode, shared by the boot CPU's 32-bit entry and the AP trampoline:
 * PAE on, CR3 = the identity map, EFER.LME set (paging is switched on by the caller). Clobbers
 * eax, ecx, edx. */
.macro pae_paging_lme
	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
.endm

	.section .head, "ax"
	.code32
	.globl startup_32
startup_32:
	jmp	startup_32_body

	.org	0x10
	.globl kernel_info
kernel_info:
	.ascii	"LToP"
	.long	16		/* size */
	.long	16		/* size_total */
	.long	0x01ffffff	/* setup_type_max */

	.org	0x200
	.code64
	.globl startup_64
startup_64:
	cli
	cld
	movl	$64, %ebp
	jmp	start64_common

	.code32
/* PVH entry (QEMU -kernel with an ELF): 32-bit, paging off, EBX = hvm_start_info. */
	.globl pvh_start32
pvh_start32:
	cli
	cld
	movl	%ebx, %esi
	movl	$ENTRY_PVH, %ebp
	jmp	1f
startup_32_body:
	cli
	cld
	movl	$32, %ebp
1:
	/* Identity map 4 GiB with 2 MiB pages, U/S at every level (the C side rebuilds the same). */
	movl	$pml4, %edi
	xorl	%eax, %eax
	movl	$(2 * 1024), %ecx	/* pml4 and pdpt are adjacent pages */
	rep stosl
	movl	$(pdpt + PTE_TABLE), pml4
	movl	$pdpt, %edi
	movl	$(pd + PTE_TABLE), %eax
	movl	$4, %ecx
1:	movl	%eax, (%edi)
	addl	$4096, %eax
	addl	$8, %edi
	loop	1b
	movl	$pd, %edi
	movl	$PTE_LARGE, %eax
	movl	$2048, %ecx
2:	movl	%eax, (%edi)
	movl	$0, 4(%edi)
	addl	$0x200000, %eax
	addl	$8, %edi
	loop	2b

	pae_paging_lme
	lgdt	gdt_desc
	movl	%cr0, %eax
	orl	$(CR0_PG | CR0_PE), %eax
	movl	%eax, %cr0
	ljmp	$SEL_CODE64, $start64_common

/* Xen PVH entry note: QEMU loads an ELF -kernel through it. */
	.pushsection .note.Xen, "a", @note
	.balign	4
	.long	4		/* name size */
	.long	4		/* descriptor size */
	.long	18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz	"Xen"
	.long	pvh_start32
	.popsection

	.text
	.code64
/* rsi = boot_params (hvm_start_info for PVH), ebp = entry kind (32, 64 or ENTRY_PVH) */
start64_common:
	lgdt	gdt_desc(%rip)
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	leaq	bsp_stack_top(%rip), %rsp
	pushq	$SEL_CODE64
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:	movq	%rsi, %r12
	movl	%ebp, %r13d
	leaq	__bss_start(%rip), %rdi
	leaq	__bss_end(%rip), %rcx
	subq	%rdi, %rcx
	shrq	$3, %rcx
	xorl	%eax, %eax
	rep stosq
	movq	%r12, %rdi
	movl	%r13d, %esi
	xorl	%ebp, %ebp
	call	kmain
3:	cli
	hlt
	jmp	3b

/* Application processors arrive here from the trampoline, in long mode on our page tables. */
	.globl ap_entry64
ap_entry64:
	lgdt	gdt_desc(%rip)
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	movq	ap_stack_top(%rip), %rsp
	xorl	%ebp, %ebp
	call	ap_main
4:	cli
	hlt
	jmp	4b

	.data
	.balign 16
	.globl gdt
gdt:
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08 flat 32-bit code */
	.quad	0x00af9a000000ffff	/* 0x10 64-bit code */
	.quad	0x00cf92000000ffff	/* 0x18 flat data */
gdt_end:
	.balign 8
	.word	0, 0, 0
gdt_desc:
	.word	gdt_end - gdt - 1
	.quad	gdt

/*
 * AP trampoline: copied to TRAMP_BASE (page aligned, below 1 MiB); a SIPI with vector
 * TRAMP_BASE >> 12 starts an AP at CS = TRAMP_BASE >> 4, IP = 0 in real mode.
 */
	.section .rodata
	.globl tramp_start, tramp_end
	.code16
tramp_start:
	cli
	cld
	lgdtl	%cs:(tramp_gdtr - tramp_start)
	movl	%cr0, %eax
	orl	$CR0_PE, %eax
	movl	%eax, %cr0
	ljmpl	$SEL_CODE32, $(TRAMP_BASE + (tramp32 - tramp_start))
	.code32
tramp32:
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	pae_paging_lme
	movl	%cr0, %eax
	orl	$(CR0_PG | CR0_PE), %eax
	movl	%eax, %cr0
	ljmp	$SEL_CODE64, $ap_entry64
	.balign 8
tramp_gdtr:
	.word	gdt_end - gdt - 1
	.long	gdt
tramp_end:
	.code64

/* Page tables (rebuilt in full by both entry paths, so not part of .bss) and the BSP stack. */
	.section .pgtables, "aw", @nobits
	.balign 4096
	.globl pml4, pdpt, pd
pml4:	.skip	4096
pdpt:	.skip	4096
pd:	.skip	4 * 4096

	.section .stacks, "aw", @nobits
	.balign 4096
bsp_stack:
	.skip	GUEST_STACK_SIZE
bsp_stack_top:
