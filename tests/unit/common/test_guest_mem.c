/* SPDX-License-Identifier: MIT */
/* Guest memory table: bounds, overflow, overlaps, removal of owned mappings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "kite/guest_mem.h"

static uint8_t low[4096], high[8192];

static struct guest_mem two_regions(void)
{
	struct guest_mem gm = { 0 };
	struct gm_region a = { .gpa = 0, .size = sizeof(low), .uva = 0x7000000, .hva = low, .fd = -1 };
	struct gm_region b = { .gpa = 0x100000000ULL, .size = sizeof(high), .uva = 0x9000000, .hva = high,
			       .fd = -1 };

	assert_int_equal(gm_add(&gm, &a), 0);
	assert_int_equal(gm_add(&gm, &b), 0);
	return gm;
}

static void test_bounds(void **state)
{
	struct guest_mem gm = two_regions();
	uint64_t gpa;

	(void)state;
	assert_ptr_equal(gm_ptr(&gm, 0, sizeof(low)), low);
	assert_ptr_equal(gm_ptr(&gm, 100, 10), low + 100);
	assert_ptr_equal(gm_ptr(&gm, sizeof(low), 0), low + sizeof(low));  /* empty range at the end */
	assert_null(gm_ptr(&gm, sizeof(low) - 1, 2));                     /* one byte past */
	assert_null(gm_ptr(&gm, sizeof(low), 1));                         /* hole */
	assert_null(gm_ptr(&gm, 0xFFFFF000ULL, 4096));
	assert_ptr_equal(gm_ptr(&gm, 0x100000000ULL + 8191, 1), high + 8191);
	/* A range spanning both regions is refused even though both ends are RAM. */
	assert_null(gm_ptr(&gm, sizeof(low) - 8, 0x100000000ULL));
	/* Overflow: lengths that wrap the 64-bit space. */
	assert_null(gm_ptr(&gm, 16, UINT64_MAX));
	assert_null(gm_ptr(&gm, 0x100000000ULL + 16, UINT64_MAX - 15));
	assert_null(gm_ptr(&gm, UINT64_MAX, 2));
	assert_null(gm_ptr(&gm, UINT64_MAX, 0));

	assert_ptr_equal(gm_uva_ptr(&gm, 0x9000000 + 5, 5), high + 5);
	assert_null(gm_uva_ptr(&gm, 0x7000000 + 4095, 2));
	assert_true(gm_uva_to_gpa(&gm, 0x9000010, &gpa));
	assert_int_equal(gpa, 0x100000010ULL);
	assert_false(gm_uva_to_gpa(&gm, 0x8000000, &gpa));
}

static void test_add_remove(void **state)
{
	struct guest_mem gm = two_regions();
	struct gm_region overlap = { .gpa = 4000, .size = 200, .hva = low, .fd = -1 };
	struct gm_region wrap = { .gpa = UINT64_MAX - 10, .size = 100, .hva = low, .fd = -1 };
	struct gm_region empty = { .gpa = 0x200000, .size = 0, .hva = low, .fd = -1 };
	struct gm_region owned = { .gpa = 0x200000, .size = 4096, .fd = -1 };

	(void)state;
	assert_int_equal(gm_add(&gm, &overlap), -1);
	assert_int_equal(gm_add(&gm, &wrap), -1);
	assert_int_equal(gm_add(&gm, &empty), -1);
	assert_int_equal(gm.nr, 2);

	/* An owned mapping is unmapped by gm_remove (ASan/valgrind see a leak otherwise). */
	owned.mmap_base = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(owned.mmap_base != MAP_FAILED);
	owned.mmap_len = 4096;
	owned.hva = owned.mmap_base;
	assert_int_equal(gm_add(&gm, &owned), 0);
	*(uint8_t *)gm_ptr(&gm, 0x200010, 1) = 0x5a;
	assert_int_equal(((uint8_t *)owned.hva)[0x10], 0x5a);
	assert_int_equal(gm_remove(&gm, 0x200000), 0);
	assert_int_equal(gm_remove(&gm, 0x200000), -1);
	assert_null(gm_ptr(&gm, 0x200010, 1));
	assert_int_equal(gm.nr, 2);

	/* The table has a fixed size. */
	for (unsigned i = gm.nr; i < GM_MAX_REGIONS; i++) {
		struct gm_region r = { .gpa = 0x1000000000ULL + 0x1000ULL * i, .size = 16, .hva = low, .fd = -1 };

		assert_int_equal(gm_add(&gm, &r), 0);
	}
	{
		struct gm_region r = { .gpa = 0x900000000ULL, .size = 16, .hva = low, .fd = -1 };

		assert_int_equal(gm_add(&gm, &r), -1);
	}
	gm_clear(&gm);
	assert_int_equal(gm.nr, 0);
	assert_null(gm_ptr(&gm, 0, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_add_remove),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
