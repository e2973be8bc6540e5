/* SPDX-License-Identifier: MIT */
/*
 * Hand-encoded AML for the DSDT (ACPI 6.x, 20.2 AML grammar):
 *  - Name(\_S5, Package(){5, 5, 0, 0}) so the guest can power off through PM1a_CNT;
 *  - Scope(\_SB) { Device(COM1) (PNP0501, I/O 0x3f8-0x3ff, IRQ 4);
 *      Device(PCI0) when kite's PCI bus exists: _HID PNP0A08, _CID PNP0A03, _SEG/_BBN/_UID 0,
 *        _CRS = bus 0, I/O 0xcf8-0xcff (config mechanism #1), the BAR window
 *        [KITE_PCI_MMIO_BASE, KITE_PCI_MMIO_END) (kite allocates no I/O BARs), and _PRT: slot N
 *        INTA -> GSI KITE_PCI_INTX_GSI_BASE + (N - 1) % 8, as pci/pci.c wires it;
 *      Device(VRnn) per virtio-mmio window: _HID "LNRO0005", _UID nn, _CRS Memory32Fixed + level,
 *        active-high Interrupt (kite raises the line while InterruptStatus is non-zero) }.
 * Every object is built into its own buffer first so its PkgLength is known before it is copied.
 */
#include <string.h>

#include "kite/pci.h"
#include "kite/vm.h"
#include "kite/x86/acpi.h"

#define AML_ZERO       0x00
#define AML_NAME       0x08
#define AML_BYTE       0x0a
#define AML_WORD       0x0b
#define AML_DWORD      0x0c
#define AML_STRING     0x0d
#define AML_SCOPE      0x10
#define AML_BUFFER     0x11
#define AML_PACKAGE    0x12
#define AML_EXT        0x5b
#define AML_DEVICE     0x82
#define AML_ROOT       0x5c

/* EISAID("PNPxxxx") as the DWORD the AML compiler emits (bytes in this order) */
#define EISA_PNP(hi, lo) { 0x41, 0xd0, (hi), (lo) }

struct aml {
	uint8_t *b;
	size_t cap, n;
	int overflow;
};

static void put(struct aml *a, const void *p, size_t len)
{
	if (a->overflow || len > a->cap - a->n) {
		a->overflow = 1;
		return;
	}
	memcpy(a->b + a->n, p, len);
	a->n += len;
}

static void put8(struct aml *a, uint8_t v)
{
	put(a, &v, 1);
}

static void put16(struct aml *a, uint16_t v)
{
	put8(a, (uint8_t)v);
	put8(a, (uint8_t)(v >> 8));
}

static void put32(struct aml *a, uint32_t v)
{
	put16(a, (uint16_t)v);
	put16(a, (uint16_t)(v >> 16));
}

/* PkgLength for a body of len bytes (the encoding counts its own bytes). */
static void pkglen(struct aml *a, size_t body)
{
	if (body + 1 < 0x40) {
		put8(a, (uint8_t)(body + 1));
	} else if (body + 2 < 0x1000) {
		size_t l = body + 2;
		put8(a, (uint8_t)(0x40 | (l & 0xf)));
		put8(a, (uint8_t)(l >> 4));
	} else {
		size_t l = body + 3;
		put8(a, (uint8_t)(0x80 | (l & 0xf)));
		put8(a, (uint8_t)(l >> 4));
		put8(a, (uint8_t)(l >> 12));
	}
}

static void name4(struct aml *a, const char *n)
{
	put(a, n, 4);
}

/* Integer constant: Zero/One or the smallest of ByteConst, WordConst, DWordConst */
static void integer(struct aml *a, uint32_t v)
{
	if (v <= 1) {
		put8(a, (uint8_t)v);
	} else if (v <= 0xff) {
		put8(a, AML_BYTE);
		put8(a, (uint8_t)v);
	} else if (v <= 0xffff) {
		put8(a, AML_WORD);
		put16(a, (uint16_t)v);
	} else {
		put8(a, AML_DWORD);
		put32(a, v);
	}
}

static void name_int(struct aml *a, const char *name, uint32_t v)
{
	put8(a, AML_NAME);
	name4(a, name);
	integer(a, v);
}

static void name_eisaid(struct aml *a, const char *name, const uint8_t id[4])
{
	put8(a, AML_NAME);
	name4(a, name);
	put8(a, AML_DWORD);
	put(a, id, 4);
}

/* Name(name, Buffer(){ descriptors..., EndTag }) for a resource template of len bytes (end tag
 * included in res) */
static void name_buffer(struct aml *a, const char *name, const uint8_t *res, size_t len)
{
	struct aml sz = { .b = (uint8_t[8]){ 0 }, .cap = 8 };

	integer(&sz, (uint32_t)len);
	put8(a, AML_NAME);
	name4(a, name);
	put8(a, AML_BUFFER);
	pkglen(a, sz.n + len);
	put(a, sz.b, sz.n);
	put(a, res, len);
}

/* Device(name) { body } */
static void device(struct aml *a, const char *name, const struct aml *body)
{
	put8(a, AML_EXT);
	put8(a, AML_DEVICE);
	pkglen(a, 4 + body->n);
	name4(a, name);
	put(a, body->b, body->n);
}

static void s5(struct aml *a)
{
	static const uint8_t elems[] = { 4, AML_BYTE, KITE_ACPI_S5_TYP, AML_BYTE, KITE_ACPI_S5_TYP,
					 AML_ZERO, AML_ZERO };
	put8(a, AML_NAME);
	name4(a, "_S5_");
	put8(a, AML_PACKAGE);
	pkglen(a, sizeof(elems));
	put(a, elems, sizeof(elems));
}

static void com1(struct aml *a)
{
	static const uint8_t hid[] = EISA_PNP(0x05, 0x01);
	const uint8_t res[] = {
		0x47, 0x01,                                     /* I/O, 16-bit decode */
		KITE_COM1_PORT & 0xff, KITE_COM1_PORT >> 8,     /* min */
		KITE_COM1_PORT & 0xff, KITE_COM1_PORT >> 8,     /* max */
		0x01, 0x08,                                     /* alignment, length */
		0x22, (uint8_t)(1U << KITE_COM1_IRQ), 0x00,     /* IRQNoFlags {4} */
		0x79, 0x00,                                     /* end tag */
	};
	uint8_t tmp[64];
	struct aml body = { .b = tmp, .cap = sizeof(tmp) };

	name_eisaid(&body, "_HID", hid);
	name_int(&body, "_UID", 0);
	name_buffer(&body, "_CRS", res, sizeof(res));
	if (body.overflow)
		a->overflow = 1;
	device(a, "COM1", &body);
}

/* _CRS of the root bridge: WordBusNumber 0-0, IO 0xcf8-0xcff, DWordMemory BAR window, EndTag */
static size_t pci0_crs(uint8_t *out, size_t cap)
{
	struct aml r = { .b = out, .cap = cap };
	uint32_t lo = (uint32_t)KITE_PCI_MMIO_BASE, hi = (uint32_t)(KITE_PCI_MMIO_END - 1);

	/* WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0, 0, 1) */
	put8(&r, 0x88);
	put16(&r, 13);
	put8(&r, 2);                    /* resource type: bus number range */
	put8(&r, 0x0c);                 /* producer, positive decode, min and max fixed */
	put8(&r, 0);
	put16(&r, 0);                   /* granularity */
	put16(&r, 0);                   /* min */
	put16(&r, 0);                   /* max */
	put16(&r, 0);                   /* translation */
	put16(&r, 1);                   /* length */
	/* IO(Decode16, 0xcf8, 0xcf8, 1, 8) */
	put8(&r, 0x47);
	put8(&r, 0x01);
	put16(&r, 0xcf8);
	put16(&r, 0xcf8);
	put8(&r, 1);
	put8(&r, 8);
	/* DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
	 *             0, base, end - 1, 0, end - base) */
	put8(&r, 0x87);
	put16(&r, 23);
	put8(&r, 0);                    /* resource type: memory */
	put8(&r, 0x0c);
	put8(&r, 0x01);                 /* read-write, non-cacheable */
	put32(&r, 0);
	put32(&r, lo);
	put32(&r, hi);
	put32(&r, 0);
	put32(&r, hi - lo + 1);
	put8(&r, 0x79);
	put8(&r, 0x00);
	return r.overflow ? 0 : r.n;
}

/* Name(_PRT, Package(){ Package(){ 0xNFFFF, 0, Zero, GSI } for slots 1..31 }) */
static void pci0_prt(struct aml *a)
{
	uint8_t tmp[512];
	struct aml pk = { .b = tmp, .cap = sizeof(tmp) };

	put8(&pk, PCI_MAX_DEVICES - 1);                 /* NumElements */
	for (unsigned slot = 1; slot < PCI_MAX_DEVICES; slot++) {
		uint8_t e[16];
		struct aml el = { .b = e, .cap = sizeof(e) };

		put8(&el, 4);
		put8(&el, AML_DWORD);
		put32(&el, (slot << 16) | 0xffff);     /* _ADR: any function of the slot */
		integer(&el, 0);                        /* INTA# */
		integer(&el, 0);                        /* Source: Zero = hard-wired GSI */
		integer(&el, KITE_PCI_INTX_GSI_BASE + (slot - 1) % 8);
		put8(&pk, AML_PACKAGE);
		pkglen(&pk, el.n);
		put(&pk, e, el.n);
	}
	if (pk.overflow)
		a->overflow = 1;
	put8(a, AML_NAME);
	name4(a, "_PRT");
	put8(a, AML_PACKAGE);
	pkglen(a, pk.n);
	put(a, tmp, pk.n);
}

static void pci0(struct aml *a)
{
	static const uint8_t hid[] = EISA_PNP(0x0a, 0x08), cid[] = EISA_PNP(0x0a, 0x03);
	uint8_t tmp[1024], res[64];
	struct aml body = { .b = tmp, .cap = sizeof(tmp) };
	size_t nres = pci0_crs(res, sizeof(res));

	if (!nres) {
		a->overflow = 1;
		return;
	}
	name_eisaid(&body, "_HID", hid);
	name_eisaid(&body, "_CID", cid);
	name_int(&body, "_SEG", 0);
	name_int(&body, "_BBN", 0);
	name_int(&body, "_UID", 0);
	name_buffer(&body, "_CRS", res, nres);
	pci0_prt(&body);
	if (body.overflow)
		a->overflow = 1;
	device(a, "PCI0", &body);
}

static void virtio_mmio_dev(struct aml *a, unsigned idx, uint64_t base, uint32_t size, uint32_t gsi)
{
	static const char hid[] = "LNRO0005";
	char name[5] = { 'V', 'R', (char)('0' + idx / 10 % 10), (char)('0' + idx % 10), 0 };
	uint8_t tmp[96], res[32];
	struct aml body = { .b = tmp, .cap = sizeof(tmp) };
	struct aml r = { .b = res, .cap = sizeof(res) };

	/* Memory32Fixed(ReadWrite, base, size) */
	put8(&r, 0x86);
	put16(&r, 9);
	put8(&r, 0x01);
	put32(&r, (uint32_t)base);
	put32(&r, size);
	/* Interrupt(ResourceConsumer, Level, ActiveHigh, Exclusive) { gsi } */
	put8(&r, 0x89);
	put16(&r, 6);
	put8(&r, 0x01);
	put8(&r, 1);
	put32(&r, gsi);
	put8(&r, 0x79);
	put8(&r, 0x00);

	put8(&body, AML_NAME);
	name4(&body, "_HID");
	put8(&body, AML_STRING);
	put(&body, hid, sizeof(hid));           /* with its NUL */
	name_int(&body, "_UID", idx);
	name_buffer(&body, "_CRS", res, r.n);
	if (body.overflow || r.overflow)
		a->overflow = 1;
	device(a, name, &body);
}

size_t x86_build_dsdt_aml_devs(uint8_t *buf, size_t cap, const struct x86_acpi_devices *devs)
{
	struct aml a = { .b = buf, .cap = cap };
	uint8_t tmp[4096];
	struct aml sb = { .b = tmp, .cap = sizeof(tmp) };

	s5(&a);

	/* Scope(\_SB_) { COM1, PCI0, VRnn... }: the body first, to know its length */
	com1(&sb);
	if (devs && devs->pci)
		pci0(&sb);
	for (unsigned i = 0; devs && i < devs->n_mmio && i < X86_ACPI_MAX_MMIO; i++) {
		const struct x86_acpi_mmio *m = &devs->mmio[i];

		if (m->base > 0xffffffffULL || !m->size || m->size > 0xffffffffULL - m->base + 1) {
			sb.overflow = 1;
			break;
		}
		virtio_mmio_dev(&sb, i, m->base, m->size, m->gsi);
	}
	if (sb.overflow)
		return 0;
	put8(&a, AML_SCOPE);
	pkglen(&a, 5 + sb.n);
	put8(&a, AML_ROOT);
	name4(&a, "_SB_");
	put(&a, tmp, sb.n);
	return a.overflow ? 0 : a.n;
}

size_t x86_build_dsdt_aml(uint8_t *buf, size_t cap)
{
	return x86_build_dsdt_aml_devs(buf, cap, NULL);
}
