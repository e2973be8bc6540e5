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
	 * Identity map of 4 GiB in 2 MiB pages; U/S at every level; the MMIO hole uncached. The tables
	 * may be the live ones (32-bit entry path): each entry is only ever rewritten with its final
	 * value, never cleared first.
	 */
	for (unsigned i = 0; i < 4 * 512; i++) {
		uint64_t addr = (uint64_t)i << 21;
		pd[i] = addr | PTE_LARGE | (addr >= 0xc0000000ULL ? PTE_PCD | PTE_PWT : 0);
	}
	for (unsigned i = 0; i < 512; i++)
		pdpt[i] = i < 4 ? ((uint64_t)(uintptr_t)&pd[i * 512] | PTE_TABLE) : 0;
	pml4[0] = (uint64_t)(uintptr_t)pdpt | PTE_TABLE;
	for (unsigned i = 1; i < 512; i++)
		pml4[i] = 0;
	__asm__ volatile("mov %0, %%cr3" : : "r"((uint64_t)(uintptr_t)pml4) : "memory");
}

void idt_init(void)
{
	for (unsigned v = 0; v < 256; v++) {
		uint64_t off = (uint64_t)(uintptr_t)(isr_stubs + 16 * v);
		idt[v] = (struct idt_gate){
			.off_lo = (uint16_t)off,
			.sel = SEL_CODE64,
			.type = 0x8e,	/* present, DPL 0, 64-bit interrupt gate */
			.off_mid = (uint16_t)(off >> 16),
			.off_hi = (uint32_t)(off >> 32),
		};
	}
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
