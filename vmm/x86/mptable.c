/* SPDX-License-Identifier: MIT */
/*
 * MP Specification 1.4 tables: floating pointer, then the configuration table with one processor
 * entry per vCPU, the ISA bus, the IOAPIC, ISA IRQ 0-15 routing (IRQ0 -> pin 2, SCI level) and the
 * local interrupts (LINT0 ExtINT, LINT1 NMI).
 */
#include <string.h>

#include "kite/vm.h"
#include "kite/x86/layout.h"
#include "kite/x86/mptable.h"

#define MP_SPEC_REV     4
#define MP_APIC_VER     0x14
#define MP_IOAPIC_VER   0x11
#define MP_ISA_BUS      0
#define MP_IRQ_CONFORM  0x0000
#define MP_IRQ_HIGH_LEVEL 0x000d       /* polarity 01 active high, trigger 11 level */
#define MP_CPU_SIG      0x600          /* family 6 */
#define MP_CPU_FEATURES 0x201          /* FPU, APIC */

uint8_t x86_sum8(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s += *b++;
	return s;
}

size_t x86_build_mptable(void *buf, size_t cap, uint64_t gpa, unsigned ncpus)
{
	size_t nint = 16 + 2;   /* ExtINT on pin 0, 15 ISA IRQs, 2 local */
	size_t need = sizeof(struct mp_float) + sizeof(struct mp_config) +
		      ncpus * sizeof(struct mp_processor) + sizeof(struct mp_bus) +
		      sizeof(struct mp_ioapic) + nint * sizeof(struct mp_intsrc);
	uint8_t *b = buf;
	unsigned ioapic_id = KITE_X86_IOAPIC_ID(ncpus);

	if (ncpus == 0 || ncpus > KITE_MAX_VCPUS || need > cap || gpa + need > 0x100000000ULL)
		return 0;
	memset(buf, 0, need);

	struct mp_float *mpf = (struct mp_float *)b;
	struct mp_config *cfg = (struct mp_config *)(b + sizeof(*mpf));
	uint8_t *p = (uint8_t *)(cfg + 1);
	uint16_t entries = 0;

	for (unsigned i = 0; i < ncpus; i++) {
		struct mp_processor c = {
			.type = MP_ENTRY_PROCESSOR, .apic_id = (uint8_t)i, .apic_ver = MP_APIC_VER,
			.flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
			.signature = MP_CPU_SIG, .features = MP_CPU_FEATURES,
		};
		memcpy(p, &c, sizeof(c));
		p += sizeof(c);
		entries++;
	}
	struct mp_bus bus = { .type = MP_ENTRY_BUS, .bus_id = MP_ISA_BUS };
	memcpy(bus.bus_type, "ISA   ", 6);
	memcpy(p, &bus, sizeof(bus));
	p += sizeof(bus);
	entries++;

	struct mp_ioapic io = {
		.type = MP_ENTRY_IOAPIC, .apic_id = (uint8_t)ioapic_id, .apic_ver = MP_IOAPIC_VER,
		.flags = 1, .addr = (uint32_t)KITE_IOAPIC_ADDR,
	};
	memcpy(p, &io, sizeof(io));
	p += sizeof(io);
	entries++;

	/* 8259 through IOAPIC pin 0, then ISA IRQs; IRQ0 (PIT) arrives on pin 2, IRQ2 is the cascade */
	for (unsigned irq = 0; irq < 16; irq++) {
		struct mp_intsrc s = {
			.type = MP_ENTRY_IOINT, .irq_type = MP_INT_INT, .flags = MP_IRQ_CONFORM,
			.src_bus = MP_ISA_BUS, .src_irq = (uint8_t)irq, .dst_apic = (uint8_t)ioapic_id,
			.dst_pin = (uint8_t)irq,
		};
		if (irq == 2) {
			s.irq_type = MP_INT_EXTINT;
			s.src_irq = 0;
			s.dst_pin = 0;
		} else if (irq == 0) {
			s.dst_pin = 2;
		} else if (irq == KITE_ACPI_SCI_IRQ) {
			s.flags = MP_IRQ_HIGH_LEVEL;
		}
		memcpy(p, &s, sizeof(s));
		p += sizeof(s);
		entries++;
	}
	for (unsigned lint = 0; lint < 2; lint++) {
		struct mp_intsrc s = {
			.type = MP_ENTRY_LOCALINT, .irq_type = lint ? MP_INT_NMI : MP_INT_EXTINT,
			.flags = MP_IRQ_CONFORM, .src_bus = MP_ISA_BUS, .src_irq = 0,
			.dst_apic = 0xff, .dst_pin = (uint8_t)lint,
		};
		memcpy(p, &s, sizeof(s));
		p += sizeof(s);
		entries++;
	}

	cfg->signature = MP_CONFIG_SIG;
	cfg->length = (uint16_t)(p - (uint8_t *)cfg);
	cfg->spec_rev = MP_SPEC_REV;
	memcpy(cfg->oem, "KITE    ", 8);
	memcpy(cfg->product, "KITE VM     ", 12);
	cfg->entries = entries;
	cfg->lapic = (uint32_t)KITE_LAPIC_ADDR;
	cfg->checksum = (uint8_t)-x86_sum8(cfg, cfg->length);

	mpf->signature = MP_FLOAT_SIG;
	mpf->config = (uint32_t)(gpa + sizeof(*mpf));
	mpf->length = 1;
	mpf->spec_rev = MP_SPEC_REV;
	mpf->checksum = (uint8_t)-x86_sum8(mpf, sizeof(*mpf));
	return (size_t)(p - b);
}
