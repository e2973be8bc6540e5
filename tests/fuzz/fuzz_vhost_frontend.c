/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the frontend direction of vhost-user (vhost-user/frontend.c + message.c): the
 * backend is hostile. The input is the byte stream a backend sends back, cut into records
 * { u8 ctl, u16 len (little endian), len bytes } that are written, before the frontend starts, into
 * one end of a Unix socketpair, one sendmsg per record (ctl bit0: an eventfd rides along, bit1: a
 * second one); then that end stops writing, so the frontend sees end of file after the last byte
 * instead of waiting. The frontend on the other end runs a fixed session: negotiate, GET_CONFIG,
 * GET_VRING_BASE, GET_INFLIGHT_FD, a queue start, SET_INFLIGHT_FD, GET_QUEUE_NUM, each reading its
 * reply from that stream, whatever the previous call returned.
 * Checks: no crash or sanitizer error; a failed call leaves a message in f.err; a successful
 * GET_INFLIGHT_FD gives an fd; no file descriptor the replies carried stays open afterwards.
 *
 * Builds: meson test (suite 'unit') with fuzz_regress.c over tests/fuzz/corpus/vhost_frontend/ and
 * generated inputs; with clang also fuzz_vhost_frontend_libfuzzer.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_regress.h"
#include "fuzz_sendfds.h"
#include "kite/log.h"
#include "kite/vhost_frontend.h"
#include "kite/vhost_user.h"

#define MAX_RECORDS 64
#define MAX_STREAM (32u << 10)

static unsigned long inputs, calls_ok, calls_failed;

/* Send one record, with `nfds` fresh eventfds attached; false when the socket is full. */
static bool send_record(int s, const uint8_t *p, size_t n, unsigned nfds)
{
	int fds[2] = { -1, -1 };
	bool ok;

	for (unsigned i = 0; i < nfds; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	ok = fuzz_sendfds(s, p, n, fds, nfds, MSG_DONTWAIT) == (ssize_t)n;
	for (unsigned i = 0; i < nfds; i++)   /* the socket holds its own references */
		close(fds[i]);
	return ok;
}

static void note(struct vu_frontend *f, int r)
{
	if (r < 0) {
		calls_failed++;
		if (!f->err[0] || strnlen(f->err, sizeof(f->err)) == sizeof(f->err))
			abort();
		f->err[0] = '\0';
	} else {
		calls_ok++;
	}
}

static void session(struct vu_frontend *f)
{
	uint8_t cfg[24];
	uint32_t base;
	uint64_t size, u;
	int efd = eventfd(0, EFD_CLOEXEC), ifd;

	note(f, vuf_negotiate(f, ~0ull, ~0ull));
	note(f, vuf_get_config(f, 0, cfg, sizeof(cfg)));
	note(f, vuf_get_vring_base(f, 1, &base));
	ifd = vuf_get_inflight(f, 2, 128, &size);
	note(f, ifd);
	if (ifd >= 0)
		close(ifd);
	note(f, vuf_start_vring(f, 0, 256, 0x1000, 0x2000, 0x3000, 0, efd, -1));
	note(f, vuf_set_inflight(f, efd, 4096, 2, 128));
	note(f, vuf_get_u64(f, VHOST_USER_GET_QUEUE_NUM, &u));
	close(efd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vu_frontend f = { .sock = -1 };
	int sv[2], probe;
	size_t at = 0, sent = 0;

	/* the lowest free fd now must be free again at the end: nothing the replies carried leaked */
	probe = dup(0);
	if (probe >= 0)
		close(probe);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	inputs++;
	for (unsigned rec = 0; rec < MAX_RECORDS && at + 3 <= size; rec++) {
		uint8_t ctl = data[at];
		size_t n = (size_t)data[at + 1] | (size_t)data[at + 2] << 8;

		at += 3;
		if (n > size - at)
			n = size - at;
		if (sent + n > MAX_STREAM || (n && !send_record(sv[1], data + at, n, (ctl & 1) + (ctl >> 1 & 1))))
			break;
		sent += n;
		at += n;
	}
	shutdown(sv[1], SHUT_WR);
	f.sock = sv[0];
	session(&f);
	vuf_close(&f);
	close(sv[1]);   /* fds still queued in the socket go with it */
	if (probe >= 0) {
		int again = dup(0);

		if (again >= 0)
			close(again);
		if (again != probe) {
			fprintf(stderr, "fuzz_vhost_frontend: fd %d left open\n", probe);
			abort();
		}
	}
	return 0;
}

/* Replies a well-behaved backend would send for session(), then mutated. */
static size_t put_reply(uint8_t *buf, size_t cap, uint32_t req, uint32_t size, const void *payload, uint8_t ctl)
{
	struct vhost_user_header h = { .request = req, .flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, .size = size };
	size_t n = sizeof(h) + size;

	if (3 + n > cap)
		return 0;
	buf[0] = ctl;
	buf[1] = (uint8_t)n;
	buf[2] = (uint8_t)(n >> 8);
	memcpy(buf + 3, &h, sizeof(h));
	memcpy(buf + 3 + sizeof(h), payload, size);
	return 3 + n;
}

size_t fuzz_make_input(uint64_t seed, uint8_t *buf, size_t cap)
{
	uint8_t p[VHOST_USER_CONFIG_HDR_SIZE + 24] = { 0 };
	uint64_t feat = fuzz_rand(&seed) | (fuzz_rand(&seed) % 4 ? 1ull << VHOST_USER_F_PROTOCOL_FEATURES : 0);
	uint64_t proto = fuzz_rand(&seed) % 4 ? (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK |
					       1ull << VHOST_USER_PROTOCOL_F_CONFIG |
					       1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) : fuzz_rand(&seed);
	uint64_t zero = 0;
	size_t n = 0;

	n += put_reply(buf + n, cap - n, VHOST_USER_GET_FEATURES, 8, &feat, 0);
	n += put_reply(buf + n, cap - n, VHOST_USER_GET_PROTOCOL_FEATURES, 8, &proto, 0);
	/* SET_PROTOCOL_FEATURES goes out before REPLY_ACK is in force: acks of SET_OWNER, SET_FEATURES */
	n += put_reply(buf + n, cap - n, VHOST_USER_SET_OWNER, 8, &zero, 0);
	n += put_reply(buf + n, cap - n, VHOST_USER_SET_FEATURES, 8, &zero, 0);
	p[4] = 24;   /* GET_CONFIG: offset 0, size 24 */
	n += put_reply(buf + n, cap - n, VHOST_USER_GET_CONFIG, sizeof(p), p, 0);
	struct vhost_user_vring_state st = { .index = 1, .num = (uint32_t)fuzz_rand(&seed) };
	n += put_reply(buf + n, cap - n, VHOST_USER_GET_VRING_BASE, sizeof(st), &st, 0);
	struct vhost_user_inflight inf = { .mmap_size = 4096, .num_queues = 2, .queue_size = 128 };
	n += put_reply(buf + n, cap - n, VHOST_USER_GET_INFLIGHT_FD, sizeof(inf), &inf, 1);
	static const uint32_t acks[] = { VHOST_USER_SET_VRING_NUM, VHOST_USER_SET_VRING_BASE,
		VHOST_USER_SET_VRING_ADDR, VHOST_USER_SET_VRING_CALL, VHOST_USER_SET_VRING_KICK,
		VHOST_USER_SET_VRING_ENABLE, VHOST_USER_SET_INFLIGHT_FD };
	for (unsigned i = 0; i < sizeof(acks) / sizeof(acks[0]); i++)   /* the queue start's, SET_INFLIGHT_FD's */
		n += put_reply(buf + n, cap - n, acks[i], 8, &zero, 0);
	uint64_t qn = fuzz_rand(&seed) % 4;
	n += put_reply(buf + n, cap - n, VHOST_USER_GET_QUEUE_NUM, 8, &qn, (uint8_t)(fuzz_rand(&seed) % 4));
	for (unsigned i = 0, flips = (unsigned)(fuzz_rand(&seed) % 6); i < flips && n; i++)
		buf[fuzz_rand(&seed) % n] ^= (uint8_t)(1u << (fuzz_rand(&seed) % 8));
	if (fuzz_rand(&seed) % 8 == 0 && n > 2)
		n = (size_t)(fuzz_rand(&seed) % n);   /* the backend stops early */
	return n;
}

int fuzz_report(void)
{
	printf("fuzz_vhost_frontend: %lu inputs, %lu calls succeeded, %lu refused\n", inputs, calls_ok, calls_failed);
	if (!calls_ok || !calls_failed) {
		printf("fuzz_vhost_frontend: expected both accepted and refused replies\n");
		return 1;
	}
	return 0;
}
