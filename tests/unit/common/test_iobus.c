/* SPDX-License-Identifier: MIT */
/* I/O bus: overlaps refused, dispatch with offsets, misses read all ones, unregister. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kite/iobus.h"

struct dev {
	int calls;
	uint64_t last_addr;
	uint32_t last_len;
	bool last_write;
	uint8_t reg[16];
};

static void dev_fn(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct dev *d = opaque;

	d->calls++;
	d->last_addr = addr;
	d->last_len = len;
	d->last_write = is_write;
	assert_true(addr + len <= sizeof(d->reg));
	if (is_write)
		memcpy(d->reg + addr, data, len);
	else
		memcpy(data, d->reg + addr, len);
}

static void test_overlaps(void **state)
{
	struct iobus *bus = iobus_new("test");
	struct dev d = { 0 };

	(void)state;
	assert_int_equal(iobus_register(bus, 0x100, 8, dev_fn, &d), 0);
	assert_int_equal(iobus_register(bus, 0x100, 8, dev_fn, &d), -EEXIST);
	assert_int_equal(iobus_register(bus, 0xFC, 8, dev_fn, &d), -EEXIST);   /* covers 0x100 */
	assert_int_equal(iobus_register(bus, 0x107, 1, dev_fn, &d), -EEXIST);  /* last byte */
	assert_int_equal(iobus_register(bus, 0x0F0, 0x100, dev_fn, &d), -EEXIST); /* encloses */
	assert_int_equal(iobus_register(bus, 0x108, 8, dev_fn, &d), 0);        /* adjacent above */
	assert_int_equal(iobus_register(bus, 0x0F8, 8, dev_fn, &d), 0);        /* adjacent below */
	assert_int_equal(iobus_register(bus, 0x200, 0, dev_fn, &d), -EINVAL);
	assert_int_equal(iobus_register(bus, UINT64_MAX - 3, 8, dev_fn, &d), -EINVAL); /* wraps */
	assert_int_equal(iobus_register(bus, UINT64_MAX - 7, 8, dev_fn, &d), 0);       /* ends at top */
	assert_int_equal(iobus_unregister(bus, 0x100), 0);
	assert_int_equal(iobus_unregister(bus, 0x100), -ENOENT);
	assert_int_equal(iobus_register(bus, 0x100, 8, dev_fn, &d), 0);
	iobus_free(bus);
}

static void test_dispatch(void **state)
{
	struct iobus *bus = iobus_new("test");
	struct dev a = { 0 }, b = { 0 };
	uint8_t data[8];

	(void)state;
	/* Registered out of order: lookup must still find each. */
	assert_int_equal(iobus_register(bus, 0x3F8, 8, dev_fn, &b), 0);
	assert_int_equal(iobus_register(bus, 0x60, 1, dev_fn, &a), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(iobus_register(bus, 0x1000 + 0x10 * i, 4, dev_fn, &a), 0);

	memcpy(data, "\x11\x22", 2);
	assert_true(iobus_access(bus, 0x3FA, data, 2, true));
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.last_addr, 2);
	assert_int_equal(b.last_len, 2);
	assert_true(b.last_write);
	assert_memory_equal(b.reg + 2, "\x11\x22", 2);

	memset(data, 0, sizeof(data));
	assert_true(iobus_access(bus, 0x3FA, data, 2, false));
	assert_memory_equal(data, "\x11\x22", 2);
	assert_int_equal(b.calls, 2);
	assert_false(b.last_write);

	assert_true(iobus_access(bus, 0x60, data, 1, true));
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.last_addr, 0);
	assert_true(iobus_access(bus, 0x1000 + 0x10 * 13 + 2, data, 2, false));
	assert_int_equal(a.calls, 2);
	assert_int_equal(a.last_addr, 2);

	/* Misses: read all ones, write dropped, handler not called. */
	memset(data, 0, sizeof(data));
	assert_false(iobus_access(bus, 0x61, data, 4, false));
	assert_memory_equal(data, "\xff\xff\xff\xff", 4);
	assert_int_equal(data[4], 0);
	assert_false(iobus_access(bus, 0x2F8, data, 1, true));
	/* Straddling the end of a range is a miss too. */
	memset(data, 0, sizeof(data));
	assert_false(iobus_access(bus, 0x3FE, data, 4, false));
	assert_memory_equal(data, "\xff\xff\xff\xff", 4);
	assert_int_equal(b.calls, 2);
	/* Wrapping address and bad lengths. */
	assert_false(iobus_access(bus, UINT64_MAX, data, 2, false));
	assert_false(iobus_access(bus, 0x3F8, data, 0, false));
	assert_false(iobus_access(bus, 0x3F8, data, 9, true));
	assert_int_equal(b.calls, 2);

	assert_int_equal(iobus_unregister(bus, 0x3F8), 0);
	assert_false(iobus_access(bus, 0x3F8, data, 1, false));
	assert_int_equal(data[0], 0xff);
	iobus_free(bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overlaps),
		cmocka_unit_test(test_dispatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
