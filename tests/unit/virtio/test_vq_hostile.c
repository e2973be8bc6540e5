/* SPDX-License-Identifier: MIT */
/*
 * A hostile driver: every malformed ring must make vq_pop() return -1, mark the queue broken with a
 * reason naming the problem, and touch nothing outside guest memory (run under ASan to prove it).
 * Also: rings that are misaligned or not inside guest memory are refused at setup.
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

#define INDIR (1ull << VIRTIO_F_INDIRECT_DESC)
#define F_NEXT VRING_DESC_F_NEXT
#define F_WRITE VRING_DESC_F_WRITE
#define F_IND VRING_DESC_F_INDIRECT

static void expect_broken(struct vq_test *t, const char *needle)
{
	assert_int_equal(vq_pop(&t->vq, &t->elem), -1);
	assert_true(t->vq.broken);
	if (!strstr(t->vq.broken_reason, needle))
		fail_msg("reason \"%s\" does not mention \"%s\"", t->vq.broken_reason, needle);
	/* broken stays broken: nothing popped or pushed any more */
	assert_int_equal(vq_pop(&t->vq, &t->elem), -1);
	assert_false(vq_has_avail(&t->vq));
	uint16_t used_idx = ((struct vring_used *)t->drv.device)->idx;
	vq_push(&t->vq, &t->elem, 0);
	assert_int_equal(((struct vring_used *)t->drv.device)->idx, used_idx);
}

static struct vq_test *fresh(void **state, uint64_t features)
{
	struct vq_test *t = *state;

	assert_int_equal(vqt_init(t, 8, false, features), 0);
	return t;
}

static void test_chain_loop(void **state)
{
	struct vq_test *t = fresh(state, 0);

	vqt_split_desc(t, 0, T_R1, 8, F_NEXT, 1);
	vqt_split_desc(t, 1, T_R1, 8, F_NEXT, 0);
	vring_drv_split_publish_raw(&t->drv, 0);
	expect_broken(t, "loops");
	vqt_fini(t);
}

static void test_chain_too_long(void **state)
{
	struct vq_test *t = fresh(state, 0);

	/* 8 slots, all chained, the last pointing to itself: longer than the queue */
	for (uint16_t i = 0; i < 8; i++)
		vqt_split_desc(t, i, T_R1, 1, F_NEXT, i < 7 ? i + 1 : 7);
	vring_drv_split_publish_raw(&t->drv, 0);
	expect_broken(t, "longer than the queue");
	vqt_fini(t);
}

static void test_head_out_of_range(void **state)
{
	struct vq_test *t = fresh(state, 0);

	vring_drv_split_publish_raw(&t->drv, 8);
	expect_broken(t, "head index 8 out of range");
	vqt_fini(t);
}

static void test_next_out_of_range(void **state)
{
	struct vq_test *t = fresh(state, 0);

	vqt_split_desc(t, 0, T_R1, 8, F_NEXT, 0xffff);
	vring_drv_split_publish_raw(&t->drv, 0);
	expect_broken(t, "next index 65535 out of range");
	vqt_fini(t);
}

static void test_addr_outside(void **state)
{
	static const struct { uint64_t addr; uint32_t len; } bad[] = {
		{ T_GAP, 1 },                  /* in the hole between R1 and R2 */
		{ T_R1 + T_RSIZE - 4, 8 },     /* runs off R1 into the hole */
		{ T_R2 + T_RSIZE, 1 },         /* just past the last region */
		{ 0xfffffffffff00000ull, 16 }, /* far away */
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vq_test *t = fresh(state, 0);
		vqt_split_desc(t, 0, bad[i].addr, bad[i].len, F_WRITE, 0);
		vring_drv_split_publish_raw(&t->drv, 0);
		expect_broken(t, "outside guest memory");
		vqt_fini(t);
	}
}

static void test_addr_len_overflow(void **state)
{
	struct vq_test *t = fresh(state, 0);

	vqt_split_desc(t, 0, 0xfffffffffffffff0ull, 0x100, 0, 0);
	vring_drv_split_publish_raw(&t->drv, 0);
	expect_broken(t, "overflows");
	vqt_fini(t);
}

static void test_write_before_read(void **state)
{
	struct vq_test *t = fresh(state, 0);

	vqt_split_desc(t, 0, T_R1, 8, F_WRITE | F_NEXT, 1);
	vqt_split_desc(t, 1, T_R1, 8, 0, 0);
	vring_drv_split_publish_raw(&t->drv, 0);
	expect_broken(t, "readable descriptor after a device-writable");
	vqt_fini(t);
}

static void test_indirect_without_feature(void **state)
{
	struct vq_test *t = fresh(state, 0);

	vqt_split_desc(t, 0, T_INDIRECT, 32, F_IND, 0);
	vring_drv_split_publish_raw(&t->drv, 0);
	expect_broken(t, "not negotiated");
	vqt_fini(t);
}

static void put_table(struct vq_test *t, uint64_t gpa, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		      uint16_t next)
{
	struct vring_desc *d = vqt_ptr(t, gpa + 16ull * i, 16);

	d->addr = htole64(addr);
	d->len = htole32(len);
	d->flags = htole16(flags);
	d->next = htole16(next);
}

static void test_nested_indirect(void **state)
{
	struct vq_test *t = fresh(state, INDIR);

	put_table(t, T_INDIRECT, 0, T_R1, 8, F_NEXT, 1);
	put_table(t, T_INDIRECT, 1, T_INDIRECT + 0x100, 16, F_IND, 0);
	vqt_split_desc(t, 0, T_INDIRECT, 32, F_IND, 0);
	vring_drv_split_publish_raw(&t->drv, 0);
	expect_broken(t, "nested indirect");
	vqt_fini(t);
}

static void test_bad_indirect_len(void **state)
{
	static const uint32_t lens[] = { 0, 17, 8, 16 * 32769u };

	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct vq_test *t = fresh(state, INDIR);
		vqt_split_desc(t, 0, T_INDIRECT, lens[i], F_IND, 0);
		vring_drv_split_publish_raw(&t->drv, 0);
		expect_broken(t, "bad indirect table length");
		vqt_fini(t);
	}
}

/* Split: direct descriptors followed by one indirect descriptor is a valid (unusual) layout. */
static void test_direct_then_indirect(void **state)
{
	struct vq_test *t = fresh(state, INDIR);

	put_table(t, T_INDIRECT, 0, T_R1 + 100, 10, F_NEXT, 1);
	put_table(t, T_INDIRECT, 1, T_R2, 20, F_WRITE, 0);
	vqt_split_desc(t, 0, T_R1, 8, F_NEXT, 5);
	vqt_split_desc(t, 5, T_INDIRECT, 32, F_IND | F_WRITE, 0);   /* WRITE on it is ignored */
	vring_drv_split_publish_raw(&t->drv, 0);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.id, 0);
	assert_int_equal(t->elem.out_num, 2);
	assert_int_equal(t->elem.in_num, 1);
	assert_int_equal(t->elem.out_len, 18);
	assert_int_equal(t->elem.in_len, 20);
	assert_ptr_equal(t->elem.iov[1].iov_base, vqt_ptr(t, T_R1 + 100, 10));
	vqt_fini(t);
}

static void test_indirect_with_next(void **state)
{
	struct vq_test *t = fresh(state, INDIR);

	put_table(t, T_INDIRECT, 0, T_R1, 8, 0, 0);
	vqt_split_desc(t, 0, T_INDIRECT, 16, F_IND | F_NEXT, 1);
	vqt_split_desc(t, 1, T_R1, 8, 0, 0);
	vring_drv_split_publish_raw(&t->drv, 0);
	expect_broken(t, "indirect descriptor with the NEXT flag");
	vqt_fini(t);
}

static void test_indirect_outside(void **state)
{
	struct vq_test *t = fresh(state, INDIR);

	/* table straddles the R1 end into the hole */
	vqt_split_desc(t, 0, T_R1 + T_RSIZE - 16, 32, F_IND, 0);
	vring_drv_split_publish_raw(&t->drv, 0);
	expect_broken(t, "indirect table");
	vqt_fini(t);
}

static void test_indirect_loop(void **state)
{
	struct vq_test *t = fresh(state, INDIR);

	put_table(t, T_INDIRECT, 0, T_R1, 8, F_NEXT, 1);
	put_table(t, T_INDIRECT, 1, T_R1, 8, F_NEXT, 0);
	vqt_split_desc(t, 0, T_INDIRECT, 32, F_IND, 0);
	vring_drv_split_publish_raw(&t->drv, 0);
	expect_broken(t, "indirect chain loops");
	vqt_fini(t);
}

static void test_indirect_next_out_of_range(void **state)
{
	struct vq_test *t = fresh(state, INDIR);

	put_table(t, T_INDIRECT, 0, T_R1, 8, F_NEXT, 2);
	put_table(t, T_INDIRECT, 1, T_R1, 8, 0, 0);
	put_table(t, T_INDIRECT, 2, T_R1, 8, 0, 0);   /* exists in memory but not in the table */
	vqt_split_desc(t, 0, T_INDIRECT, 32, F_IND, 0);
	vring_drv_split_publish_raw(&t->drv, 0);
	expect_broken(t, "indirect next index 2 out of range");
	vqt_fini(t);
}

static void test_too_many_segments(void **state)
{
	struct vq_test *t = fresh(state, INDIR);
	const unsigned n = VQ_MAX_SEGS + 1;

	for (unsigned i = 0; i < n; i++)
		put_table(t, T_INDIRECT, i, T_R1 + i, 1, i + 1 < n ? F_NEXT : 0, i + 1);
	vqt_split_desc(t, 0, T_INDIRECT, 16 * n, F_IND, 0);
	vring_drv_split_publish_raw(&t->drv, 0);
	expect_broken(t, "more than 256 segments");
	vqt_fini(t);
}

static void test_avail_idx_jump(void **state)
{
	struct vq_test *t = fresh(state, 0);
	struct vring_avail *avail = t->drv.driver;

	avail->idx = htole16(9);   /* 9 new entries in a queue of 8 */
	expect_broken(t, "avail idx jumped");
	vqt_fini(t);
}

/* Packed: a chain that never ends, indirect without the feature, indirect rules, bad address. */
static void test_packed_hostile(void **state)
{
	struct vq_test *t = *state;
	struct vring_packed_desc *ring;
	const uint16_t avail1 = 1u << VRING_PACKED_DESC_F_AVAIL;

	assert_int_equal(vqt_init(t, 4, true, 0), 0);
	ring = t->drv.desc;
	for (int i = 0; i < 4; i++) {
		ring[i].addr = htole64(T_R1);
		ring[i].len = htole32(4);
		ring[i].flags = htole16(avail1 | F_NEXT);
	}
	expect_broken(t, "longer than the queue");
	vqt_fini(t);

	assert_int_equal(vqt_init(t, 4, true, 0), 0);
	ring = t->drv.desc;
	ring[0].addr = htole64(T_INDIRECT);
	ring[0].len = htole32(16);
	ring[0].flags = htole16(avail1 | F_IND);
	expect_broken(t, "not negotiated");
	vqt_fini(t);

	/* packed indirect tables: only WRITE counts, a nested INDIRECT flag is reserved and ignored */
	assert_int_equal(vqt_init(t, 4, true, INDIR), 0);
	ring = t->drv.desc;
	struct vring_packed_desc *it = vqt_ptr(t, T_INDIRECT, 32);
	it[0].addr = htole64(T_R1);
	it[0].len = htole32(4);
	it[0].flags = htole16(F_NEXT);
	it[1].addr = htole64(T_R2);
	it[1].len = htole32(16);
	it[1].flags = htole16(F_IND | F_WRITE);
	ring[0].addr = htole64(T_INDIRECT);
	ring[0].len = htole32(32);
	ring[0].id = htole16(3);
	ring[0].flags = htole16(avail1 | F_IND | F_WRITE);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.id, 3);
	assert_int_equal(t->elem.out_num, 1);
	assert_int_equal(t->elem.in_num, 1);
	assert_ptr_equal(t->elem.iov[1].iov_base, vqt_ptr(t, T_R2, 16));
	assert_int_equal(t->elem.in_len, 16);
	vqt_fini(t);

	/* but an indirect descriptor must not be part of a chain */
	assert_int_equal(vqt_init(t, 4, true, INDIR), 0);
	ring = t->drv.desc;
	ring[1].addr = htole64(T_INDIRECT);
	ring[1].len = htole32(32);
	ring[1].flags = htole16(avail1 | F_IND);
	ring[0].addr = htole64(T_R1);
	ring[0].len = htole32(4);
	ring[0].flags = htole16(avail1 | F_NEXT);
	expect_broken(t, "indirect descriptor inside a packed chain");
	vqt_fini(t);

	assert_int_equal(vqt_init(t, 4, true, 0), 0);
	ring = t->drv.desc;
	ring[0].addr = htole64(T_GAP + 8);
	ring[0].len = htole32(4);
	ring[0].flags = htole16(avail1);
	expect_broken(t, "outside guest memory");
	vqt_fini(t);
}

/* Setup refuses bad sizes, misaligned rings and rings not wholly inside guest memory. */
static void test_setup_checks(void **state)
{
	struct vq_test *t = *state;
	const uint64_t P = 1ull << VIRTIO_F_RING_PACKED;
	struct {
		uint16_t size; uint64_t desc, driver, device, features; const char *needle;
	} bad[] = {
		{ 0, T_DESC, T_DRIVER, T_DEVICE_SPLIT, 0, "queue size" },
		{ 6, T_DESC, T_DRIVER, T_DEVICE_SPLIT, 0, "queue size" },          /* split: power of 2 */
		{ 8, T_DESC + 8, T_DRIVER, T_DEVICE_SPLIT, 0, "aligned" },
		{ 8, T_DESC, T_DRIVER + 1, T_DEVICE_SPLIT, 0, "aligned" },
		{ 8, T_DESC, T_DRIVER, T_DEVICE_SPLIT + 2, 0, "aligned" },
		{ 8, T_R1 + T_RSIZE - 64, T_DRIVER, T_DEVICE_SPLIT, 0, "not inside" },   /* into the hole */
		{ 8, T_DESC, T_GAP, T_DEVICE_SPLIT, 0, "not inside" },
		{ 8, T_DESC, T_DRIVER, T_R2 + T_RSIZE - 32, 0, "not inside" },
		{ 8, T_DESC, T_DRIVER, 0xfffffffffffffff0ull, 0, "not inside" },
		{ 5, T_DESC + 4, T_DRIVER, T_DEVICE_PACKED, P, "aligned" },
		{ 5, T_DESC, T_DRIVER + 2, T_DEVICE_PACKED, P, "aligned" },
		{ 5, T_DESC, T_DRIVER, T_GAP, P, "not inside" },
		{ 5, T_R1 + T_RSIZE - 32, T_DRIVER, T_DEVICE_PACKED, P, "not inside" },
	};

	assert_int_equal(vqt_init(t, 8, false, 0), 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct virtqueue vq;
		struct vq_config c = { bad[i].size, bad[i].desc, bad[i].driver, bad[i].device, bad[i].features, false };
		vq_reset(&vq);
		assert_int_equal(vq_setup(&vq, &t->gm, &c), -1);
		assert_false(vq.ready);
		if (!strstr(vq.broken_reason, bad[i].needle))
			fail_msg("case %u: reason \"%s\" lacks \"%s\"", i, vq.broken_reason, bad[i].needle);
		assert_int_equal(vq_pop(&vq, &t->elem), 0);
	}
	/* 32768 is the largest size; a packed queue of 3 is fine */
	struct virtqueue vq;
	struct vq_config ok = { 3, T_DESC, T_DRIVER, T_DEVICE_PACKED, P, false };
	vq_reset(&vq);
	assert_int_equal(vq_setup(&vq, &t->gm, &ok), 0);
	vqt_fini(t);
}

static int setup(void **state)
{
	static struct vq_test t;

	kite_log_init("test_vq_hostile", KITE_LOG_ERR);
	*state = &t;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_loop),
		cmocka_unit_test(test_chain_too_long),
		cmocka_unit_test(test_head_out_of_range),
		cmocka_unit_test(test_next_out_of_range),
		cmocka_unit_test(test_addr_outside),
		cmocka_unit_test(test_addr_len_overflow),
		cmocka_unit_test(test_write_before_read),
		cmocka_unit_test(test_indirect_without_feature),
		cmocka_unit_test(test_nested_indirect),
		cmocka_unit_test(test_bad_indirect_len),
		cmocka_unit_test(test_indirect_with_next),
		cmocka_unit_test(test_direct_then_indirect),
		cmocka_unit_test(test_indirect_outside),
		cmocka_unit_test(test_indirect_loop),
		cmocka_unit_test(test_indirect_next_out_of_range),
		cmocka_unit_test(test_too_many_segments),
		cmocka_unit_test(test_avail_idx_jump),
		cmocka_unit_test(test_packed_hostile),
		cmocka_unit_test(test_setup_checks),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
