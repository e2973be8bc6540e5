/* SPDX-License-Identifier: MIT */
/* x86_write_firmware_tables(): the MP table and ACPI tables in the BIOS area (see kite/x86/layout.h).
 * The GSI routing that makes the in-kernel irqchip match them (kite/x86/irq.h) is installed by
 * vmm/kvm_irq.c when the VM is created. */
#include "kite/boot.h"
#include "kite/log.h"
#include "kite/vm.h"
#include "kite/x86/acpi.h"
#include "kite/x86/layout.h"
#include "kite/x86/mptable.h"

int x86_write_firmware_tables(struct vm *vm)
{
	size_t mp_cap = KITE_X86_MPTABLE_END - KITE_X86_MPTABLE_BASE;
	size_t acpi_cap = KITE_X86_ACPI_END - KITE_X86_ACPI_BASE;
	void *mp = vm_gpa(vm, KITE_X86_MPTABLE_BASE, mp_cap);
	void *acpi = vm_gpa(vm, KITE_X86_ACPI_BASE, acpi_cap);
	struct x86_acpi_devices devs;

	if (!mp || !acpi) {
		log_err("vm: BIOS area 0x%llx-0x%llx is not guest RAM", (unsigned long long)KITE_X86_ACPI_BASE,
			(unsigned long long)KITE_X86_MPTABLE_END);
		return -1;
	}
	if (!x86_build_mptable(mp, mp_cap, KITE_X86_MPTABLE_BASE, vm->ncpus)) {
		log_err("vm: cannot build the MP table for %u CPUs", vm->ncpus);
		return -1;
	}
	x86_acpi_find_devices(vm, &devs);
	if (!x86_build_acpi_devs(acpi, acpi_cap, KITE_X86_ACPI_BASE, vm->ncpus, &devs)) {
		log_err("vm: cannot build the ACPI tables for %u CPUs", vm->ncpus);
		return -1;
	}
	return 0;
}
