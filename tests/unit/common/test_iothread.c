/* SPDX-License-Identifier: MIT */
/* I/O threads: callbacks run on the thread; pause waits for a running callback and holds back
 * new ones until the last resume (nested); stop ends a paused thread. No timed assertion: the
 * short sleeps only give a broken pause the chance to show itself. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "kite/evloop.h"
#include "kite/iothread.h"
#include "kite/poll_window.h"

struct ctx {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fd;
	unsigned calls;
	pthread_t cb_thread;
	bool block, in_cb, release, cb_done;
};

static void on_fd(void *opaque, int fd, uint32_t events)
{
	struct ctx *c = opaque;
	uint64_t v;

	(void)events;
	assert_int_equal(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	pthread_mutex_lock(&c->lock);
	c->cb_thread = pthread_self();
	c->in_cb = true;
	pthread_cond_broadcast(&c->cond);
	while (c->block && !c->release)
		pthread_cond_wait(&c->cond, &c->lock);
	c->calls++;
	c->cb_done = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void poke(struct ctx *c)
{
	uint64_t one = 1;

	assert_int_equal(write(c->fd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

static unsigned calls(struct ctx *c)
{
	unsigned n;

	pthread_mutex_lock(&c->lock);
	n = c->calls;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static void wait_calls(struct ctx *c, unsigned n)
{
	pthread_mutex_lock(&c->lock);
	while (c->calls < n)
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

static struct iothread *setup(struct ctx *c)
{
	struct iothread *t = iothread_new("test-dev");

	assert_non_null(t);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->fd = eventfd(0, EFD_NONBLOCK);
	assert_true(c->fd >= 0);
	assert_int_equal(evloop_add(iothread_loop(t), c->fd, EPOLLIN, on_fd, c), 0);
	assert_int_equal(iothread_start(t, -1, NULL), 0);
	return t;
}

static void teardown(struct iothread *t, struct ctx *c)
{
	iothread_stop(t);
	assert_int_equal(evloop_del(iothread_loop(t), c->fd), 0);
	iothread_free(t);
	close(c->fd);
}

static void test_callbacks_on_the_thread(void **state)
{
	struct ctx c = { 0 };
	struct iothread *t = setup(&c);

	(void)state;
	poke(&c);
	wait_calls(&c, 1);
	assert_false(pthread_equal(c.cb_thread, pthread_self()));
	poke(&c);
	wait_calls(&c, 2);
	teardown(t, &c);
}

struct pauser {
	struct iothread *t;
	struct ctx *c;
	bool done_at_return;
};

static void *pause_thread(void *opaque)
{
	struct pauser *p = opaque;

	iothread_pause(p->t);
	pthread_mutex_lock(&p->c->lock);
	p->done_at_return = p->c->cb_done;
	pthread_mutex_unlock(&p->c->lock);
	return NULL;
}

static void test_pause_waits_for_a_running_callback(void **state)
{
	struct ctx c = { .block = true };
	struct iothread *t = setup(&c);
	struct pauser p = { t, &c, false };
	pthread_t th;

	(void)state;
	poke(&c);
	pthread_mutex_lock(&c.lock);
	while (!c.in_cb)
		pthread_cond_wait(&c.cond, &c.lock);
	pthread_mutex_unlock(&c.lock);
	assert_int_equal(pthread_create(&th, NULL, pause_thread, &p), 0);
	usleep(20000);
	pthread_mutex_lock(&c.lock);
	c.release = true;
	pthread_cond_broadcast(&c.cond);
	pthread_mutex_unlock(&c.lock);
	pthread_join(th, NULL);
	assert_true(p.done_at_return);      /* pause returned only after the callback ended */
	iothread_resume(t);
	teardown(t, &c);
}

static void test_paused_thread_serves_nothing_until_last_resume(void **state)
{
	struct ctx c = { 0 };
	struct iothread *t = setup(&c);

	(void)state;
	iothread_pause(t);
	iothread_pause(t);          /* nested: e.g. the VM paused, then a drive swapped */
	poke(&c);
	usleep(20000);
	assert_int_equal(calls(&c), 0);
	iothread_resume(t);
	usleep(20000);
	assert_int_equal(calls(&c), 0);
	iothread_resume(t);
	wait_calls(&c, 1);          /* the kick waited in its eventfd, served after the last resume */
	teardown(t, &c);
}

static void test_stop_while_paused(void **state)
{
	struct ctx c = { 0 };
	struct iothread *t = setup(&c);

	(void)state;
	iothread_pause(t);
	iothread_stop(t);           /* joins: returns only because the parked thread ended */
	iothread_stop(t);           /* idempotent */
	poke(&c);
	/* the owner may now run the loop itself (teardown on the main thread) */
	assert_int_equal(evloop_run_once(iothread_loop(t), 0), 0);
	assert_int_equal(calls(&c), 1);
	assert_true(pthread_equal(c.cb_thread, pthread_self()));
	teardown(t, &c);
}

/* Polling: a device whose event re-arms itself until ROUNDS events were served (each wait after a
 * window is short: no clock involved but the thread's own), and whose queue holds work once at the
 * start of every window. The adaptive window opens, every window finds work, none is cut or backed
 * off; the statistics say so, read from this thread. */
#define ROUNDS 50

struct pctx {
	int fd;
	unsigned rounds;     /* the I/O thread's only, read after iothread_stop */
	bool fresh;          /* work waits at the window's start */
};

static void on_self(void *opaque, int fd, uint32_t events)
{
	struct pctx *p = opaque;
	uint64_t v = 1;

	(void)events;
	assert_int_equal(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	if (++p->rounds < ROUNDS)
		assert_int_equal(write(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
}

static bool fake_poll(void *opaque, enum iothread_poll_phase phase)
{
	struct pctx *p = opaque;
	bool found = phase == IOTHREAD_POLL_CHECK && p->fresh;

	if (phase == IOTHREAD_POLL_BEGIN)
		p->fresh = true;
	if (found)
		p->fresh = false;
	return found;
}

static void test_poll_stats(void **state)
{
	struct poll_window_cfg cfg = { .max_ns = 64000, .adaptive = true, .budget_pct = 100 };
	struct poll_window_stats st;
	struct pctx p = { 0 };
	struct iothread *t = iothread_new("test-poll"), *off = iothread_new("test-off");
	char mode[32];
	uint64_t one = 1;

	(void)state;
	assert_non_null(t);
	assert_non_null(off);
	p.fd = eventfd(0, EFD_NONBLOCK);
	assert_true(p.fd >= 0);
	assert_int_equal(evloop_add(iothread_loop(t), p.fd, EPOLLIN, on_self, &p), 0);
	iothread_set_poll(t, fake_poll, &p, &cfg);
	assert_string_equal(iothread_poll_mode(t, mode, sizeof(mode)), "adaptive");
	assert_int_equal(iothread_start(t, -1, NULL), 0);
	assert_int_equal(write(p.fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	/* read while the thread runs (any thread may): never more finds than windows */
	do {
		assert_true(iothread_poll_stats(t, &st));
		assert_true(st.found <= st.windows);
		usleep(1000);
	} while (st.windows < ROUNDS / 2);
	iothread_stop(t);
	assert_true(p.rounds >= ROUNDS / 2 && p.rounds <= ROUNDS);
	assert_true(iothread_poll_stats(t, &st));
	assert_true(st.windows >= ROUNDS / 2 && st.windows < ROUNDS);   /* the first round has none */
	assert_int_equal(st.found, st.windows);                /* each found its work */
	assert_true(st.useful_ns > 0);
	/* each ran out a window (>= 4 us) after its find, but the one the stop may have cut short */
	assert_true(st.vain_ns >= (st.windows - 1) * POLL_WINDOW_START_NS);
	assert_true(st.window_ns <= cfg.max_ns && st.last_ns > 0);
	assert_int_equal(st.budget_cuts, 0);
	assert_int_equal(st.backoff_skips, 0);
	assert_int_equal(evloop_del(iothread_loop(t), p.fd), 0);
	iothread_free(t);
	close(p.fd);

	/* without polling: "off", zeros; a fixed window names its size */
	assert_false(iothread_poll_stats(off, &st));
	assert_int_equal(st.windows + st.found + st.useful_ns + st.vain_ns + st.window_ns + st.last_ns, 0);
	assert_string_equal(iothread_poll_mode(off, mode, sizeof(mode)), "off");
	cfg = (struct poll_window_cfg){ .max_ns = 50000 };
	iothread_set_poll(off, fake_poll, &p, &cfg);
	assert_string_equal(iothread_poll_mode(off, mode, sizeof(mode)), "50us");
	iothread_free(off);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_callbacks_on_the_thread),
		cmocka_unit_test(test_pause_waits_for_a_running_callback),
		cmocka_unit_test(test_paused_thread_serves_nothing_until_last_resume),
		cmocka_unit_test(test_stop_while_paused),
		cmocka_unit_test(test_poll_stats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
