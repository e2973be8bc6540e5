/* SPDX-License-Identifier: MIT */
/*
 * Firmware tables as a guest OS reads them: ACPI (RSDP from boot_params or the BIOS-area scan,
 * XSDT/RSDT, MADT, FADT, DSDT \_S5) and the Intel MP table. Every checksum and length is checked;
 * tables must lie below 4 GiB (our identity map).
 */
#include "guest.h"

#define MAX_TABLE_LEN	(1u << 20)

struct sdt_header {
	char sig[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
} __attribute__((packed));

static uint8_t sum8(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *b++);
	return s;
}

static uint64_t read64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t read32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t read16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* Can the guest read [addr, addr + len)? Only the first GiB is mapped. */
static bool mapped(uint64_t addr, uint64_t len)
{
	return addr < GUEST_RAM_MAPPED && len <= GUEST_RAM_MAPPED - addr;
}

/* Find a 16-byte aligned signature in [start, end). */
static uint64_t scan(uint64_t start, uint64_t end, const char *sig, size_t siglen)
{
	for (uint64_t a = start; a + siglen <= end; a += 16)
		if (!memcmp((const void *)(uintptr_t)a, sig, siglen))
			return a;
	return 0;
}

/* The EBDA segment from the BIOS data area (read through asm: address 0x40e is not a C object). */
static uint64_t ebda_base(void)
{
	uint16_t seg;

	__asm__ volatile("movw 0x40e, %0" : "=r"(seg));
	return (uint64_t)seg << 4;
}

static uint64_t find_rsdp(void)
{
	uint64_t a = bp_u64(BP_ACPI_RSDP);
	uint64_t ebda = ebda_base();

	if (a && mapped(a, 36) && !memcmp((const void *)(uintptr_t)a, "RSD PTR ", 8))
		return a;
	if (ebda >= 0x80000 && ebda < 0xa0000 && (a = scan(ebda, ebda + 1024, "RSD PTR ", 8)))
		return a;
	return scan(0xe0000, 0x100000, "RSD PTR ", 8);
}

/* Validated table at addr with the given signature, or NULL (reason printed). */
static const struct sdt_header *table_at(uint64_t addr, const char *sig)
{
	const struct sdt_header *h = (const void *)(uintptr_t)addr;

	if (!addr || !mapped(addr, sizeof(*h))) {
		guest_printf("acpi: table %s at 0x%lx: not in the first GiB (our identity map)\n", sig, addr);
		return NULL;
	}
	if (memcmp(h->sig, sig, 4)) {
		guest_printf("acpi: table at 0x%lx: signature is not %s\n", addr, sig);
		return NULL;
	}
	if (h->length < sizeof(*h) || h->length > MAX_TABLE_LEN || !mapped(addr, h->length)) {
		guest_printf("acpi: %s at 0x%lx: bad length %u\n", sig, addr, h->length);
		return NULL;
	}
	if (sum8(h, h->length)) {
		guest_printf("acpi: %s at 0x%lx: bad checksum\n", sig, addr);
		return NULL;
	}
	return h;
}

static void parse_madt(const struct sdt_header *m, struct acpi_info *ai)
{
	const uint8_t *p = (const uint8_t *)m + 44;
	const uint8_t *end = (const uint8_t *)m + m->length;

	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		uint32_t id = ~0u;
		if (p[0] == 0 && p[1] >= 8 && (read32(p + 4) & 1))
			id = p[3];
		else if (p[0] == 9 && p[1] >= 16 && (read32(p + 8) & 1))
			id = read32(p + 4);
		else if (p[0] == 1 && p[1] >= 12 && !ai->ioapic)
			ai->ioapic = read32(p + 4);
		else if (p[0] == 2 && p[1] >= 10 && p[2] == 0 && p[3] == 0)
			ai->irq0_gsi = (int)read32(p + 4);
		if (id != ~0u) {
			if (ai->nids < GUEST_MAX_CPUS)
				ai->apic_ids[ai->nids++] = id;
			ai->ncpus++;
		}
		p += p[1];
	}
}

static int find_s5(const struct sdt_header *dsdt)
{
	const uint8_t *p = (const uint8_t *)dsdt + sizeof(*dsdt);
	const uint8_t *end = (const uint8_t *)dsdt + dsdt->length;

	for (; p + 8 <= end; p++) {
		if (memcmp(p, "_S5_", 4) || p[4] != 0x12)	/* Name(_S5_, Package ...) */
			continue;
		const uint8_t *q = p + 5;
		q += 1 + (*q >> 6);				/* PkgLength */
		q++;						/* NumElements */
		if (q >= end)
			return -1;
		if (*q == 0x0a && q + 1 < end)			/* BytePrefix */
			return q[1] & 7;
		if (*q == 0x00 || *q == 0x01)			/* Zero / One */
			return *q;
		return -1;
	}
	return -1;
}

static void parse_fadt(const struct sdt_header *f, struct acpi_info *ai)
{
	const uint8_t *b = (const uint8_t *)f;
	uint64_t dsdt = 0;

	if (f->length >= 68) {
		ai->pm1a_cnt = (uint16_t)read32(b + 64);
		ai->smi_cmd = (uint16_t)read32(b + 48);
		ai->acpi_enable = b[52];
		dsdt = read32(b + 40);
	}
	if (f->length >= 148 && read64(b + 140))
		dsdt = read64(b + 140);
	ai->dsdt = dsdt;
	const struct sdt_header *d = dsdt ? table_at(dsdt, "DSDT") : NULL;
	if (d)
		ai->s5_typ = find_s5(d);
}

int acpi_scan(struct acpi_info *ai)
{
	memset(ai, 0, sizeof(*ai));
	ai->s5_typ = -1;
	uint64_t rsdp = find_rsdp();
	if (!rsdp) {
		guest_printf("acpi: no RSDP (boot_params.acpi_rsdp_addr, EBDA, 0xE0000-0xFFFFF)\n");
		return GUEST_EXIT_NO_TABLES;
	}
	const uint8_t *r = (const void *)(uintptr_t)rsdp;
	if (sum8(r, 20)) {
		guest_printf("acpi: RSDP at 0x%lx: bad checksum\n", rsdp);
		return GUEST_EXIT_NO_TABLES;
	}
	ai->rsdp = rsdp;
	const struct sdt_header *root;
	unsigned esize;
	if (r[15] >= 2 && sum8(r, 36)) {
		guest_printf("acpi: RSDP at 0x%lx: bad extended checksum\n", rsdp);
		return GUEST_EXIT_NO_TABLES;
	}
	if (r[15] >= 2 && read64(r + 24)) {
		root = table_at(read64(r + 24), "XSDT");
		esize = 8;
	} else {
		root = table_at(read32(r + 16), "RSDT");
		esize = 4;
	}
	if (!root)
		return GUEST_EXIT_NO_TABLES;
	unsigned n = (root->length - sizeof(*root)) / esize;
	const uint8_t *ents = (const uint8_t *)root + sizeof(*root);
	for (unsigned i = 0; i < n; i++) {
		uint64_t a = esize == 8 ? read64(ents + 8 * i) : read32(ents + 4 * i);
		if (!a || !mapped(a, sizeof(struct sdt_header))) {
			guest_printf("acpi: root table entry %u (0x%lx) not usable\n", i, a);
			return GUEST_EXIT_NO_TABLES;
		}
		const struct sdt_header *h = (const void *)(uintptr_t)a;
		if (!memcmp(h->sig, "APIC", 4)) {
			const struct sdt_header *m = table_at(a, "APIC");
			if (!m)
				return GUEST_EXIT_NO_TABLES;
			ai->madt = a;
			parse_madt(m, ai);
		} else if (!memcmp(h->sig, "FACP", 4)) {
			const struct sdt_header *f = table_at(a, "FACP");
			if (!f)
				return GUEST_EXIT_NO_TABLES;
			ai->fadt = a;
			parse_fadt(f, ai);
		}
	}
	ai->found = true;
	return 0;
}

int mptable_cpus(void)
{
	uint64_t ebda = ebda_base();
	uint64_t fp = 0;

	if (ebda >= 0x80000 && ebda < 0xa0000)
		fp = scan(ebda, ebda + 1024, "_MP_", 4);
	if (!fp)
		fp = scan(0x9fc00, 0xa0000, "_MP_", 4);
	if (!fp)
		fp = scan(0xf0000, 0x100000, "_MP_", 4);
	if (!fp)
		return -1;
	const uint8_t *f = (const void *)(uintptr_t)fp;
	if (f[8] != 1 || sum8(f, 16)) {
		guest_printf("mptable: floating pointer at 0x%lx: bad length or checksum\n", fp);
		return -1;
	}
	uint64_t ct = read32(f + 4);
	if (!ct || !mapped(ct, 0x10000)) {
		guest_printf("mptable: no configuration table (0x%lx)\n", ct);
		return -1;
	}
	const uint8_t *c = (const void *)(uintptr_t)ct;
	uint16_t len = read16(c + 4);
	if (memcmp(c, "PCMP", 4) || len < 44 || sum8(c, len)) {
		guest_printf("mptable: configuration table at 0x%lx: bad signature, length or checksum\n", ct);
		return -1;
	}
	const uint8_t *p = c + 44, *end = c + len;
	int cpus = 0;
	for (unsigned i = 0, n = read16(c + 34); i < n && p < end; i++) {
		if (p[0] == 0) {
			if (p + 20 > end)
				break;
			if (p[3] & 1)
				cpus++;
			p += 20;
		} else if (p[0] <= 4) {
			p += 8;
		} else {
			guest_printf("mptable: unknown entry type %u\n", p[0]);
			return -1;
		}
	}
	return cpus;
}
