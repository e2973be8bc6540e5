/* SPDX-License-Identifier: MIT */
/* The zero page the loader passed, copied at entry (the loader's low memory is reused later). */
#include "guest.h"

uint8_t boot_params[4096];
uint64_t boot_params_gpa;

unsigned e820_count(void)
{
	unsigned n = bp_u8(BP_E820_ENTRIES);

	return n > E820_MAX ? E820_MAX : n;
}

const struct e820_entry *e820_get(unsigned i)
{
	return (const struct e820_entry *)(boot_params + BP_E820_TABLE + i * sizeof(struct e820_entry));
}

bool e820_is_ram(uint64_t addr, uint64_t len)
{
	for (unsigned i = 0; i < e820_count(); i++) {
		const struct e820_entry *e = e820_get(i);
		if (e->type == E820_RAM && addr >= e->addr && addr - e->addr <= e->size &&
		    len <= e->size - (addr - e->addr))
			return true;
	}
	return false;
}
