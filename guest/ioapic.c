/* SPDX-License-Identifier: MIT */
/* IOAPIC redirection entries (fixed delivery, physical destination, edge, active high). */
#include "guest.h"

#define IOREGSEL	0x00
#define IOWIN		0x10
#define IOAPIC_VER	0x01
#define REDIR_LO(pin)	(0x10 + 2 * (pin))
#define REDIR_HI(pin)	(0x11 + 2 * (pin))
#define REDIR_MASKED	(1u << 16)

static uint32_t ioapic_read(uint64_t base, uint32_t reg)
{
	mmio_write32(base + IOREGSEL, reg);
	return mmio_read32(base + IOWIN);
}

static void ioapic_write(uint64_t base, uint32_t reg, uint32_t v)
{
	mmio_write32(base + IOREGSEL, reg);
	mmio_write32(base + IOWIN, v);
}

unsigned ioapic_pins(uint64_t base)
{
	return ((ioapic_read(base, IOAPIC_VER) >> 16) & 0xff) + 1;
}

void ioapic_route(uint64_t base, unsigned pin, uint8_t vector, uint32_t apic_id)
{
	ioapic_write(base, REDIR_HI(pin), apic_id << 24);
	ioapic_write(base, REDIR_LO(pin), vector);
}

void ioapic_mask(uint64_t base, unsigned pin)
{
	ioapic_write(base, REDIR_LO(pin), REDIR_MASKED);
}
