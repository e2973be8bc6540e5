/* SPDX-License-Identifier: MIT */
/*
 * The data paths' copy helpers, byte-exact against a reference: copy_small() (include/kite/copy_small.h)
 * at every length 0..2048 and every source/destination misalignment 0..15, never touching a byte
 * outside [0, n) of either side; vq_iov_to_buf()/vq_buf_to_iov() (which use it per segment) at every
 * length 1..2048 over iovecs cut at many different boundaries, with skips, stopping at the end of
 * the segments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "kite/copy_small.h"
#include "kite/virtqueue.h"

#define MAXLEN 2048
#define GUARD  64

static uint8_t src[MAXLEN + 2 * GUARD], dst[MAXLEN + 2 * GUARD], untouched[MAXLEN + 2 * GUARD];

/* dst[from, to) still holds the 0xa5 it was filled with */
static void assert_untouched(size_t from, size_t to)
{
	assert_true(from <= to && to <= sizeof(dst));
	assert_memory_equal(dst + from, untouched, to - from);
}

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void test_copy_small_every_length(void **state)
{
	(void)state;
	memset(untouched, 0xa5, sizeof(untouched));
	fill_pattern(src, sizeof(src), 1);
	for (size_t n = 0; n <= MAXLEN; n++) {
		for (unsigned so = 0; so < 16; so += (n > 300 ? 5 : 1)) {
			for (unsigned d0 = 0; d0 < 16; d0 += (n > 300 ? 7 : 3)) {
				uint8_t *d = dst + GUARD + d0;
				const uint8_t *s = src + GUARD + so;

				memset(dst, 0xa5, sizeof(dst));
				copy_small(d, s, n);
				assert_memory_equal(d, s, n);
				assert_untouched(0, GUARD + d0);
				assert_untouched(GUARD + d0 + n, sizeof(dst));
			}
		}
	}
}

/* Cut [0, total) into segments following `pattern` (lengths, cycled). Returns the segment count. */
static unsigned cut(struct iovec *iov, unsigned max, uint8_t *base, size_t total, const unsigned *pattern,
		    unsigned np)
{
	unsigned n = 0;
	size_t off = 0;

	while (off < total && n < max) {
		size_t l = pattern[n % np];

		if (l > total - off)
			l = total - off;
		iov[n].iov_base = base + off;
		iov[n].iov_len = l;
		off += l;
		n++;
	}
	return n;
}

static void test_iov_copy_every_length(void **state)
{
	static const unsigned p1[] = { 1 }, p2[] = { 12, 64 }, p3[] = { 7, 16, 33, 100, 3 },
			      p4[] = { 76, 1500, 9 }, p5[] = { 2048 }, p6[] = { 129, 255, 17, 256, 2 };
	static const struct { const unsigned *p; unsigned n; } pats[] = {
		{ p1, 1 }, { p2, 2 }, { p3, 5 }, { p4, 3 }, { p5, 1 }, { p6, 5 },
	};
	static uint8_t flat[MAXLEN], out[MAXLEN + GUARD];
	struct iovec iov[VQ_MAX_SEGS];

	(void)state;
	memset(untouched, 0xa5, sizeof(untouched));
	fill_pattern(flat, sizeof(flat), 7);
	for (unsigned pi = 0; pi < sizeof(pats) / sizeof(pats[0]); pi++) {
		for (size_t len = 1; len <= MAXLEN; len++) {
			/* segments cover exactly `len` bytes of flat (the pattern of 1-byte segments stops at
			 * VQ_MAX_SEGS: then they cover fewer) */
			unsigned n = cut(iov, VQ_MAX_SEGS, flat, len, pats[pi].p, pats[pi].n);
			size_t cover = 0, skip = len % 29;

			for (unsigned i = 0; i < n; i++)
				cover += iov[i].iov_len;
			/* iov -> buf, whole and after a skip; asking for more stops at the segments' end */
			memset(out, 0xa5, sizeof(out));
			assert_int_equal(vq_iov_to_buf(iov, n, 0, out, len + 5), cover);
			assert_memory_equal(out, flat, cover);
			assert_int_equal(out[cover], 0xa5);
			if (skip < cover) {
				memset(out, 0xa5, sizeof(out));
				assert_int_equal(vq_iov_to_buf(iov, n, skip, out, cover - skip), cover - skip);
				assert_memory_equal(out, flat + skip, cover - skip);
				assert_int_equal(out[cover - skip], 0xa5);
			}
		}
	}
	/* buf -> iov: segments over a destination with guards, every length */
	for (unsigned pi = 0; pi < sizeof(pats) / sizeof(pats[0]); pi++) {
		for (size_t len = 1; len <= MAXLEN; len++) {
			unsigned n = cut(iov, VQ_MAX_SEGS, dst + GUARD, len, pats[pi].p, pats[pi].n);
			size_t cover = 0, skip = len % 13;

			for (unsigned i = 0; i < n; i++)
				cover += iov[i].iov_len;
			memset(dst, 0xa5, sizeof(dst));
			assert_int_equal(vq_buf_to_iov(iov, n, 0, flat, len + 5), cover);
			assert_memory_equal(dst + GUARD, flat, cover);
			assert_untouched(0, GUARD);
			assert_untouched(GUARD + cover, sizeof(dst));
			if (skip < cover) {
				memset(dst, 0xa5, sizeof(dst));
				assert_int_equal(vq_buf_to_iov(iov, n, skip, flat, cover), cover - skip);
				assert_memory_equal(dst + GUARD + skip, flat, cover - skip);
				assert_untouched(0, GUARD + skip);
				assert_untouched(GUARD + cover, sizeof(dst));
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy_small_every_length),
		cmocka_unit_test(test_iov_copy_every_length),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
