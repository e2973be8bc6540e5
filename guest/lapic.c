/* SPDX-License-Identifier: MIT */
/* Local APIC in xAPIC mode at its MMIO page. */
#include "guest.h"

#define LAPIC_ID	0x020
#define LAPIC_EOI	0x0b0
#define LAPIC_SVR	0x0f0
#define LAPIC_ICR_LO	0x300
#define LAPIC_ICR_HI	0x310
#define ICR_PENDING	(1u << 12)
#define MSR_APIC_BASE	0x1b

uint32_t lapic_read(unsigned reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}

void lapic_write(unsigned reg, uint32_t v)
{
	mmio_write32(LAPIC_BASE + reg, v);
}

void lapic_enable(void)
{
	uint64_t base;

	/* Globally enabled, at the default address (firmware may have left it off). */
	if (!safe_rdmsr(MSR_APIC_BASE, &base) && (!(base & (1u << 11)) || (base & ~0xfffULL) != LAPIC_BASE))
		wrmsr(MSR_APIC_BASE, (base & 0xfff) | LAPIC_BASE | (1u << 11));
	lapic_write(LAPIC_SVR, 0x100 | 0xff);	/* software enable, spurious vector 0xff */
}

uint32_t lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

static void icr_send(uint32_t apic_id, uint32_t lo)
{
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, lo);
	for (unsigned i = 0; i < 100000 && (lapic_read(LAPIC_ICR_LO) & ICR_PENDING); i++)
		cpu_relax();
}

static void short_delay(unsigned n)
{
	for (volatile unsigned i = 0; i < n; i++)
		cpu_relax();
}

void lapic_start_ap(uint32_t apic_id, uint8_t vector)
{
	icr_send(apic_id, 0x00004500);		/* INIT, level assert */
	short_delay(200);
	icr_send(apic_id, 0x00004600 | vector);	/* STARTUP */
	short_delay(50);
	icr_send(apic_id, 0x00004600 | vector);	/* second STARTUP (ignored if already running) */
}

void require_interrupts(void)
{
	if (pvm_native_active())
		guest_fail(GUEST_EXIT_USAGE, "interrupt-driven test: kvm-pvm native mode delivers no interrupts, "
			   "run it without kite.native=1");
}
