/* SPDX-License-Identifier: MIT */
/*
 * The resubmission order of inflight requests (dpu/inflight_order.c), shared by split and packed
 * rings: ascending counters, the same multiset of (counter, head) pairs, for empty, single, equal,
 * already sorted, reversed and random inputs up to a 32768-entry ring.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../../../dpu/inflight_order.h"

static int cmp(const void *a, const void *b)
{
	const struct inflight_order *x = a, *y = b;

	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	return (x->head > y->head) - (x->head < y->head);
}

/* Sorts a copy of in[0..n) and checks order and content against qsort's result. */
static void check_sort(const struct inflight_order *in, unsigned n)
{
	struct inflight_order *got = malloc((n ? n : 1) * sizeof(*got)), *want = malloc((n ? n : 1) * sizeof(*want));

	assert_non_null(got);
	assert_non_null(want);
	memcpy(got, in, n * sizeof(*got));
	memcpy(want, in, n * sizeof(*want));
	inflight_order_sort(got, n);
	for (unsigned i = 1; i < n; i++)
		assert_true(got[i - 1].counter <= got[i].counter);
	/* same pairs: sort both fully (ties by head) and compare */
	qsort(got, n, sizeof(*got), cmp);
	qsort(want, n, sizeof(*want), cmp);
	assert_memory_equal(got, want, n * sizeof(*got));
	free(got);
	free(want);
}

static void test_shapes(void **state)
{
	(void)state;
	enum { N = 32768 };
	struct inflight_order *o = calloc(N, sizeof(*o));

	assert_non_null(o);
	check_sort(o, 0);
	o[0] = (struct inflight_order){ 7, 3 };
	check_sort(o, 1);
	for (unsigned i = 0; i < 100; i++)
		o[i] = (struct inflight_order){ 5, (uint16_t)i };           /* all equal */
	check_sort(o, 100);
	for (unsigned i = 0; i < N; i++)
		o[i] = (struct inflight_order){ i, (uint16_t)i };           /* sorted */
	check_sort(o, N);
	for (unsigned i = 0; i < N; i++)
		o[i] = (struct inflight_order){ N - i, (uint16_t)i };       /* reversed */
	check_sort(o, N);
	srand(12345);
	for (unsigned round = 0; round < 200; round++) {
		unsigned n = (unsigned)rand() % 300;

		for (unsigned i = 0; i < n; i++)
			o[i] = (struct inflight_order){ (uint64_t)rand() % 64 + ((uint64_t)rand() << 40), (uint16_t)i };
		check_sort(o, n);
	}
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_shapes) };

	return cmocka_run_group_tests(tests, NULL, NULL);
}
