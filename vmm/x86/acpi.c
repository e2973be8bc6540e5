/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables: RSDP (rev 2) -> XSDT -> MADT, FADT (rev 6) -> FACS, DSDT. Laid out one after the other
 * from the RSDP's address, each 16-byte aligned (the FACS 64-byte aligned).
 */
#include <string.h>

#include "kite/vm.h"
#include "kite/x86/acpi.h"
#include "kite/x86/layout.h"
#include "kite/x86/mptable.h"

#define OEM_ID       "KITE  "
#define OEM_TABLE_ID "KITEVM  "
#define CREATOR_ID   "KITE"
#define FACS_SIZE    64
#define GAS_SYSTEM_IO 1

struct madt_lapic { uint8_t type, len, uid, apic_id; uint32_t flags; } __attribute__((packed));
struct madt_ioapic { uint8_t type, len, id, reserved; uint32_t addr, gsi_base; } __attribute__((packed));
struct madt_iso { uint8_t type, len, bus, source; uint32_t gsi; uint16_t flags; } __attribute__((packed));
struct madt_lapic_nmi { uint8_t type, len, uid; uint16_t flags; uint8_t lint; } __attribute__((packed));

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static void header(struct acpi_header *h, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, OEM_ID, 6);
	memcpy(h->oem_table_id, OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, CREATOR_ID, 4);
	h->creator_revision = 1;
}

static void checksum(struct acpi_header *h)
{
	h->checksum = 0;
	h->checksum = (uint8_t)-x86_sum8(h, h->length);
}

static size_t madt_size(unsigned ncpus)
{
	return sizeof(struct acpi_header) + 8 + ncpus * sizeof(struct madt_lapic) +
	       sizeof(struct madt_ioapic) + 2 * sizeof(struct madt_iso) + sizeof(struct madt_lapic_nmi);
}

static void build_madt(uint8_t *p, unsigned ncpus)
{
	struct acpi_header *h = (struct acpi_header *)p;
	uint8_t *e = p + sizeof(*h);
	uint32_t lapic = (uint32_t)KITE_LAPIC_ADDR, flags = ACPI_MADT_PCAT_COMPAT;

	header(h, "APIC", (uint32_t)madt_size(ncpus), 5);
	memcpy(e, &lapic, 4);
	memcpy(e + 4, &flags, 4);
	e += 8;
	for (unsigned i = 0; i < ncpus; i++) {
		struct madt_lapic l = { ACPI_MADT_LAPIC, sizeof(l), (uint8_t)i, (uint8_t)i, ACPI_MADT_ENABLED };
		memcpy(e, &l, sizeof(l));
		e += sizeof(l);
	}
	struct madt_ioapic io = { ACPI_MADT_IOAPIC, sizeof(io), (uint8_t)KITE_X86_IOAPIC_ID(ncpus), 0,
				  (uint32_t)KITE_IOAPIC_ADDR, 0 };
	memcpy(e, &io, sizeof(io));
	e += sizeof(io);
	struct madt_iso timer = { ACPI_MADT_ISO, sizeof(timer), 0, 0, 2, 0 };
	memcpy(e, &timer, sizeof(timer));
	e += sizeof(timer);
	struct madt_iso sci = { ACPI_MADT_ISO, sizeof(sci), 0, KITE_ACPI_SCI_IRQ, KITE_ACPI_SCI_IRQ,
				ACPI_ISO_ACTIVE_HIGH_LEVEL };
	memcpy(e, &sci, sizeof(sci));
	e += sizeof(sci);
	struct madt_lapic_nmi nmi = { ACPI_MADT_LAPIC_NMI, sizeof(nmi), 0xff, 0, 1 };  /* all CPUs, LINT1 */
	memcpy(e, &nmi, sizeof(nmi));
	checksum(h);
}

static struct acpi_gas io_gas(uint64_t port, uint8_t bits, uint8_t access)
{
	struct acpi_gas g = { .space = GAS_SYSTEM_IO, .bit_width = bits, .access_size = access, .address = port };
	return g;
}

static void build_fadt(struct acpi_fadt *f, uint64_t facs, uint64_t dsdt)
{
	memset(f, 0, sizeof(*f));
	header(&f->h, "FACP", sizeof(*f), 6);
	f->minor_version = 0;
	f->firmware_ctrl = (uint32_t)facs;
	f->x_firmware_ctrl = 0;         /* only one of the two may be set */
	f->dsdt = (uint32_t)dsdt;
	f->x_dsdt = dsdt;
	f->pm_profile = 0;              /* unspecified */
	f->sci_int = KITE_ACPI_SCI_IRQ;
	f->smi_cmd = 0;                 /* no SMI: ACPI is always enabled */
	f->pm1a_evt_blk = KITE_ACPI_PM1A_EVT;
	f->pm1a_cnt_blk = KITE_ACPI_PM1A_CNT;
	f->pm1_evt_len = 4;
	f->pm1_cnt_len = 2;
	f->x_pm1a_evt_blk = io_gas(KITE_ACPI_PM1A_EVT, 32, 2);
	f->x_pm1a_cnt_blk = io_gas(KITE_ACPI_PM1A_CNT, 16, 2);
	f->pm_tmr_blk = KITE_ACPI_PM_TMR;
	f->pm_tmr_len = KITE_ACPI_PM_TMR_LEN;
	f->x_pm_tmr_blk = io_gas(KITE_ACPI_PM_TMR, 32, 3);
	f->p_lvl2_lat = 101;            /* > 100: C2 not supported */
	f->p_lvl3_lat = 1001;           /* > 1000: C3 not supported */
	f->iapc_boot_arch = ACPI_IAPC_LEGACY_DEVICES | ACPI_IAPC_8042 | ACPI_IAPC_VGA_NOT_PRESENT;
	f->flags = ACPI_FADT_WBINVD | ACPI_FADT_PWR_BUTTON | ACPI_FADT_SLP_BUTTON | ACPI_FADT_TMR_VAL_EXT |
		   ACPI_FADT_RESET_REG_SUP;
	f->reset_reg = io_gas(KITE_I8042_PORT + 4, 8, 1);    /* 0xfe to the 8042 command port resets */
	f->reset_value = 0xfe;
	checksum(&f->h);
}

size_t x86_build_acpi(void *buf, size_t cap, uint64_t gpa, unsigned ncpus)
{
	return x86_build_acpi_devs(buf, cap, gpa, ncpus, NULL);
}

size_t x86_build_acpi_devs(void *buf, size_t cap, uint64_t gpa, unsigned ncpus,
			   const struct x86_acpi_devices *devs)
{
	uint8_t *b = buf;
	size_t aml_cap = 4096;
	size_t o_xsdt = align_up(sizeof(struct acpi_rsdp), 16);
	size_t xsdt_len = sizeof(struct acpi_header) + 2 * 8;
	size_t o_madt = align_up(o_xsdt + xsdt_len, 16);
	size_t o_fadt = align_up(o_madt + madt_size(ncpus), 16);
	size_t o_facs = align_up(o_fadt + sizeof(struct acpi_fadt), 64);
	size_t o_dsdt = align_up(o_facs + FACS_SIZE, 16);
	size_t need = o_dsdt + sizeof(struct acpi_header) + aml_cap;

	if (ncpus == 0 || ncpus > KITE_MAX_VCPUS || need > cap || gpa + need > 0x100000000ULL)
		return 0;
	memset(buf, 0, o_dsdt + sizeof(struct acpi_header));   /* the AML writes only its own bytes */

	/* DSDT */
	struct acpi_header *dsdt = (struct acpi_header *)(b + o_dsdt);
	size_t aml = x86_build_dsdt_aml_devs(b + o_dsdt + sizeof(*dsdt), aml_cap, devs);
	if (!aml)
		return 0;
	header(dsdt, "DSDT", (uint32_t)(sizeof(*dsdt) + aml), 2);
	checksum(dsdt);

	/* FACS: no checksum; version 2, no global lock users, no waking vector */
	uint8_t *facs = b + o_facs;
	uint32_t facs_len = FACS_SIZE;
	memcpy(facs, "FACS", 4);
	memcpy(facs + 4, &facs_len, 4);
	facs[32] = 2;

	build_fadt((struct acpi_fadt *)(b + o_fadt), gpa + o_facs, gpa + o_dsdt);
	build_madt(b + o_madt, ncpus);

	struct acpi_header *xsdt = (struct acpi_header *)(b + o_xsdt);
	uint64_t ents[2] = { gpa + o_fadt, gpa + o_madt };
	header(xsdt, "XSDT", (uint32_t)xsdt_len, 1);
	memcpy(xsdt + 1, ents, sizeof(ents));
	checksum(xsdt);

	struct acpi_rsdp *r = (struct acpi_rsdp *)b;
	memcpy(r->signature, "RSD PTR ", 8);
	memcpy(r->oem_id, OEM_ID, 6);
	r->revision = 2;
	r->rsdt = 0;
	r->length = sizeof(*r);
	r->xsdt = gpa + o_xsdt;
	r->checksum = (uint8_t)-x86_sum8(r, 20);
	r->ext_checksum = (uint8_t)-x86_sum8(r, sizeof(*r));
	return o_dsdt + dsdt->length;
}
