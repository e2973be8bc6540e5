/* SPDX-License-Identifier: MIT */
/* Constants shared by the guest's assembly and C: selectors, control bits, fixed addresses. */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

#define GUEST_LOAD_ADDR	0x100000	/* protected-mode image (code32_start, ELF PT_LOAD) */
#define TRAMP_BASE	0x7000		/* AP real-mode trampoline page (kite keeps 0x1000-0x7FFF free) */

#define SEL_CODE32	0x08
#define SEL_CODE64	0x10
#define SEL_DATA	0x18

#define CR0_PE		0x00000001
#define CR0_PG		0x80000000
#define CR4_PAE		0x00000020
#define MSR_EFER	0xc0000080
#define EFER_LME	0x00000100

#define PTE_TABLE	0x7	/* present, writable, user (U/S at every level: kvm-pvm native mode) */
#define PTE_LARGE	0x87	/* + 2 MiB page */
#define PTE_PWT		0x8
#define PTE_PCD		0x10

#define ENTRY_PVH	18	/* kmain's entry kind for the PVH entry (32 and 64: boot protocol) */

#define GUEST_RAM_MAPPED	0x40000000ULL	/* own identity map: RAM below 1 GiB (+ IOAPIC, LAPIC) */

#define GUEST_MAX_CPUS	16
#define GUEST_STACK_SIZE	8192

#endif
