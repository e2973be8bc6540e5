/* SPDX-License-Identifier: MIT */
/* The guest's own page tables, IDT and exception reporting; the legacy PIC is masked. */
#include "guest.h"

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
} __attribute__((packed));

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

extern uint64_t pml4[512], pdpt[512], pd[4 * 512];
extern const uint8_t isr_stubs[];
extern const uint8_t rdmsr_insn[], rdmsr_fault[];

static struct idt_gate idt[256] __attribute__((aligned(16)));
static irq_handler handlers[256];
static volatile uint64_t spurious;

void paging_init(void)
{
	/*
	 * Identity map, U/S at every level: the first GiB in 2 MiB pages (the image, low memory, the
	 * firmware tables, the initrd: initrd_addr_max keeps it below 896 MiB) and the two 2 MiB pages
	 * holding the IOAPIC and the LAPIC, uncached. Nothing else: each store in this loop is an
	 * emulated instruction on kvm-pvm, so the map stays small. The tables may be the live ones
	 * (32-bit entry path); what runs meanwhile only uses the first GiB, rewritten with final values.
	 */
	uint64_t *dst = pd, v = PTE_LARGE, n = 512;

	__asm__ volatile("1: mov %0, (%1); add $0x200000, %0; add $8, %1; dec %2; jnz 1b"
			 : "+r"(v), "+r"(dst), "+r"(n) : : "memory", "cc");
	memset(&pd[512], 0, 3 * 4096);
	pd[3 * 512 + (KITE_IOAPIC_GPA >> 21) % 512] = (KITE_IOAPIC_GPA & ~0x1fffffULL) | PTE_LARGE | PTE_PCD | PTE_PWT;
	pd[3 * 512 + (LAPIC_BASE >> 21) % 512] = (LAPIC_BASE & ~0x1fffffULL) | PTE_LARGE | PTE_PCD | PTE_PWT;
	memset(&pdpt[1], 0, 511 * 8);
	pdpt[0] = (uint64_t)(uintptr_t)&pd[0] | PTE_TABLE;
	pdpt[3] = (uint64_t)(uintptr_t)&pd[3 * 512] | PTE_TABLE;
	memset(&pml4[1], 0, 511 * 8);
	pml4[0] = (uint64_t)(uintptr_t)pdpt | PTE_TABLE;
	__asm__ volatile("mov %0, %%cr3" : : "r"((uint64_t)(uintptr_t)pml4) : "memory");
}

static void idt_set_gate(unsigned v)
{
	uint64_t off = (uint64_t)(uintptr_t)(isr_stubs + 16 * v);

	idt[v] = (struct idt_gate){
		.off_lo = (uint16_t)off,
		.sel = SEL_CODE64,
		.type = 0x8e,	/* present, DPL 0, 64-bit interrupt gate */
		.off_mid = (uint16_t)(off >> 16),
		.off_hi = (uint32_t)(off >> 32),
	};
}

void idt_init(void)
{
	/* Exceptions, the 8259 range, the timer and the spurious vector; the other gates stay not
	 * present (an interrupt there raises #NP, reported like any exception): fewer emulated stores. */
	for (unsigned v = 0; v <= TIMER_VECTOR_MAX; v++)
		idt_set_gate(v);
	idt_set_gate(0xff);
	idt_load();
}

void idt_load(void)
{
	struct desc_ptr d = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };

	__asm__ volatile("lidt %0" : : "m"(d));
}

void idt_break(void)
{
	struct desc_ptr d = { 0, 0 };

	__asm__ volatile("lidt %0" : : "m"(d));
}

void irq_set_handler(unsigned vector, irq_handler fn)
{
	handlers[vector & 0xff] = fn;
}

void pic_disable(void)
{
	/* Remap the 8259s to vectors 0x20-0x2f (away from exceptions), then mask every line. */
	outb(0x20, 0x11);
	outb(0xa0, 0x11);
	outb(0x21, 0x20);
	outb(0xa1, 0x28);
	outb(0x21, 0x04);
	outb(0xa1, 0x02);
	outb(0x21, 0x01);
	outb(0xa1, 0x01);
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

void isr_dispatch(struct irq_frame *f);
void isr_dispatch(struct irq_frame *f)
{
	uint64_t cr2;

	if (f->vector == 13 && f->rip == (uint64_t)(uintptr_t)rdmsr_insn) {
		f->rip = (uint64_t)(uintptr_t)rdmsr_fault;
		return;
	}
	if (handlers[f->vector]) {
		handlers[f->vector](f);
		return;
	}
	if (f->vector >= 0x20 && f->vector < 0x30) {
		spurious++;	/* stray 8259 interrupt: masked lines can still send IRQ 7/15 */
		return;
	}
	if (f->vector == 0xff) {
		spurious++;
		return;
	}
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	guest_fail(GUEST_EXIT_EXCEPTION, "unexpected exception %lu error 0x%lx at rip 0x%lx cr2 0x%lx",
		   f->vector, f->error, f->rip, cr2);
}
