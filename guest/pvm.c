/* SPDX-License-Identifier: MIT */
/*
 * kvm-pvm native CPL0 mode: the only PVM-specific code of the guest. On a kvm-pvm host MSR
 * 0x4b564d11 reads "PVM" (0x4d5650); writing the GPA of a zeroed page to MSR 0x4b564d10 registers
 * it as the vCPU's PV cell and CPL0 code then runs natively instead of through KVM's instruction
 * emulator (needs U/S at every page-table level, which paging_init() sets). Elsewhere the rdmsr
 * faults (#GP, caught by safe_rdmsr) or reads something else, and nothing is done.
 */
#include "guest.h"

#define MSR_PVM_SIGNATURE	0x4b564d11
#define MSR_PVM_CELL		0x4b564d10
#define PVM_SIGNATURE		0x4d5650

static uint8_t pv_cell[4096] __attribute__((aligned(4096)));
static bool native_on;

bool pvm_native_active(void)
{
	return native_on;
}

bool pvm_detect(void)
{
	uint64_t v;

	return safe_rdmsr(MSR_PVM_SIGNATURE, &v) == 0 && v == PVM_SIGNATURE;
}

bool pvm_enable_native(void)
{
	if (!pvm_detect())
		return false;
	memset(pv_cell, 0, sizeof(pv_cell));
	wrmsr(MSR_PVM_CELL, (uint64_t)(uintptr_t)pv_cell);	/* page aligned, flags (bits 0-6) 0 */
	native_on = true;
	return true;
}
