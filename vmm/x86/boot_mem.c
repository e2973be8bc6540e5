/* SPDX-License-Identifier: MIT */
/* Boot GDT and identity-mapped boot page tables in low guest memory (see kite/x86/layout.h). */
#include <string.h>

#include "kite/log.h"
#include "kite/vm.h"
#include "kite/x86/layout.h"
#include "kite/x86/loader.h"

#define PTE_P   (1ULL << 0)
#define PTE_RW  (1ULL << 1)
#define PTE_US  (1ULL << 2)   /* set at every level: kvm-pvm native mode needs it */
#define PTE_PS  (1ULL << 7)
#define PAGE_2M 0x200000ULL

int x86_write_boot_gdt(struct vm *vm, uint16_t *limit)
{
	static const uint64_t gdt[] = {
		0,                       /* 0x00 null */
		0,                       /* 0x08 unused */
		0x00af9b000000ffffULL,   /* 0x10 __BOOT_CS: 64-bit code, DPL 0 */
		0x00cf93000000ffffULL,   /* 0x18 __BOOT_DS: flat data */
		0x00008b0000000067ULL,   /* 0x20 TSS (busy, 64-bit: two slots), base 0 */
		0,
	};
	void *p = vm_gpa(vm, KITE_X86_BOOT_GDT, sizeof(gdt));

	if (!p) {
		log_err("vm: boot GDT at 0x%llx is not guest RAM", (unsigned long long)KITE_X86_BOOT_GDT);
		return -1;
	}
	memcpy(p, gdt, sizeof(gdt));
	*limit = sizeof(gdt) - 1;
	return 0;
}

int x86_write_boot_page_tables(struct vm *vm, uint64_t *cr3)
{
	uint64_t *pml4 = vm_gpa(vm, KITE_X86_PML4, 0x1000);
	uint64_t *pdpt = vm_gpa(vm, KITE_X86_PDPT, 0x1000);
	uint64_t *pd = vm_gpa(vm, KITE_X86_PD, 4 * 0x1000);
	const uint64_t flags = PTE_P | PTE_RW | PTE_US;

	if (!pml4 || !pdpt || !pd) {
		log_err("vm: boot page tables at 0x%llx are not guest RAM", (unsigned long long)KITE_X86_PML4);
		return -1;
	}
	memset(pml4, 0, 0x1000);
	memset(pdpt, 0, 0x1000);
	pml4[0] = KITE_X86_PDPT | flags;
	for (unsigned i = 0; i < 4; i++)
		pdpt[i] = (KITE_X86_PD + i * 0x1000ULL) | flags;
	for (unsigned i = 0; i < 4 * 512; i++)
		pd[i] = (i * PAGE_2M) | flags | PTE_PS;
	*cr3 = KITE_X86_PML4;
	return 0;
}
