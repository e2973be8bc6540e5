/* SPDX-License-Identifier: MIT */
/*
 * The console socket (vmm/console_sock.c) on a real event loop, the UART's side played by the test
 * through the two fds: a client that does not read never stops the output pipe from draining (the
 * ring drops the oldest bytes and the client then gets the newest ones, in order); input reaches
 * the UART's pipe; a second client is refused; output made with no client waits for the next one.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "console_sock.h"
#include "kite/evloop.h"

#define RECORD 16   /* "%015llu\n" */

struct fix {
	char dir[64], path[96];
	struct evloop *loop;
	struct console_sock *cs;
	int out_fd, in_fd;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	signal(SIGPIPE, SIG_IGN);   /* as kite does */
	strcpy(f->dir, "/tmp/kite-con-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/console.sock", f->dir);
	f->loop = evloop_new();
	assert_non_null(f->loop);
	f->cs = console_sock_new(f->loop, f->path, &f->out_fd, &f->in_fd);
	assert_non_null(f->cs);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	struct stat st;

	console_sock_free(f->cs);
	assert_int_equal(stat(f->path, &st), -1);   /* the socket file is removed */
	evloop_free(f->loop);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Run the loop's ready work (no waiting), n rounds. */
static void spin(struct fix *f, int n)
{
	while (n--)
		evloop_run_once(f->loop, 0);
}

static int client(struct fix *f, int rcvbuf)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(c >= 0);
	if (rcvbuf)
		setsockopt(c, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	spin(f, 4);   /* accepted */
	return c;
}

/* Everything the client can read now, the loop serving it meanwhile, until a round brings nothing. */
static size_t drain(struct fix *f, int c, char *buf, size_t cap)
{
	size_t len = 0;
	int idle = 0;

	while (idle < 4 && len < cap) {
		ssize_t n = recv(c, buf + len, cap - len, MSG_DONTWAIT);

		if (n > 0) {
			len += (size_t)n;
			idle = 0;
		} else if (n == 0) {
			break;
		} else {
			idle++;
		}
		spin(f, 1);
	}
	return len;
}

static void test_stalled_client(void **state)
{
	struct fix *f = *state;
	const unsigned long long total = (8u << 20) / RECORD;   /* 8 MiB of output */
	int c = client(f, 4096);
	char rec[RECORD + 1], *buf = malloc(16u << 20);
	unsigned long long n, prev = 0, seen = 0;
	size_t len, off;
	bool gap = false;

	for (n = 1; n <= total; n++) {
		int tries = 0;

		snprintf(rec, sizeof(rec), "%015llu\n", n);
		/* the UART's write: it may find the pipe full only until the loop's next round */
		while (write(f->out_fd, rec, RECORD) != RECORD) {
			assert_int_equal(errno, EAGAIN);
			assert_true(++tries < 8);
			spin(f, 1);
		}
	}
	spin(f, 8);
	assert_true(console_sock_dropped(f->cs) > 0);
	len = drain(f, c, buf, 16u << 20);
	assert_true(len < total * RECORD);                  /* not everything: the client did not read */
	assert_true(len >= CONSOLE_SOCK_RING);              /* but at least the ring's worth */
	assert_memory_equal(buf + len - RECORD, rec, RECORD);   /* the newest output came last */
	/* whole records in increasing order, with one gap (a record cut by the drop may be partial) */
	for (off = 0; off + RECORD <= len;) {
		char *nl = memchr(buf + off, '\n', len - off);
		unsigned long long v;

		assert_non_null(nl);
		if (nl - (buf + off) != RECORD - 1) {   /* the cut: skip to the next whole record */
			gap = true;
			off = (size_t)(nl - buf) + 1;
			continue;
		}
		v = strtoull(buf + off, NULL, 10);
		assert_true(v > prev);
		if (prev && v != prev + 1)
			gap = true;
		prev = v;
		seen++;
		off += RECORD;
	}
	assert_true(gap);
	assert_int_equal(prev, total);
	assert_true(seen < total);
	close(c);
	free(buf);
}

static void test_input_busy_replay(void **state)
{
	struct fix *f = *state;
	int c = client(f, 0), c2;
	char buf[64];
	ssize_t n;

	/* input reaches the UART's pipe */
	assert_int_equal(write(c, "abc\n", 4), 4);
	spin(f, 4);
	n = read(f->in_fd, buf, sizeof(buf));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "abc\n", 4);
	/* output reaches the client */
	assert_int_equal(write(f->out_fd, "hello\n", 6), 6);
	spin(f, 4);
	assert_int_equal(drain(f, c, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "hello\n", 6);
	/* a second client: one line, then the end */
	c2 = client(f, 0);
	n = drain(f, c2, buf, sizeof(buf));
	assert_int_equal(n, 13);
	assert_memory_equal(buf, "console busy\n", 13);
	assert_int_equal(recv(c2, buf, sizeof(buf), MSG_DONTWAIT), 0);
	close(c2);
	/* the first one leaves; output meanwhile waits for the next client, which may attach at once */
	close(c);
	assert_int_equal(write(f->out_fd, "late\n", 5), 5);
	spin(f, 4);
	c = client(f, 0);
	n = drain(f, c, buf, sizeof(buf));
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "late\n", 5);   /* and not "hello" again */
	/* a client that ends its input still gets output */
	shutdown(c, SHUT_WR);
	spin(f, 4);
	assert_int_equal(write(f->out_fd, "more\n", 5), 5);
	spin(f, 4);
	n = drain(f, c, buf, sizeof(buf));
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "more\n", 5);
	close(c);
}

static void test_bad_path(void **state)
{
	struct evloop *loop = evloop_new();
	int o, i;

	(void)state;
	assert_null(console_sock_new(loop, "/nonexistent-dir/console.sock", &o, &i));
	evloop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stalled_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_busy_replay, setup, teardown),
		cmocka_unit_test(test_bad_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
