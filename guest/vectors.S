/* SPDX-License-Identifier: MIT */
/* Interrupt entry stubs (16 bytes each, all 256 vectors), the common save/restore path, safe_rdmsr. */

	.text
	.code64
	.balign	16
	.globl	isr_stubs
isr_stubs:
	vector = 0
	.rept	256
	.balign	16
	.if	!(vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 || vector == 29 || vector == 30)
	pushq	$0		/* no error code from the CPU: keep the frame shape */
	.endif
	pushq	$vector
	jmp	isr_common
	vector = vector + 1
	.endr

isr_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	cld
	movq	%rsp, %rdi
	call	isr_dispatch
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp	/* vector, error code */
	iretq

/* int safe_rdmsr(uint32_t msr, uint64_t *val): a #GP at rdmsr_insn resumes at rdmsr_fault. */
	.globl	safe_rdmsr, rdmsr_insn, rdmsr_fault
safe_rdmsr:
	movl	%edi, %ecx
rdmsr_insn:
	rdmsr
	shlq	$32, %rdx
	movl	%eax, %eax
	orq	%rdx, %rax
	movq	%rax, (%rsi)
	xorl	%eax, %eax
	ret
rdmsr_fault:
	movl	$-1, %eax
	ret
