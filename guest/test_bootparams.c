/* SPDX-License-Identifier: MIT */
/*
 * bootparams: what the loader told us in the zero page. e820: at least one entry, sorted, not
 * overlapping, usable RAM at 1 MiB covering the image, usable total within 2 MiB below
 * kite.expect_mem (MiB); setup header magic; loader type set; command line within cmdline_size;
 * initrd inside usable RAM, below initrd_addr_max, size = kite.expect_initrd_size and FNV-1a =
 * kite.expect_initrd_fnv when given. Prints what it found so the test can check the numbers too.
 */
#include "guest.h"

#define MIB (1024ULL * 1024)

extern uint8_t _start_image[], _end[];

static void check_e820(void)
{
	unsigned n = e820_count();
	uint64_t usable = 0, prev_end = 0;

	if (!n)
		guest_fail(GUEST_EXIT_CHECK, "e820 table is empty");
	for (unsigned i = 0; i < n; i++) {
		const struct e820_entry *e = e820_get(i);
		guest_printf("bootparams: e820 %u: [0x%lx, 0x%lx) type %u\n", i, e->addr, e->addr + e->size, e->type);
		if (!e->size || e->addr + e->size < e->addr)
			guest_fail(GUEST_EXIT_CHECK, "e820 entry %u is empty or wraps", i);
		if (i && e->addr < prev_end)
			guest_fail(GUEST_EXIT_CHECK, "e820 entry %u is unsorted or overlaps the previous one", i);
		prev_end = e->addr + e->size;
		if (e->type == E820_RAM)
			usable += e->size;
	}
	uint64_t img = (uint64_t)(uintptr_t)_start_image, img_len = (uint64_t)(_end - _start_image);
	if (!e820_is_ram(img, img_len))
		guest_fail(GUEST_EXIT_CHECK, "the guest image [0x%lx, +0x%lx) is not in usable RAM", img, img_len);
	guest_printf("bootparams: e820 usable RAM %lu KiB in %u entries\n", usable / 1024, n);
	uint64_t expect = cmdline_u64("kite.expect_mem", 0);
	if (expect && (usable > expect * MIB || usable + 2 * MIB < expect * MIB))
		guest_fail(GUEST_EXIT_CHECK, "usable RAM %lu KiB does not match %lu MiB", usable / 1024, expect);
}

static void check_initrd(void)
{
	uint64_t addr = bp_u32(BP_RAMDISK_IMAGE) | ((uint64_t)bp_u32(BP_EXT_RAMDISK_IMAGE) << 32);
	uint64_t size = bp_u32(BP_RAMDISK_SIZE) | ((uint64_t)bp_u32(BP_EXT_RAMDISK_SIZE) << 32);
	uint64_t want_size = cmdline_u64("kite.expect_initrd_size", ~0ULL);
	uint64_t want_fnv = cmdline_u64("kite.expect_initrd_fnv", ~0ULL);

	if (!size) {
		guest_printf("bootparams: no initrd\n");
		if (want_size != ~0ULL && want_size)
			guest_fail(GUEST_EXIT_CHECK, "expected an initrd of %lu bytes, got none", want_size);
		return;
	}
	if (!e820_is_ram(addr, size))
		guest_fail(GUEST_EXIT_CHECK, "initrd [0x%lx, +%lu) is not inside usable RAM", addr, size);
	if (addr + size > 0x38000000ULL)
		guest_fail(GUEST_EXIT_CHECK, "initrd [0x%lx, +%lu) ends above initrd_addr_max 0x37ffffff", addr, size);
	if (addr + size > GUEST_RAM_MAPPED)
		guest_fail(GUEST_EXIT_CHECK, "initrd at 0x%lx is outside the guest's identity map", addr);
	uint64_t img = (uint64_t)(uintptr_t)_start_image, img_end = (uint64_t)(uintptr_t)_end;
	if (addr < img_end && addr + size > img)
		guest_fail(GUEST_EXIT_CHECK, "initrd overlaps the guest image");
	uint32_t fnv = fnv1a32((const void *)(uintptr_t)addr, size, 2166136261u);
	guest_printf("bootparams: initrd at 0x%lx size %lu fnv1a 0x%08x\n", addr, size, fnv);
	if (want_size != ~0ULL && want_size != size)
		guest_fail(GUEST_EXIT_CHECK, "initrd size %lu, expected %lu", size, want_size);
	if (want_fnv != ~0ULL && want_fnv != fnv)
		guest_fail(GUEST_EXIT_CHECK, "initrd fnv1a 0x%08x, expected 0x%08lx", fnv, want_fnv);
}

void test_bootparams(void)
{
	if (memcmp(boot_params + BP_HDR_MAGIC, "HdrS", 4))
		guest_printf("bootparams: no HdrS in the zero page (loader did not copy a header)\n");
	else
		guest_printf("bootparams: protocol %u.%02u in the zero page\n", boot_params[BP_VERSION + 1],
			     boot_params[BP_VERSION]);
	uint8_t loader = bp_u8(BP_TYPE_OF_LOADER);
	guest_printf("bootparams: type_of_loader 0x%02x loadflags 0x%02x\n", loader, bp_u8(BP_LOADFLAGS));
	if (!loader && bp_u32(BP_CMD_LINE_PTR) && !memcmp(boot_params + BP_HDR_MAGIC, "HdrS", 4))
		guest_fail(GUEST_EXIT_CHECK, "type_of_loader is 0 (the loader must set it)");
	size_t clen = strlen(cmdline_text());
	uint32_t csize = bp_u32(BP_CMDLINE_SIZE);
	guest_printf("bootparams: cmdline %lu bytes, cmdline_size %u\n", (uint64_t)clen, csize);
	if (!clen)
		guest_fail(GUEST_EXIT_CHECK, "empty command line");
	if (csize && clen > csize)
		guest_fail(GUEST_EXIT_CHECK, "command line longer than cmdline_size");
	check_e820();
	check_initrd();
}
