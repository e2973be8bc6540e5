/* SPDX-License-Identifier: MIT */
/* The I/O thread's polling window (common/poll_window.c) fed synthetic waits and clock values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "kite/poll_window.h"

#define US 1000ULL

static void test_fixed_window_stays(void **state)
{
	struct poll_window_cfg cfg = { .max_ns = 50 * US, .adaptive = false, .budget_pct = 0 };
	struct poll_window w;

	(void)state;
	poll_window_init(&w, &cfg, 0);
	assert_int_equal(poll_window_next(&w, 0), 50 * US);
	poll_window_waited(&w, 10 * US);
	poll_window_waited(&w, 10000 * US);
	assert_int_equal(poll_window_next(&w, 1), 50 * US);
	/* no cap (budget 0 = 100%): a whole second polled in vain changes nothing */
	poll_window_expired(&w, 2, 1000000 * US, 1000000 * US, false);
	assert_int_equal(poll_window_next(&w, 3), 50 * US);
	assert_int_equal(w.st.budget_cuts, 0);
}

static void test_adaptive_grows_and_shrinks(void **state)
{
	struct poll_window_cfg cfg = { .max_ns = 64 * US, .adaptive = true, .budget_pct = 100 };
	struct poll_window w;

	(void)state;
	poll_window_init(&w, &cfg, 0);
	assert_int_equal(poll_window_next(&w, 0), 0);          /* starts off */
	poll_window_waited(&w, 100 * US);                      /* a long wait: polling would not pay */
	assert_int_equal(poll_window_next(&w, 0), 0);
	poll_window_waited(&w, 5 * US);                        /* work soon after: start polling */
	assert_int_equal(poll_window_next(&w, 0), POLL_WINDOW_START_NS);
	poll_window_expired(&w, 1, 1 * US, 1 * US, true);              /* found work: stays */
	assert_int_equal(poll_window_next(&w, 0), 4 * US);
	poll_window_waited(&w, 5 * US);                        /* 4 + 5 <= 64: doubles */
	assert_int_equal(poll_window_next(&w, 0), 8 * US);
	for (int i = 0; i < 3; i++)
		poll_window_waited(&w, 1 * US);                /* 16, 32, 64 */
	assert_int_equal(poll_window_next(&w, 0), 64 * US);     /* capped at max */
	poll_window_waited(&w, 1 * US);                        /* 64 + 1 > 64: halves */
	assert_int_equal(poll_window_next(&w, 0), 32 * US);
	poll_window_waited(&w, 40 * US);                       /* 32 + 40 > 64: halves */
	assert_int_equal(poll_window_next(&w, 0), 16 * US);
	poll_window_waited(&w, 40 * US);                       /* 16 + 40 <= 64: doubles */
	assert_int_equal(poll_window_next(&w, 0), 32 * US);
	poll_window_expired(&w, 2, 32 * US, 32 * US, false);            /* found nothing: halves */
	assert_int_equal(poll_window_next(&w, 0), 16 * US);
	poll_window_waited(&w, 1 * US);                        /* right after a miss: no growth */
	assert_int_equal(poll_window_next(&w, 0), 16 * US);
	for (int i = 0; i < 3; i++)
		poll_window_waited(&w, 1000 * US);
	assert_int_equal(poll_window_next(&w, 0), 0);          /* 8, 4, then below the floor: off */
}

/* A vCPU on the I/O thread's core: every window misses, every wait is short. Polling stops, and the
 * probes back off (8, 16, ... waits without polling between them). */
static void test_adaptive_backs_off_after_misses(void **state)
{
	struct poll_window_cfg cfg = { .max_ns = 64 * US, .adaptive = true, .budget_pct = 100 };
	struct poll_window w;
	unsigned polled = 0;

	(void)state;
	poll_window_init(&w, &cfg, 0);
	for (int i = 0; i < 1000; i++) {
		uint64_t win = poll_window_next(&w, 0);

		if (win) {
			polled++;
			poll_window_expired(&w, 0, win, win, false);
		}
		poll_window_waited(&w, 2 * US);
	}
	/* probes at growing distances: 8 + 16 + ... + 512 > 1000 waits hold at most 7 probes */
	assert_true(polled >= 3 && polled <= 7);
	assert_int_equal(w.backoff, POLL_WINDOW_BACKOFF_MAX);
	/* a window that finds work resets the backoff */
	while (!poll_window_next(&w, 0))
		poll_window_waited(&w, 2 * US);
	poll_window_expired(&w, 0, 1 * US, 1 * US, true);
	assert_int_equal(w.backoff, POLL_WINDOW_BACKOFF_MIN);
	assert_int_equal(poll_window_next(&w, 0), POLL_WINDOW_START_NS);
}

static void test_budget_stops_polling(void **state)
{
	struct poll_window_cfg cfg = { .max_ns = 100 * US, .adaptive = false, .budget_pct = 10 };
	struct poll_window w;
	uint64_t t = 5 * US, polled = 0;

	(void)state;
	poll_window_init(&w, &cfg, t);
	/* every window runs out in vain: 10% of a second is 1000 windows of 100 us */
	for (int i = 0; i < 2000; i++) {
		uint64_t win = poll_window_next(&w, t);

		if (!win)
			break;
		polled += win;
		t += win;
		poll_window_expired(&w, t, win, win, false);
		t += 50 * US;                                  /* blocked until the next kick */
	}
	assert_int_equal(polled, 100000 * US);                 /* exactly the budget, not more */
	assert_true(t - 5 * US < POLL_BUDGET_PERIOD_NS);        /* within the first period */
	assert_int_equal(poll_window_next(&w, t), 0);
	assert_int_equal(poll_window_next(&w, 5 * US + POLL_BUDGET_PERIOD_NS - 1), 0);
	/* the next period renews it */
	assert_int_equal(poll_window_next(&w, 5 * US + POLL_BUDGET_PERIOD_NS), 100 * US);
	assert_int_equal(w.st.vain_ns, 100000 * US);
}

static void test_budget_cuts_window(void **state)
{
	struct poll_window_cfg cfg = { .max_ns = 64 * US, .adaptive = true, .budget_pct = 1 };
	struct poll_window w;

	(void)state;
	poll_window_init(&w, &cfg, 0);
	for (int i = 0; i < 6; i++)
		poll_window_waited(&w, 0);
	assert_int_equal(poll_window_next(&w, 0), 64 * US);
	poll_window_expired(&w, 1, 10000 * US - 20 * US, 10000 * US - 20 * US, true);       /* 1% = 10 ms, 20 us left */
	assert_int_equal(poll_window_next(&w, 2), 20 * US);
	assert_int_equal(w.st.budget_cuts, 1);
	poll_window_expired(&w, 3, 20 * US, 20 * US, true);
	assert_int_equal(poll_window_next(&w, 4), 0);
	assert_int_equal(w.st.budget_cuts, 2);
}

/* The statistics count what the window did: windows, finds, useful and vain time, the window's size,
 * budget cuts and back-off skips; poll_window_stats_format prints them as kite --stats does. */
static void test_stats(void **state)
{
	struct poll_window_cfg cfg = { .max_ns = 64 * US, .adaptive = true, .budget_pct = 1 };
	struct poll_window_stats st;
	struct poll_window w;
	char line[512];

	(void)state;
	poll_window_init(&w, &cfg, 0);
	poll_window_get_stats(&w, &st);
	assert_int_equal(st.windows + st.found + st.useful_ns + st.vain_ns + st.window_ns + st.last_ns +
			 st.budget_cuts + st.backoff_skips, 0);
	poll_window_waited(&w, 5 * US);                        /* starts polling: 4 us */
	assert_int_equal(poll_window_next(&w, 0), 4 * US);
	poll_window_expired(&w, 1, 30 * US, 4 * US, true);     /* found work, polled 26 us usefully */
	poll_window_get_stats(&w, &st);
	assert_int_equal(st.windows, 1);
	assert_int_equal(st.found, 1);
	assert_int_equal(st.useful_ns, 26 * US);
	assert_int_equal(st.vain_ns, 4 * US);
	assert_int_equal(st.window_ns, 4 * US);
	assert_int_equal(st.last_ns, 30 * US);
	poll_window_expired(&w, 2, 4 * US, 4 * US, false);     /* a miss: below the floor, off, holdoff 8 */
	poll_window_get_stats(&w, &st);
	assert_int_equal(st.windows, 2);
	assert_int_equal(st.found, 1);
	assert_int_equal(st.useful_ns, 26 * US);
	assert_int_equal(st.vain_ns, 8 * US);
	assert_int_equal(st.window_ns, 0);
	assert_int_equal(st.last_ns, 4 * US);
	for (int i = 0; i < POLL_WINDOW_BACKOFF_MIN + 1; i++)
		poll_window_waited(&w, 1 * US);                /* 8 skipped, the 9th probes again */
	poll_window_get_stats(&w, &st);
	assert_int_equal(st.backoff_skips, POLL_WINDOW_BACKOFF_MIN);
	assert_int_equal(st.window_ns, POLL_WINDOW_START_NS);
	assert_int_equal(st.budget_cuts, 0);
	/* 1% of a second = 10 ms, 8 us spent: spend all but 1 us, the next window is cut to 1 us, then skipped */
	poll_window_expired(&w, 3, 9991 * US, 9991 * US, true);
	assert_int_equal(poll_window_next(&w, 4), 1 * US);
	poll_window_expired(&w, 5, 1 * US, 1 * US, true);
	assert_int_equal(poll_window_next(&w, 6), 0);
	poll_window_get_stats(&w, &st);
	assert_int_equal(st.budget_cuts, 2);
	assert_int_equal(st.windows, 4);
	assert_int_equal(st.found, 3);
	assert_int_equal(st.vain_ns, 10000 * US);
	poll_window_stats_format(&st, line, sizeof(line));
	assert_string_equal(line, "poll_windows=4 poll_found=3 poll_useful_ns=26000 poll_vain_ns=10000000 "
				  "poll_window_ns=4000 poll_last_ns=1000 poll_budget_cuts=2 poll_backoff_skips=8");
	/* truncated, still terminated, and the length it wanted */
	assert_int_equal(poll_window_stats_format(&st, line, 10), (int)strlen("poll_windows=4 poll_found=3 poll_useful_ns=26000 "
				  "poll_vain_ns=10000000 poll_window_ns=4000 poll_last_ns=1000 poll_budget_cuts=2 poll_backoff_skips=8"));
	assert_string_equal(line, "poll_wind");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_window_stays),
		cmocka_unit_test(test_adaptive_grows_and_shrinks),
		cmocka_unit_test(test_adaptive_backs_off_after_misses),
		cmocka_unit_test(test_budget_stops_polling),
		cmocka_unit_test(test_budget_cuts_window),
		cmocka_unit_test(test_stats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
