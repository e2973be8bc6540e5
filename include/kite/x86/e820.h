/* SPDX-License-Identifier: MIT */
/* The e820 memory map kite gives the guest (boot_params.e820_table). */
#ifndef KITE_X86_E820_H
#define KITE_X86_E820_H

#include <stdint.h>

#define E820_RAM       1
#define E820_RESERVED  2
#define E820_ACPI      3

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

struct guest_mem;

/* Fill at most max entries, sorted by address and non-overlapping, from the RAM regions in gm:
 * [0, 0x9fc00) RAM, [0x9fc00, 1 MiB) reserved, the rest of every region RAM. Nothing in the MMIO
 * hole is reported as RAM. Returns the number of entries or -1 if they do not fit in max. */
int x86_build_e820(const struct guest_mem *gm, struct e820_entry *tab, unsigned max);

#endif
