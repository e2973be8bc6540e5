/* SPDX-License-Identifier: MIT */
/*
 * The shared virtio-blk request parser (virtio/blk_request.c) on hand-built chains: where the status
 * byte goes, when the queue must break, each IOERR / UNSUPP rule of include/kite/blk_request.h, the
 * data slices it hands to the I/O code, and sector arithmetic at the edges (overflow).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kite/blk_request.h"

#define CAP 100   /* sectors */

static uint8_t hdrbuf[64], data[8192], st[4];
static struct vq_elem e;
static struct blk_request r;
static const struct blk_req_limits lim = { .capacity = CAP, .max_rw_bytes = 4096, .max_dwz_sectors = 64, .dwz = true };

static void chain_reset(void)
{
	memset(&e, 0, sizeof(e));
	memset(hdrbuf, 0, sizeof(hdrbuf));
	memset(st, 0xee, sizeof(st));
}

static void seg(void *p, size_t len, bool writable)
{
	if (!writable)
		assert_int_equal(e.in_num, 0);   /* readable segments come first */
	e.iov[e.out_num + e.in_num] = (struct iovec){ p, len };
	if (writable) {
		e.in_num++;
		e.in_len += len;
	} else {
		e.out_num++;
		e.out_len += len;
	}
}

static void header(uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };

	memcpy(hdrbuf, &h, sizeof(h));
}

static void dwz_seg(uint64_t sector, uint32_t num, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes s = { .sector = sector, .num_sectors = num, .flags = flags };

	memcpy(hdrbuf + 16, &s, sizeof(s));
	memcpy(hdrbuf + 32, &s, sizeof(s));
}

/* Parse; expect a refusal with `status`. */
static void expect_refused(const struct blk_req_limits *l, uint8_t status)
{
	assert_int_equal(blk_request_parse(&e, l, &r), 0);
	assert_int_equal(r.op, BLK_REQ_REFUSED);
	assert_int_equal(r.status, status);
	assert_non_null(r.why);
	assert_ptr_equal(r.status_byte, &st[0]);
}

static void rw(uint32_t type, uint64_t sector, size_t len)
{
	chain_reset();
	header(type, sector);
	seg(hdrbuf, 16, false);
	seg(data, len, type == VIRTIO_BLK_T_IN);
	seg(st, 1, true);
}

static void test_no_status_place_breaks(void **state)
{
	(void)state;
	chain_reset();
	header(VIRTIO_BLK_T_IN, 0);
	seg(hdrbuf, 16, false);
	seg(data, 512, false);
	assert_int_equal(blk_request_parse(&e, &lim, &r), -1);
	/* a writable segment of zero bytes is no place either */
	seg(st, 0, true);
	assert_int_equal(blk_request_parse(&e, &lim, &r), -1);
	/* even with no header at all */
	chain_reset();
	assert_int_equal(blk_request_parse(&e, &lim, &r), -1);
}

static void test_status_is_last_writable_byte(void **state)
{
	(void)state;
	/* data and status in one writable segment: the status is its last byte, the data the rest */
	chain_reset();
	header(VIRTIO_BLK_T_IN, 4);
	seg(hdrbuf, 16, false);
	seg(data, 1025, true);
	assert_int_equal(blk_request_parse(&e, &lim, &r), 0);
	assert_int_equal(r.op, BLK_REQ_READ);
	assert_ptr_equal(r.status_byte, &data[1024]);
	assert_int_equal(r.len, 1024);
	assert_int_equal(r.ndata, 1);
	assert_ptr_equal(r.data[0].iov_base, data);
	assert_int_equal(r.data[0].iov_len, 1024);
	/* trailing empty writable segments are skipped */
	chain_reset();
	header(VIRTIO_BLK_T_FLUSH, 0);
	seg(hdrbuf, 16, false);
	seg(st, 1, true);
	seg(data, 0, true);
	assert_int_equal(blk_request_parse(&e, &lim, &r), 0);
	assert_int_equal(r.op, BLK_REQ_FLUSH);
	assert_ptr_equal(r.status_byte, &st[0]);
}

static void test_short_header_ioerr(void **state)
{
	(void)state;
	chain_reset();
	header(VIRTIO_BLK_T_IN, 0);
	seg(hdrbuf, 8, false);
	seg(st, 1, true);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	/* no readable part at all */
	chain_reset();
	seg(st, 1, true);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	/* a header split over two segments is fine */
	chain_reset();
	header(VIRTIO_BLK_T_FLUSH, 0);
	seg(hdrbuf, 5, false);
	seg(hdrbuf + 5, 11, false);
	seg(st, 1, true);
	assert_int_equal(blk_request_parse(&e, &lim, &r), 0);
	assert_int_equal(r.op, BLK_REQ_FLUSH);
}

static void test_read_write_slices(void **state)
{
	(void)state;
	/* read in two data segments */
	chain_reset();
	header(VIRTIO_BLK_T_IN, 10);
	seg(hdrbuf, 16, false);
	seg(data, 512, true);
	seg(data + 4096, 1024, true);
	seg(st, 1, true);
	assert_int_equal(blk_request_parse(&e, &lim, &r), 0);
	assert_int_equal(r.op, BLK_REQ_READ);
	assert_int_equal(r.sector, 10);
	assert_int_equal(r.len, 1536);
	assert_int_equal(r.ndata, 2);
	assert_ptr_equal(r.data[1].iov_base, data + 4096);
	assert_int_equal(r.data[1].iov_len, 1024);
	/* write with header and data in one readable segment: the data starts after 16 bytes */
	chain_reset();
	header(VIRTIO_BLK_T_OUT, 3);
	memcpy(data, hdrbuf, 16);
	seg(data, 16 + 512, false);
	seg(st, 1, true);
	assert_int_equal(blk_request_parse(&e, &lim, &r), 0);
	assert_int_equal(r.op, BLK_REQ_WRITE);
	assert_int_equal(r.len, 512);
	assert_int_equal(r.ndata, 1);
	assert_ptr_equal(r.data[0].iov_base, data + 16);
	assert_int_equal(r.data[0].iov_len, 512);
}

static void test_wrong_direction_ioerr(void **state)
{
	(void)state;
	rw(VIRTIO_BLK_T_OUT, 0, 512);
	assert_int_equal(blk_request_parse(&e, &lim, &r), 0);
	assert_int_equal(r.op, BLK_REQ_WRITE);
	/* read with a device-readable data segment */
	rw(VIRTIO_BLK_T_OUT, 0, 512);
	header(VIRTIO_BLK_T_IN, 0);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	/* write with device-writable data besides the status */
	rw(VIRTIO_BLK_T_IN, 0, 512);
	header(VIRTIO_BLK_T_OUT, 0);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
}

static void test_lengths(void **state)
{
	(void)state;
	rw(VIRTIO_BLK_T_IN, 0, 700);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	rw(VIRTIO_BLK_T_OUT, 0, 100);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	rw(VIRTIO_BLK_T_IN, 0, 0);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	rw(VIRTIO_BLK_T_OUT, 0, 0);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	/* max_rw_bytes is 4096 here */
	rw(VIRTIO_BLK_T_IN, 0, 4096);
	assert_int_equal(blk_request_parse(&e, &lim, &r), 0);
	assert_int_equal(r.op, BLK_REQ_READ);
	rw(VIRTIO_BLK_T_IN, 0, 4608);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
}

static void test_sector_range(void **state)
{
	struct blk_req_limits big = lim;

	(void)state;
	rw(VIRTIO_BLK_T_IN, CAP - 2, 1024);       /* the last two sectors */
	assert_int_equal(blk_request_parse(&e, &lim, &r), 0);
	assert_int_equal(r.op, BLK_REQ_READ);
	rw(VIRTIO_BLK_T_IN, CAP - 1, 1024);       /* one sector past the end */
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	rw(VIRTIO_BLK_T_OUT, CAP, 512);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	/* sector * 512 and sector + count would wrap around */
	rw(VIRTIO_BLK_T_IN, UINT64_MAX - 1, 1024);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	rw(VIRTIO_BLK_T_IN, UINT64_MAX / 512 + 1, 512);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	big.capacity = UINT64_MAX / 512;
	rw(VIRTIO_BLK_T_IN, UINT64_MAX / 512 - 2, 1024);   /* the last two sectors */
	assert_int_equal(blk_request_parse(&e, &big, &r), 0);
	assert_int_equal(r.op, BLK_REQ_READ);
	rw(VIRTIO_BLK_T_IN, UINT64_MAX / 512 - 2, 1536);
	expect_refused(&big, VIRTIO_BLK_S_IOERR);
}

static void test_readonly_and_unknown(void **state)
{
	struct blk_req_limits ro = lim;

	(void)state;
	ro.readonly = true;
	rw(VIRTIO_BLK_T_OUT, 0, 512);
	expect_refused(&ro, VIRTIO_BLK_S_IOERR);
	rw(VIRTIO_BLK_T_IN, 0, 512);
	assert_int_equal(blk_request_parse(&e, &ro, &r), 0);
	assert_int_equal(r.op, BLK_REQ_READ);
	rw(77, 0, 512);
	expect_refused(&lim, VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(r.type, 77);
	rw(VIRTIO_BLK_T_FLUSH, 0, 512);           /* a flush ignores data segments */
	assert_int_equal(blk_request_parse(&e, &ro, &r), 0);
	assert_int_equal(r.op, BLK_REQ_FLUSH);
}

static void test_get_id(void **state)
{
	static const size_t room[] = { 2, 5, 21, 40 };
	static const uint64_t want[] = { 1, 4, 20, 20 };

	(void)state;
	chain_reset();
	header(VIRTIO_BLK_T_GET_ID, 0);
	seg(hdrbuf, 16, false);
	seg(st, 1, true);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);  /* no room for a byte of the id */
	for (unsigned i = 0; i < 4; i++) {
		chain_reset();
		header(VIRTIO_BLK_T_GET_ID, 0);
		seg(hdrbuf, 16, false);
		seg(data, room[i] - 1, true);
		seg(st, 1, true);
		assert_int_equal(blk_request_parse(&e, &lim, &r), 0);
		assert_int_equal(r.op, BLK_REQ_GET_ID);
		assert_int_equal(r.len, want[i]);
		assert_int_equal(r.data[0].iov_len, want[i]);
		assert_ptr_equal(r.status_byte, &st[0]);
	}
}

static void dwz(uint32_t type, size_t seg_bytes)
{
	chain_reset();
	header(type, 0);
	seg(hdrbuf, 16 + seg_bytes, false);
	seg(st, 1, true);
}

static void test_discard_write_zeroes(void **state)
{
	struct blk_req_limits l = lim;

	(void)state;
	dwz(VIRTIO_BLK_T_DISCARD, 16);
	dwz_seg(CAP - 8, 8, 0);
	assert_int_equal(blk_request_parse(&e, &lim, &r), 0);
	assert_int_equal(r.op, BLK_REQ_DISCARD);
	assert_int_equal(r.sector, CAP - 8);
	assert_int_equal(r.len, 8 * 512);
	assert_false(r.unmap);
	dwz(VIRTIO_BLK_T_WRITE_ZEROES, 16);
	dwz_seg(0, 64, 1);
	assert_int_equal(blk_request_parse(&e, &lim, &r), 0);
	assert_int_equal(r.op, BLK_REQ_WRITE_ZEROES);
	assert_true(r.unmap);
	/* flags: unmap on a discard and unknown bits are unsupported (virtio 1.2 5.2.6.2) */
	dwz(VIRTIO_BLK_T_DISCARD, 16);
	dwz_seg(0, 8, 1);
	expect_refused(&lim, VIRTIO_BLK_S_UNSUPP);
	dwz(VIRTIO_BLK_T_WRITE_ZEROES, 16);
	dwz_seg(0, 8, 2);
	expect_refused(&lim, VIRTIO_BLK_S_UNSUPP);
	/* segment count and size */
	dwz(VIRTIO_BLK_T_DISCARD, 32);
	dwz_seg(0, 8, 0);
	expect_refused(&lim, VIRTIO_BLK_S_UNSUPP);
	dwz(VIRTIO_BLK_T_DISCARD, 8);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	dwz(VIRTIO_BLK_T_WRITE_ZEROES, 0);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	/* sectors */
	dwz(VIRTIO_BLK_T_DISCARD, 16);
	dwz_seg(0, 0, 0);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	dwz_seg(0, 65, 0);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	dwz_seg(CAP - 4, 8, 0);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	dwz_seg(UINT64_MAX - 2, 8, 0);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	/* writable data besides the status */
	chain_reset();
	header(VIRTIO_BLK_T_DISCARD, 0);
	dwz_seg(0, 8, 0);
	seg(hdrbuf, 32, false);
	seg(data, 16, true);
	seg(st, 1, true);
	expect_refused(&lim, VIRTIO_BLK_S_IOERR);
	/* device state */
	dwz(VIRTIO_BLK_T_WRITE_ZEROES, 16);
	dwz_seg(0, 8, 0);
	l.dwz = false;
	expect_refused(&l, VIRTIO_BLK_S_UNSUPP);
	l.readonly = true;
	expect_refused(&l, VIRTIO_BLK_S_IOERR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_status_place_breaks),
		cmocka_unit_test(test_status_is_last_writable_byte),
		cmocka_unit_test(test_short_header_ioerr),
		cmocka_unit_test(test_read_write_slices),
		cmocka_unit_test(test_wrong_direction_ioerr),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_sector_range),
		cmocka_unit_test(test_readonly_and_unknown),
		cmocka_unit_test(test_get_id),
		cmocka_unit_test(test_discard_write_zeroes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
