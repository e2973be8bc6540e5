/* SPDX-License-Identifier: MIT */
/* Token bucket: burst, refill at the configured rate (simulated clock), oversized requests, counters.
 * Rate limiter (ops + bytes): shaping takes nothing when it refuses, policing, the retry timer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/timerfd.h>

#include "kite/ratelimit.h"
#include "kite/snapshot.h"

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

static void test_limiter_shaping(void **state)
{
	struct rate_limiter l;
	uint64_t t = 7 * SEC;

	(void)state;
	/* 10 ops/s, burst 2; 1000 bytes/s, burst 1000 */
	rate_limiter_init(&l, 10, 2, 1000, 1000, t);
	assert_true(rate_limiter_active(&l));
	assert_true(rate_limiter_admit(&l, 100, t));
	assert_true(rate_limiter_admit(&l, 100, t));
	assert_false(rate_limiter_admit(&l, 100, t));      /* out of ops */
	assert_int_equal(l.refused, 1);
	assert_int_equal(rl_available(&l.bytes, t), 800);  /* the refusal took no bytes */
	t += SEC / 10;
	assert_true(rate_limiter_admit(&l, 100, t));
	/* bytes short: refused, and the ops token it would have used stays */
	rate_limiter_set(&l, 10, 5, 1000, 1000, t);
	assert_true(rate_limiter_admit(&l, 600, t));
	assert_false(rate_limiter_admit(&l, 600, t));
	assert_int_equal(rl_available(&l.ops, t), 4);
	t += SEC / 5;                                       /* 200 bytes more: 600 */
	assert_true(rate_limiter_admit(&l, 600, t));
	/* larger than the burst: passes on a full bucket and drains it */
	t += 2 * SEC;
	assert_true(rate_limiter_admit(&l, 5000, t));
	assert_false(rate_limiter_admit(&l, 1, t));
	assert_int_equal(l.refused, 3);
	/* unlimited: always admitted, nothing counted */
	rate_limiter_set(&l, 0, 0, 0, 0, t);
	assert_false(rate_limiter_active(&l));
	for (unsigned i = 0; i < 1000; i++)
		assert_true(rate_limiter_admit(&l, 1 << 20, 0));
	/* now_ns 0 reads the clock when limited */
	rate_limiter_init(&l, 1000, 0, 0, 0, rl_now_ns());
	assert_true(rate_limiter_admit(&l, 1, 0));
}

static void test_limiter_police(void **state)
{
	struct rate_limiter l;
	uint64_t t = 3 * SEC;

	(void)state;
	rate_limiter_init(&l, 100, 2, 100, 100, t);
	assert_true(rate_limiter_police(&l, 100, t));
	assert_false(rate_limiter_police(&l, 100, t));     /* bytes short: dropped ... */
	assert_int_equal(rl_available(&l.ops, t), 0);      /* ... and its frame token is spent */
	assert_int_equal(l.refused, 1);
	assert_false(rate_limiter_waiting(&l));            /* policing never waits */
}

static void test_limiter_timer(void **state)
{
	struct rate_limiter l;
	struct itimerspec its;
	uint64_t t = 9 * SEC, armed;

	(void)state;
	rate_limiter_init(&l, 10, 1, 0, 0, t);
	assert_true(rate_limiter_timer_open(&l) >= 0);
	assert_false(rate_limiter_waiting(&l));
	assert_true(rate_limiter_admit(&l, 0, t));
	assert_false(rate_limiter_admit(&l, 0, t));
	assert_true(rate_limiter_waiting(&l));
	/* armed for one ops token: 1/10 s at most */
	assert_int_equal(timerfd_gettime(l.timer_fd, &its), 0);
	armed = (uint64_t)its.it_value.tv_sec * SEC + (uint64_t)its.it_value.tv_nsec;
	assert_true(armed > 0 && armed <= SEC / 10);
	/* a later expiry does not replace the armed one */
	rate_limiter_set(&l, 1, 1, 0, 0, t);
	assert_true(rate_limiter_admit(&l, 0, t));
	assert_false(rate_limiter_admit(&l, 0, t));        /* would wait 1 s */
	assert_int_equal(timerfd_gettime(l.timer_fd, &its), 0);
	assert_true((uint64_t)its.it_value.tv_sec * SEC + (uint64_t)its.it_value.tv_nsec <= armed);
	/* fired (here: read before expiry, EAGAIN) ends the wait; stop disarms */
	assert_true(rate_limiter_timer_fired(&l));
	assert_false(rate_limiter_waiting(&l));
	assert_false(rate_limiter_admit(&l, 0, t));
	rate_limiter_timer_stop(&l);
	assert_false(rate_limiter_waiting(&l));
	assert_int_equal(timerfd_gettime(l.timer_fd, &its), 0);
	assert_true(its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0);
	rate_limiter_timer_close(&l);
	assert_int_equal(l.timer_fd, -1);
}

/* Firecracker's TokenBucket: capacity = size, a one-time budget spent first and never refilled. */
static void test_bucket_cfg_one_time(void **state)
{
	struct limiter_cfg c = { .ops = { .rate = 100, .burst = 10, .one_time = 50 } };
	struct rate_limiter l;
	uint64_t t = SEC;
	unsigned passed = 0;

	(void)state;
	rate_limiter_init(&l, 0, 0, 0, 0, 0);
	rate_limiter_configure(&l, &c, t);
	while (rate_limiter_admit(&l, 0, t))
		passed++;
	assert_int_equal(passed, 10 + 50);          /* the bucket's size plus the one-time budget */
	assert_int_equal(l.ops.one_time, 0);
	t += 10 * SEC;                               /* refills to the capacity only, never the budget */
	passed = 0;
	while (rate_limiter_admit(&l, 0, t))
		passed++;
	assert_int_equal(passed, 10);
	/* a bytes bucket: a request larger than what is left of the budget takes the rest from tokens */
	c = (struct limiter_cfg){ .bytes = { .rate = 1000, .burst = 1000, .one_time = 300 } };
	rate_limiter_configure(&l, &c, t);
	assert_true(rate_limiter_admit(&l, 200, t));   /* budget 300 -> 100 */
	assert_true(rate_limiter_admit(&l, 400, t));   /* budget 100 -> 0, tokens 1000 -> 700 */
	assert_int_equal(l.bytes.one_time, 0);
	assert_int_equal(l.bytes.tokens, 700);
	/* unlimited buckets ignore a one-time budget */
	c = (struct limiter_cfg){ .ops = { .one_time = 5 } };
	rate_limiter_configure(&l, &c, t);
	assert_false(rate_limiter_active(&l));
}

/* A limiter through a VM-state section: the buckets hold what they held, time spent saved does not
 * refill them, and a bucket with more tokens than its capacity is refused (nothing changed). */
static void test_snapshot(void **state)
{
	struct limiter_cfg c = { .ops = { .rate = 100, .burst = 10, .one_time = 5 }, .bytes = { .rate = 1000, .burst = 4000 } };
	struct rate_limiter a, b;
	struct snap_writer *w = snap_writer_new();
	struct snap_reader *r;
	struct snap_cursor cur;
	const uint8_t *buf;
	uint8_t *bad;
	size_t len;
	char err[200];

	(void)state;
	rate_limiter_init(&a, 0, 0, 0, 0, 0);
	rate_limiter_configure(&a, &c, SEC);
	for (unsigned i = 0; i < 12; i++)
		assert_true(rate_limiter_admit(&a, 300, SEC));   /* budget 5, then 7 of the 10 ops tokens */
	snap_section_begin(w, "limiter", 0, 1);
	rate_limiter_save(&a, w);
	snap_section_end(w);
	assert_int_equal(snap_writer_bytes(w, &buf, &len, err, sizeof(err)), 0);
	r = snap_reader_parse(buf, len, err, sizeof(err));
	assert_non_null(r);
	rate_limiter_init(&b, 0, 0, 0, 0, 0);
	assert_int_equal(snap_section_open(r, "limiter", 0, 1, &cur, err, sizeof(err)), 0);
	rate_limiter_restore(&b, &cur, 100 * SEC);
	assert_int_equal(snap_cursor_finish(&cur, err, sizeof(err)), 0);
	assert_int_equal(b.ops.tokens, 3);
	assert_int_equal(b.ops.one_time, 0);
	assert_int_equal(b.bytes.tokens, 4000 - 12 * 300);
	/* restored at t = 100 s: 10 ms later one ops token is back, not 99 s' worth */
	assert_int_equal(rl_available(&b.ops, 100 * SEC + SEC / 100), 4);
	snap_reader_free(r);

	/* ops tokens (third u64 of the section) above the capacity (second) */
	bad = malloc(len);
	memcpy(bad, buf, len);
	bad[len - 88 + 16] = 200;
	{
		/* rewrite with a valid CRC: build the section again from the spoiled payload */
		struct snap_writer *w2 = snap_writer_new();
		const uint8_t *b2;
		size_t l2;

		snap_section_begin(w2, "limiter", 0, 1);
		snap_put(w2, bad + len - 88, 88);
		snap_section_end(w2);
		assert_int_equal(snap_writer_bytes(w2, &b2, &l2, err, sizeof(err)), 0);
		r = snap_reader_parse(b2, l2, err, sizeof(err));
		assert_non_null(r);
		b.ops.tokens = 7;
		assert_int_equal(snap_section_open(r, "limiter", 0, 1, &cur, err, sizeof(err)), 0);
		rate_limiter_restore(&b, &cur, 100 * SEC);
		assert_int_equal(snap_cursor_finish(&cur, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "more tokens than its capacity"));
		assert_int_equal(b.ops.tokens, 7);
		snap_reader_free(r);
		snap_writer_free(w2);
	}
	free(bad);
	snap_writer_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_slow_rate_fractions),
		cmocka_unit_test(test_bytes_and_oversize),
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_limiter_shaping),
		cmocka_unit_test(test_limiter_police),
		cmocka_unit_test(test_limiter_timer),
		cmocka_unit_test(test_bucket_cfg_one_time),
		cmocka_unit_test(test_snapshot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
