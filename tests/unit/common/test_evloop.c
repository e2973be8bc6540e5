/* SPDX-License-Identifier: MIT */
/* Event loop: dispatch, mod, deletion from inside callbacks, stop and add from another thread. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "kite/evloop.h"

struct pipe_ctx {
	struct evloop *loop;
	int fds[2];
	int calls;
	char got[16];
	int del_other_fd;     /* fd to delete from the callback, -1 = none */
	bool del_self;
	bool stop;
};

static void pipe_cb(void *opaque, int fd, uint32_t events)
{
	struct pipe_ctx *c = opaque;
	ssize_t n;

	assert_true(events & EPOLLIN);
	assert_int_equal(fd, c->fds[0]);
	n = read(fd, c->got, sizeof(c->got) - 1);
	assert_true(n > 0);
	c->got[n] = '\0';
	c->calls++;
	if (c->del_other_fd >= 0)
		assert_int_equal(evloop_del(c->loop, c->del_other_fd), 0);
	if (c->del_self)
		assert_int_equal(evloop_del(c->loop, fd), 0);
	if (c->stop)
		evloop_stop(c->loop);
}

static void ctx_init(struct pipe_ctx *c, struct evloop *loop)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->del_other_fd = -1;
	assert_int_equal(pipe(c->fds), 0);
}

static void ctx_close(struct pipe_ctx *c)
{
	close(c->fds[0]);
	close(c->fds[1]);
}

static void test_dispatch_and_errors(void **state)
{
	struct evloop *loop = evloop_new();
	struct pipe_ctx c;

	(void)state;
	assert_non_null(loop);
	ctx_init(&c, loop);
	assert_int_equal(evloop_add(loop, c.fds[0], EPOLLIN, pipe_cb, &c), 0);
	assert_int_equal(evloop_add(loop, c.fds[0], EPOLLIN, pipe_cb, &c), -EEXIST);
	assert_int_equal(evloop_del(loop, 12345), -ENOENT);
	assert_int_equal(evloop_mod(loop, 12345, EPOLLIN), -ENOENT);
	assert_int_equal(evloop_add(loop, -1, EPOLLIN, pipe_cb, &c), -EINVAL);

	/* Nothing readable: no call. */
	assert_int_equal(evloop_run_once(loop, 0), 0);
	assert_int_equal(c.calls, 0);

	assert_int_equal(write(c.fds[1], "abc", 3), 3);
	assert_int_equal(evloop_run_once(loop, 1000), 0);
	assert_int_equal(c.calls, 1);
	assert_string_equal(c.got, "abc");

	/* Watching for nothing: data stays unread. */
	assert_int_equal(evloop_mod(loop, c.fds[0], 0), 0);
	assert_int_equal(write(c.fds[1], "x", 1), 1);
	assert_int_equal(evloop_run_once(loop, 0), 0);
	assert_int_equal(c.calls, 1);
	assert_int_equal(evloop_mod(loop, c.fds[0], EPOLLIN), 0);
	assert_int_equal(evloop_run_once(loop, 1000), 0);
	assert_int_equal(c.calls, 2);
	assert_string_equal(c.got, "x");

	assert_int_equal(evloop_del(loop, c.fds[0]), 0);
	assert_int_equal(write(c.fds[1], "y", 1), 1);
	assert_int_equal(evloop_run_once(loop, 0), 0);
	assert_int_equal(c.calls, 2);
	ctx_close(&c);
	evloop_free(loop);
}

/* Two fds ready in one round; the first callback deletes the other one and itself: the other must
 * not be called, and nothing may be used after free (ASan). */
static void test_delete_inside_callback(void **state)
{
	struct evloop *loop = evloop_new();
	struct pipe_ctx a, b;

	(void)state;
	ctx_init(&a, loop);
	ctx_init(&b, loop);
	a.del_other_fd = b.fds[0];
	a.del_self = true;
	b.del_other_fd = a.fds[0];
	b.del_self = true;
	assert_int_equal(evloop_add(loop, a.fds[0], EPOLLIN, pipe_cb, &a), 0);
	assert_int_equal(evloop_add(loop, b.fds[0], EPOLLIN, pipe_cb, &b), 0);
	assert_int_equal(write(a.fds[1], "1", 1), 1);
	assert_int_equal(write(b.fds[1], "2", 1), 1);
	assert_int_equal(evloop_run_once(loop, 1000), 0);
	/* Exactly one of them ran; it removed both. */
	assert_int_equal(a.calls + b.calls, 1);
	assert_int_equal(evloop_del(loop, a.fds[0]), -ENOENT);
	assert_int_equal(evloop_del(loop, b.fds[0]), -ENOENT);
	assert_int_equal(evloop_run_once(loop, 0), 0);
	assert_int_equal(a.calls + b.calls, 1);
	/* The fds can be watched again. */
	assert_int_equal(evloop_add(loop, a.fds[0], EPOLLIN, pipe_cb, &a), 0);
	a.del_other_fd = -1;
	a.del_self = false;
	/* Level-triggered: if b ran first, a's byte is still waiting and is delivered now. */
	assert_int_equal(evloop_run_once(loop, 0), 0);
	assert_true(a.calls == 1 || (a.calls == 2 && !strcmp(a.got, "1")));
	ctx_close(&a);
	ctx_close(&b);
	evloop_free(loop);
}

struct thread_ctx {
	struct evloop *loop;
	struct pipe_ctx *pipe;
};

static void *stopper(void *arg)
{
	evloop_stop(arg);
	return NULL;
}

static void test_stop_from_thread(void **state)
{
	struct evloop *loop = evloop_new();
	pthread_t t;

	(void)state;
	assert_false(evloop_stopped(loop));
	assert_int_equal(pthread_create(&t, NULL, stopper, loop), 0);
	/* Blocks until the other thread stops the loop (no fd is watched at all). */
	assert_int_equal(evloop_run(loop), 0);
	assert_true(evloop_stopped(loop));
	pthread_join(t, NULL);
	evloop_free(loop);
}

static void *adder(void *arg)
{
	struct thread_ctx *tc = arg;

	assert_int_equal(evloop_add(tc->loop, tc->pipe->fds[0], EPOLLIN, pipe_cb, tc->pipe), 0);
	assert_int_equal(write(tc->pipe->fds[1], "late", 4), 4);
	return NULL;
}

static void *deleter(void *arg)
{
	struct thread_ctx *tc = arg;

	assert_int_equal(evloop_del(tc->loop, tc->pipe->fds[0]), 0);
	evloop_stop(tc->loop);
	return NULL;
}

static void test_add_del_from_thread(void **state)
{
	struct evloop *loop = evloop_new();
	struct pipe_ctx c;
	struct thread_ctx tc = { .loop = loop, .pipe = &c };
	pthread_t t;

	(void)state;
	ctx_init(&c, loop);
	c.stop = true;
	/* The loop is blocked in epoll_wait when (or before) the thread adds an fd and makes it
	 * readable: the callback must still run, and it stops the loop. */
	assert_int_equal(pthread_create(&t, NULL, adder, &tc), 0);
	assert_int_equal(evloop_run(loop), 0);
	pthread_join(t, NULL);
	assert_int_equal(c.calls, 1);
	assert_string_equal(c.got, "late");

	/* A second loop run: another thread deletes the fd and stops; the fd's data is never read. */
	evloop_free(loop);
	loop = evloop_new();
	tc.loop = loop;
	c.loop = loop;
	c.stop = false;
	assert_int_equal(evloop_add(loop, c.fds[0], EPOLLIN, pipe_cb, &c), 0);
	assert_int_equal(pthread_create(&t, NULL, deleter, &tc), 0);
	pthread_join(t, NULL);
	assert_int_equal(write(c.fds[1], "zz", 2), 2);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(c.calls, 1);
	ctx_close(&c);
	evloop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_and_errors),
		cmocka_unit_test(test_delete_inside_callback),
		cmocka_unit_test(test_stop_from_thread),
		cmocka_unit_test(test_add_del_from_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
