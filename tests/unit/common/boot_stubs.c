/* SPDX-License-Identifier: MIT */
/*
 * Stand-ins for the x86 boot entry points of include/kite/boot.h, for unit tests that link the VMM
 * core without vmm/x86/. The kite binary always links the real ones.
 */
#include "kite/boot.h"
#include "kite/log.h"

__attribute__((weak)) int x86_load_linux(struct vm *vm, struct boot_info *bi)
{
	(void)vm;
	(void)bi;
	log_err("boot: test stub: the x86 Linux loader (vmm/x86)");
	return -1;
}

__attribute__((weak)) int x86_write_firmware_tables(struct vm *vm)
{
	(void)vm;
	log_err("boot: test stub: the x86 firmware tables (vmm/x86)");
	return -1;
}

__attribute__((weak)) int x86_setup_vcpu(struct vm *vm, int vcpu_fd, unsigned index)
{
	(void)vm;
	(void)vcpu_fd;
	(void)index;
	log_err("boot: test stub: x86 vCPU setup (vmm/x86)");
	return -1;
}

__attribute__((weak)) int x86_setup_boot_regs(struct vm *vm, int vcpu_fd, const struct boot_info *bi)
{
	(void)vm;
	(void)vcpu_fd;
	(void)bi;
	log_err("boot: test stub: x86 boot registers (vmm/x86)");
	return -1;
}
