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
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "kite/evloop.h"
#include "kite/iothread.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_callbacks_on_the_thread),
		cmocka_unit_test(test_pause_waits_for_a_running_callback),
		cmocka_unit_test(test_paused_thread_serves_nothing_until_last_resume),
		cmocka_unit_test(test_stop_while_paused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
