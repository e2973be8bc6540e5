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

/* The request table: every code of the spec has its row, and the rows say what the code paths use. */
static void test_request_table(void **state)
{
	static const uint32_t with_reply[] = { VHOST_USER_GET_FEATURES, VHOST_USER_GET_PROTOCOL_FEATURES,
					       VHOST_USER_GET_QUEUE_NUM, VHOST_USER_GET_VRING_BASE,
					       VHOST_USER_GET_CONFIG, VHOST_USER_GET_INFLIGHT_FD,
					       VHOST_USER_GET_MAX_MEM_SLOTS, VHOST_USER_GET_STATUS };
	unsigned replies = 0;

	(void)state;
	assert_int_equal(VHOST_USER_MAX_REQUEST, 41);
	assert_int_equal(VHOST_USER_SET_MEM_TABLE, 5);
	assert_int_equal(VHOST_USER_GET_STATUS, 40);
	assert_null(vu_request_rule(VHOST_USER_NONE));
	assert_null(vu_request_rule(VHOST_USER_MAX_REQUEST));
	for (uint32_t req = 1; req < VHOST_USER_MAX_REQUEST; req++) {
		const struct vu_request_rule *r = vu_request_rule(req);
		assert_non_null(r);
		assert_string_equal(vu_request_name(req), r->name);
		replies += vu_request_has_reply(req);
		/* only the memory table, feature and inflight region changes stop the pollers */
		if (r->queues == VU_QUEUES_PAUSE)
			assert_true(req == VHOST_USER_SET_FEATURES || req == VHOST_USER_SET_MEM_TABLE ||
				    req == VHOST_USER_ADD_MEM_REG || req == VHOST_USER_REM_MEM_REG ||
				    req == VHOST_USER_GET_INFLIGHT_FD || req == VHOST_USER_SET_INFLIGHT_FD);
	}
	assert_int_equal(replies, sizeof(with_reply) / sizeof(with_reply[0]));
	for (unsigned i = 0; i < sizeof(with_reply) / sizeof(with_reply[0]); i++)
		assert_true(vu_request_has_reply(with_reply[i]));
	assert_false(vu_request_has_reply(VHOST_USER_SET_VRING_NUM));
	assert_false(vu_request_has_reply(999));
	assert_string_equal(vu_request_rule(VHOST_USER_SET_VRING_CALL)->name, "SET_VRING_CALL");
	assert_int_equal(vu_request_rule(VHOST_USER_SET_VRING_CALL)->fds, VU_FDS_VRING);
	assert_int_equal(vu_request_rule(VHOST_USER_GET_INFLIGHT_FD)->reply_fds, VU_FDS_ONE);
}

/* Replies are checked against the reply columns: an ack is a u64, GET_INFLIGHT_FD's carries its fd. */
static void test_reply_rules(void **state)
{
	struct vhost_user_msg m = { .hdr = { VHOST_USER_SET_VRING_NUM, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, 8 } };
	struct vhost_user_msg r;
	char err[160];

	(void)state;
	assert_int_equal(roundtrip(&m, &r, true, err), 1);        /* REPLY_ACK status */
	m.hdr.size = sizeof(struct vhost_user_vring_state) + 4;
	assert_int_equal(roundtrip(&m, &r, true, err), -1);       /* an ack is 8 bytes */
	assert_non_null(strstr(err, "SET_VRING_NUM"));
	/* a u64 answer to a request without fds must not carry one */
	m.hdr = (struct vhost_user_header){ VHOST_USER_GET_FEATURES, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, 8 };
	m.fds[0] = eventfd(0, EFD_CLOEXEC);
	m.nfds = 1;
	assert_int_equal(roundtrip(&m, &r, true, err), -1);
	assert_non_null(strstr(err, "fds"));
	/* GET_INFLIGHT_FD: the reply needs its fd, the request must not have one */
	m.hdr = (struct vhost_user_header){ VHOST_USER_GET_INFLIGHT_FD, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
					    sizeof(struct vhost_user_inflight) };
	assert_int_equal(roundtrip(&m, &r, true, err), 1);
	assert_int_equal(r.nfds, 1);
	vu_msg_close_fds(&r);
	m.hdr.flags = VHOST_USER_VERSION;
	assert_int_equal(roundtrip(&m, &r, false, err), -1);
	m.nfds = 0;
	assert_int_equal(roundtrip(&m, &r, false, err), 1);
	m.hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	assert_int_equal(roundtrip(&m, &r, true, err), -1);
	close(m.fds[0]);
}

/* Request rules the table adds names to: 0 or 1 fd for REM_MEM_REG, refused rows, EMPTY payloads. */
static void test_request_rules(void **state)
{
	struct vhost_user_msg m = { .hdr = { VHOST_USER_REM_MEM_REG, VHOST_USER_VERSION,
					     sizeof(struct vhost_user_mem_single) } };
	struct vhost_user_msg r;
	char err[160];

	(void)state;
	assert_int_equal(roundtrip(&m, &r, false, err), 1);
	m.fds[0] = eventfd(0, EFD_CLOEXEC);
	m.fds[1] = eventfd(0, EFD_CLOEXEC);
	m.nfds = 1;
	assert_int_equal(roundtrip(&m, &r, false, err), 1);
	vu_msg_close_fds(&r);
	m.nfds = 2;
	assert_int_equal(roundtrip(&m, &r, false, err), -1);
	assert_non_null(strstr(err, "expected 0 to 1"));
	/* ADD_MEM_REG needs exactly one */
	m.hdr.request = VHOST_USER_ADD_MEM_REG;
	assert_int_equal(roundtrip(&m, &r, false, err), -1);
	m.nfds = 0;
	assert_int_equal(roundtrip(&m, &r, false, err), -1);
	/* a request kite implements nothing of is refused by name on the wire */
	m.hdr = (struct vhost_user_header){ VHOST_USER_POSTCOPY_ADVISE, VHOST_USER_VERSION, 0 };
	assert_int_equal(roundtrip(&m, &r, false, err), -1);
	assert_non_null(strstr(err, "POSTCOPY_ADVISE"));
	/* EMPTY: nothing or a zeroed u64, not 4 bytes; SET_LOG_FD takes its fd */
	m.hdr = (struct vhost_user_header){ VHOST_USER_SET_OWNER, VHOST_USER_VERSION, 8 };
	assert_int_equal(roundtrip(&m, &r, false, err), 1);
	m.hdr.size = 4;
	assert_int_equal(roundtrip(&m, &r, false, err), -1);
	m.hdr = (struct vhost_user_header){ VHOST_USER_SET_LOG_FD, VHOST_USER_VERSION, 0 };
	assert_int_equal(roundtrip(&m, &r, false, err), -1);
	m.nfds = 1;
	assert_int_equal(roundtrip(&m, &r, false, err), 1);
	vu_msg_close_fds(&r);
	close(m.fds[0]);
	close(m.fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_u64_and_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nofd_kick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replies_and_eof, setup, teardown),
		cmocka_unit_test(test_request_table),
		cmocka_unit_test_setup_teardown(test_reply_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_rules, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
