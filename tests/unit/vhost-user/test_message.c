/* SPDX-License-Identifier: MIT */
/* vhost-user message framing and validation: good messages pass with their fds, bad ones are refused
 * and their fds closed. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "kite/vhost_user.h"

static int sv[2];

static int setup(void **state)
{
	(void)state;
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
}

static int teardown(void **state)
{
	(void)state;
	close(sv[0]);
	close(sv[1]);
	return 0;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int roundtrip(struct vhost_user_msg *out, struct vhost_user_msg *in, bool reply, char *err)
{
	assert_int_equal(vu_msg_send(sv[0], out), 0);
	return vu_msg_recv(sv[1], in, reply, err, 160);
}

static void test_u64_and_fd(void **state)
{
	struct vhost_user_msg m = { .hdr = { VHOST_USER_SET_VRING_CALL, VHOST_USER_VERSION, 8 }, .p.u64 = 1 };
	struct vhost_user_msg r;
	char err[160];
	int efd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	m.fds[0] = efd;
	m.nfds = 1;
	assert_int_equal(roundtrip(&m, &r, false, err), 1);
	assert_int_equal(r.hdr.request, VHOST_USER_SET_VRING_CALL);
	assert_int_equal(r.p.u64, 1);
	assert_int_equal(r.nfds, 1);
	assert_true(r.fds[0] != efd && fd_open(r.fds[0]));
	/* the received fd is the same eventfd */
	uint64_t v = 5;
	assert_int_equal(write(r.fds[0], &v, 8), 8);
	assert_int_equal(read(efd, &v, 8), 8);
	assert_int_equal(v, 5);
	int got = r.fds[0];
	vu_msg_close_fds(&r);
	assert_false(fd_open(got));
	close(efd);
}

static void test_nofd_kick(void **state)
{
	struct vhost_user_msg m = { .hdr = { VHOST_USER_SET_VRING_KICK, VHOST_USER_VERSION, 8 },
				    .p.u64 = 3 | VHOST_USER_VRING_NOFD_MASK };
	struct vhost_user_msg r;
	char err[160];

	(void)state;
	assert_int_equal(roundtrip(&m, &r, false, err), 1);
	assert_int_equal(r.nfds, 0);
	/* an fd where NOFD says none: refused, and the fd is closed */
	int efd = eventfd(0, EFD_CLOEXEC);
	m.fds[0] = efd;
	m.nfds = 1;
	assert_int_equal(roundtrip(&m, &r, false, err), -1);
	assert_non_null(strstr(err, "fds"));
	close(efd);
	/* a kick without NOFD and without an fd */
	m.p.u64 = 0;
	m.nfds = 0;
	assert_int_equal(roundtrip(&m, &r, false, err), -1);
}

static void test_bad_sizes(void **state)
{
	struct vhost_user_msg m = { .hdr = { VHOST_USER_SET_VRING_NUM, VHOST_USER_VERSION, 4 } };
	struct vhost_user_msg r;
	char err[160];

	(void)state;
	assert_int_equal(roundtrip(&m, &r, false, err), -1);
	assert_non_null(strstr(err, "SET_VRING_NUM"));
	m.hdr = (struct vhost_user_header){ VHOST_USER_SET_VRING_ADDR, VHOST_USER_VERSION, 8 };
	assert_int_equal(roundtrip(&m, &r, false, err), -1);
	/* config claiming more than it carries */
	m.hdr = (struct vhost_user_header){ VHOST_USER_GET_CONFIG, VHOST_USER_VERSION, 12 + 4 };
	m.p.config.size = 200;
	assert_int_equal(roundtrip(&m, &r, false, err), -1);
	m.p.config.size = 4;
	assert_int_equal(roundtrip(&m, &r, false, err), 1);
	/* memory table: nregions vs size vs fds */
	m.hdr = (struct vhost_user_header){ VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, 8 + 32 };
	m.p.mem.nregions = 9;
	assert_int_equal(roundtrip(&m, &r, false, err), -1);
	m.p.mem.nregions = 1;
	assert_int_equal(roundtrip(&m, &r, false, err), -1);   /* no fd */
	m.fds[0] = eventfd(0, EFD_CLOEXEC);
	m.nfds = 1;
	assert_int_equal(roundtrip(&m, &r, false, err), 1);
	vu_msg_close_fds(&r);
	close(m.fds[0]);
}

static void test_bad_header(void **state)
{
	struct vhost_user_msg m = { .hdr = { VHOST_USER_GET_FEATURES, 0x2, 0 } };
	struct vhost_user_msg r;
	char err[160];

	(void)state;
	assert_int_equal(roundtrip(&m, &r, false, err), -1);   /* version 2 */
	m.hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	assert_int_equal(roundtrip(&m, &r, false, err), -1);   /* reply where a request is expected */
	m.hdr = (struct vhost_user_header){ 12345, VHOST_USER_VERSION, 0 };
	assert_int_equal(roundtrip(&m, &r, false, err), -1);   /* unknown request */
	/* an oversized payload claim: refused without reading it */
	struct vhost_user_header h = { VHOST_USER_SET_FEATURES, VHOST_USER_VERSION, 1u << 20 };
	assert_int_equal(write(sv[0], &h, sizeof(h)), (ssize_t)sizeof(h));
	assert_int_equal(vu_msg_recv(sv[1], &r, false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too large"));
}

static void test_replies_and_eof(void **state)
{
	struct vhost_user_msg m = { .hdr = { VHOST_USER_GET_VRING_BASE, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, 8 },
				    .p.state = { 1, 77 } };
	struct vhost_user_msg r;
	char err[160];

	(void)state;
	assert_int_equal(roundtrip(&m, &r, true, err), 1);
	assert_int_equal(r.p.state.num, 77);
	m.hdr.flags = VHOST_USER_VERSION;
	assert_int_equal(roundtrip(&m, &r, true, err), -1);   /* reply flag missing */
	/* a header cut short by EOF */
	assert_int_equal(write(sv[0], "\x01\x00", 2), 2);
	shutdown(sv[0], SHUT_WR);
	assert_int_equal(vu_msg_recv(sv[1], &r, false, err, sizeof(err)), -1);
	assert_int_equal(vu_msg_recv(sv[1], &r, false, err, sizeof(err)), 0);
	assert_string_equal(vu_request_name(VHOST_USER_ADD_MEM_REG), "ADD_MEM_REG");
	assert_string_equal(vu_request_name(999), "UNKNOWN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_u64_and_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nofd_kick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replies_and_eof, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
