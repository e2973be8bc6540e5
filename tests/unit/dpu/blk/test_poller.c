/* SPDX-License-Identifier: MIT */
/* dpu poller: items run, and after poller_del() returns an item is never called again (grace period),
 * with and without a thread; an idle poller sleeping on an item's wake fd is woken by a write to it;
 * an item waiting only for I/O (POLLER_IO_WAIT) makes the poller sleep after one round, not spin; the
 * adaptive spin window grows after short sleeps and shrinks to nothing after long ones, and a poller
 * fed work further apart than the longest spin ends up sleeping without spinning (and works on); an
 * item's poller_wake_within bounds the next sleep (an idle sleep of 10 minutes ends at once: the test
 * would time out otherwise) and the smallest bound wins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

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

struct wake_item {
	int fd;
	atomic_uint arms, disarms, writes_seen;
};

/* Takes the eventfd's count (the poller itself never reads a wake fd). */
static unsigned wake_poll(void *opaque)
{
	struct wake_item *it = opaque;
	uint64_t v;

	if (read(it->fd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
		atomic_fetch_add(&it->writes_seen, 1);
		return 1;
	}
	return 0;
}

static int wake_arm(void *opaque, bool arm)
{
	struct wake_item *it = opaque;

	atomic_fetch_add(arm ? &it->arms : &it->disarms, 1);
	return POLLER_ARM_IDLE;
}

static void pause_briefly(void)
{
	struct timespec ts = { 0, 100000 };
	nanosleep(&ts, NULL);
}

/* With an idle sleep of an hour only a write can wake the armed poller: if the write did not, the
 * test hangs and meson's timeout fails it. (A spurious wake-up, e.g. the control fd's event from
 * poller_add_fd, only makes it arm and sleep again.) */
/* A threaded poller whose idle sleep is an hour, with `fn` on it.fd (a new eventfd). */
static struct dpu_poller *sleepy_poller(struct wake_item *it, dpu_poll_fn fn)
{
	struct dpu_poller *p = poller_new(-1, true);

	it->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_non_null(p);
	assert_true(it->fd >= 0);
	poller_set_idle_max_ns(p, 3600ull * 1000000000ull);
	assert_int_equal(poller_add_fd(p, fn, it, it->fd, wake_arm), 0);
	return p;
}

static void test_thread_wake_fd(void **state)
{
	struct wake_item it = { .fd = -1 };
	struct dpu_poller *p = sleepy_poller(&it, wake_poll);
	int fd = it.fd;
	uint64_t one = 1, rounds, busy, sleeps;

	(void)state;
	while (atomic_load(&it.arms) == 0)      /* armed: it is sleeping (or about to) on fd */
		pause_briefly();
	assert_int_equal(atomic_load(&it.writes_seen), 0);
	assert_int_equal(write(fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	while (atomic_load(&it.writes_seen) == 0)      /* the item ran after the write */
		pause_briefly();
	assert_true(atomic_load(&it.disarms) >= 1);   /* disarmed before polling again */
	poller_counters(p, &rounds, &busy, &sleeps);
	assert_true(sleeps >= 1);
	poller_del(p, wake_poll, &it);                 /* wakes the sleeping poller through its control fd */
	assert_int_equal(poller_nr_items(p), 0);
	poller_free(p);                                /* and so does stopping it */
	close(fd);
}

/* Returns the fd's count as work, else POLLER_IO_WAIT: "my I/O is in flight, the fd says when". */
static unsigned io_wait_poll(void *opaque)
{
	return wake_poll(opaque) ? 1 : POLLER_IO_WAIT;
}

static void test_io_wait_no_thread(void **state)
{
	struct dpu_poller *p = poller_new(-1, false);
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct wake_item it = { .fd = fd };
	struct item busy = { .work = 2 };
	uint64_t one = 1, rounds, nbusy, sleeps;

	(void)state;
	assert_non_null(p);
	assert_int_equal(poller_add_fd(p, io_wait_poll, &it, fd, wake_arm), 0);
	assert_int_equal(poller_run_once(p), POLLER_IO_WAIT);
	assert_int_equal(write(fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	assert_int_equal(poller_run_once(p), 1);
	assert_int_equal(poller_add(p, item_poll, &busy), 0);
	assert_int_equal(poller_run_once(p), 2);           /* work wins over an item's wait */
	poller_counters(p, &rounds, &nbusy, &sleeps);
	assert_int_equal(rounds, 3);
	assert_int_equal(nbusy, 2);                       /* a waiting round is not a busy one */
	poller_free(p);
	close(fd);
}

/* Without POLLER_IO_WAIT an idle poller spins at least 64 rounds (and its spin window) before it arms; an item
 * waiting for I/O makes it arm after its first idle round, every time. */
static void test_io_wait_sleeps_at_once(void **state)
{
	struct wake_item it = { .fd = -1 };
	struct dpu_poller *p = sleepy_poller(&it, io_wait_poll);
	int fd = it.fd;
	uint64_t one = 1, rounds, busy, sleeps;

	(void)state;
	for (unsigned i = 1; i <= 20; i++) {
		while (atomic_load(&it.arms) < i)      /* armed: asleep on fd (or about to be) */
			pause_briefly();
		assert_int_equal(write(fd, &one, sizeof(one)), (ssize_t)sizeof(one));
		while (atomic_load(&it.writes_seen) < i)
			pause_briefly();
	}
	while (atomic_load(&it.arms) < 21)
		pause_briefly();
	poller_counters(p, &rounds, &busy, &sleeps);
	/* per write: the round that took it and one waiting round (plus wake-ups by the control fd
	 * from poller_add_fd); spinning would be >= 64 per sleep */
	assert_true(rounds <= 3 * 21 + 4);
	assert_true(sleeps >= 20);
	poller_del(p, io_wait_poll, &it);
	poller_free(p);
	close(fd);
}

/* poller_spin_next, the policy alone (no clock), at the default bound and at others */
static void test_spin_policy(void **state)
{
	const uint64_t M = POLLER_SPIN_DEFAULT_NS;

	(void)state;
	/* long sleeps: the spin found nothing a sleep missed; halve, then 0 below the minimum */
	assert_int_equal(poller_spin_next(M, M, M), M / 2);
	assert_int_equal(poller_spin_next(M, 10 * M, M), M / 2);
	assert_int_equal(poller_spin_next(2 * POLLER_SPIN_MIN_NS, 1000000, M), POLLER_SPIN_MIN_NS);
	assert_int_equal(poller_spin_next(POLLER_SPIN_MIN_NS, 1000000, M), 0);
	assert_int_equal(poller_spin_next(0, 1000000, M), 0);
	/* short sleeps: a longer spin would have found the work; grow from the minimum, capped */
	assert_int_equal(poller_spin_next(0, M - 1, M), POLLER_SPIN_MIN_NS);
	assert_int_equal(poller_spin_next(POLLER_SPIN_MIN_NS, 1000, M), 2 * POLLER_SPIN_MIN_NS);
	assert_int_equal(poller_spin_next(M / 2 + 1, 0, M), M);
	assert_int_equal(poller_spin_next(M, 0, M), M);
	/* the bound decides what "short" is: a 20 us sleep grows a 50 us bound's window, halves 10 us's */
	assert_int_equal(poller_spin_next(8000, 20000, 50000), 16000);
	assert_int_equal(poller_spin_next(8000, 20000, 10000), 4000);
	assert_int_equal(poller_spin_next(40000, 0, 50000), 50000);
	/* bound 0: never a window */
	assert_int_equal(poller_spin_next(0, 0, 0), 0);
	assert_int_equal(poller_spin_next(POLLER_SPIN_MIN_NS, 0, 0), 0);
	/* from the bound, long sleeps reach 0 in a bounded number of steps */
	uint64_t w = M;
	unsigned steps = 0;
	while (w && steps < 64) {
		w = poller_spin_next(w, 1000000, M);
		steps++;
	}
	assert_int_equal(w, 0);
	assert_true(steps <= 4);
}

/* poller_set_spin_max_ns: the thread takes a lower bound at its next idle look at the clock (the
 * window it reports drops to it), 0 included: then it sleeps without spinning, and works on. */
static void test_spin_bound(void **state)
{
	struct wake_item it = { .fd = -1 };
	struct dpu_poller *p = sleepy_poller(&it, wake_poll);
	uint64_t one = 1;

	(void)state;
	assert_int_equal(poller_spin_ns(p), POLLER_SPIN_DEFAULT_NS);
	const uint64_t bounds[] = { 4000, 0 };
	for (unsigned i = 0; i < 2; i++) {
		while (atomic_load(&it.arms) != atomic_load(&it.disarms) + 1)   /* asleep on the fd */
			pause_briefly();
		unsigned arms = atomic_load(&it.arms);
		poller_set_spin_max_ns(p, bounds[i]);
		assert_int_equal(write(it.fd, &one, sizeof(one)), (ssize_t)sizeof(one));  /* work, then idle */
		while (atomic_load(&it.writes_seen) < i + 1 || atomic_load(&it.arms) == arms)
			pause_briefly();   /* asleep again: it looked at the clock after the work */
		assert_true(poller_spin_ns(p) <= bounds[i]);
	}
	assert_int_equal(poller_spin_ns(p), 0);
	poller_del(p, wake_poll, &it);
	poller_free(p);
	close(it.fd);
}

/* A thread fed one piece of work 2 ms after the last one was done (far beyond the longest spin): its
 * window drops to 0 within a few sleeps, and every piece of work is still done (the wake fd ends each
 * sleep). */
static void test_spin_shrinks_for_slow_work(void **state)
{
	struct wake_item it = { .fd = -1 };
	struct dpu_poller *p = sleepy_poller(&it, wake_poll);
	uint64_t one = 1;

	(void)state;
	assert_int_equal(poller_spin_ns(p), POLLER_SPIN_DEFAULT_NS);
	for (unsigned i = 0; i < 10; i++) {
		struct timespec ts = { 0, 2000000 };

		nanosleep(&ts, NULL);
		assert_int_equal(write(it.fd, &one, sizeof(one)), (ssize_t)sizeof(one));
		while (atomic_load(&it.writes_seen) < i + 1)
			pause_briefly();
	}
	assert_int_equal(poller_spin_ns(p), 0);
	poller_del(p, wake_poll, &it);
	poller_free(p);
	close(it.fd);
}

/* An armed, idle item with a wake fd that nobody writes; its arm asks for a wake within `within` ns. */
struct deadline_item {
	int fd;
	uint64_t within;
	unsigned arms;
};

static unsigned deadline_poll(void *opaque)
{
	(void)opaque;
	return 0;
}

static int deadline_arm(void *opaque, bool arm)
{
	struct deadline_item *it = opaque;

	if (arm) {
		it->arms++;
		if (it->within)
			poller_wake_within(it->within);
	}
	return POLLER_ARM_IDLE;
}

static void test_wake_within(void **state)
{
	struct dpu_poller *p = poller_new(-1, false);
	struct deadline_item a = { .fd = eventfd(0, EFD_NONBLOCK), .within = 1000000 };
	struct deadline_item b = { .fd = eventfd(0, EFD_NONBLOCK), .within = 600ull * 1000000000 };

	(void)state;
	poller_set_idle_max_ns(p, 600ull * 1000000000);   /* 10 minutes: only a bound ends the sleep */
	assert_int_equal(poller_add_fd(p, deadline_poll, &a, a.fd, deadline_arm), 0);
	assert_int_equal(poller_add_fd(p, deadline_poll, &b, b.fd, deadline_arm), 0);
	/* b asks for 10 minutes, a for 1 ms: the smaller bound ends the sleep */
	assert_true(poller_sleep_once(p));
	assert_int_equal(a.arms, 1);
	assert_int_equal(b.arms, 1);
	/* and again, as each sleep asks anew */
	assert_true(poller_sleep_once(p));
	assert_int_equal(a.arms, 2);
	poller_del(p, deadline_poll, &a);
	poller_del(p, deadline_poll, &b);
	poller_free(p);
	close(a.fd);
	close(b.fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_thread),
		cmocka_unit_test(test_thread_grace_period),
		cmocka_unit_test(test_thread_wake_fd),
		cmocka_unit_test(test_io_wait_no_thread),
		cmocka_unit_test(test_io_wait_sleeps_at_once),
		cmocka_unit_test(test_spin_policy),
		cmocka_unit_test(test_spin_bound),
		cmocka_unit_test(test_spin_shrinks_for_slow_work),
		cmocka_unit_test(test_wake_within),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
