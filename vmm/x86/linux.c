/* SPDX-License-Identifier: MIT */
/* x86_load_linux(): kernel, initrd, command line, zero page, e820, boot GDT and page tables. */
#include <stdlib.h>
#include <string.h>

#include "kite/boot.h"
#include "kite/log.h"
#include "kite/vm.h"
#include "kite/x86/bootparam.h"
#include "kite/x86/e820.h"
#include "kite/x86/layout.h"
#include "kite/x86/loader.h"

#define MIN_LOW_RAM 0x200000ULL  /* below this no kernel fits at 1 MiB */

uint64_t x86_low_ram_end(const struct vm *vm)
{
	uint64_t end = 0;
	int grew = 1;

	/* follow contiguous regions from GPA 0, stopping at the MMIO hole */
	while (grew) {
		grew = 0;
		for (unsigned i = 0; i < vm->mem.nr && i < GM_MAX_REGIONS; i++) {
			const struct gm_region *r = &vm->mem.r[i];
			if (r->gpa == end && r->size) {
				end += r->size;
				grew = 1;
			}
		}
	}
	return end > KITE_MMIO_HOLE_START ? KITE_MMIO_HOLE_START : end;
}

int x86_load_cmdline(struct vm *vm, const char *cmdline, const struct x86_kernel *k,
		     struct boot_params *bp)
{
	size_t n = cmdline ? strlen(cmdline) : 0;

	if (n > k->cmdline_max || n + 1 > KITE_X86_CMDLINE_MAX) {
		log_err("cmdline: %zu bytes is longer than the kernel accepts (%llu)", n,
			(unsigned long long)(k->cmdline_max < KITE_X86_CMDLINE_MAX - 1 ?
					     k->cmdline_max : KITE_X86_CMDLINE_MAX - 1));
		return -1;
	}
	char *dst = vm_gpa(vm, KITE_X86_CMDLINE, n + 1);
	if (!dst) {
		log_err("cmdline: 0x%llx is not guest RAM", (unsigned long long)KITE_X86_CMDLINE);
		return -1;
	}
	if (n)
		memcpy(dst, cmdline, n);
	dst[n] = 0;
	bp->hdr.cmd_line_ptr = (uint32_t)KITE_X86_CMDLINE;
	bp->ext_cmd_line_ptr = (uint32_t)(KITE_X86_CMDLINE >> 32);
	return 0;
}

/* BIOS data area words Linux reads to find the EBDA and the base memory size */
static void write_bda(struct vm *vm)
{
	uint16_t seg = (uint16_t)(KITE_X86_EBDA >> 4), kb = (uint16_t)(KITE_X86_EBDA >> 10);
	void *ebda = vm_gpa(vm, KITE_X86_BDA_EBDA_SEG, 2);
	void *basemem = vm_gpa(vm, KITE_X86_BDA_BASE_MEM_KB, 2);

	if (ebda)
		memcpy(ebda, &seg, 2);
	if (basemem)
		memcpy(basemem, &kb, 2);   /* 0x413 is not 2-byte aligned */
}

int x86_load_linux(struct vm *vm, struct boot_info *bi)
{
	const struct vm_config *cfg = vm->cfg;
	uint64_t low_end = x86_low_ram_end(vm);
	struct x86_kernel k;
	uint8_t *img = NULL;
	size_t len = 0;
	int ret = -1;

	if (!cfg || !cfg->kernel) {
		log_err("vm: no kernel given");
		return -1;
	}
	if (low_end < MIN_LOW_RAM) {
		log_err("kernel %s: guest has %llu KiB of low RAM, at least %llu needed: memory too small",
			cfg->kernel, (unsigned long long)(low_end >> 10), MIN_LOW_RAM >> 10);
		return -1;
	}
	struct boot_params *bp = calloc(1, sizeof(*bp));
	if (!bp) {
		log_err("kernel %s: out of memory for the zero page", cfg->kernel);
		return -1;
	}
	if (x86_read_file("kernel", cfg->kernel, low_end - KITE_X86_KERNEL_ADDR, &img, &len))
		goto out;
	memset(&k, 0, sizeof(k));
	if (x86_is_elf(img, len))
		ret = x86_load_elf(vm, cfg->kernel, img, len, bp, &k);
	else
		ret = x86_load_bzimage(vm, cfg->kernel, img, len, bp, &k);
	if (ret)
		goto out;
	ret = -1;
	if (x86_load_cmdline(vm, vm->cmdline, &k, bp))
		goto out;
	if (cfg->initrd && x86_load_initrd(vm, cfg->initrd, &k, bp))
		goto out;

	int n = x86_build_e820(&vm->mem, bp->e820_table, BP_E820_MAX);
	if (n <= 0) {
		log_err("vm: cannot describe guest RAM in e820 (%u regions)", vm->mem.nr);
		goto out;
	}
	bp->e820_entries = (uint8_t)n;
	bp->acpi_rsdp_addr = KITE_X86_ACPI_BASE;
	write_bda(vm);

	if (x86_write_boot_gdt(vm, &bi->gdt_limit) || x86_write_boot_page_tables(vm, &bi->cr3))
		goto out;
	void *zp = vm_gpa(vm, KITE_X86_ZERO_PAGE, sizeof(*bp));
	if (!zp) {
		log_err("vm: zero page at 0x%llx is not guest RAM", (unsigned long long)KITE_X86_ZERO_PAGE);
		goto out;
	}
	memcpy(zp, bp, sizeof(*bp));
	bi->entry = k.entry;
	bi->boot_params = KITE_X86_ZERO_PAGE;
	bi->gdt = KITE_X86_BOOT_GDT;
	ret = 0;
out:
	free(img);
	free(bp);
	return ret;
}
