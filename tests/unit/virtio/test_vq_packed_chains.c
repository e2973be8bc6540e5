/* SPDX-License-Identifier: MIT */
/*
 * Packed-ring multi-segment buffers as real frontends write them:
 *  - DPDK virtio PMD TX through an indirect table on a queue marked device-reads-only: stale WRITE
 *    flags on the header entry and on the entry whose index equals the head's ring slot, NEXT, the
 *    ring's AVAIL/USED bits and ids in reserved places (the kite-dpu "device-readable descriptor
 *    after a device-writable one" report);
 *  - direct TX chains (header + 4 segments) crossing the end of the ring, so that the descriptors
 *    after the wrap carry the flipped AVAIL/USED bits;
 *  - RX: device-writable chains and indirect tables (also across the wrap), data written over
 *    several segments and checked in guest memory;
 *  - what stays as it was: WRITE honoured on other queues (DPDK's table breaks them, as virtio 1.2
 *    says) and in direct chains; readable after writable refused there.
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
#define HDR_LEN 12u
#define SEG_LEN 2000u
#define NSEG 4u

static uint8_t pattern(unsigned frame, unsigned off)
{
	return (uint8_t)(frame * 7 + off * 13 + (off >> 8));
}

/* Frame `frame`: a 12-byte header in R1, NSEG data segments of SEG_LEN bytes (R1, then R2). */
static void make_tx_bufs(struct vq_test *t, unsigned frame, bool hdr_write, struct vring_buf *b)
{
	uint64_t hdr = T_R1 + 0x100 * (frame % 16);
	uint8_t *p = vqt_ptr(t, hdr, HDR_LEN);

	memset(p, 0, HDR_LEN);
	p[11] = (uint8_t)frame;
	b[0] = (struct vring_buf){ hdr, HDR_LEN, hdr_write };
	for (unsigned s = 0; s < NSEG; s++) {
		uint64_t a = (s < 2 ? T_R1 + 0x2000 : T_R2) + (uint64_t)(s % 2) * 0x1000 + 8 * (frame % 8);
		uint8_t *q = vqt_ptr(t, a, SEG_LEN);
		for (unsigned i = 0; i < SEG_LEN; i++)
			q[i] = pattern(frame, s * SEG_LEN + i);
		b[1 + s] = (struct vring_buf){ a, SEG_LEN, false };
	}
}

/* Pop one TX frame and check it is all readable, with every byte in order; push it back. */
static void take_tx_frame(struct vq_test *t, unsigned frame, int id, unsigned ndescs)
{
	static uint8_t got[HDR_LEN + NSEG * SEG_LEN];
	uint32_t len = 1;
	void *tok = NULL;

	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	assert_false(t->vq.broken);
	assert_int_equal(t->elem.id, id);
	assert_int_equal(t->elem.ndescs, ndescs);
	assert_int_equal(t->elem.in_num, 0);
	assert_int_equal(t->elem.in_len, 0);
	assert_int_equal(t->elem.out_num, 1 + NSEG);
	assert_int_equal(t->elem.out_len, HDR_LEN + NSEG * SEG_LEN);
	assert_int_equal(vq_iov_to_buf(t->elem.iov, t->elem.out_num, 0, got, sizeof(got)), sizeof(got));
	assert_int_equal(got[11], (uint8_t)frame);
	for (unsigned i = 0; i < NSEG * SEG_LEN; i++)
		if (got[HDR_LEN + i] != pattern(frame, i))
			fail_msg("frame %u byte %u: 0x%02x, want 0x%02x", frame, i, got[HDR_LEN + i], pattern(frame, i));
	vq_push(&t->vq, &t->elem, 0);
	assert_int_equal(vring_drv_get_used(&t->drv, &len, &tok), 1);
	assert_ptr_equal(tok, (void *)(uintptr_t)(frame + 1));
	assert_int_equal(vq_pop(&t->vq, &t->elem), 0);
}

/* The failing pattern of the bug report, the table in every ring slot and through several wraps. */
static void test_dpdk_tx_indirect(void **state)
{
	struct vq_test *t = *state;
	struct vring_buf b[1 + NSEG];

	assert_int_equal(vqt_init(t, 5, true, INDIR | EVIDX), 0);
	vq_set_device_reads_only(&t->vq, true);   /* what a net transmit queue says */
	t->drv.packed_indirect_dpdk = true;
	for (unsigned f = 0; f < 23; f++) {
		uint16_t slot = t->drv.next_avail, ring_bits = t->drv.avail_wrap ? 0x80 : 0x8000;
		make_tx_bufs(t, f, false, b);
		int id = vring_drv_add(&t->drv, b, 1 + NSEG, true, (void *)(uintptr_t)(f + 1));
		assert_true(id >= 0);
		/* the table really is what DPDK writes: header and entry `slot` WRITE, data NEXT|AVAIL */
		const struct vring_packed_desc *it = vqt_ptr(t, T_INDIRECT + (uint64_t)id * T_INDIRECT_MAX * 16, 80);
		for (unsigned j = 0; j <= NSEG; j++) {
			uint16_t want = (j == 0 || j == slot) ? VRING_DESC_F_WRITE :
					ring_bits | (j < NSEG ? VRING_DESC_F_NEXT : 0);
			assert_int_equal(le16toh(it[j].flags), want);
		}
		assert_int_equal(le16toh(it[NSEG].id), id);
		take_tx_frame(t, f, id, 1);
	}
	assert_int_equal(t->vq.popped, 23);
	assert_int_equal(t->vq.pushed, 23);
	vqt_fini(t);
}

/* Direct chains of 5 descriptors in a ring of 7: most chains cross the end of the ring. */
static void test_tx_chain_across_wrap(void **state)
{
	struct vq_test *t = *state;
	struct vring_buf b[1 + NSEG];

	assert_int_equal(vqt_init(t, 7, true, EVIDX), 0);
	for (unsigned f = 0; f < 30; f++) {
		make_tx_bufs(t, f, false, b);
		int id = vring_drv_add(&t->drv, b, 1 + NSEG, false, (void *)(uintptr_t)(f + 1));
		assert_true(id >= 0);
		take_tx_frame(t, f, id, 1 + NSEG);
	}
	assert_false(t->vq.broken);
	vqt_fini(t);
}

/* RX: [readable header?] + 3 writable segments, direct (across the wrap) and indirect; the device
 * writes a frame over all segments and the driver finds it in guest memory with its length. */
static void test_rx_writable_chains(void **state)
{
	struct vq_test *t = *state;
	static uint8_t frame[3000];

	for (int indirect = 0; indirect < 2; indirect++) {
		assert_int_equal(vqt_init(t, 6, true, INDIR), 0);
		for (unsigned f = 0; f < 20; f++) {
			bool with_hdr = f % 2;
			uint64_t base = T_R2 + 0x4000 * (f % 3);
			struct vring_buf b[4];
			unsigned n = 0;
			uint32_t len = 0, w = 1000 + 17 * f;
			void *tok = NULL;

			if (with_hdr)
				b[n++] = (struct vring_buf){ T_R1 + 0x40 * f, 16, false };
			for (unsigned s = 0; s < 3; s++)
				b[n++] = (struct vring_buf){ base + 0x1000 * s, 600, true };
			memset(vqt_ptr(t, base, 0x3000), 0, 0x3000);
			int id = vring_drv_add(&t->drv, b, n, indirect, (void *)(uintptr_t)(f + 1));
			assert_true(id >= 0);
			assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
			assert_int_equal(t->elem.id, id);
			assert_int_equal(t->elem.ndescs, indirect ? 1 : n);
			assert_int_equal(t->elem.out_num, with_hdr ? 1 : 0);
			assert_int_equal(t->elem.in_num, 3);
			assert_int_equal(t->elem.in_len, 1800);
			for (unsigned i = 0; i < w; i++)
				frame[i] = pattern(f, i);
			assert_int_equal(vq_buf_to_iov(t->elem.iov + t->elem.out_num, t->elem.in_num, 0, frame, w), w);
			vq_push(&t->vq, &t->elem, w);
			assert_int_equal(vring_drv_get_used(&t->drv, &len, &tok), 1);
			assert_int_equal(len, w);
			assert_ptr_equal(tok, (void *)(uintptr_t)(f + 1));
			for (unsigned s = 0; s < 3; s++) {
				unsigned off = 600 * s, cnt = w > off ? (w - off < 600 ? w - off : 600) : 0;
				assert_memory_equal(vqt_ptr(t, base + 0x1000 * s, 600), frame + off, cnt);
				if (cnt < 600)
					assert_int_equal(((uint8_t *)vqt_ptr(t, base + 0x1000 * s, 600))[cnt], 0);
			}
		}
		assert_false(t->vq.broken);
		vqt_fini(t);
	}
}

static void expect_packed_broken(struct vq_test *t)
{
	uint32_t len;
	void *tok;

	assert_int_equal(vq_pop(&t->vq, &t->elem), -1);
	assert_true(t->vq.broken);
	if (!strstr(t->vq.broken_reason, "device-readable descriptor after a device-writable one"))
		fail_msg("reason \"%s\"", t->vq.broken_reason);
	vq_push(&t->vq, &t->elem, 0);
	assert_int_equal(vring_drv_get_used(&t->drv, &len, &tok), 0);
}

/* WRITE keeps its meaning everywhere else: a queue not marked device-reads-only, direct chains. */
static void test_still_refused(void **state)
{
	struct vq_test *t = *state;
	struct vring_buf tx[1 + NSEG];

	/* DPDK's table on a queue not marked device-reads-only: strict virtio 1.2 */
	assert_int_equal(vqt_init(t, 4, true, INDIR), 0);
	t->drv.packed_indirect_dpdk = true;
	make_tx_bufs(t, 0, false, tx);
	assert_true(vring_drv_add(&t->drv, tx, 1 + NSEG, true, NULL) >= 0);
	expect_packed_broken(t);
	vqt_fini(t);

	/* a read-only queue: a direct writable descriptor is still writable (the device decides) */
	assert_int_equal(vqt_init(t, 4, true, INDIR), 0);
	vq_set_device_reads_only(&t->vq, true);
	struct vring_buf rw[2] = { { T_R1, 8, false }, { T_R2, 8, true } };
	assert_true(vring_drv_add(&t->drv, rw, 2, false, NULL) >= 0);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.out_num, 1);
	assert_int_equal(t->elem.in_num, 1);
	/* and the setting survives a re-setup (vhost-user SET_VRING_* after start), not a reset */
	struct vq_config vc = { .size = 4, .desc = T_DESC, .driver = T_DRIVER, .device = T_DEVICE_PACKED,
				.features = INDIR | 1ull << VIRTIO_F_RING_PACKED };
	assert_int_equal(vq_setup(&t->vq, &t->gm, &vc), 0);
	assert_true(t->vq.device_reads_only);
	vq_reset(&t->vq);
	assert_false(t->vq.device_reads_only);
	vqt_fini(t);

	struct vring_buf wr[2] = { { T_R1, 8, true }, { T_R1 + 64, 8, false } };
	struct vring_buf rwr[3] = { { T_R1, 8, false }, { T_R2, 8, true }, { T_R1 + 64, 8, false } };

	/* a direct chain writable -> readable */
	assert_int_equal(vqt_init(t, 4, true, INDIR), 0);
	assert_true(vring_drv_add(&t->drv, wr, 2, false, NULL) >= 0);
	expect_packed_broken(t);
	vqt_fini(t);

	/* readable, writable, readable in a packed indirect table */
	assert_int_equal(vqt_init(t, 4, true, INDIR), 0);
	assert_true(vring_drv_add(&t->drv, rwr, 3, true, NULL) >= 0);
	expect_packed_broken(t);
	vqt_fini(t);

	/* split indirect tables follow their own (strict) rules: writable -> readable breaks */
	assert_int_equal(vqt_init(t, 4, false, INDIR), 0);
	assert_true(vring_drv_add(&t->drv, wr, 2, true, NULL) >= 0);
	assert_int_equal(vq_pop(&t->vq, &t->elem), -1);
	assert_non_null(strstr(t->vq.broken_reason, "device-readable descriptor after a device-writable one"));
	vqt_fini(t);
}

static int setup(void **state)
{
	static struct vq_test t;

	kite_log_init("test_vq_packed_chains", KITE_LOG_ERR);
	*state = &t;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dpdk_tx_indirect),
		cmocka_unit_test(test_tx_chain_across_wrap),
		cmocka_unit_test(test_rx_writable_chains),
		cmocka_unit_test(test_still_refused),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
