/* SPDX-License-Identifier: MIT */
/* vswitch FDB: learn, lookup per VLAN, move, age, capacity, flush. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fdb.h"
#include "frames.h"

#define SEC 1000000000ull

static void test_learn_lookup(void **state)
{
	struct fdb f;
	const struct fdb_entry *e;

	(void)state;
	assert_int_equal(fdb_init(&f, 16, 10 * SEC), 0);
	assert_null(fdb_lookup(&f, 1, MAC_A, 0));
	assert_int_equal(fdb_learn(&f, 1, MAC_A, 3, 0, 0), 0);
	e = fdb_lookup(&f, 1, MAC_A, 0);
	assert_non_null(e);
	assert_int_equal(e->port, 3);
	/* another VLAN is another table */
	assert_null(fdb_lookup(&f, 2, MAC_A, 0));
	assert_int_equal(fdb_learn(&f, 2, MAC_A, 5, 0x01020304, 0), 0);
	assert_int_equal(fdb_lookup(&f, 2, MAC_A, 0)->port, 5);
	assert_int_equal(fdb_lookup(&f, 2, MAC_A, 0)->remote_ip, 0x01020304);
	assert_int_equal(fdb_lookup(&f, 1, MAC_A, 0)->port, 3);
	assert_int_equal(f.count, 2);
	/* station moves */
	assert_int_equal(fdb_learn(&f, 1, MAC_A, 4, 0, 1), 0);
	assert_int_equal(fdb_lookup(&f, 1, MAC_A, 1)->port, 4);
	assert_int_equal(f.moved, 1);
	assert_int_equal(f.count, 2);
	fdb_destroy(&f);
}

static void test_aging(void **state)
{
	struct fdb f;

	(void)state;
	assert_int_equal(fdb_init(&f, 16, 10 * SEC), 0);
	fdb_learn(&f, 1, MAC_A, 1, 0, 0);
	fdb_learn(&f, 1, MAC_B, 2, 0, 5 * SEC);
	assert_non_null(fdb_lookup(&f, 1, MAC_A, 10 * SEC));
	/* A expires after 10 s without traffic; B is refreshed at 12 s */
	fdb_learn(&f, 1, MAC_B, 2, 0, 12 * SEC);
	assert_null(fdb_lookup(&f, 1, MAC_A, 10 * SEC + 1));
	assert_int_equal(f.count, 1);
	assert_non_null(fdb_lookup(&f, 1, MAC_B, 21 * SEC));
	assert_int_equal(fdb_age(&f, 21 * SEC), 0);
	assert_int_equal(fdb_age(&f, 23 * SEC), 1);
	assert_int_equal(f.count, 0);
	assert_int_equal(f.aged, 2);
	fdb_destroy(&f);
}

static void test_full_and_flush(void **state)
{
	struct fdb f;
	uint8_t mac[6] = { 2, 0, 0, 0, 0, 0 };

	(void)state;
	assert_int_equal(fdb_init(&f, 8, 0), 0);
	for (int i = 0; i < 8; i++) {
		mac[5] = (uint8_t)i;
		assert_int_equal(fdb_learn(&f, 1, mac, (uint16_t)(i % 2), 0, 0), 0);
	}
	mac[5] = 99;
	assert_int_equal(fdb_learn(&f, 1, mac, 0, 0, 0), -1);
	assert_int_equal(f.full, 1);
	/* age 0 = never: still there much later */
	mac[5] = 3;
	assert_non_null(fdb_lookup(&f, 1, mac, 1000000 * SEC));
	assert_int_equal(fdb_flush_port(&f, 1), 4);
	assert_int_equal(f.count, 4);
	assert_null(fdb_lookup(&f, 1, mac, 0));
	mac[5] = 2;
	assert_non_null(fdb_lookup(&f, 1, mac, 0));
	/* freed slots are reused */
	for (int i = 100; i < 104; i++) {
		mac[5] = (uint8_t)i;
		assert_int_equal(fdb_learn(&f, 1, mac, 0, 0, 0), 0);
	}
	assert_int_equal(f.count, 8);
	fdb_flush(&f);
	assert_int_equal(f.count, 0);
	fdb_destroy(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_learn_lookup),
		cmocka_unit_test(test_aging),
		cmocka_unit_test(test_full_and_flush),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
