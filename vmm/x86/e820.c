/* SPDX-License-Identifier: MIT */
/* The guest's e820 map, derived from the RAM regions actually registered with KVM. */
#include "kite/guest_mem.h"
#include "kite/vm.h"
#include "kite/x86/e820.h"
#include "kite/x86/layout.h"

static int add(struct e820_entry *tab, unsigned max, unsigned *n, uint64_t addr, uint64_t end, uint32_t type)
{
	if (end <= addr)
		return 0;
	/* merge with the previous entry when contiguous and of the same type */
	if (*n > 0 && tab[*n - 1].type == type && tab[*n - 1].addr + tab[*n - 1].size == addr) {
		tab[*n - 1].size += end - addr;
		return 0;
	}
	if (*n >= max)
		return -1;
	tab[*n].addr = addr;
	tab[*n].size = end - addr;
	tab[*n].type = type;
	(*n)++;
	return 0;
}

/* RAM [a, e) minus the MMIO hole. */
static int add_ram(struct e820_entry *tab, unsigned max, unsigned *n, uint64_t a, uint64_t e)
{
	if (a < KITE_MMIO_HOLE_START && add(tab, max, n, a, e < KITE_MMIO_HOLE_START ? e : KITE_MMIO_HOLE_START, E820_RAM))
		return -1;
	if (e > KITE_MMIO_HOLE_END)
		return add(tab, max, n, a > KITE_MMIO_HOLE_END ? a : KITE_MMIO_HOLE_END, e, E820_RAM);
	return 0;
}

int x86_build_e820(const struct guest_mem *gm, struct e820_entry *tab, unsigned max)
{
	const struct gm_region *order[GM_MAX_REGIONS];
	unsigned nr = gm->nr < GM_MAX_REGIONS ? gm->nr : GM_MAX_REGIONS;
	unsigned n = 0;
	bool bios_done = false;

	/* regions sorted by address (insertion sort: at most 32) */
	for (unsigned i = 0; i < nr; i++) {
		unsigned j = i;
		while (j > 0 && order[j - 1]->gpa > gm->r[i].gpa) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = &gm->r[i];
	}
	for (unsigned i = 0; i < nr; i++) {
		uint64_t a = order[i]->gpa, e = a + order[i]->size;

		if (e <= a)
			continue;
		if (a < KITE_X86_BIOS_END) {
			/* low memory: usable up to the EBDA, the BIOS area reserved */
			if (a < KITE_X86_LOW_USABLE_END &&
			    add(tab, max, &n, a, e < KITE_X86_LOW_USABLE_END ? e : KITE_X86_LOW_USABLE_END, E820_RAM))
				return -1;
			if (!bios_done && e > KITE_X86_LOW_USABLE_END) {
				uint64_t ra = a > KITE_X86_LOW_USABLE_END ? a : KITE_X86_LOW_USABLE_END;
				if (add(tab, max, &n, ra, KITE_X86_BIOS_END, E820_RESERVED))
					return -1;
				bios_done = true;
			}
			if (e <= KITE_X86_BIOS_END)
				continue;
			a = KITE_X86_BIOS_END;
		}
		if (add_ram(tab, max, &n, a, e))
			return -1;
	}
	return (int)n;
}
