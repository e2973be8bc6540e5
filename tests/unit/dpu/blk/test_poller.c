/* SPDX-License-Identifier: MIT */
/* dpu poller: items run, and after poller_del() returns an item is never called again (grace period),
 * with and without a thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "../../../../dpu/poller.h"

struct item {
	atomic_uint calls;
	atomic_bool deleted;
	atomic_uint after_delete;
	unsigned work;
};

static unsigned item_poll(void *opaque)
{
	struct item *it = opaque;
	if (atomic_load(&it->deleted))
		atomic_fetch_add(&it->after_delete, 1);
	atomic_fetch_add(&it->calls, 1);
	return it->work;
}

static void test_no_thread(void **state)
{
	struct dpu_poller *p = poller_new(-1, false);
	struct item a = { .work = 1 }, b = { .work = 0 };

	(void)state;
	assert_non_null(p);
	assert_int_equal(poller_run_once(p), 0);
	assert_int_equal(poller_add(p, item_poll, &a), 0);
	assert_int_equal(poller_add(p, item_poll, &b), 0);
	assert_int_equal(poller_nr_items(p), 2);
	assert_int_equal(poller_run_once(p), 1);
	assert_int_equal(atomic_load(&a.calls), 1);
	assert_int_equal(atomic_load(&b.calls), 1);
	poller_del(p, item_poll, &a);
	poller_run_once(p);
	assert_int_equal(atomic_load(&a.calls), 1);
	assert_int_equal(atomic_load(&b.calls), 2);
	uint64_t rounds, busy, sleeps;
	poller_counters(p, &rounds, &busy, &sleeps);
	assert_int_equal(rounds, 3);
	assert_int_equal(busy, 1);
	poller_free(p);
}

static void test_thread_grace_period(void **state)
{
	struct dpu_poller *p = poller_new(-1, true);
	struct item it[8];

	(void)state;
	assert_non_null(p);
	for (unsigned round = 0; round < 20; round++) {
		for (unsigned i = 0; i < 8; i++) {
			it[i] = (struct item){ .work = i & 1 };
			assert_int_equal(poller_add(p, item_poll, &it[i]), 0);
		}
		/* wait until every item ran at least once */
		for (unsigned i = 0; i < 8; i++)
			while (atomic_load(&it[i].calls) == 0) {
				struct timespec ts = { 0, 100000 };
				nanosleep(&ts, NULL);
			}
		for (unsigned i = 0; i < 8; i++) {
			poller_del(p, item_poll, &it[i]);
			atomic_store(&it[i].deleted, true);
		}
		/* give the thread time to misbehave if it could */
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
		for (unsigned i = 0; i < 8; i++)
			assert_int_equal(atomic_load(&it[i].after_delete), 0);
	}
	assert_int_equal(poller_nr_items(p), 0);
	poller_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_thread),
		cmocka_unit_test(test_thread_grace_period),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
