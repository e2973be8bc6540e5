/* SPDX-License-Identifier: MIT */
/* e820, boot page tables, MP table, ACPI tables and CPUID fix-ups, checked byte by byte. */
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_vm.h"
#include "kite/boot.h"
#include "kite/log.h"
#include "kite/x86/acpi.h"
#include "kite/x86/cpuid.h"
#include "kite/x86/e820.h"
#include "kite/x86/irq.h"
#include "kite/x86/layout.h"
#include "kite/x86/loader.h"
#include "kite/x86/mptable.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static void check_e820_sane(const struct e820_entry *t, int n, uint64_t ram)
{
	uint64_t usable = 0;

	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		assert_true(t[i].size > 0);
		assert_true(t[i].type == E820_RAM || t[i].type == E820_RESERVED);
		if (i)
			assert_true(t[i - 1].addr + t[i - 1].size <= t[i].addr);   /* sorted, no overlap */
		if (t[i].type == E820_RAM) {
			/* never RAM in the MMIO hole */
			assert_true(t[i].addr + t[i].size <= KITE_MMIO_HOLE_START || t[i].addr >= KITE_MMIO_HOLE_END);
			usable += t[i].size;
		}
	}
	/* all RAM is usable except the EBDA/BIOS part below 1 MiB */
	assert_int_equal(usable, ram - (KITE_X86_BIOS_END - KITE_X86_LOW_USABLE_END));
}

static void e820_small_vm(void **state)
{
	(void)state;
	struct fake_vm f;
	struct e820_entry t[128];

	fake_vm_init(&f, 64 * MiB, 1);
	int n = x86_build_e820(&f.vm.mem, t, 128);
	assert_int_equal(n, 3);
	assert_int_equal(t[0].addr, 0);
	assert_int_equal(t[0].size, 0x9fc00);
	assert_int_equal(t[0].type, E820_RAM);
	assert_int_equal(t[1].addr, 0x9fc00);
	assert_int_equal(t[1].addr + t[1].size, 0x100000);
	assert_int_equal(t[1].type, E820_RESERVED);
	assert_int_equal(t[2].addr, 0x100000);
	assert_int_equal(t[2].addr + t[2].size, 64 * MiB);
	assert_int_equal(t[2].type, E820_RAM);
	check_e820_sane(t, n, 64 * MiB);
	assert_int_equal(x86_build_e820(&f.vm.mem, t, 2), -1);     /* does not fit: refused */
	fake_vm_fini(&f);
}

static void e820_large_vm_has_high_ram(void **state)
{
	(void)state;
	struct fake_vm f;
	struct e820_entry t[128];
	const uint64_t ram = 5 * GiB;

	fake_vm_init(&f, ram, 2);            /* MAP_NORESERVE: nothing is touched */
	int n = x86_build_e820(&f.vm.mem, t, 128);
	assert_int_equal(n, 4);
	assert_int_equal(t[2].addr + t[2].size, KITE_MMIO_HOLE_START);
	assert_int_equal(t[3].addr, 4 * GiB);
	assert_int_equal(t[3].size, ram - KITE_MMIO_HOLE_START);
	assert_int_equal(t[3].type, E820_RAM);
	check_e820_sane(t, n, ram);
	assert_int_equal(x86_low_ram_end(&f.vm), KITE_MMIO_HOLE_START);
	fake_vm_fini(&f);
}

static void e820_region_in_hole_is_not_ram(void **state)
{
	(void)state;
	struct guest_mem gm = { 0 };
	struct e820_entry t[8];
	static uint8_t dummy;
	struct gm_region hi = { .gpa = 4 * GiB, .size = GiB, .hva = &dummy };
	struct gm_region lo = { .gpa = 0, .size = 3 * GiB + 512 * MiB, .hva = &dummy };

	/* regions registered out of order, the low one reaching into the hole */
	assert_int_equal(gm_add(&gm, &hi), 0);
	assert_int_equal(gm_add(&gm, &lo), 0);
	int n = x86_build_e820(&gm, t, 8);
	assert_int_equal(n, 4);
	assert_int_equal(t[2].addr + t[2].size, KITE_MMIO_HOLE_START);
	assert_int_equal(t[3].addr, 4 * GiB);
	for (int i = 0; i < n; i++)
		assert_true(t[i].addr + t[i].size <= KITE_MMIO_HOLE_START || t[i].addr >= KITE_MMIO_HOLE_END);
}

/* Walk the boot page tables like the MMU does; returns the physical address or -1. */
static uint64_t walk(struct fake_vm *f, uint64_t cr3, uint64_t va)
{
	uint64_t *pml4 = fake_gpa(f, cr3, 4096);
	uint64_t e = pml4[(va >> 39) & 511];
	if (!(e & 1) || !(e & 4) || !(e & 2))
		return (uint64_t)-1;
	uint64_t *pdpt = fake_gpa(f, e & ~0xfffULL, 4096);
	e = pdpt[(va >> 30) & 511];
	if (!(e & 1) || !(e & 4) || !(e & 2) || (e & 0x80))
		return (uint64_t)-1;
	uint64_t *pd = fake_gpa(f, e & 0x000ffffffffff000ULL, 4096);
	e = pd[(va >> 21) & 511];
	if (!(e & 1) || !(e & 4) || !(e & 2) || !(e & 0x80))
		return (uint64_t)-1;
	return (e & 0x000fffffffe00000ULL) | (va & 0x1fffff);
}

static void page_tables_identity_map_with_us(void **state)
{
	(void)state;
	struct fake_vm f;
	uint64_t cr3 = 0;
	static const uint64_t probe[] = { 0, 0x9000, 0x100200, 0x1234567, 0xbfffffff, 0xc0000000,
					  0xfec00000, 0xfee00000, 0xffffffff };

	fake_vm_init(&f, 64 * MiB, 1);
	assert_int_equal(x86_write_boot_page_tables(&f.vm, &cr3), 0);
	assert_int_equal(cr3, KITE_X86_PML4);
	for (size_t i = 0; i < sizeof(probe) / sizeof(probe[0]); i++)
		assert_int_equal(walk(&f, cr3, probe[i]), probe[i]);
	assert_int_equal(walk(&f, cr3, 4 * GiB), (uint64_t)-1);   /* only the first 4 GiB */

	uint16_t limit = 0;
	assert_int_equal(x86_write_boot_gdt(&f.vm, &limit), 0);
	uint64_t *gdt = fake_gpa(&f, KITE_X86_BOOT_GDT, limit + 1);
	uint64_t cs = gdt[KITE_X86_BOOT_CS / 8], ds = gdt[KITE_X86_BOOT_DS / 8];
	assert_true(cs & (1ULL << 53));          /* L: 64-bit code */
	assert_true(cs & (1ULL << 47));          /* present */
	assert_int_equal((cs >> 43) & 1, 1);     /* code */
	assert_int_equal((ds >> 43) & 1, 0);     /* data */
	assert_true(ds & (1ULL << 41));          /* writable */
	fake_vm_fini(&f);
}

static const struct mp_intsrc *mp_find_int(const struct mp_config *c, uint8_t type, uint8_t irq)
{
	const uint8_t *p = (const uint8_t *)(c + 1), *end = (const uint8_t *)c + c->length;

	while (p < end) {
		size_t sz = *p == MP_ENTRY_PROCESSOR ? sizeof(struct mp_processor) : 8;
		if (*p == type && ((const struct mp_intsrc *)p)->src_irq == irq &&
		    ((const struct mp_intsrc *)p)->irq_type == MP_INT_INT)
			return (const struct mp_intsrc *)p;
		p += sz;
	}
	return NULL;
}

static void mptable_for(unsigned ncpus)
{
	static uint8_t buf[0x10000];
	const uint64_t gpa = KITE_X86_MPTABLE_BASE;

	memset(buf, 0xee, sizeof(buf));
	size_t n = x86_build_mptable(buf, sizeof(buf), gpa, ncpus);
	assert_true(n > 0);
	const struct mp_float *mpf = (const struct mp_float *)buf;
	assert_int_equal(mpf->signature, MP_FLOAT_SIG);
	assert_int_equal(mpf->length, 1);
	assert_int_equal(x86_sum8(mpf, 16), 0);
	assert_true(mpf->config >= gpa && mpf->config < gpa + n);
	const struct mp_config *c = (const struct mp_config *)(buf + (mpf->config - gpa));
	assert_int_equal(c->signature, MP_CONFIG_SIG);
	assert_true(mpf->config - gpa + c->length <= n);
	assert_int_equal(x86_sum8(c, c->length), 0);
	assert_int_equal(c->lapic, KITE_LAPIC_ADDR);

	const uint8_t *p = (const uint8_t *)(c + 1), *end = (const uint8_t *)c + c->length;
	unsigned cpus = 0, bsps = 0, ioapics = 0, entries = 0, lints = 0;
	while (p < end) {
		entries++;
		if (*p == MP_ENTRY_PROCESSOR) {
			const struct mp_processor *pr = (const void *)p;
			assert_int_equal(pr->apic_id, cpus);
			assert_true(pr->flags & MP_CPU_ENABLED);
			bsps += !!(pr->flags & MP_CPU_BSP);
			if (pr->flags & MP_CPU_BSP)
				assert_int_equal(pr->apic_id, 0);
			cpus++;
			p += sizeof(*pr);
			continue;
		}
		if (*p == MP_ENTRY_IOAPIC) {
			const struct mp_ioapic *io = (const void *)p;
			assert_int_equal(io->apic_id, KITE_X86_IOAPIC_ID(ncpus));
			assert_int_equal(io->addr, KITE_IOAPIC_ADDR);
			ioapics++;
		} else if (*p == MP_ENTRY_IOINT) {
			assert_int_equal(((const struct mp_intsrc *)p)->dst_apic, KITE_X86_IOAPIC_ID(ncpus));
		} else if (*p == MP_ENTRY_LOCALINT) {
			lints++;
		} else {
			assert_int_equal(*p, MP_ENTRY_BUS);
		}
		p += 8;
	}
	assert_ptr_equal(p, end);
	assert_int_equal(entries, c->entries);
	assert_int_equal(cpus, ncpus);
	assert_int_equal(bsps, 1);
	assert_int_equal(ioapics, 1);
	assert_int_equal(lints, 2);
	const struct mp_intsrc *irq0 = mp_find_int(c, MP_ENTRY_IOINT, 0);
	assert_non_null(irq0);
	assert_int_equal(irq0->dst_pin, 2);
	for (uint8_t irq = 1; irq < 16; irq++) {
		if (irq == 2)
			continue;
		const struct mp_intsrc *s = mp_find_int(c, MP_ENTRY_IOINT, irq);
		assert_non_null(s);
		assert_int_equal(s->dst_pin, irq);
	}
	assert_int_equal(buf[n], 0xee);                        /* nothing written past the size */
}

static void mptable(void **state)
{
	(void)state;
	mptable_for(1);
	mptable_for(4);
	mptable_for(KITE_MAX_VCPUS);
	uint8_t small[64];
	assert_int_equal(x86_build_mptable(small, sizeof(small), 0xf0000, 2), 0);
	assert_int_equal(x86_build_mptable(small, sizeof(small), 0xf0000, 0), 0);
}

static const struct acpi_header *acpi_at(const uint8_t *buf, size_t n, uint64_t base, uint64_t gpa)
{
	assert_true(gpa >= base && gpa - base + sizeof(struct acpi_header) <= n);
	const struct acpi_header *h = (const void *)(buf + (gpa - base));
	assert_true(gpa - base + h->length <= n);
	assert_int_equal(x86_sum8(h, h->length), 0);           /* every table checksums to zero */
	return h;
}

static void acpi_for(unsigned ncpus)
{
	static uint8_t buf[0x10000];
	const uint64_t base = KITE_X86_ACPI_BASE;

	memset(buf, 0xee, sizeof(buf));
	size_t n = x86_build_acpi(buf, sizeof(buf), base, ncpus);
	assert_true(n > 0 && n <= KITE_X86_ACPI_END - KITE_X86_ACPI_BASE);
	assert_int_equal(buf[n], 0xee);

	const struct acpi_rsdp *r = (const void *)buf;
	assert_memory_equal(r->signature, "RSD PTR ", 8);
	assert_int_equal(r->revision, 2);
	assert_int_equal(r->length, 36);
	assert_int_equal(x86_sum8(r, 20), 0);
	assert_int_equal(x86_sum8(r, 36), 0);

	const struct acpi_header *x = acpi_at(buf, n, base, r->xsdt);
	assert_memory_equal(x->signature, "XSDT", 4);
	unsigned nent = (x->length - sizeof(*x)) / 8;
	const struct acpi_header *madt = NULL;
	const struct acpi_fadt *fadt = NULL;
	for (unsigned i = 0; i < nent; i++) {
		uint64_t a;
		memcpy(&a, (const uint8_t *)(x + 1) + 8 * i, 8);
		const struct acpi_header *h = acpi_at(buf, n, base, a);
		if (!memcmp(h->signature, "APIC", 4))
			madt = h;
		if (!memcmp(h->signature, "FACP", 4))
			fadt = (const void *)h;
	}
	assert_non_null(madt);
	assert_non_null(fadt);

	/* MADT: one enabled LAPIC per CPU, the IOAPIC, IRQ0 -> GSI 2, SCI level/high, LINT1 NMI */
	const uint8_t *p = (const uint8_t *)madt + sizeof(*madt) + 8, *end = (const uint8_t *)madt + madt->length;
	unsigned lapics = 0, ioapics = 0, nmis = 0, iso0 = 0, iso9 = 0;
	while (p < end) {
		assert_true(p[1] >= 2 && p + p[1] <= end);
		switch (p[0]) {
		case ACPI_MADT_LAPIC:
			assert_int_equal(p[3], lapics);               /* APIC id */
			assert_int_equal(p[4] & 1, 1);                /* enabled */
			lapics++;
			break;
		case ACPI_MADT_IOAPIC: {
			uint32_t addr, gsi;
			memcpy(&addr, p + 4, 4);
			memcpy(&gsi, p + 8, 4);
			assert_int_equal(p[2], KITE_X86_IOAPIC_ID(ncpus));
			assert_int_equal(addr, KITE_IOAPIC_ADDR);
			assert_int_equal(gsi, 0);
			ioapics++;
			break;
		}
		case ACPI_MADT_ISO: {
			uint32_t gsi;
			uint16_t fl;
			memcpy(&gsi, p + 4, 4);
			memcpy(&fl, p + 8, 2);
			if (p[3] == 0) {
				assert_int_equal(gsi, 2);
				iso0++;
			} else if (p[3] == KITE_ACPI_SCI_IRQ) {
				assert_int_equal(gsi, KITE_ACPI_SCI_IRQ);
				assert_int_equal(fl, ACPI_ISO_ACTIVE_HIGH_LEVEL);
				iso9++;
			}
			break;
		}
		case ACPI_MADT_LAPIC_NMI:
			assert_int_equal(p[5], 1);
			nmis++;
			break;
		}
		p += p[1];
	}
	assert_ptr_equal(p, end);
	assert_int_equal(lapics, ncpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(iso0, 1);
	assert_int_equal(iso9, 1);
	assert_int_equal(nmis, 1);

	/* FADT */
	assert_int_equal(fadt->h.revision, 6);
	assert_int_equal(fadt->h.length, sizeof(*fadt));
	assert_int_equal(fadt->sci_int, KITE_ACPI_SCI_IRQ);
	assert_int_equal(fadt->smi_cmd, 0);
	assert_int_equal(fadt->pm1a_evt_blk, KITE_ACPI_PM1A_EVT);
	assert_int_equal(fadt->pm1a_cnt_blk, KITE_ACPI_PM1A_CNT);
	assert_int_equal(fadt->pm1_evt_len, 4);
	assert_int_equal(fadt->pm1_cnt_len, 2);
	assert_int_equal(fadt->x_pm1a_cnt_blk.address, KITE_ACPI_PM1A_CNT);
	assert_int_equal(fadt->x_pm1a_cnt_blk.bit_width, 16);
	assert_true(fadt->iapc_boot_arch & ACPI_IAPC_8042);
	assert_true(fadt->flags & ACPI_FADT_PWR_BUTTON);
	/* PM timer: 32-bit counter at the device's port */
	assert_int_equal(fadt->pm_tmr_blk, KITE_ACPI_PM_TMR);
	assert_int_equal(fadt->pm_tmr_len, 4);
	assert_int_equal(fadt->x_pm_tmr_blk.address, KITE_ACPI_PM_TMR);
	assert_int_equal(fadt->x_pm_tmr_blk.bit_width, 32);
	assert_true(fadt->flags & ACPI_FADT_TMR_VAL_EXT);
	assert_int_equal(fadt->dsdt, fadt->x_dsdt);
	const uint8_t *facs = buf + (fadt->firmware_ctrl - base);
	assert_int_equal(fadt->firmware_ctrl % 64, 0);
	assert_memory_equal(facs, "FACS", 4);

	/* DSDT: \_S5 = Package(){5, 5, 0, 0} encoded exactly; COM1 device with PNP0501 */
	const struct acpi_header *d = acpi_at(buf, n, base, fadt->x_dsdt);
	assert_memory_equal(d->signature, "DSDT", 4);
	static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00 };
	assert_non_null(memmem(d, d->length, s5, sizeof(s5)));
	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01 };
	assert_non_null(memmem(d, d->length, hid, sizeof(hid)));
}

static void acpi_tables(void **state)
{
	(void)state;
	acpi_for(1);
	acpi_for(3);
	acpi_for(KITE_MAX_VCPUS);
	uint8_t small[128];
	assert_int_equal(x86_build_acpi(small, sizeof(small), KITE_X86_ACPI_BASE, 1), 0);
}

/* The DSDT AML parses: walk the top-level terms with their PkgLengths and land exactly at the end. */
static size_t pkglen(const uint8_t *p, size_t *bytes)
{
	unsigned follow = p[0] >> 6;
	size_t len = follow ? (p[0] & 0xf) : (p[0] & 0x3f);
	for (unsigned i = 0; i < follow; i++)
		len |= (size_t)p[1 + i] << (4 + 8 * i);
	*bytes = 1 + follow;
	return len;
}

static void dsdt_aml_structure(void **state)
{
	(void)state;
	uint8_t aml[512];
	size_t n = x86_build_dsdt_aml(aml, sizeof(aml)), b;

	assert_true(n > 14);
	/* Name(_S5_, Package) */
	assert_int_equal(aml[0], 0x08);
	assert_int_equal(aml[5], 0x12);
	size_t l = pkglen(aml + 6, &b);
	size_t at = 6 + l;
	/* Scope(\_SB_) */
	assert_int_equal(aml[at], 0x10);
	l = pkglen(aml + at + 1, &b);
	assert_int_equal(at + 1 + l, n);
	assert_int_equal(aml[at + 1 + b], 0x5c);
	assert_memory_equal(aml + at + 2 + b, "_SB_", 4);
	size_t dev = at + 6 + b;
	assert_int_equal(aml[dev], 0x5b);
	assert_int_equal(aml[dev + 1], 0x82);
	l = pkglen(aml + dev + 2, &b);
	assert_int_equal(dev + 2 + l, n);                        /* Device is the last term of the scope */
	assert_memory_equal(aml + dev + 2 + b, "COM1", 4);
	assert_int_equal(x86_build_dsdt_aml(aml, 10), 0);
}

static void firmware_tables_in_guest_memory(void **state)
{
	(void)state;
	struct fake_vm f;

	fake_vm_init(&f, 64 * MiB, 2);
	assert_int_equal(x86_write_firmware_tables(&f.vm), 0);
	const struct acpi_rsdp *r = fake_gpa(&f, KITE_X86_ACPI_BASE, sizeof(*r));
	assert_memory_equal(r->signature, "RSD PTR ", 8);
	assert_int_equal(x86_sum8(r, 36), 0);
	const struct mp_float *m = fake_gpa(&f, KITE_X86_MPTABLE_BASE, sizeof(*m));
	assert_int_equal(m->signature, MP_FLOAT_SIG);
	assert_int_equal(KITE_X86_MPTABLE_BASE % 16, 0);
	assert_int_equal(KITE_X86_ACPI_BASE % 16, 0);
	fake_vm_fini(&f);

	fake_vm_init(&f, 512 * 1024, 2);                         /* BIOS area not RAM */
	assert_int_equal(x86_write_firmware_tables(&f.vm), -1);
	fake_vm_fini(&f);
}

/* ----- CPUID ----- */

static struct kvm_cpuid2 *cpuid_sample(unsigned cap)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + cap * sizeof(struct kvm_cpuid_entry2));
	struct kvm_cpuid_entry2 *e = c->entries;

	e[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0x16, .ebx = 0x756e6547 };  /* "Genu" */
	e[1] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0xff000800, .edx = 1 };
	e[2] = (struct kvm_cpuid_entry2){ .function = 4, .index = 0, .eax = 0x121,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };                                  /* L1d */
	e[3] = (struct kvm_cpuid_entry2){ .function = 4, .index = 1, .eax = 0x163,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };                                  /* L3 */
	e[4] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0, .ebx = 2, .ecx = 0x100,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
	e[5] = (struct kvm_cpuid_entry2){ .function = 0x40000000, .eax = 0x40000001,
		.ebx = 0x4b4d564b };
	e[6] = (struct kvm_cpuid_entry2){ .function = 0x40000001, .eax = 0x1 };
	c->nent = 7;
	return c;
}

static struct kvm_cpuid_entry2 *leaf(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

static void cpuid_topology_and_tsc(void **state)
{
	(void)state;
	struct kvm_cpuid2 *c = cpuid_sample(64);

	assert_int_equal(x86_cpuid_fixup(c, 64, 2, 4, 2100000), 0);
	struct kvm_cpuid_entry2 *e = leaf(c, 1, 0);
	assert_int_equal(e->ebx >> 24, 2);                  /* APIC id */
	assert_int_equal((e->ebx >> 16) & 0xff, 4);         /* logical processors */
	assert_int_equal(e->ebx & 0xffff, 0x0800);          /* CLFLUSH size kept */
	assert_true(e->ecx & (1U << 31));                   /* hypervisor */
	assert_true(e->edx & (1U << 28));                   /* HTT: more than one */
	assert_int_equal(leaf(c, 4, 0)->eax >> 26, 3);      /* cores per package - 1 */
	assert_int_equal((leaf(c, 4, 0)->eax >> 14) & 0xfff, 0);
	assert_int_equal((leaf(c, 4, 1)->eax >> 14) & 0xfff, 3);   /* L3 shared */
	assert_int_equal(leaf(c, 0xb, 0)->ebx, 1);          /* one thread per core */
	assert_int_equal(leaf(c, 0xb, 0)->edx, 2);
	assert_int_equal((leaf(c, 0xb, 0)->ecx >> 8) & 0xff, 1);
	assert_int_equal(leaf(c, 0xb, 1)->ebx, 4);
	assert_int_equal(leaf(c, 0xb, 1)->eax, 2);          /* shift: log2(4) */
	assert_int_equal((leaf(c, 0xb, 1)->ecx >> 8) & 0xff, 2);
	assert_int_equal((leaf(c, 0xb, 2)->ecx >> 8) & 0xff, 0);
	assert_int_equal(leaf(c, 0xb, 1)->flags, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	assert_true(leaf(c, 0x40000000, 0)->eax >= 0x40000010);
	assert_int_equal(leaf(c, 0x40000000, 0)->ebx, 0x4b4d564b);  /* KVM signature kept */
	assert_non_null(leaf(c, 0x40000001, 0));
	assert_int_equal(leaf(c, 0x40000010, 0)->eax, 2100000);
	assert_int_equal(leaf(c, 0x40000010, 0)->ebx, 1000000);
	e = leaf(c, 0x15, 0);
	assert_non_null(e);
	assert_int_equal((uint64_t)e->ecx * e->ebx / e->eax, 2100000000ULL);
	assert_int_equal(leaf(c, 0x16, 0)->eax, 2100);
	assert_null(leaf(c, 0x1f, 0));                      /* basic range ends at 0x16 */
	free(c);

	/* a single CPU: no HTT; TSC unknown: no timing leaves */
	c = cpuid_sample(64);
	assert_int_equal(x86_cpuid_fixup(c, 64, 0, 1, 0), 0);
	assert_int_equal(leaf(c, 1, 0)->edx & (1U << 28), 0);
	assert_null(leaf(c, 0x40000010, 0));
	assert_int_equal(leaf(c, 0x40000000, 0)->eax, 0x40000001);
	free(c);

	/* no room for the added leaves, or a bad index: refused */
	c = cpuid_sample(64);
	assert_int_equal(x86_cpuid_fixup(c, 8, 0, 2, 1000000), -1);
	free(c);
	c = cpuid_sample(64);
	assert_int_equal(x86_cpuid_fixup(c, 64, 2, 2, 1000000), -1);
	free(c);

	/* TSC-deadline timer: bit 24 of leaf 1 ECX, set only on request, nothing else touched */
	c = cpuid_sample(64);
	assert_int_equal(x86_cpuid_fixup(c, 64, 0, 1, 0), 0);
	uint32_t ecx = leaf(c, 1, 0)->ecx;
	assert_int_equal(ecx & (1U << 24), 0);
	x86_cpuid_set_tsc_deadline(c);
	assert_int_equal(leaf(c, 1, 0)->ecx, ecx | (1U << 24));
	free(c);

	/* KVM PV leaves: KVM's features kept, those needing VMM support kite lacks cleared, no hints */
	c = cpuid_sample(64);
	leaf(c, 0x40000000, 0)->ecx = 0x564b4d56;
	leaf(c, 0x40000000, 0)->edx = 0x4d;
	leaf(c, 0x40000001, 0)->eax = 0x0103fefb;      /* what KVM 6.1 reports */
	leaf(c, 0x40000001, 0)->edx = 1;               /* KVM_HINTS_REALTIME */
	assert_int_equal(x86_cpuid_kvm_pv(c), 0x01007efb);
	assert_int_equal(leaf(c, 0x40000001, 0)->eax, 0x01007efb);
	assert_int_equal(leaf(c, 0x40000001, 0)->edx, 0);
	/* not KVM's signature, or no feature leaf: nothing offered, nothing touched */
	leaf(c, 0x40000000, 0)->ebx = 0x12345678;
	leaf(c, 0x40000001, 0)->eax = 0x1;
	assert_int_equal(x86_cpuid_kvm_pv(c), 0);
	assert_int_equal(leaf(c, 0x40000001, 0)->eax, 0x1);
	free(c);
}

/* GSI routing matches the tables: IRQ0 -> IOAPIC pin 2, no IOAPIC route for GSI 2, 8259 for 0-15 */
static void irq_routing_matches_tables(void **state)
{
	(void)state;
	struct kvm_irq_routing_entry e[64];
	size_t n = x86_build_irq_routing(e, 64);
	int ioapic_pin[24], pic[16];

	assert_int_equal(n, X86_IRQ_ROUTES);
	memset(ioapic_pin, -1, sizeof(ioapic_pin));
	memset(pic, -1, sizeof(pic));
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(e[i].type, KVM_IRQ_ROUTING_IRQCHIP);
		assert_true(e[i].gsi < 24);
		if (e[i].u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC) {
			assert_int_equal(ioapic_pin[e[i].gsi], -1);      /* one IOAPIC route per GSI */
			ioapic_pin[e[i].gsi] = (int)e[i].u.irqchip.pin;
		} else {
			assert_true(e[i].gsi < 16);
			assert_int_equal(e[i].u.irqchip.irqchip, e[i].gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE);
			pic[e[i].gsi] = (int)e[i].u.irqchip.pin;
		}
	}
	assert_int_equal(ioapic_pin[0], 2);
	assert_int_equal(ioapic_pin[2], -1);
	for (int g = 1; g < 24; g++)
		if (g != 2)
			assert_int_equal(ioapic_pin[g], g);
	for (int g = 0; g < 16; g++)
		assert_int_equal(pic[g], g & 7);
	assert_int_equal(x86_build_irq_routing(e, 10), 0);
}

int main(void)
{
	kite_log_init("test-x86-tables", KITE_LOG_ERR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(e820_small_vm),
		cmocka_unit_test(e820_large_vm_has_high_ram),
		cmocka_unit_test(e820_region_in_hole_is_not_ram),
		cmocka_unit_test(page_tables_identity_map_with_us),
		cmocka_unit_test(mptable),
		cmocka_unit_test(acpi_tables),
		cmocka_unit_test(dsdt_aml_structure),
		cmocka_unit_test(firmware_tables_in_guest_memory),
		cmocka_unit_test(cpuid_topology_and_tsc),
		cmocka_unit_test(irq_routing_matches_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
