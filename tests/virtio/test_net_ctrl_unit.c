/* SPDX-License-Identifier: MIT */
/*
 * The shared virtio-net control-queue parser (virtio/net_ctrl.c): VQ_PAIRS_SET taken only with a
 * 2-byte pair count in 1..max and MQ negotiated, wherever the driver split the chain's readable
 * bytes; every other class, command or data length refused with a reason; chains without the
 * 2-byte header or a status byte reported as malformed; MQ and CTRL_VQ only together.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kite/virtio_net_ctrl.h"

/* A chain: the readable bytes cut into segments of at most `seg` bytes, then `in` writable bytes. */
static uint8_t rd[16], status[4];

static void chain(struct vq_elem *e, const uint8_t *bytes, size_t n, size_t seg, size_t in)
{
	memset(e, 0, sizeof(*e));
	memcpy(rd, bytes, n);
	for (size_t off = 0; off < n; off += seg) {
		e->iov[e->out_num].iov_base = rd + off;
		e->iov[e->out_num].iov_len = n - off < seg ? n - off : seg;
		e->out_num++;
	}
	e->out_len = n;
	if (in) {
		e->iov[e->out_num].iov_base = status;
		e->iov[e->out_num].iov_len = in;
		e->in_num = 1;
		e->in_len = in;
	}
}

static int parse(const uint8_t *bytes, size_t n, size_t seg, size_t in, unsigned max, bool mq, unsigned *pairs,
		 char *why)
{
	struct vq_elem e;

	chain(&e, bytes, n, seg, in);
	return net_ctrl_parse(&e, max, mq, pairs, why, 128);
}

static void t_pairs_set(void **state)
{
	const uint8_t cmd[4] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 3, 0 };
	char why[128];

	(void)state;
	for (size_t seg = 1; seg <= 4; seg++) {
		unsigned pairs = 0;

		assert_int_equal(parse(cmd, 4, seg, 1, 4, true, &pairs, why), NET_CTRL_SET_PAIRS);
		assert_int_equal(pairs, 3);
	}
	{
		const uint8_t one[4] = { 4, 0, 1, 0 }, max[4] = { 4, 0, 8, 0 };
		unsigned pairs = 0;

		assert_int_equal(parse(one, 4, 4, 1, 8, true, &pairs, why), NET_CTRL_SET_PAIRS);
		assert_int_equal(pairs, 1);
		assert_int_equal(parse(max, 4, 2, 64, 8, true, &pairs, why), NET_CTRL_SET_PAIRS);
		assert_int_equal(pairs, 8);
	}
}

static void t_refused(void **state)
{
	static const struct { uint8_t b[8]; size_t n; unsigned max; bool mq; const char *why; } cases[] = {
		{ { 4, 0, 0, 0 }, 4, 4, true, "VQ_PAIRS_SET 0 refused (1..4 with MQ)" },
		{ { 4, 0, 5, 0 }, 4, 4, true, "VQ_PAIRS_SET 5 refused (1..4 with MQ)" },
		{ { 4, 0, 0xff, 0xff }, 4, 4, true, "VQ_PAIRS_SET 65535 refused (1..4 with MQ)" },
		{ { 4, 0, 0, 1 }, 4, 8, true, "VQ_PAIRS_SET 256 refused (1..8 with MQ)" },
		{ { 4, 0, 2, 0 }, 4, 4, false, "VQ_PAIRS_SET 2 refused (1..4 with MQ)" },
		{ { 4, 0, 2 }, 3, 4, true, "VQ_PAIRS_SET with 1 bytes of data, 2 expected" },
		{ { 4, 0, 2, 0, 0 }, 5, 4, true, "VQ_PAIRS_SET with 3 bytes of data, 2 expected" },
		{ { 4, 0 }, 2, 4, true, "VQ_PAIRS_SET with 0 bytes of data, 2 expected" },
		{ { 0, 0, 1 }, 3, 4, true, "class 0 command 0 is not served" },
		{ { 0x7f, 0x7f, 1, 0 }, 4, 4, true, "class 127 command 127 is not served" },
		{ { 4, 1, 1, 0 }, 4, 4, true, "class 4 command 1 is not served" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char why[128] = "";
		unsigned pairs = 77;

		assert_int_equal(parse(cases[i].b, cases[i].n, 1, 1, cases[i].max, cases[i].mq, &pairs, why),
				 NET_CTRL_REFUSE);
		assert_string_equal(why, cases[i].why);
		assert_int_equal(pairs, 77);     /* untouched */
	}
}

static void t_malformed(void **state)
{
	const uint8_t cmd[4] = { 4, 0, 1, 0 };
	char why[128];
	unsigned pairs = 77;

	(void)state;
	assert_int_equal(parse(cmd, 4, 4, 0, 4, true, &pairs, why), NET_CTRL_BAD_CHAIN);
	assert_string_equal(why, "control command with 4 readable and 0 writable bytes (2+ and 1+ needed)");
	assert_int_equal(parse(cmd, 1, 1, 1, 4, true, &pairs, why), NET_CTRL_BAD_CHAIN);
	assert_int_equal(parse(cmd, 0, 1, 1, 4, true, &pairs, why), NET_CTRL_BAD_CHAIN);
	assert_int_equal(pairs, 77);
}

static void t_features(void **state)
{
	char why[160] = "";
	const uint64_t mq = 1ULL << VIRTIO_NET_F_MQ, ctrl = 1ULL << VIRTIO_NET_F_CTRL_VQ;

	(void)state;
	assert_int_equal(net_ctrl_features_check(0, why, sizeof(why)), 0);
	assert_int_equal(net_ctrl_features_check(mq | ctrl | 1, why, sizeof(why)), 0);
	assert_int_equal(net_ctrl_features_check(mq, why, sizeof(why)), -1);
	assert_string_equal(why, "driver took VIRTIO_NET_F_MQ without VIRTIO_NET_F_CTRL_VQ (kite serves the control "
			    "queue with MQ only)");
	assert_int_equal(net_ctrl_features_check(ctrl, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "took VIRTIO_NET_F_CTRL_VQ without VIRTIO_NET_F_MQ"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_pairs_set),
		cmocka_unit_test(t_refused),
		cmocka_unit_test(t_malformed),
		cmocka_unit_test(t_features),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
