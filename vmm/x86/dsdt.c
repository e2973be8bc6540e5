/* SPDX-License-Identifier: MIT */
/*
 * Hand-encoded AML for the DSDT: Name(\_S5, Package(){5, 5, 0, 0}) so the guest can power off
 * through PM1a_CNT, and Device(\_SB.COM1) (PNP0501, I/O 0x3f8-0x3ff, IRQ 4).
 */
#include <string.h>

#include "kite/vm.h"
#include "kite/x86/acpi.h"

#define AML_ZERO       0x00
#define AML_NAME       0x08
#define AML_BYTE       0x0a
#define AML_DWORD      0x0c
#define AML_SCOPE      0x10
#define AML_BUFFER     0x11
#define AML_PACKAGE    0x12
#define AML_EXT        0x5b
#define AML_DEVICE     0x82
#define AML_ROOT       0x5c

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

static void com1_body(struct aml *a)
{
	static const uint8_t hid[] = { AML_NAME, '_', 'H', 'I', 'D', AML_DWORD, 0x41, 0xd0, 0x05, 0x01 }; /* EISAID PNP0501 */
	static const uint8_t uid[] = { AML_NAME, '_', 'U', 'I', 'D', AML_ZERO };
	const uint8_t res[] = {
		0x47, 0x01,                                     /* I/O, 16-bit decode */
		KITE_COM1_PORT & 0xff, KITE_COM1_PORT >> 8,     /* min */
		KITE_COM1_PORT & 0xff, KITE_COM1_PORT >> 8,     /* max */
		0x01, 0x08,                                     /* alignment, length */
		0x22, (uint8_t)(1U << KITE_COM1_IRQ), 0x00,     /* IRQNoFlags {4} */
		0x79, 0x00,                                     /* end tag */
	};
	put(a, hid, sizeof(hid));
	put(a, uid, sizeof(uid));
	put8(a, AML_NAME);
	name4(a, "_CRS");
	put8(a, AML_BUFFER);
	pkglen(a, 2 + sizeof(res));
	put8(a, AML_BYTE);
	put8(a, sizeof(res));
	put(a, res, sizeof(res));
}

size_t x86_build_dsdt_aml(uint8_t *buf, size_t cap)
{
	struct aml a = { .b = buf, .cap = cap };
	uint8_t tmp[128];
	struct aml body = { .b = tmp, .cap = sizeof(tmp) };

	s5(&a);

	/* Scope(\_SB_) { Device(COM1) { ... } }: bodies built first to know their lengths */
	com1_body(&body);
	if (body.overflow)
		return 0;
	size_t dev_body = 4 + body.n;
	uint8_t dev_len[3];
	struct aml dl = { .b = dev_len, .cap = sizeof(dev_len) };
	pkglen(&dl, dev_body);
	size_t scope_body = 5 + 2 + dl.n + dev_body;    /* "\_SB_" + ExtOp DeviceOp + PkgLength + body */

	put8(&a, AML_SCOPE);
	pkglen(&a, scope_body);
	put8(&a, AML_ROOT);
	name4(&a, "_SB_");
	put8(&a, AML_EXT);
	put8(&a, AML_DEVICE);
	put(&a, dev_len, dl.n);
	name4(&a, "COM1");
	put(&a, tmp, body.n);
	return a.overflow ? 0 : a.n;
}
