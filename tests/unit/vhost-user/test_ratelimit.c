/* SPDX-License-Identifier: MIT */
/* Token bucket: burst, refill at the configured rate (simulated clock), oversized requests, counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kite/ratelimit.h"

#define SEC 1000000000ull

static void test_burst_then_rate(void **state)
{
	struct ratelimit rl;
	uint64_t t = 5 * SEC;
	unsigned passed = 0;

	(void)state;
	rl_init(&rl, 1000, 100, t);
	while (rl_take(&rl, 1, t))
		passed++;
	assert_int_equal(passed, 100);
	assert_int_equal(rl.limited, 1);
	/* 10 simulated seconds in 1 ms steps: exactly rate * time more */
	for (unsigned i = 0; i < 10000; i++) {
		t += SEC / 1000;
		while (rl_take(&rl, 1, t))
			passed++;
	}
	assert_int_equal(passed, 100 + 10000);
}

static void test_slow_rate_fractions(void **state)
{
	struct ratelimit rl;
	uint64_t t = 0;
	unsigned passed = 0;

	(void)state;
	rl_init(&rl, 3, 1, t);      /* 3 per second, refilled in 1 ms steps: no rounding loss */
	assert_true(rl_take(&rl, 1, t));
	for (unsigned i = 0; i < 4000; i++) {
		t += SEC / 1000;
		if (rl_take(&rl, 1, t))
			passed++;
	}
	assert_int_equal(passed, 12);
}

static void test_bytes_and_oversize(void **state)
{
	struct ratelimit rl;
	uint64_t t = 0;

	(void)state;
	rl_init(&rl, 1 << 20, 64 << 10, t);   /* 1 MiB/s, 64 KiB burst */
	assert_true(rl_take(&rl, 4096, t));
	assert_false(rl_take(&rl, 128 << 10, t));  /* larger than burst, bucket not full */
	t += SEC;                                   /* refill (capped at burst) */
	assert_int_equal(rl_available(&rl, t), 64 << 10);
	assert_true(rl_take(&rl, 128 << 10, t));    /* full bucket admits it and drains */
	assert_int_equal(rl_available(&rl, t), 0);
	assert_false(rl_take(&rl, 1, t));
	/* time going backwards does not add tokens */
	assert_false(rl_take(&rl, 1, t - SEC));
}

static void test_unlimited(void **state)
{
	struct ratelimit rl;

	(void)state;
	rl_init(&rl, 0, 0, 0);
	assert_true(rl_unlimited(&rl));
	for (unsigned i = 0; i < 100000; i++)
		assert_true(rl_take(&rl, 1 << 20, 0));
	assert_int_equal(rl.passed, 100000);
	assert_true(rl_now_ns() > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_slow_rate_fractions),
		cmocka_unit_test(test_bytes_and_oversize),
		cmocka_unit_test(test_unlimited),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
