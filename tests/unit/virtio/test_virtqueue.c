/* SPDX-License-Identifier: MIT */
/* Virtqueue round trips against the test driver library: split and packed, chains crossing guest
 * memory regions, indirect tables, batching, index wrap-around, EVENT_IDX and flag notifications,
 * ring base save/restore, unpop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kite/log.h"
#include "vq_test_mem.h"

#define EVIDX (1ull << VIRTIO_F_EVENT_IDX)
#define INDIR (1ull << VIRTIO_F_INDIRECT_DESC)

/* One request: "out" bytes from R1, reply into R2; device echoes them upper-cased. */
static void round_trip(struct vq_test *t, bool indirect, unsigned tag)
{
	char msg[32], got[32];
	uint64_t out = T_R1 + 64 * (tag % 128), in = T_R2 + 64 * (tag % 128);
	int n = snprintf(msg, sizeof(msg), "req %u", tag);
	struct vring_buf bufs[2] = { { out, (uint32_t)n, false }, { in, 64, true } };
	void *token = NULL;
	uint32_t len = 0;

	memcpy(vqt_ptr(t, out, n), msg, n);
	assert_true(vring_drv_add(&t->drv, bufs, 2, indirect, (void *)(uintptr_t)(tag + 1)) >= 0);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.out_num, 1);
	assert_int_equal(t->elem.in_num, 1);
	assert_int_equal(t->elem.out_len, n);
	assert_int_equal(t->elem.in_len, 64);
	assert_int_equal(vq_iov_to_buf(t->elem.iov, t->elem.out_num, 0, got, sizeof(got)), n);
	assert_memory_equal(got, msg, n);
	for (int i = 0; i < n; i++)
		got[i] = (got[i] >= 'a' && got[i] <= 'z') ? got[i] - 32 : got[i];
	assert_int_equal(vq_buf_to_iov(t->elem.iov + t->elem.out_num, t->elem.in_num, 0, got, n), n);
	vq_push(&t->vq, &t->elem, n);
	assert_int_equal(vring_drv_get_used(&t->drv, &len, &token), 1);
	assert_int_equal(len, n);
	assert_ptr_equal(token, (void *)(uintptr_t)(tag + 1));
	assert_memory_equal(vqt_ptr(t, in, n), got, n);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 0);
}

static void test_split_round_trip(void **state)
{
	struct vq_test *t = *state;

	assert_int_equal(vqt_init(t, 16, false, 0), 0);
	for (unsigned i = 0; i < 40; i++)
		round_trip(t, false, i);
	assert_false(t->vq.broken);
	assert_int_equal(t->vq.popped, 40);
	assert_int_equal(t->vq.pushed, 40);
	vqt_fini(t);
}

static void test_packed_round_trip(void **state)
{
	struct vq_test *t = *state;

	assert_int_equal(vqt_init(t, 7, true, 0), 0);   /* packed sizes need not be powers of 2 */
	for (unsigned i = 0; i < 40; i++)
		round_trip(t, false, i);
	assert_false(t->vq.broken);
	vqt_fini(t);
}

static void test_indirect(void **state)
{
	struct vq_test *t = *state;

	for (int packed = 0; packed < 2; packed++) {
		assert_int_equal(vqt_init(t, 8, packed, INDIR), 0);
		for (unsigned i = 0; i < 20; i++)
			round_trip(t, true, i);
		/* a chain of direct descriptors is still fine */
		round_trip(t, false, 99);
		assert_false(t->vq.broken);
		vqt_fini(t);
	}
}

/* A buffer crossing R0 -> R1 (two host blocks) becomes two iovecs with the right bytes. */
static void test_cross_region(void **state)
{
	struct vq_test *t = *state;
	uint64_t start = T_R1 - 10;
	char want[30], got[30];

	for (int packed = 0; packed < 2; packed++) {
		assert_int_equal(vqt_init(t, 8, packed, 0), 0);
		for (int i = 0; i < 30; i++)
			want[i] = 'A' + i;
		memcpy(vqt_ptr(t, start, 10), want, 10);
		memcpy(vqt_ptr(t, T_R1, 20), want + 10, 20);
		struct vring_buf b = { start, 30, false };
		assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
		assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
		assert_int_equal(t->elem.out_num, 2);
		assert_int_equal(t->elem.iov[0].iov_len, 10);
		assert_int_equal(t->elem.iov[1].iov_len, 20);
		assert_int_equal(vq_iov_to_buf(t->elem.iov, 2, 0, got, 30), 30);
		assert_memory_equal(got, want, 30);
		/* skip across the segment boundary */
		assert_int_equal(vq_iov_to_buf(t->elem.iov, 2, 8, got, 5), 5);
		assert_memory_equal(got, want + 8, 5);
		vq_push(&t->vq, &t->elem, 0);
		vqt_fini(t);
	}
}

/* Zero-length descriptors are accepted and produce no segment. */
static void test_zero_length(void **state)
{
	struct vq_test *t = *state;
	struct vring_buf b[3] = { { T_R1, 0, false }, { T_R1, 4, false }, { T_GAP, 0, true } };

	assert_int_equal(vqt_init(t, 8, false, 0), 0);
	assert_true(vring_drv_add(&t->drv, b, 3, false, NULL) >= 0);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.out_num, 1);
	assert_int_equal(t->elem.in_num, 0);
	assert_int_equal(t->elem.ndescs, 3);
	vqt_fini(t);
}

/* fill several, nothing visible to the driver until flush */
static void test_batching(void **state)
{
	struct vq_test *t = *state;
	static struct vq_elem e[4];
	uint32_t len;
	void *tok;

	for (int packed = 0; packed < 2; packed++) {
		assert_int_equal(vqt_init(t, 8, packed, 0), 0);
		for (uintptr_t i = 0; i < 4; i++) {
			struct vring_buf b[2] = { { T_R1, 8, false }, { T_R2 + 16 * i, 16, true } };
			assert_true(vring_drv_add(&t->drv, b, 2, false, (void *)(i + 1)) >= 0);
		}
		for (int i = 0; i < 4; i++)
			assert_int_equal(vq_pop(&t->vq, &e[i]), 1);
		/* complete out of order: 2, 0, 3, 1 */
		static const int order[4] = { 2, 0, 3, 1 };
		for (int i = 0; i < 4; i++)
			vq_fill(&t->vq, &e[order[i]], order[i] + 1);
		assert_int_equal(vring_drv_get_used(&t->drv, &len, &tok), 0);
		vq_flush(&t->vq);
		for (int i = 0; i < 4; i++) {
			assert_int_equal(vring_drv_get_used(&t->drv, &len, &tok), 1);
			assert_ptr_equal(tok, (void *)(uintptr_t)(order[i] + 1));
			assert_int_equal(len, order[i] + 1);
		}
		assert_int_equal(vring_drv_get_used(&t->drv, &len, &tok), 0);
		assert_int_equal(t->drv.num_free, 8);
		vqt_fini(t);
	}
}

/* More than 65536 operations: 16-bit indices and packed wrap counters wrap many times. */
static void test_wrap_around(void **state)
{
	struct vq_test *t = *state;
	static struct vq_elem e[3];
	uint32_t len;
	void *tok;

	for (int packed = 0; packed < 2; packed++) {
		assert_int_equal(vqt_init(t, packed ? 5 : 4, packed, EVIDX | INDIR), 0);
		unsigned done = 0, next_tok = 1, expect_tok = 1;
		while (done < 70000) {
			unsigned k = 1 + done % 3;
			for (unsigned i = 0; i < k; i++) {
				struct vring_buf b[2] = { { T_R1, 8, false }, { T_R2, 4, true } };
				bool ind = (done + i) % 5 == 0;
				assert_true(vring_drv_add(&t->drv, b, ind ? 2 : 1 + (i & 1), ind,
							  (void *)(uintptr_t)next_tok++) >= 0);
			}
			for (unsigned i = 0; i < k; i++)
				assert_int_equal(vq_pop(&t->vq, &e[i]), 1);
			assert_int_equal(vq_pop(&t->vq, &e[0]), 0);
			for (unsigned i = 0; i < k; i++)
				vq_fill(&t->vq, &e[i], 0);
			vq_flush(&t->vq);
			for (unsigned i = 0; i < k; i++) {
				assert_int_equal(vring_drv_get_used(&t->drv, &len, &tok), 1);
				assert_ptr_equal(tok, (void *)(uintptr_t)expect_tok++);
			}
			done += k;
		}
		assert_false(t->vq.broken);
		assert_true(t->vq.popped >= 70000);
		vqt_fini(t);
	}
}

/* Split notifications: flags without EVENT_IDX, used_event / avail_event with it. */
static void test_split_notify(void **state)
{
	struct vq_test *t = *state;
	struct vring_buf b = { T_R1, 8, false };
	uint32_t len;
	void *tok;

	/* no EVENT_IDX: NO_INTERRUPT and NO_NOTIFY flags */
	assert_int_equal(vqt_init(t, 8, false, 0), 0);
	assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_true(vring_drv_kick_needed(&t->drv));
	assert_false(vq_enable_kicks(&t->vq, false) );
	assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_false(vring_drv_kick_needed(&t->drv));
	assert_true(vq_enable_kicks(&t->vq, true));   /* buffers are waiting */
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	vq_push(&t->vq, &t->elem, 0);
	assert_true(vq_should_notify(&t->vq));
	vring_drv_set_interrupts(&t->drv, false);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	vq_push(&t->vq, &t->elem, 0);
	assert_false(vq_should_notify(&t->vq));
	assert_false(vq_enable_kicks(&t->vq, true));  /* empty now */
	vqt_fini(t);

	/* EVENT_IDX */
	assert_int_equal(vqt_init(t, 8, false, EVIDX), 0);
	assert_false(vq_enable_kicks(&t->vq, true));          /* avail_event = 0 */
	assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_true(vring_drv_kick_needed(&t->drv));          /* avail idx 0 -> 1 passes 0 */
	assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_false(vring_drv_kick_needed(&t->drv));         /* device has not asked again */
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);        /* pops move avail_event to 2 */
	assert_int_equal(le16toh(*vring_avail_event(t->drv.device, 8)), 2);
	assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_true(vring_drv_kick_needed(&t->drv));
	vq_enable_kicks(&t->vq, false);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);        /* kicks off: avail_event stays 2 */
	assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_false(vring_drv_kick_needed(&t->drv));
	assert_true(vq_enable_kicks(&t->vq, true));           /* one is pending: poll again */
	assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);

	/* interrupts: used_event = 0 (driver wants one at the first used entry) */
	vring_drv_set_interrupts(&t->drv, true);
	vq_push(&t->vq, &t->elem, 0);                         /* used idx 0 -> 1 */
	assert_true(vq_should_notify(&t->vq));
	assert_int_equal(vring_drv_get_used(&t->drv, &len, &tok), 1);
	/* the driver wants an interrupt only once the used entry at index 3 is written */
	*vring_used_event(t->drv.driver, 8) = htole16(3);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	vq_push(&t->vq, &t->elem, 0);                         /* 1 -> 2 */
	assert_false(vq_should_notify(&t->vq));
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	vq_push(&t->vq, &t->elem, 0);                         /* 2 -> 3 */
	assert_false(vq_should_notify(&t->vq));
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	vq_push(&t->vq, &t->elem, 0);                         /* 3 -> 4: entry 3 written */
	assert_true(vq_should_notify(&t->vq));
	vq_push(&t->vq, &t->elem, 0);                         /* 4 -> 5: already signalled past 3 */
	assert_false(vq_should_notify(&t->vq));
	assert_false(t->vq.broken);
	vqt_fini(t);
}

/* Packed notifications: driver/device event suppression structures. */
static void test_packed_notify(void **state)
{
	struct vq_test *t = *state;
	struct vring_buf b = { T_R1, 8, false };
	struct vring_packed_event *drv_ev;

	assert_int_equal(vqt_init(t, 4, true, EVIDX), 0);
	drv_ev = t->drv.driver;
	/* device disables kicks */
	vq_enable_kicks(&t->vq, false);
	assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_false(vring_drv_kick_needed(&t->drv));
	/* device enables with a descriptor event at slot 0 wrap 1: already passed -> has avail */
	assert_true(vq_enable_kicks(&t->vq, true));
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);   /* event moves to slot 1 */
	assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_true(vring_drv_kick_needed(&t->drv));
	assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_false(vring_drv_kick_needed(&t->drv));

	/* interrupts: DISABLE, then DESC at a position, then ENABLE */
	vring_drv_set_interrupts(&t->drv, false);
	vq_push(&t->vq, &t->elem, 0);
	assert_false(vq_should_notify(&t->vq));
	drv_ev->off_wrap = htole16(2 | 1u << 15);   /* notify once used slot 2 (lap 1) is written */
	drv_ev->flags = htole16(VRING_PACKED_EVENT_FLAG_DESC);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	vq_push(&t->vq, &t->elem, 0);                 /* used slot 1 */
	assert_false(vq_should_notify(&t->vq));
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	vq_push(&t->vq, &t->elem, 0);                 /* used slot 2 */
	assert_true(vq_should_notify(&t->vq));
	drv_ev->flags = htole16(VRING_PACKED_EVENT_FLAG_ENABLE);
	assert_true(vring_drv_add(&t->drv, &b, 1, false, NULL) >= 0);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	vq_push(&t->vq, &t->elem, 0);
	assert_true(vq_should_notify(&t->vq));
	assert_false(t->vq.broken);
	vqt_fini(t);
}

/* GET/SET base and unpop. */
static void test_base_unpop(void **state)
{
	struct vq_test *t = *state;
	struct vring_buf b = { T_R1, 8, false };
	uint32_t len;
	void *tok;

	for (int packed = 0; packed < 2; packed++) {
		assert_int_equal(vqt_init(t, 4, packed, 0), 0);
		for (int i = 0; i < 6; i++) {
			assert_true(vring_drv_add(&t->drv, &b, 1, false, (void *)(uintptr_t)(i + 1)) >= 0);
			assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
			if (i == 5) {
				uint16_t id = t->elem.id;
				vq_unpop(&t->vq, &t->elem);
				assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
				assert_int_equal(t->elem.id, id);
			}
			vq_push(&t->vq, &t->elem, 0);
			assert_int_equal(vring_drv_get_used(&t->drv, &len, &tok), 1);
		}
		uint32_t base = vq_get_base(&t->vq);
		if (packed)
			assert_int_equal(base, 2);       /* slot 6 % 4, wrap flipped once -> 0 */
		else
			assert_int_equal(base, 6);
		/* a new device instance resumes from the saved base (set before setup) */
		struct virtqueue vq2;
		struct vq_config vc = { .size = 4, .desc = T_DESC, .driver = T_DRIVER,
			.device = packed ? T_DEVICE_PACKED : T_DEVICE_SPLIT,
			.features = packed ? 1ull << VIRTIO_F_RING_PACKED : 0 };
		vq_reset(&vq2);
		vq_set_base(&vq2, base);
		assert_int_equal(vq_setup(&vq2, &t->gm, &vc), 0);
		assert_int_equal(vq_get_base(&vq2), base);
		assert_int_equal(vq_pop(&vq2, &t->elem), 0);
		assert_true(vring_drv_add(&t->drv, &b, 1, false, (void *)7) >= 0);
		assert_int_equal(vq_pop(&vq2, &t->elem), 1);
		vq_push(&vq2, &t->elem, 0);
		assert_int_equal(vring_drv_get_used(&t->drv, &len, &tok), 1);
		assert_ptr_equal(tok, (void *)7);
		vqt_fini(t);
	}
}

/* The vhost-user backend pattern: set the queue up, then restore the saved base into it. */
static void test_set_base_after_setup(void **state)
{
	struct vq_test *t = *state;

	for (int packed = 0; packed < 2; packed++) {
		assert_int_equal(vqt_init(t, 4, packed, 0), 0);
		for (unsigned i = 0; i < 3; i++)
			round_trip(t, false, i);   /* packed: 6 slots, wrapped once */
		uint32_t base = vq_get_base(&t->vq);
		assert_int_equal(base, packed ? 2 : 3);
		struct vq_config c = { .size = 4, .desc = T_DESC, .driver = T_DRIVER,
			.device = packed ? T_DEVICE_PACKED : T_DEVICE_SPLIT,
			.features = packed ? 1ull << VIRTIO_F_RING_PACKED : 0 };
		memset(&t->vq, 0, sizeof(t->vq));
		assert_int_equal(vq_setup(&t->vq, &t->gm, &c), 0);
		assert_int_equal(vq_get_base(&t->vq), packed ? 0x8000 : 0);   /* fresh: slot 0, wrap 1 */
		vq_set_base(&t->vq, base);
		for (unsigned i = 3; i < 12; i++)
			round_trip(t, false, i);
		assert_false(t->vq.broken);
		/* a packed base outside the ring breaks the queue */
		if (packed) {
			vq_set_base(&t->vq, 4);
			assert_true(t->vq.broken);
			assert_non_null(strstr(t->vq.broken_reason, "vring base 4"));
		}
		vqt_fini(t);
	}
}

/* A device filling more than the writable length is caught. */
static void test_overfill(void **state)
{
	struct vq_test *t = *state;
	struct vring_buf b[2] = { { T_R1, 8, false }, { T_R2, 8, true } };

	assert_int_equal(vqt_init(t, 4, false, 0), 0);
	assert_false(vq_has_avail(&t->vq));
	assert_true(vring_drv_add(&t->drv, b, 2, false, NULL) >= 0);
	assert_true(vq_has_avail(&t->vq));
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	assert_false(vq_has_avail(&t->vq));
	vq_push(&t->vq, &t->elem, 9);
	assert_true(t->vq.broken);
	assert_non_null(strstr(t->vq.broken_reason, "9 bytes written into a 8-byte buffer"));
	assert_int_equal(((struct vring_used *)t->drv.device)->idx, 0);
	vqt_fini(t);
}

/* vhost-user: ring addresses are frontend virtual addresses, buffers still guest physical. */
static void test_uva_rings(void **state)
{
	struct vq_test *t = *state;
	const uint64_t uva = 0x7f1200000000ull;

	for (int packed = 0; packed < 2; packed++) {
		assert_int_equal(vqt_init(t, 8, packed, 0), 0);
		for (unsigned i = 0; i < t->gm.nr; i++)
			t->gm.r[i].uva = uva + t->gm.r[i].gpa;
		struct vq_config c = { .size = 8, .desc = uva + T_DESC, .driver = uva + T_DRIVER,
			.device = uva + (packed ? T_DEVICE_PACKED : T_DEVICE_SPLIT),
			.features = packed ? 1ull << VIRTIO_F_RING_PACKED : 0, .addr_is_uva = true };
		vq_reset(&t->vq);
		assert_int_equal(vq_setup(&t->vq, &t->gm, &c), 0);
		for (unsigned i = 0; i < 10; i++)
			round_trip(t, false, i);
		/* the same rings given as guest physical addresses are not frontend addresses */
		struct vq_config g = c;
		g.desc -= uva;
		g.driver -= uva;
		g.device -= uva;
		struct virtqueue vq2;
		vq_reset(&vq2);
		assert_int_equal(vq_setup(&vq2, &t->gm, &g), -1);
		assert_non_null(strstr(vq2.broken_reason, "frontend address"));
		vqt_fini(t);
	}
}

/* Device code (rx with mergeable buffers) may put several elements back, newest first. */
static void test_unpop_several(void **state)
{
	struct vq_test *t = *state;
	static struct vq_elem e[3];
	struct vring_buf b[2] = { { T_R1, 8, false }, { T_R2, 8, true } };

	for (int packed = 0; packed < 2; packed++) {
		assert_int_equal(vqt_init(t, packed ? 5 : 8, packed, 0), 0);
		round_trip(t, false, 1);   /* packed: the next chains straddle the end of the ring */
		round_trip(t, false, 2);
		for (uintptr_t i = 0; i < 3; i++)
			assert_true(vring_drv_add(&t->drv, b, 1 + i % 2, false, (void *)(i + 1)) >= 0);
		for (int i = 0; i < 3; i++)
			assert_int_equal(vq_pop(&t->vq, &e[i]), 1);
		uint32_t base = vq_get_base(&t->vq);
		vq_unpop(&t->vq, &e[2]);
		vq_unpop(&t->vq, &e[1]);
		assert_int_not_equal(vq_get_base(&t->vq), base);
		for (int i = 1; i < 3; i++) {
			assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
			assert_int_equal(t->elem.id, e[i].id);
			assert_int_equal(t->elem.ndescs, e[i].ndescs);
		}
		assert_int_equal(vq_get_base(&t->vq), base);
		assert_false(t->vq.broken);
		vqt_fini(t);
	}
}

/* vq_pop_head: a popped chain is read again by its head, out of order and without consuming the avail
 * ring; a head out of range or a packed ring breaks the queue. */
static void test_pop_head(void **state)
{
	struct vq_test *t = *state;
	static struct vq_elem e[3];
	struct vring_buf b[2] = { { T_R1, 8, false }, { T_R2, 16, true } };

	assert_int_equal(vqt_init(t, 8, false, 0), 0);
	for (uintptr_t i = 0; i < 3; i++)
		assert_true(vring_drv_add(&t->drv, b, 1 + i % 2, false, (void *)(i + 1)) >= 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(vq_pop(&t->vq, &e[i]), 1);
	uint32_t base = vq_get_base(&t->vq);
	for (int i = 2; i >= 0; i--) {
		assert_int_equal(vq_pop_head(&t->vq, e[i].id, &t->elem), 1);
		assert_int_equal(t->elem.id, e[i].id);
		assert_int_equal(t->elem.ndescs, e[i].ndescs);
		assert_int_equal(t->elem.out_len, e[i].out_len);
		assert_int_equal(t->elem.in_len, e[i].in_len);
	}
	assert_int_equal(vq_get_base(&t->vq), base);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 0);
	assert_false(t->vq.broken);
	assert_int_equal(vq_pop_head(&t->vq, 8, &t->elem), -1);
	assert_true(t->vq.broken);
	vqt_fini(t);

	assert_int_equal(vqt_init(t, 8, true, 0), 0);
	assert_int_equal(vq_pop_head(&t->vq, 0, &t->elem), -1);
	assert_true(t->vq.broken);
	vqt_fini(t);
}

/* vq_pop_chain: a packed chain served again from a copy of its ring descriptors, after the ring slots
 * were overwritten; a copy that is not exactly one chain of n, or a split ring, breaks the queue. */
static void test_pop_chain(void **state)
{
	struct vq_test *t = *state;
	struct vring_buf b[3] = { { T_R1, 8, false }, { T_R2, 16, true }, { T_R2 + 64, 4, true } };
	struct vring_packed_desc copy[3];
	struct vq_elem e;

	assert_int_equal(vqt_init(t, 8, true, 0), 0);
	assert_true(vring_drv_add(&t->drv, b, 3, false, (void *)1) >= 0);
	memcpy(copy, t->vq.desc, sizeof(copy));
	assert_int_equal(vq_pop(&t->vq, &e), 1);
	uint32_t base = vq_get_base(&t->vq);
	memset(t->vq.desc, 0xff, sizeof(copy));          /* used elements (or anything) there now */
	assert_int_equal(vq_pop_chain(&t->vq, copy, 3, &t->elem), 1);
	assert_int_equal(t->elem.id, e.id);
	assert_int_equal(t->elem.ndescs, 3);
	assert_int_equal(t->elem.out_len, 8);
	assert_int_equal(t->elem.in_len, 20);
	assert_ptr_equal(t->elem.iov[1].iov_base, e.iov[1].iov_base);
	assert_int_equal(vq_get_base(&t->vq), base);
	assert_false(t->vq.broken);
	/* ends early: the copy holds more than the chain */
	assert_int_equal(vq_pop_chain(&t->vq, copy, 3, &t->elem), 1);
	copy[1].flags &= htole16((uint16_t)~VRING_DESC_F_NEXT);
	assert_int_equal(vq_pop_chain(&t->vq, copy, 3, &t->elem), -1);
	assert_non_null(strstr(t->vq.broken_reason, "ends after 2 of its 3"));
	vqt_fini(t);
	/* runs on: NEXT on the last one */
	assert_int_equal(vqt_init(t, 8, true, 0), 0);
	copy[1].flags |= htole16(VRING_DESC_F_NEXT);
	copy[2].flags |= htole16(VRING_DESC_F_NEXT);
	assert_int_equal(vq_pop_chain(&t->vq, copy, 3, &t->elem), -1);
	assert_int_equal(vq_pop_chain(&t->vq, copy, 0, &t->elem), -1);
	vqt_fini(t);
	/* a buffer outside guest memory is caught as in a ring pop */
	assert_int_equal(vqt_init(t, 8, true, 0), 0);
	copy[2].flags &= htole16((uint16_t)~VRING_DESC_F_NEXT);
	copy[0].addr = htole64(1ull << 50);
	assert_int_equal(vq_pop_chain(&t->vq, copy, 3, &t->elem), -1);
	assert_non_null(strstr(t->vq.broken_reason, "outside guest memory"));
	vqt_fini(t);
	assert_int_equal(vqt_init(t, 8, false, 0), 0);
	assert_int_equal(vq_pop_chain(&t->vq, copy, 3, &t->elem), -1);
	assert_true(t->vq.broken);
	vqt_fini(t);
}

static int setup(void **state)
{
	static struct vq_test t;

	kite_log_init("test_virtqueue", KITE_LOG_ERR);
	*state = &t;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_round_trip),
		cmocka_unit_test(test_packed_round_trip),
		cmocka_unit_test(test_indirect),
		cmocka_unit_test(test_cross_region),
		cmocka_unit_test(test_zero_length),
		cmocka_unit_test(test_batching),
		cmocka_unit_test(test_wrap_around),
		cmocka_unit_test(test_split_notify),
		cmocka_unit_test(test_packed_notify),
		cmocka_unit_test(test_base_unpop),
		cmocka_unit_test(test_uva_rings),
		cmocka_unit_test(test_set_base_after_setup),
		cmocka_unit_test(test_overfill),
		cmocka_unit_test(test_unpop_several),
		cmocka_unit_test(test_pop_head),
		cmocka_unit_test(test_pop_chain),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
