/* SPDX-License-Identifier: MIT */
/*
 * vq_pop_burst / vq_fill_burst: a burst gives exactly the elements that one vq_pop() per chain gives
 * (chains of 1..7 segments, direct and indirect, across guest memory regions, across the ring's
 * wrap-around, split and packed); EVENT_IDX avail_event is the index after the last chain popped;
 * a malformed chain mid-burst ends the burst with the chains before it and breaks only the queue;
 * a bad length in a fill burst completes nothing.
 */
#include <endian.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kite/log.h"
#include "vq_test_mem.h"

#define EVIDX (1ull << VIRTIO_F_EVENT_IDX)
#define INDIR (1ull << VIRTIO_F_INDIRECT_DESC)

static struct vq_elem burst[VQ_BURST_MAX + 8], one[VQ_BURST_MAX + 8];

/* Chain k: 1 + k % 7 segments (indirect unless k % 3 == 0), readable ones first, in R1 and R2; the
 * first segment of an odd chain crosses from R0 into R1 (two iovecs). false: the ring is full. */
static bool add_chain(struct vq_test *t, unsigned k)
{
	struct vring_buf b[8];
	unsigned n = 1 + k % 7, nout = (n + 1) / 2;
	bool ind = k % 3 != 0;

	for (unsigned j = 0; j < n; j++) {
		uint64_t base = j % 2 ? T_R2 : T_R1;

		b[j].addr = base + 0x800 * (k % 16) + 64 * j;
		b[j].len = 16 + 8 * j + k % 5;
		b[j].write = j >= nout;
	}
	if (k % 2)
		b[0].addr = T_R1 - 8;   /* 8 bytes in R0, the rest in R1 */
	return vring_drv_add(&t->drv, b, n, ind, (void *)(uintptr_t)(k + 1)) >= 0;
}

static void assert_elem_equal(const struct vq_elem *a, const struct vq_elem *b)
{
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->ndescs, b->ndescs);
	assert_int_equal(a->out_num, b->out_num);
	assert_int_equal(a->in_num, b->in_num);
	assert_int_equal(a->out_len, b->out_len);
	assert_int_equal(a->in_len, b->in_len);
	for (unsigned i = 0; i < a->out_num + a->in_num; i++) {
		assert_ptr_equal(a->iov[i].iov_base, b->iov[i].iov_base);
		assert_int_equal(a->iov[i].iov_len, b->iov[i].iov_len);
	}
}

/* Pop `max` as a burst, then the same chains again one by one from the same position: equal. */
static int pop_both(struct vq_test *t, unsigned max)
{
	uint32_t base = vq_get_base(&t->vq);
	int n = vq_pop_burst(&t->vq, burst, max);
	uint32_t after = vq_get_base(&t->vq);

	assert_true(n >= 0);
	vq_set_base(&t->vq, base);
	for (int i = 0; i < n; i++) {
		assert_int_equal(vq_pop(&t->vq, &one[i]), 1);
		assert_elem_equal(&burst[i], &one[i]);
	}
	assert_int_equal(vq_get_base(&t->vq), after);
	return n;
}

static void burst_rounds(struct vq_test *t, uint16_t size)
{
	uint32_t written[VQ_BURST_MAX];
	unsigned k = 0, done = 0;

	for (unsigned round = 0; round < 6u * size / 4; round++) {
		unsigned add = 0, got = 0;

		while (add < 1 + round % 9 && add_chain(t, k)) {
			add++;
			k++;
		}
		assert_true(add > 0);
		while (got < add) {
			int n = pop_both(t, 1 + round % 4 + (round % 5 ? 0 : 16));

			assert_true(n > 0);
			for (int i = 0; i < n; i++)
				written[i] = (uint32_t)(burst[i].in_len > 3 ? burst[i].in_len - 3 : burst[i].in_len);
			vq_fill_burst(&t->vq, burst, written, (unsigned)n);
			vq_flush(&t->vq);
			for (int i = 0; i < n; i++) {
				uint32_t len = 0;
				void *tok = NULL;

				assert_int_equal(vring_drv_get_used(&t->drv, &len, &tok), 1);
				assert_ptr_equal(tok, (void *)(uintptr_t)(done + 1));
				assert_int_equal(len, written[i]);
				done++;
			}
			got += (unsigned)n;
		}
		assert_int_equal(vq_pop_burst(&t->vq, burst, 8), 0);
	}
	assert_false(t->vq.broken);
	assert_int_equal(t->vq.popped, 2 * done);   /* each chain popped twice (pop_both) */
	assert_int_equal(t->vq.pushed, done);
	assert_true(done > 2u * size);   /* the ring position wrapped at least twice */
}

static void test_burst_equals_pops(void **state)
{
	struct vq_test *t = *state;

	assert_int_equal(vqt_init(t, 16, false, INDIR | EVIDX), 0);
	burst_rounds(t, 16);
	vqt_fini(t);
	assert_int_equal(vqt_init(t, 16, true, INDIR | EVIDX), 0);
	burst_rounds(t, 16);
	vqt_fini(t);
	assert_int_equal(vqt_init(t, 8, false, INDIR), 0);
	burst_rounds(t, 8);
	vqt_fini(t);
}

/* A burst takes what is there, at most max and at most VQ_BURST_MAX. */
static void test_burst_limits(void **state)
{
	struct vq_test *t = *state;
	struct vring_buf b = { T_R1, 8, false };

	assert_int_equal(vqt_init(t, 128, false, 0), 0);
	assert_int_equal(vq_pop_burst(&t->vq, burst, VQ_BURST_MAX), 0);
	for (unsigned i = 0; i < VQ_BURST_MAX + 6; i++)
		assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_int_equal(vq_pop_burst(&t->vq, burst, 0), 0);
	assert_int_equal(vq_pop_burst(&t->vq, burst, 3), 3);
	assert_int_equal(vq_pop_burst(&t->vq, burst, VQ_BURST_MAX + 8), VQ_BURST_MAX);
	assert_int_equal(vq_pop_burst(&t->vq, burst, VQ_BURST_MAX + 8), 3);
	assert_int_equal(vq_pop_burst(&t->vq, burst, VQ_BURST_MAX + 8), 0);
	assert_int_equal(t->vq.popped, VQ_BURST_MAX + 6);
	assert_false(t->vq.broken);
	vqt_fini(t);
}

/* EVENT_IDX: after a burst, avail_event is the index after the last chain popped (the driver kicks
 * when it passes it); with kicks off it is left alone. */
static void test_burst_avail_event(void **state)
{
	struct vq_test *t = *state;
	struct vring_buf b = { T_R1, 8, false };
	uint16_t *ev;

	assert_int_equal(vqt_init(t, 16, false, EVIDX), 0);
	ev = vring_avail_event(t->drv.device, 16);
	for (unsigned i = 0; i < 7; i++)
		assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_int_equal(vq_pop_burst(&t->vq, burst, 3), 3);
	assert_int_equal(le16toh(*ev), 3);
	assert_int_equal(vq_pop_burst(&t->vq, burst, 16), 4);
	assert_int_equal(le16toh(*ev), 7);
	assert_int_equal(vq_pop_burst(&t->vq, burst, 16), 0);   /* nothing popped: unchanged */
	assert_int_equal(le16toh(*ev), 7);
	vq_enable_kicks(&t->vq, false);
	assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_int_equal(vq_pop_burst(&t->vq, burst, 16), 2);
	assert_int_equal(le16toh(*ev), 7);
	assert_false(vq_enable_kicks(&t->vq, true));
	assert_int_equal(le16toh(*ev), 9);
	/* the burst ends in a broken chain: avail_event covers the chains before it */
	assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	vring_drv_split_publish_raw(&t->drv, 16);
	assert_int_equal(vq_pop_burst(&t->vq, burst, 16), 1);
	assert_true(t->vq.broken);
	assert_int_equal(le16toh(*ev), 10);
	vqt_fini(t);
}

/* Chains 0, 1 good, chain 2 malformed (how: `bad`), chain 3 good: the burst gives 0 and 1, the
 * queue is broken with a reason naming the fault, chain 3 is never read, and nothing completes. */
enum bad { BAD_HEAD, BAD_NEXT, BAD_ADDR, BAD_LOOP, BAD_ORDER };

static void malformed_mid_burst(void **state, enum bad bad, const char *needle)
{
	struct vq_test *t = *state;
	struct vring_buf b[2] = { { T_R1, 32, false }, { T_R2, 64, true } };
	struct vring_used *used;
	uint16_t h;

	assert_int_equal(vqt_init(t, 16, false, EVIDX), 0);
	used = t->drv.device;
	assert_int_equal(vring_drv_add(&t->drv, b, 2, false, NULL), 0);   /* descriptors 0, 1 */
	assert_int_equal(vring_drv_add(&t->drv, b, 1, false, NULL), 2);   /* descriptor 2 */
	/* the bad chain from descriptors 8.. (the driver's free list is not used above 2 here) */
	h = 8;
	switch (bad) {
	case BAD_HEAD:
		h = 16;
		break;
	case BAD_NEXT:
		vqt_split_desc(t, 8, T_R1, 8, VRING_DESC_F_NEXT, 99);
		break;
	case BAD_ADDR:
		vqt_split_desc(t, 8, T_R1, 8, VRING_DESC_F_NEXT, 9);
		vqt_split_desc(t, 9, T_GAP, 8, 0, 0);
		break;
	case BAD_LOOP:
		vqt_split_desc(t, 8, T_R1, 8, VRING_DESC_F_NEXT, 9);
		vqt_split_desc(t, 9, T_R1, 8, VRING_DESC_F_NEXT, 8);
		break;
	case BAD_ORDER:
		vqt_split_desc(t, 8, T_R2, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 9);
		vqt_split_desc(t, 9, T_R1, 8, 0, 0);
		break;
	}
	vring_drv_split_publish_raw(&t->drv, h);
	vqt_split_desc(t, 10, T_R1, 8, 0, 0);
	vring_drv_split_publish_raw(&t->drv, 10);

	assert_int_equal(vq_pop_burst(&t->vq, burst, 16), 2);
	assert_true(t->vq.broken);
	if (!strstr(t->vq.broken_reason, needle))
		fail_msg("reason \"%s\" does not mention \"%s\"", t->vq.broken_reason, needle);
	assert_int_equal(burst[0].id, 0);
	assert_int_equal(burst[0].out_num, 1);
	assert_int_equal(burst[0].in_num, 1);
	assert_int_equal(burst[0].in_len, 64);
	assert_ptr_equal(burst[0].iov[1].iov_base, vqt_ptr(t, T_R2, 64));
	assert_int_equal(burst[1].id, 2);
	assert_int_equal(burst[1].out_len, 32);
	assert_int_equal(vq_get_base(&t->vq), 2);          /* chain 3 not consumed */
	assert_int_equal(t->vq.popped, 2);
	vq_fill_burst(&t->vq, burst, NULL, 2);
	vq_flush(&t->vq);
	assert_int_equal(used->idx, 0);                     /* a broken queue completes nothing */
	assert_int_equal(vq_pop_burst(&t->vq, burst, 16), -1);
	vqt_fini(t);
}

static void test_malformed_head(void **s) { malformed_mid_burst(s, BAD_HEAD, "head index 16"); }
static void test_malformed_next(void **s) { malformed_mid_burst(s, BAD_NEXT, "next index 99"); }
static void test_malformed_addr(void **s) { malformed_mid_burst(s, BAD_ADDR, "outside guest memory"); }
static void test_malformed_loop(void **s) { malformed_mid_burst(s, BAD_LOOP, "loops"); }
static void test_malformed_order(void **s) { malformed_mid_burst(s, BAD_ORDER, "device-readable descriptor after"); }

/* The first chain of the burst is malformed: -1 and nothing popped. */
static void test_malformed_first(void **state)
{
	struct vq_test *t = *state;

	assert_int_equal(vqt_init(t, 8, false, 0), 0);
	vqt_split_desc(t, 0, T_GAP, 8, 0, 0);
	vring_drv_split_publish_raw(&t->drv, 0);
	vqt_split_desc(t, 1, T_R1, 8, 0, 0);
	vring_drv_split_publish_raw(&t->drv, 1);
	assert_int_equal(vq_pop_burst(&t->vq, burst, 8), -1);
	assert_true(t->vq.broken);
	assert_int_equal(t->vq.popped, 0);
	assert_int_equal(vq_get_base(&t->vq), 0);
	vqt_fini(t);
}

/* A fill burst with one length beyond its element's writable bytes breaks the queue and completes
 * none of the burst (split and packed). */
static void fill_bad_len(struct vq_test *t, bool packed)
{
	struct vring_buf b = { T_R2, 16, true };
	uint32_t written[3] = { 16, 17, 0 };
	uint32_t len;
	void *tok;

	assert_int_equal(vqt_init(t, 8, packed, 0), 0);
	for (unsigned i = 0; i < 3; i++)
		assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_int_equal(vq_pop_burst(&t->vq, burst, 8), 3);
	vq_fill_burst(&t->vq, burst, written, 3);
	assert_true(t->vq.broken);
	assert_non_null(strstr(t->vq.broken_reason, "17 bytes written into a 16-byte buffer"));
	vq_flush(&t->vq);
	assert_int_equal(vring_drv_get_used(&t->drv, &len, &tok), 0);
	assert_int_equal(t->vq.pushed, 0);
	vqt_fini(t);
}

static void test_fill_bad_len(void **state)
{
	fill_bad_len(*state, false);
	fill_bad_len(*state, true);
}

static int setup(void **state)
{
	static struct vq_test t;

	kite_log_init("test_vq_burst", KITE_LOG_ERR);
	*state = &t;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_equals_pops),
		cmocka_unit_test(test_burst_limits),
		cmocka_unit_test(test_burst_avail_event),
		cmocka_unit_test(test_malformed_head),
		cmocka_unit_test(test_malformed_next),
		cmocka_unit_test(test_malformed_addr),
		cmocka_unit_test(test_malformed_loop),
		cmocka_unit_test(test_malformed_order),
		cmocka_unit_test(test_malformed_first),
		cmocka_unit_test(test_fill_bad_len),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
