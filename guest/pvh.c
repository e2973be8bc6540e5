/* SPDX-License-Identifier: MIT */
/*
 * PVH boot (QEMU -kernel with the ELF): turn the hvm_start_info the loader passed into the zero
 * page the rest of the guest reads (e820 from the memory map, cmdline, first module as initrd,
 * RSDP). type_of_loader stays 0: PVH has no such field.
 */
#include "guest.h"

#define HVM_START_MAGIC	0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;		/* version >= 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
} __attribute__((packed));

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
} __attribute__((packed));

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
} __attribute__((packed));

static void put32(unsigned off, uint32_t v) { memcpy(boot_params + off, &v, 4); }
static void put64(unsigned off, uint64_t v) { memcpy(boot_params + off, &v, 8); }

void pvh_to_boot_params(uint64_t start_info)
{
	const struct hvm_start_info *si = (const void *)(uintptr_t)start_info;

	memset(boot_params, 0, sizeof(boot_params));
	if (!start_info || start_info >= 0x40000000 || si->magic != HVM_START_MAGIC)
		guest_fail(GUEST_EXIT_CHECK, "PVH entry without a valid hvm_start_info (0x%lx)", start_info);
	if (si->cmdline_paddr < 0x40000000) {
		put32(BP_CMD_LINE_PTR, (uint32_t)si->cmdline_paddr);
		put32(BP_CMDLINE_SIZE, 2047);
	}
	put64(BP_ACPI_RSDP, si->rsdp_paddr);
	if (si->nr_modules && si->modlist_paddr && si->modlist_paddr < 0x40000000) {
		const struct hvm_modlist_entry *m = (const void *)(uintptr_t)si->modlist_paddr;
		put32(BP_RAMDISK_IMAGE, (uint32_t)m->paddr);
		put32(BP_EXT_RAMDISK_IMAGE, (uint32_t)(m->paddr >> 32));
		put32(BP_RAMDISK_SIZE, (uint32_t)m->size);
		put32(BP_EXT_RAMDISK_SIZE, (uint32_t)(m->size >> 32));
	}
	unsigned n = 0;
	if (si->version >= 1 && si->memmap_paddr && si->memmap_paddr < 0x40000000) {
		const struct hvm_memmap_entry *e = (const void *)(uintptr_t)si->memmap_paddr;
		for (unsigned i = 0; i < si->memmap_entries && n < E820_MAX; i++, n++) {
			struct e820_entry x = { e[i].addr, e[i].size, e[i].type };
			memcpy(boot_params + BP_E820_TABLE + n * sizeof(x), &x, sizeof(x));
		}
	}
	boot_params[BP_E820_ENTRIES] = (uint8_t)n;
}
