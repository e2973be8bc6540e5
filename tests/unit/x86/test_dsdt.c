/* SPDX-License-Identifier: MIT */
/*
 * The DSDT with devices: \_SB.PCI0 (PNP0A08/PNP0A03, _CRS, _PRT) and \_SB.VRnn (LNRO0005) decoded
 * byte by byte from the AML, the table checksum, the device discovery from a VM (command line words,
 * a host bridge answering on 0xcf8), and, where acpica-tools is installed, iasl's disassembly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_vm.h"
#include "kite/iobus.h"
#include "kite/pci.h"
#include "kite/x86/acpi.h"
#include "kite/x86/layout.h"
#include "kite/x86/mptable.h"

static const struct x86_acpi_devices two_mmio_and_pci = {
	.pci = 1,
	.n_mmio = 2,
	.mmio = { { 0xd0000000, 0x1000, 5 }, { 0xd0001000, 0x1000, 6 } },
};

static size_t pkglen(const uint8_t *p, size_t *bytes)
{
	size_t follow = p[0] >> 6, len = follow ? p[0] & 0xf : p[0] & 0x3f;

	for (size_t i = 0; i < follow; i++)
		len |= (size_t)p[1 + i] << (4 + 8 * i);
	*bytes = 1 + follow;
	return len;
}

struct dev_span { char name[5]; const uint8_t *body; size_t len; };

/* The Device() terms of Scope(\_SB_), in order; returns how many. */
static int sb_devices(const uint8_t *aml, size_t n, struct dev_span *out, int max)
{
	size_t b, at = 6 + pkglen(aml + 6, &b);                 /* skip Name(_S5_, Package) */
	int nd = 0;

	assert_int_equal(aml[at], 0x10);
	size_t l = pkglen(aml + at + 1, &b);
	assert_int_equal(at + 1 + l, n);                        /* the scope is the last term */
	assert_memory_equal(aml + at + 1 + b, "\\_SB_", 5);
	size_t p = at + 1 + b + 5, end = at + 1 + l;
	while (p < end) {
		assert_true(nd < max);
		assert_int_equal(aml[p], 0x5b);
		assert_int_equal(aml[p + 1], 0x82);
		l = pkglen(aml + p + 2, &b);
		assert_true(p + 2 + l <= end);
		memcpy(out[nd].name, aml + p + 2 + b, 4);
		out[nd].name[4] = 0;
		out[nd].body = aml + p + 2 + b + 4;
		out[nd].len = l - b - 4;
		nd++;
		p += 2 + l;
	}
	assert_int_equal(p, end);
	return nd;
}

/* Where Name(name, ...) starts its value inside a device body, or NULL */
static const uint8_t *find_name(const struct dev_span *d, const char *name)
{
	for (size_t i = 0; i + 5 <= d->len; i++)
		if (d->body[i] == 0x08 && !memcmp(d->body + i + 1, name, 4))
			return d->body + i + 5;
	return NULL;
}

/* Resource template bytes of Name(_CRS, Buffer(){...}) */
static const uint8_t *crs(const struct dev_span *d, size_t *len)
{
	const uint8_t *v = find_name(d, "_CRS");
	size_t b;

	assert_non_null(v);
	assert_int_equal(v[0], 0x11);
	pkglen(v + 1, &b);
	const uint8_t *sz = v + 1 + b;
	assert_int_equal(sz[0], 0x0a);                          /* ByteConst size */
	*len = sz[1];
	assert_int_equal(sz[2 + *len - 2], 0x79);               /* ends with the end tag */
	return sz + 2;
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void dsdt_pci0_and_mmio(void **state)
{
	(void)state;
	static uint8_t aml[8192];
	struct dev_span d[8];
	size_t n = x86_build_dsdt_aml_devs(aml, sizeof(aml), &two_mmio_and_pci), len;

	assert_true(n > 0);
	assert_int_equal(sb_devices(aml, n, d, 8), 4);
	assert_string_equal(d[0].name, "COM1");
	assert_string_equal(d[1].name, "PCI0");
	assert_string_equal(d[2].name, "VR00");
	assert_string_equal(d[3].name, "VR01");

	/* PCI0: EISAID PNP0A08 / PNP0A03, _SEG/_BBN/_UID Zero */
	const uint8_t *v = find_name(&d[1], "_HID");
	assert_non_null(v);
	assert_memory_equal(v, "\x0c\x41\xd0\x0a\x08", 5);
	assert_non_null(v = find_name(&d[1], "_CID"));
	assert_memory_equal(v, "\x0c\x41\xd0\x0a\x03", 5);
	assert_non_null(v = find_name(&d[1], "_SEG"));
	assert_int_equal(v[0], 0);
	assert_non_null(v = find_name(&d[1], "_BBN"));
	assert_int_equal(v[0], 0);
	assert_non_null(find_name(&d[1], "_UID"));

	/* _CRS: WordBusNumber 0-0, IO 0xcf8 x8, DWordMemory = the BAR window */
	const uint8_t *r = crs(&d[1], &len);
	assert_int_equal(len, 16 + 8 + 26 + 2);
	assert_int_equal(r[0], 0x88);
	assert_int_equal(r[3], 2);
	assert_int_equal(r[8] | r[9] << 8, 0);                  /* min bus */
	assert_int_equal(r[10] | r[11] << 8, 0);                /* max bus */
	assert_int_equal(r[14] | r[15] << 8, 1);                /* length */
	assert_memory_equal(r + 16, "\x47\x01\xf8\x0c\xf8\x0c\x01\x08", 8);
	const uint8_t *m = r + 24;
	assert_int_equal(m[0], 0x87);
	assert_int_equal(m[1] | m[2] << 8, 23);
	assert_int_equal(m[3], 0);                              /* memory range */
	assert_int_equal(le32(m + 10), KITE_PCI_MMIO_BASE);
	assert_int_equal(le32(m + 14), KITE_PCI_MMIO_END - 1);
	assert_int_equal(le32(m + 22), KITE_PCI_MMIO_END - KITE_PCI_MMIO_BASE);

	/* _PRT: 31 entries {slot<<16|0xffff, 0, 0, 16 + (slot-1) % 8} */
	size_t b;
	assert_non_null(v = find_name(&d[1], "_PRT"));
	assert_int_equal(v[0], 0x12);
	pkglen(v + 1, &b);
	const uint8_t *e = v + 1 + b;
	assert_int_equal(e[0], PCI_MAX_DEVICES - 1);
	e++;
	for (unsigned slot = 1; slot < PCI_MAX_DEVICES; slot++) {
		assert_int_equal(e[0], 0x12);
		size_t el = pkglen(e + 1, &b);
		assert_int_equal(e[1 + b], 4);
		assert_int_equal(e[2 + b], 0x0c);
		assert_int_equal(le32(e + 3 + b), slot << 16 | 0xffff);
		assert_int_equal(e[7 + b], 0);                  /* INTA */
		assert_int_equal(e[8 + b], 0);                  /* Zero: GSI */
		assert_int_equal(e[9 + b], 0x0a);
		assert_int_equal(e[10 + b], KITE_PCI_INTX_GSI_BASE + (slot - 1) % 8);
		e += 1 + el;
	}

	/* VR00/VR01: "LNRO0005", _UID, Memory32Fixed(base, 4K), Interrupt(level, high) {gsi} */
	for (int i = 0; i < 2; i++) {
		assert_non_null(v = find_name(&d[2 + i], "_HID"));
		assert_memory_equal(v, "\x0dLNRO0005", 10);
		assert_non_null(v = find_name(&d[2 + i], "_UID"));
		assert_int_equal(v[0], (uint8_t)i);
		r = crs(&d[2 + i], &len);
		assert_int_equal(len, 12 + 9 + 2);
		assert_int_equal(r[0], 0x86);
		assert_int_equal(r[3], 1);
		assert_int_equal(le32(r + 4), two_mmio_and_pci.mmio[i].base);
		assert_int_equal(le32(r + 8), 0x1000);
		assert_memory_equal(r + 12, "\x89\x06\x00\x01\x01", 5);
		assert_int_equal(le32(r + 17), two_mmio_and_pci.mmio[i].gsi);
	}

	/* without devices: COM1 only (what x86_build_dsdt_aml() gives) */
	n = x86_build_dsdt_aml_devs(aml, sizeof(aml), NULL);
	assert_int_equal(sb_devices(aml, n, d, 8), 1);
	/* too small a buffer, a window beyond 4 GiB: refused */
	assert_int_equal(x86_build_dsdt_aml_devs(aml, 100, &two_mmio_and_pci), 0);
	struct x86_acpi_devices bad = { .n_mmio = 1, .mmio = { { 0xfffff000, 0x2000, 5 } } };
	assert_int_equal(x86_build_dsdt_aml_devs(aml, sizeof(aml), &bad), 0);
}

static const struct acpi_header *dsdt_of(const uint8_t *buf)
{
	const struct acpi_rsdp *rsdp = (const void *)buf;
	const struct acpi_header *xsdt = (const void *)(buf + (rsdp->xsdt - KITE_X86_ACPI_BASE));
	uint64_t fadt_gpa;

	memcpy(&fadt_gpa, xsdt + 1, 8);
	const struct acpi_fadt *f = (const void *)(buf + (fadt_gpa - KITE_X86_ACPI_BASE));
	assert_memory_equal(f->h.signature, "FACP", 4);
	return (const void *)(buf + (f->x_dsdt - KITE_X86_ACPI_BASE));
}

static void dsdt_table_checksum(void **state)
{
	(void)state;
	static uint8_t buf[0x10000];
	size_t n = x86_build_acpi_devs(buf, sizeof(buf), KITE_X86_ACPI_BASE, 2, &two_mmio_and_pci);

	assert_true(n > 0 && n <= KITE_X86_ACPI_END - KITE_X86_ACPI_BASE);
	const struct acpi_header *h = dsdt_of(buf);
	assert_memory_equal(h->signature, "DSDT", 4);
	assert_int_equal(x86_sum8(h, h->length), 0);
	assert_true(memmem(h, h->length, "PCI0", 4) && memmem(h, h->length, "LNRO0005", 8));
}

/* iasl -d of the table: the disassembler's view agrees (skipped without acpica-tools) */
static void dsdt_iasl_disassembly(void **state)
{
	(void)state;
	static uint8_t buf[0x10000];
	char dir[] = "/tmp/kite-dsdt-XXXXXX", cmd[512], path[128];

	if (system("command -v iasl >/dev/null 2>&1") != 0) {
		printf("SKIP: iasl not installed (acpica-tools, scripts/deps.sh)\n");
		skip();
	}
	assert_true(x86_build_acpi_devs(buf, sizeof(buf), KITE_X86_ACPI_BASE, 1, &two_mmio_and_pci) > 0);
	const struct acpi_header *h = dsdt_of(buf);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dsdt.dat", dir);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(h, 1, h->length, f), h->length);
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat >iasl.log 2>&1", dir);
	int rc = system(cmd);
	if (rc != 0) {
		snprintf(cmd, sizeof(cmd), "cat %s/iasl.log", dir);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(rc, 0);
	static const char *const want[] = {
		"Device (PCI0)", "EisaId (\"PNP0A08\")", "EisaId (\"PNP0A03\")", "WordBusNumber (ResourceProducer",
		"0x0CF8,", "DWordMemory (ResourceProducer", "0xE0000000,", "0xFEBFFFFF,", "Name (_PRT, Package (0x1F)",
		"0x0003FFFF,", "Device (VR01)", "\"LNRO0005\"", "Memory32Fixed (ReadWrite,", "0xD0001000,",
		"Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, )", "Name (_S5, Package (0x04)",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(cmd, sizeof(cmd), "grep -qF '%s' %s/dsdt.dsl", want[i], dir);
		if (system(cmd) != 0)
			fail_msg("iasl -d output %s/dsdt.dsl lacks '%s'", dir, want[i]);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static uint16_t fake_vendor = 0x8086;
static uint32_t fake_addr;

static void fake_cf8(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	(void)opaque;
	if (addr == 0 && len == 4) {
		if (is_write)
			memcpy(&fake_addr, data, 4);
	} else if (addr == 4 && len == 4 && !is_write) {
		uint32_t v = fake_addr == 0x80000000u ? 0x12378000u | fake_vendor : 0xffffffffu;
		memcpy(data, &v, 4);
	}
}

static void find_devices_from_vm(void **state)
{
	(void)state;
	struct fake_vm f;
	struct x86_acpi_devices d;
	char cmdline[] = "console=ttyS0 xvirtio_mmio.device=4K@0x1:9 virtio_mmio.device=4K@0xd0000000:5 "
			 "virtio_mmio.device=bogus virtio_mmio.device=8K@0xd0001000:6";

	fake_vm_init(&f, 64 << 20, 1);
	f.vm.cmdline = cmdline;
	f.vm.pio = NULL;
	x86_acpi_find_devices(&f.vm, &d);
	assert_int_equal(d.pci, 0);
	assert_int_equal(d.n_mmio, 2);
	assert_int_equal(d.mmio[0].base, 0xd0000000);
	assert_int_equal(d.mmio[0].size, 0x1000);
	assert_int_equal(d.mmio[0].gsi, 5);
	assert_int_equal(d.mmio[1].base, 0xd0001000);
	assert_int_equal(d.mmio[1].size, 0x2000);
	assert_int_equal(d.mmio[1].gsi, 6);

	/* a host bridge answering at 00:00.0 -> PCI0; all ones (no device) -> none */
	f.vm.pio = iobus_new("pio");
	assert_non_null(f.vm.pio);
	x86_acpi_find_devices(&f.vm, &d);
	assert_int_equal(d.pci, 0);                             /* nothing on 0xcf8 */
	assert_int_equal(iobus_register(f.vm.pio, 0xcf8, 8, fake_cf8, NULL), 0);
	x86_acpi_find_devices(&f.vm, &d);
	assert_int_equal(d.pci, 1);
	assert_int_equal(fake_addr, 0);                         /* address latch left cleared */
	fake_vendor = 0xffff;
	x86_acpi_find_devices(&f.vm, &d);
	assert_int_equal(d.pci, 0);
	iobus_free(f.vm.pio);
	f.vm.pio = NULL;
	fake_vm_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dsdt_pci0_and_mmio),
		cmocka_unit_test(dsdt_table_checksum),
		cmocka_unit_test(dsdt_iasl_disassembly),
		cmocka_unit_test(find_devices_from_vm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
