/* SPDX-License-Identifier: MIT */
/*
 * Linux x86 direct boot and the platform tables the guest reads. Implemented in vmm/x86/.
 * Call order in the VMM: x86_load_linux() and x86_write_firmware_tables() after guest RAM exists and
 * before any vCPU runs; for every vCPU x86_setup_vcpu(); for the BSP also x86_setup_boot_regs().
 * Every failure logs one line naming the object (kernel path, initrd path, ...) and returns -1.
 */
#ifndef KITE_BOOT_H
#define KITE_BOOT_H

#include <stdint.h>

struct vm;

struct boot_info {
	uint64_t entry;        /* 64-bit entry point (RIP) */
	uint64_t boot_params;  /* GPA of the zero page (RSI at entry) */
	uint64_t cr3;          /* identity-mapped boot page tables (U/S set at every level) */
	uint64_t gdt;          /* GPA of the boot GDT */
	uint16_t gdt_limit;
};

/* Load cfg->kernel (bzImage or ELF vmlinux), cfg->initrd and vm->cmdline (the board built it from
 * cfg->cmdline and the virtio-mmio devices); build zero page, e820,
 * boot GDT and page tables. */
int x86_load_linux(struct vm *vm, struct boot_info *bi);
/* MP table and ACPI (RSDP, XSDT, MADT, FADT, DSDT) describing vm->ncpus CPUs and the IOAPIC. */
int x86_write_firmware_tables(struct vm *vm);
/* CPUID (topology, APIC id = index, TSC frequency leaves) and MSRs for one vCPU. */
int x86_setup_vcpu(struct vm *vm, int vcpu_fd, unsigned index);
/* Long-mode registers of the boot CPU for the Linux 64-bit entry. */
int x86_setup_boot_regs(struct vm *vm, int vcpu_fd, const struct boot_info *bi);

#endif
